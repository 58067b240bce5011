"""Measurements that need a process of their own: `python -m bench.workers KIND JSON-ARGS`.

Each prints one line `BENCH_RESULT {...}` on stdout. Peak resident memory is the kernel's
high-water mark of the worker process (VmHWM), so the refresh and its floor are measured alike.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "BENCH_RESULT "


# -- memory -------------------------------------------------------------------------------------

def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_bytes() -> int:
    kb = _status_kb("VmRSS")
    return kb * 1024 if kb is not None else peak_rss_bytes()


def peak_rss_bytes() -> int:
    kb = _status_kb("VmHWM")
    if kb is not None:
        return kb * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


class Sampler:
    """Samples RSS every few milliseconds and keeps the peak of each labelled phase."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.phase = "start"
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = rss_bytes()
            if rss > self.peaks.get(self.phase, 0):
                self.peaks[self.phase] = rss
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# -- the floors ---------------------------------------------------------------------------------

FLOORS = {
    # DuckDB alone doing what a load must at least do: read the document and unnest its entries
    # into a table, one column per key.
    "unnest": "CREATE TABLE t AS SELECT unnest(entries, recursive := true) "
              "FROM read_json($path, maximum_object_size = $size)",
    # The lighter floor of earlier runs: the document read into one row, its lists left nested.
    "read_json": "CREATE TABLE t AS SELECT * FROM read_json($path, maximum_object_size = $size)",
}


def floor(args: dict) -> dict:
    """DuckDB alone, with its own defaults: FLOORS[args["floor"]] of the downloaded file into a
    table of a fresh database file."""
    base = rss_bytes()
    import duckdb

    after_import = rss_bytes()
    path, db = args["file"], args["db"]
    size = os.path.getsize(path)
    config = {"memory_limit": args["memory_limit"]} if args.get("memory_limit") else {}
    t = time.perf_counter()
    con = duckdb.connect(db, config=config)
    con.execute(FLOORS[args.get("floor", "unnest")], {"path": path, "size": size + 1024})
    seconds = time.perf_counter() - t
    rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
    con.close()
    return {"seconds": seconds, "peak_rss": peak_rss_bytes(), "baseline_rss": after_import,
            "python_rss": base, "rows": rows, "file_bytes": size}


# -- the refresh --------------------------------------------------------------------------------

def refresh(args: dict) -> dict:
    """One refresh of the current quarter, exactly as `python -m clari_data refresh` runs it (into
    the lake `args["lake"]` names, if it does)."""
    from clari_data.ingest.refresh import run_refresh
    from clari_data.shared.config import ClariSettings, ScheduleSettings, Secret, Settings, WarehouseSettings
    from clari_data.storage.warehouse import Warehouse

    baseline = rss_bytes()
    lake = args.get("lake")
    backend = {"backend": "ducklake", "catalog": lake["catalog"], "data_path": lake["data_path"]} if lake else {}
    settings = Settings(
        clari=ClariSettings(base_url=args["base_url"], api_key=Secret(args["key"]), forecast_ids=(args["forecast"],),
                            periods_back=0, poll_interval_seconds=0.05, poll_deadline_seconds=900,
                            timeout_seconds=300, max_attempts=3),
        # The [warehouse] defaults (memory_limit, threads) unless a cap is being measured.
        warehouse=WarehouseSettings(path=args["db"], downloads_dir=args["downloads"], **backend,
                                    **({"memory_limit": args["memory_limit"]} if args.get("memory_limit") else {})),
        schedule=ScheduleSettings(enabled=False),
    )
    marks: list[tuple[str, float]] = []
    with Sampler() as sampler:
        def progress(p) -> None:
            marks.append((p.stage, time.perf_counter()))
            sampler.phase = p.stage

        t0 = time.perf_counter()
        wh = Warehouse.from_settings(settings)
        marks.append(("opened", time.perf_counter()))
        result = run_refresh(settings, wh, trigger="cli", progress=progress)
        t1 = time.perf_counter()
        sampler.phase = "after"
        outcome = result.outcomes[0]
        record = wh.export_record(outcome.job_id)
        limit = wh.memory_limit()
        threads = settings.warehouse.duckdb_threads
        wh.close()
    if result.outcome != "success":
        raise SystemExit(f"the refresh failed: {result.failures}")
    first = {}
    for stage, at in marks:
        first.setdefault(stage, at)
    phases = {
        "open": first["opened"] - t0,
        "queue_and_poll": first["downloading"] - first["opened"],  # limits, queue, Clari's job, polling
        "download": first["loading"] - first["downloading"],
        "load": t1 - first["loading"],  # load, change detection, bookkeeping
    }
    export = json.loads(json.dumps(record, default=str)) if record else {}  # timestamps as text
    return {"seconds": t1 - t0, "phases": phases, "peak_rss": peak_rss_bytes(), "baseline_rss": baseline,
            "phase_peaks": sampler.peaks, "job_id": outcome.job_id, "status": outcome.status,
            "entries": outcome.entries, "export": export, "memory_limit": limit, "threads": threads}


# -- page data calls ----------------------------------------------------------------------------

def pages(args: dict) -> dict:
    """The data calls of every page, on the file `args["db"]`, or on the lake `args["lake"]` names
    as a dashboard replica reads it (writer=False; page runs read the process's mirror of the lake,
    whose first copy, made when the replica's first page run starts, is timed apart: `mirror_s`)."""
    from bench.lake import from_args
    from bench.pages import PAGES, default_selection, page_calls, shared_calls, time_calls
    from clari_data.storage.warehouse import Warehouse

    db, cold_n, warm_n = args["db"], args["cold_repeats"], args["warm_repeats"]
    out = {page: {"cold": [], "warm": [], "cold_own": [], "warm_own": [], "calls": {}} for page in PAGES}
    mirror_s: list[float] = []

    def open_warehouse() -> Warehouse:
        if not args.get("lake"):
            return Warehouse(db)
        wh = Warehouse(from_args(args["lake"]), writer=False)
        t = time.perf_counter()
        with wh.snapshot():
            pass
        mirror_s.append(time.perf_counter() - t)
        return wh

    def record(page: str, kind: str, shared: dict, own: dict) -> None:
        entry = out[page]
        entry[kind].append(sum(shared.values()) + sum(own.values()))
        entry[kind + "_own"].append(sum(own.values()))
        for name, seconds in {**{f"shared:{k}": v for k, v in shared.items()}, **own}.items():
            entry["calls"].setdefault(name, {"cold": [], "warm": []})[kind].append(seconds)

    def cold(calls) -> dict[str, float]:
        """The calls as the first ones on a freshly opened warehouse (DuckDB's buffers empty)."""
        wh = open_warehouse()
        try:
            with wh.snapshot() as cur:
                sel = default_selection(wh, cur)  # the same tiny queries as the shared forecasts, periods
                return time_calls(calls(wh, cur, sel))
        finally:
            wh.close()

    for _ in range(cold_n):
        shared = cold(shared_calls)
        for page in PAGES:
            record(page, "cold", shared, cold(lambda wh, cur, sel, page=page: page_calls(page, wh, cur, sel)))
    # Warm: one open warehouse, each page's calls repeated (pages interleaved).
    wh = open_warehouse()
    with wh.snapshot() as cur:
        sel = default_selection(wh, cur)
        for page in PAGES:  # warm-up
            time_calls(shared_calls(wh, cur, sel) + page_calls(page, wh, cur, sel))
        for _ in range(warm_n):
            for page in PAGES:
                shared = time_calls(shared_calls(wh, cur, sel))
                own = time_calls(page_calls(page, wh, cur, sel))
                record(page, "warm", shared, own)
    wh.close()
    return {"pages": out, "selection": {"forecast_id": sel.forecast_id, "time_period": sel.time_period},
            **({"mirror_s": mirror_s} if mirror_s else {})}


# -- whole page runs ----------------------------------------------------------------------------

def apptest(args: dict) -> dict:
    """Whole AppTest runs of each page of app.py, against a page that only writes one line.

    One process for all pages, like one server: a warm-up run pays the imports and opens the
    warehouse. Then for each page: Streamlit's data cache is cleared (as after a refresh, when the
    data version changes), a new session's first run is "first", and `repeats` further runs of
    that session ("warm", the cache answering) alternate with runs of the empty page.
    """
    os.environ["CLARI_DB_PATH"] = args["db"]
    os.environ["CLARI_CONFIG"] = args["config"]
    os.environ.pop("CLARI_API_KEY", None)
    os.chdir(ROOT)
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from clari_data.runtime.scheduler import stop_process_services

    timeout, n = args.get("timeout", 600), args["repeats"]

    def timed(at, what: str) -> float:
        t = time.perf_counter()
        at.run()
        seconds = time.perf_counter() - t
        if at.exception:
            raise SystemExit(f"{what}: {[e.value for e in at.exception]}")
        return seconds

    def new(script: str, page: str | None = None):
        at = AppTest.from_file(str(ROOT / script), default_timeout=timeout)
        if page:
            at.switch_page(page)
        return at

    t = time.perf_counter()
    warmup = timed(new("app.py"), "warm-up")
    empty = new("bench/empty_page.py")
    empty_first = timed(empty, "empty page")
    out = {"process_start": {"first_run": warmup, "imports_and_open_s": time.perf_counter() - t},
           "empty_first": empty_first, "pages": {}}
    for page in args["pages"]:
        st.cache_data.clear()
        at = new("app.py", page)
        first = timed(at, page)
        title = at.title[0].value if at.title else None
        warm, empty_warm = [], []
        for _ in range(n):
            warm.append(timed(at, page))
            empty_warm.append(timed(empty, "empty page"))
        if (at.title[0].value if at.title else None) != title:
            raise SystemExit(f"{page}: the page changed between runs")
        out["pages"][page] = {"title": title, "first": first, "warm": warm, "empty_warm": empty_warm,
                              "elements": sum(1 for _ in at.main) + sum(1 for _ in at.sidebar)}
    stop_process_services()
    return out


KINDS = {"floor": floor, "refresh": refresh, "pages": pages, "apptest": apptest}


def main(argv: list[str]) -> None:
    kind, args = argv[0], json.loads(argv[1])
    result = KINDS[kind](args)
    sys.stdout.write(MARK + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
