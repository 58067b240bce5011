"""Command line: `python -m clari_data refresh | status | worker | simulator`.

Every failure a user can cause or meet (bad configuration, a busy warehouse, a failing Clari)
ends in one clear line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from .alerting import notify
from .ingest import demo
from .ingest.refresh import Progress, run_refresh
from .read import analytics
from .shared.config import ConfigError, check_period, load_settings
from .shared.timeutil import naive_utc
from .storage.backends import Backend
from .storage.warehouse import Warehouse, WarehouseError

EXIT_FAILED, EXIT_CONFIG, EXIT_BUSY = 1, 2, 3


def _period(value: str) -> str:
    try:
        return check_period(value, "--period")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _job_states(value: str) -> tuple[str, ...]:
    return tuple(s.strip().upper() for s in value.split(",") if s.strip())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m clari_data", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="path of clari.toml (default: $CLARI_CONFIG or ./clari.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each request and load step")
    sub = parser.add_subparsers(dest="command", required=True)

    refresh = sub.add_parser("refresh", help="export from Clari (or the demo simulator) and load the warehouse")
    refresh.add_argument("--forecast", action="append", metavar="ID", help="forecast tab id (repeatable)")
    refresh.add_argument("--period", action="append", type=_period, metavar="YYYY_QN", help="period (repeatable)")
    refresh.add_argument("--quiet", action="store_true", help="no progress lines")

    sub.add_parser("status", help="print freshness and the last runs")

    worker = sub.add_parser("worker", help="run the schedule and every refresh, for dashboards of [server] role "
                                           "\"web\"; several may run, one leads")
    worker.add_argument("--id", dest="worker_id", metavar="NAME",
                        help="this worker's name in logs and the published status (default: a random one)")

    sim = sub.add_parser("simulator", help="serve the built-in Clari Export API simulator on loopback")
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--users", type=int, default=60)
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--job-seconds", type=float, default=0.3)
    sim.add_argument("--envelope", choices=("flat", "wrapped"), default="flat")
    sim.add_argument("--fiscal-start-month", type=int, choices=range(1, 13), default=1, metavar="1-12",
                     help="first month of the fiscal year, named after the year it ends in (2: Q1 = Feb-Apr)")
    sim.add_argument("--accept-crm-types", action="store_true",
                     help="accept crm_total/crm_closed in exports (Clari answers type_not_supported)")
    sim.add_argument("--job-states", type=_job_states, default=("SCHEDULED", "STARTED"), metavar="A,B,...",
                     help="statuses a job reports before DONE, e.g. SCHEDULED,RUNNING")
    sim.add_argument("--job-id-field", choices=("jobId", "id"), default="jobId",
                     help="key of the job id in the queue answer and job bodies")
    return parser


def _progress_printer():
    last = [None]

    def show(p: Progress) -> None:
        step = f"[{p.step}/{p.steps}] " if p.steps else ""
        line = f"  {step}{p.message}"
        if p.stage not in ("done", "failed") and line != last[0]:
            print(line, file=sys.stderr, flush=True)
        last[0] = line

    return show


def cmd_refresh(args, settings) -> int:
    from .runtime.leader import WorkerIdentity, leadership_for

    show = None if args.quiet else _progress_printer()
    # A command-line refresh writes only as a worker would: when no worker leads (on a lake it takes
    # the workers' leader lock for its run; the embedded file's own lock does the same for a file).
    leadership = leadership_for(settings, WorkerIdentity(worker_id="cli-refresh"))
    try:
        with leadership.lead("refreshes this lake: use \"Refresh now\" in a dashboard (it asks that worker), or "
                             "stop the workers first.") as wh:
            result = run_refresh(settings, wh, forecasts=args.forecast, periods=args.period, trigger="cli",
                                 progress=show)
            notify.after_refresh(settings, wh, result,
                                 None if show is None else lambda stage, message: show(Progress(stage, message)))
            status = analytics.data_status(wh)
    finally:
        leadership.release()
    source = "demo data" if settings.demo_mode else settings.clari.base_url
    print(f"Run {result.run_id}: {result.summary()}")
    if status.fresh_at:
        print(f"Data as of {status.fresh_at:%Y-%m-%d %H:%M} UTC ({source}); warehouse {wh.location}.")
    for failure in result.failures:
        print(f"FAILED {failure.label}: {failure.error}", file=sys.stderr)
    for outcome in result.outcomes:
        for warning in outcome.warnings:
            print(f"warning {outcome.label}: {warning}", file=sys.stderr)
    return 0 if result.outcome == "success" else EXIT_FAILED


def cmd_status(args, settings) -> int:
    # A lake is read beside its worker; the embedded file only when no other process holds it.
    with Warehouse.from_settings(settings, writer=False) as wh:
        status = analytics.data_status(wh)
        runs = analytics.run_history(wh, limit=10)
    source = "demo data" if settings.demo_mode else settings.clari.base_url
    if status.fresh_at is None:
        print(f"No data loaded yet in {wh.location} ({source}). Run: python -m clari_data refresh")
    else:
        age = naive_utc() - status.fresh_at
        print(f"Data as of {status.fresh_at:%Y-%m-%d %H:%M} UTC ({age.total_seconds() / 3600:.1f} h ago), "
              f"source: {source}, warehouse: {wh.location}")
    for run in runs.itertuples():
        unfinished = run.finished_at is None or str(run.finished_at) == "NaT"
        finished = "" if unfinished else f"{run.finished_at:%Y-%m-%d %H:%M:%S}"
        line = (f"  run {run.run_id:>4}  {run.started_at:%Y-%m-%d %H:%M:%S}  {run.trigger:<8} {run.outcome:<8} "
                f"exports {run.exports_loaded}, rows {run.rows_loaded:,}, changes {run.changes_detected}  {finished}")
        print(line)
        if isinstance(run.error, str) and run.error:
            print(f"        error: {run.error}")
    return 0


def cmd_worker(args, settings) -> int:
    from .runtime.leader import WorkerIdentity
    from .runtime.worker import EXIT_LOST, Worker

    identity = WorkerIdentity(worker_id=args.worker_id) if args.worker_id else WorkerIdentity()
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    code = Worker(settings, identity=identity).run(stop)
    if code == EXIT_LOST:
        # A refresh may still be running in this process while another worker leads: end it now,
        # as a crash would (its Clari job is stored; the new leader polls it again).
        logging.shutdown()
        os._exit(EXIT_LOST)
    return code


def cmd_simulator(args) -> int:
    from .ingest.simulator import serve

    try:
        serve(port=args.port, host=args.host, users=args.users, seed=args.seed, job_seconds=args.job_seconds,
              envelope=args.envelope, fiscal_start_month=args.fiscal_start_month,
              accept_crm_types=args.accept_crm_types, job_states=args.job_states, job_id_field=args.job_id_field)
    except ValueError as exc:  # an option the simulator refuses, e.g. DONE among --job-states
        print(f"Configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # A worker is a service: its log says when it leads, stands by, and takes requests.
    logging.basicConfig(level=logging.INFO if args.verbose or args.command == "worker" else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "worker" and not args.verbose:
        for chatty in ("httpx", "httpcore", "apscheduler"):  # a line per request or per run
            logging.getLogger(chatty).setLevel(logging.WARNING)
    if args.command == "simulator":
        return cmd_simulator(args)
    try:
        settings = load_settings(args.config)
        Backend.from_settings(settings)  # the backend's own settings, refused before anything starts
        return {"refresh": cmd_refresh, "status": cmd_status, "worker": cmd_worker}[args.command](args, settings)
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except WarehouseError as exc:
        print(f"Warehouse error: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except KeyboardInterrupt:
        print("Interrupted; the warehouse keeps its last complete load.", file=sys.stderr)
        return 130
    finally:
        demo.stop()


if __name__ == "__main__":
    sys.exit(main())
