"""The large-tenant benchmark: `.venv/bin/python -m bench` (see docs/performance/index.md).

For each size (1/4, 1/2 and all of `--users`) it builds a tenant in the simulator with a history of
`--days` daily exports, then measures in separate processes:

- refresh: one export of the full current quarter over HTTP from the simulator (queue, poll,
  streamed download, load, change detection: `run_refresh` with the [warehouse] defaults), against
  DuckDB alone reading the very same file and unnesting its entries into a table (the floor), and
  beside it DuckDB's `read_json` of the file into one nested row (the lighter floor of earlier
  runs); time and peak RSS, `--repeats` of each;
- memory caps (full size only): the same refresh and floor under DuckDB's `memory_limit`;
- storage: bytes the warehouse grows by per daily export, against the cells that changed;
- pages: the data calls of each page (cold and warm), and whole AppTest runs of each page
  against an empty page's run;
- the same on DuckLake (unless `--file-only`): each refresh again into a lake holding the
  same history (bench/lake.py), interleaved with the file's, and every page's data calls as a
  dashboard replica reads the lake, with their ratios to the file's in the same run.

Prints a table, and writes it with every raw sample as JSON (and Markdown) to `--out`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import lake, report, tenant  # noqa: E402
from bench.pages import APP_PAGES  # noqa: E402
from bench.workers import MARK  # noqa: E402
from clari_data.shared.pages import page  # noqa: E402
from clari_data.shared.timeutil import utc_now  # noqa: E402
from clari_data.storage.warehouse import file_sha256  # noqa: E402

KEY = "bench-key"


class WorkerFailed(RuntimeError):
    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


def worker(kind: str, args: dict, timeout: float = 1800) -> dict:
    """Run bench.workers KIND in a fresh interpreter; its result, or WorkerFailed with its error."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("CLARI_API_KEY", None)
    proc = subprocess.run([sys.executable, "-m", "bench.workers", kind, json.dumps(args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        message = next((line for line in reversed(tail) if "Error" in line or "failed" in line),
                       tail[-1] if tail else "")
        raise WorkerFailed(message.strip()[:400], "\n".join(tail[-40:]))
    return json.loads(lines[-1][len(MARK):])


def machine() -> dict:
    info = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        import psutil

        info["memory_bytes"] = psutil.virtual_memory().total
    except ImportError:
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        info["cgroup_memory_limit"] = None if limit == "max" else int(limit)
    except (OSError, ValueError):
        pass
    import duckdb
    import pandas
    import streamlit

    info["versions"] = {"duckdb": duckdb.__version__, "streamlit": streamlit.__version__, "pandas": pandas.__version__}
    return info


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def write_app_config(path: Path) -> Path:
    """Demo mode on the bench warehouse, with the schedule off so no refresh runs mid-measurement."""
    path.write_text("[schedule]\nenabled = false\n\n[demo]\njob_seconds = 0.02\n")
    return path


def measure_size(plan: tenant.Plan, work: Path, opts: argparse.Namespace, caps: list[str], log,
                 catalogs: lake.Catalogs | None = None) -> dict:
    from clari_data.ingest.simulator import SimulatorServer
    from clari_data.storage.warehouse import Warehouse

    work.mkdir(parents=True, exist_ok=True)
    base = work / "history.duckdb"
    log(f"building {plan.users:,} users, {plan.days} daily exports of {plan.quarter} "
        f"(+{tenant.PAST_QUARTERS} past quarters)")
    history = tenant.build(plan, base, work / "build", log=log if opts.verbose else None)
    log(f"  built in {history['timings']['total_s']:.0f} s: {history['cell_versions']:,} cell versions, "
        f"{base.stat().st_size / 1e6:.0f} MB")

    out: dict = {"users": plan.users, "days": plan.days, "history": history, "refresh": [], "floor": [], "caps": []}
    if catalogs is not None:
        out["lake"] = {"refresh": [], "import_s": []}
    server = SimulatorServer(plan.org(plan.refresh_clock), api_keys=(KEY,), job_seconds=0).start()
    last_db = None
    last_lake = None
    try:
        def one_floor(kind: str, file: Path, tag: str, cap: str | None, sha: str | None) -> dict:
            floor_db = work / f"floor-{kind}-{tag}.duckdb"
            try:
                flo = worker("floor", {"file": str(file), "db": str(floor_db), "memory_limit": cap, "floor": kind})
                flo["same_file"] = file_sha256(file) == sha
            except WorkerFailed as exc:
                flo = {"error": str(exc), "detail": exc.detail}
            for path in (floor_db, Path(f"{floor_db}.wal")):
                path.unlink(missing_ok=True)
            return flo

        def one_refresh(tag: str, cap: str | None, light_floor: bool = True) -> tuple[dict, dict, Path]:
            db = work / f"refresh-{tag}.duckdb"
            args = {"base_url": server.base_url, "key": KEY, "forecast": tenant.FORECAST, "db": str(db),
                    "downloads": str(work / "downloads"), "memory_limit": cap}
            ref: dict = {}
            for _attempt in range(2):
                shutil.copy(base, db)
                try:
                    ref = worker("refresh", args)
                    break
                except WorkerFailed as exc:
                    ref = {"error": str(exc), "detail": exc.detail}
                    if "Out of Memory" in str(exc):
                        break  # an answer, not an accident: not tried again
            jobs = list(server.jobs.values())
            job = server.jobs[ref["job_id"]] if "job_id" in ref else jobs[-1] if jobs else None
            if job is None or not job.file_path.exists():
                return ref, {"error": "no export file to read"}, db
            sha = ref.get("export", {}).get("file_sha256")
            flo = one_floor("unnest", job.file_path, tag, cap, sha)
            if light_floor and "error" not in flo:
                flo["read_json"] = one_floor("read_json", job.file_path, tag, cap, sha)
            return ref, flo, db

        for i in range(opts.repeats):
            ref, flo, db = one_refresh(f"r{i}", None)
            if "error" in ref or "error" in flo or "error" in flo["read_json"]:
                why = ref.get("error") or flo.get("error") or flo["read_json"].get("error")
                raise SystemExit(f"refresh or floor failed at {plan.users} users: {why}")
            out["refresh"].append(ref)
            out["floor"].append(flo)
            log(f"  refresh {i + 1}/{opts.repeats}: {ref['seconds']:.2f} s, {ref['peak_rss'] / 2**20:.0f} MiB; "
                f"floor {flo['seconds']:.2f} s, {flo['peak_rss'] / 2**20:.0f} MiB; read_json alone "
                f"{flo['read_json']['seconds']:.2f} s, {flo['read_json']['peak_rss'] / 2**20:.0f} MiB")
            if last_db is not None:
                last_db.unlink(missing_ok=True)
            last_db = db
            if catalogs is not None:  # the same refresh into a lake holding the same history
                lake_now, import_s = lake.with_history(catalogs, base, work / f"lake-r{i}")
                args = {"base_url": server.base_url, "key": KEY, "forecast": tenant.FORECAST,
                        "db": str(work / "unused.duckdb"), "downloads": str(work / "downloads"),
                        "memory_limit": None, "lake": lake.as_args(lake_now)}
                try:
                    lake_ref = worker("refresh", args)
                except WorkerFailed as exc:
                    raise SystemExit(f"the lake refresh failed at {plan.users} users: {exc}") from None
                out["lake"]["refresh"].append(lake_ref)
                out["lake"]["import_s"].append(import_s)
                log(f"  lake refresh {i + 1}/{opts.repeats}: {lake_ref['seconds']:.2f} s "
                    f"({lake_ref['seconds'] / ref['seconds']:.2f}x the file's), "
                    f"{lake_ref['peak_rss'] / 2**20:.0f} MiB; history imported in {import_s:.1f} s")
                if last_lake is not None:
                    catalogs.drop(last_lake)
                last_lake = lake_now
        for cap in caps:
            ref, flo, db = one_refresh(f"cap-{cap}", cap, light_floor=False)
            db.unlink(missing_ok=True)
            out["caps"].append({"memory_limit": cap, "refresh": ref, "floor": flo})
            log(f"  memory_limit {cap}: refresh "
                + (f"{ref['seconds']:.2f} s, {ref['peak_rss'] / 2**20:.0f} MiB" if "error" not in ref else "FAILED")
                + "; floor " + (f"{flo['peak_rss'] / 2**20:.0f} MiB" if "error" not in flo else "FAILED"))
    finally:
        server.stop()

    # Pages, on the warehouse as the last refresh left it (history + the full quarter).
    pages_db = work / "pages.duckdb"
    shutil.move(last_db, pages_db)
    log(f"  page data calls ({opts.repeats} cold, {opts.page_repeats} warm runs of each page)")
    out["data_calls"] = worker("pages", {"db": str(pages_db), "cold_repeats": opts.repeats,
                                         "warm_repeats": opts.page_repeats})
    log(f"  AppTest page runs ({opts.page_repeats} each)")
    config = write_app_config(work / "clari.toml")
    out["apptest"] = worker("apptest", {"db": str(pages_db), "config": str(config),
                                        "pages": [page(p).script for p in APP_PAGES], "repeats": opts.page_repeats})
    if catalogs is not None and last_lake is not None:
        log("  page data calls on the lake, as a dashboard replica reads it")
        out["lake"]["data_calls"] = worker("pages", {"db": str(pages_db), "lake": lake.as_args(last_lake),
                                                     "cold_repeats": opts.repeats, "warm_repeats": opts.page_repeats})
        with Warehouse(last_lake) as lake_wh:
            out["lake"]["storage"] = lake_wh.storage()
        with Warehouse(pages_db) as file_wh:
            out["lake"]["file_storage"] = file_wh.storage()
        if not opts.keep:
            catalogs.drop(last_lake)
    if not opts.keep:
        shutil.rmtree(work, ignore_errors=True)
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000, help="users of the full-size tenant (default 2000)")
    parser.add_argument("--days", type=int, default=90, help="daily exports in the history (default 90)")
    parser.add_argument("--fractions", default="0.25,0.5,1", help="sizes to measure, as fractions of --users")
    parser.add_argument("--repeats", type=int, default=5, help="refresh/floor pairs and cold page-call runs per size")
    parser.add_argument("--page-repeats", type=int, default=15, help="warm runs of each page per size")
    parser.add_argument("--memory-limits", default="1GB,512MB,384MB,256MB",
                        help="DuckDB memory_limit values to run the full-size refresh under ('' for none)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="where to write the JSON and table")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the warehouses and downloads (in OUT/work-*)")
    parser.add_argument("--verbose", action="store_true", help="progress of the history build")
    parser.add_argument("--file-only", action="store_true",
                        help="the embedded file alone, without the refresh and the pages again on a lake")
    parser.add_argument("--postgres", default=None,
                        help="libpq keywords of the PostgreSQL for the lakes' catalogs (default: CLARI_BENCH_POSTGRES "
                             "or CLARI_TEST_POSTGRES, else a throwaway cluster via scripts/postgres)")
    opts = parser.parse_args(argv)
    if opts.repeats < 1 or opts.page_repeats < 1 or opts.days < 1:
        parser.error("--repeats, --page-repeats and --days must be at least 1")
    return opts


def main(argv: list[str] | None = None) -> dict:
    opts = parse_args(argv)
    started = time.perf_counter()
    out_dir = Path(opts.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = utc_now().strftime("%Y%m%d-%H%M%S")
    work_root = out_dir / f"work-{stamp}"

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {message}", file=sys.stderr, flush=True)

    fractions = sorted({float(f) for f in opts.fractions.split(",") if f.strip()})
    caps = [c.strip() for c in opts.memory_limits.split(",") if c.strip()]
    catalogs = None
    if not opts.file_only:
        try:
            catalogs = lake.Catalogs(opts.postgres)
        except lake.NoPostgres as exc:
            log(f"measuring the embedded file only: {exc} (give --postgres, or --file-only)")
    result: dict = {
        "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started_at": utc_now().isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_start": load_average(),
        "options": {k: v for k, v in vars(opts).items() if k not in ("out",)},
        "quarter": tenant.QUARTER,
        "fields": 6 + tenant.EXTRA_FIELDS,
        "sizes": [],
    }
    try:
        for fraction in fractions:
            users = max(5, round(opts.users * fraction))
            plan = tenant.Plan(users=users, days=opts.days, seed=opts.seed)
            size = measure_size(plan, work_root / f"u{users}", opts, caps if fraction == max(fractions) else [], log,
                                catalogs)
            size["fraction"] = fraction
            result["sizes"].append(size)
    finally:
        if catalogs is not None:
            catalogs.close(keep=opts.keep)
    if not opts.keep:
        shutil.rmtree(work_root, ignore_errors=True)
    result["load_average_end"] = load_average()
    result["runtime_s"] = round(time.perf_counter() - started, 1)
    result["summary"] = report.summarise(result)
    table = report.markdown(result)
    result_path = out_dir / f"bench-{stamp}.json"
    result_path.write_text(json.dumps(result, indent=1, default=str))
    (out_dir / f"bench-{stamp}.md").write_text(table)
    shutil.copy(result_path, out_dir / "latest.json")
    (out_dir / "latest.md").write_text(table)
    print(table)
    log(f"done in {result['runtime_s']:.0f} s; wrote {result_path} and {out_dir / 'latest.md'}")
    return result


if __name__ == "__main__":
    main()
