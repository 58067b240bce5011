"""`python -m bench idle`: what open but idle pages cost the server, with and without Streamlit's
full garbage collection after every script run (`[runner] postScriptGC`, off in
.streamlit/config.toml).

Every open page runs its refresh indicator, a fragment, every 2 s. The command fills a demo
warehouse (`--users`), serves it twice, once with the collection and once without, opens
`--sessions` pages of `--page` in Chromium on each, lets them settle, and reads the server
process's CPU time over `--seconds`; then opens `--opens` more pages one after another and reads
its resident memory.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.browser import fill, new_context, open_and_settle
from bench.dashboard import CHROMIUM_ARGS, ROOT, Dashboard, chromium_path
from clari_data.shared import pages as app_pages


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(gc: bool, folder: Path, env: dict[str, str], opts: argparse.Namespace, browser, log) -> dict:
    title = {f"/{p.route}": p.title for p in app_pages.PAGES}[opts.page]
    folder.mkdir()
    server = Dashboard(folder, env, options=("--runner.postScriptGC", str(gc).lower()))
    try:
        context = new_context(browser)
        for _ in range(opts.sessions):  # each tab a session of its own, left open
            page = context.new_page()
            page.goto(server.url + opts.page)
        open_and_settle(context, server.url + opts.page, title)  # the last one has settled too
        before, started = cpu_seconds(server.process.pid), time.monotonic()
        time.sleep(opts.seconds)  # the measurement itself: CPU used while nobody does anything
        cpu = (cpu_seconds(server.process.pid) - before) / (time.monotonic() - started)
        context.close()
        routes = [(f"/{p.route}", p.title) for p in app_pages.PAGES]
        context = new_context(browser)
        for i in range(opts.opens):
            route, page_title = routes[i % len(routes)]
            open_and_settle(context, server.url + route, page_title)
        context.close()
        row = {"post_script_gc": gc, "cpu_share": round(cpu, 3), "rss_mib": round(rss_mib(server.process.pid), 1)}
        log(f"postScriptGC {str(gc).lower()}: {opts.sessions} idle pages kept the server at {cpu:.0%} of a core; "
            f"{row['rss_mib']:.0f} MiB after {opts.opens} more page opens")
        return row
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m bench idle", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000, help="demo org size (default 2000)")
    parser.add_argument("--sessions", type=int, default=10, help="idle pages left open (default 10)")
    parser.add_argument("--page", default="/coverage", help="the page they show (default /coverage)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long CPU is read (default 20)")
    parser.add_argument("--opens", type=int, default=60, help="page opens before memory is read (default 60)")
    opts = parser.parse_args(argv)
    chromium = chromium_path()
    if not chromium:
        raise SystemExit("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {message}", file=sys.stderr, flush=True)

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as work, sync_playwright() as p:
        env = fill(Path(work) / "warehouse", opts.users, ROOT, log)
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            for gc in (True, False):
                rows.append(measure(gc, Path(work) / f"gc-{str(gc).lower()}", env, opts, browser, log))
        finally:
            browser.close()
    print("| postScriptGC | server CPU, share of a core | resident memory after the opens, MiB |")
    print("|---|---:|---:|")
    for r in rows:
        print(f"| {str(r['post_script_gc']).lower()} | {r['cpu_share']:.0%} | {r['rss_mib']:.0f} |")
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
