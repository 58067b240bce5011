"""`python -m bench browser`: how long each page takes to settle in Chromium, and how heavy it is.

For each size (`--users`, default 60 and 2,000) it fills a demo warehouse the way a fresh server
would have it after two days (two command-line refreshes of the simulator, a simulated day apart:
the current quarter and the one before), serves it with `streamlit run app.py` (the schedule off, so
no refresh runs mid-measurement), and opens each page's link in Debian's Chromium through
Playwright, each open a new session, as opening a shared link is.

A page has *settled* when the app is connected, no script run is in progress, the page's title and
its "Data as of" line are shown, every Plotly chart on it has drawn and nothing it shows has changed
for a second. The time is from the start of the navigation to the last change before that quiet
second. A data table's copy for screen readers, inside its never-drawn canvas, is rebuilt 200 ms
after the table last changed: the time of the last change of any kind, that copy included, is
recorded beside it. The first open of each page fills the server's data cache; then
`--repeats` opens in a new browser (empty HTTP cache) and as many in a browser that has shown the
dashboard before (its scripts cached). Beside the time it records the page's weight: the elements in the
document, the charts, the points they draw (the longest of x and y over every trace) and the most
points one trace carries.

`--app-root DIR` serves another checkout of the app (e.g. `git archive <commit> | tar -x -C DIR`),
to measure a page before and after a change on the same warehouse.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.dashboard import CHROMIUM_ARGS, Dashboard, chromium_path
from clari_data.shared import pages as app_pages

ROOT = Path(__file__).resolve().parents[1]
# Every page of the registry; an older checkout (--app-root) may lack some: choose with --pages.
PAGES = tuple((f"/{p.route}", p.title) for p in app_pages.PAGES)
TARGET_S = 3.0
TIMEOUT_MS = 120_000

# The page's weight, read in the browser once it has settled.
WEIGHT_JS = """() => {
  const size = v => (v == null ? 0 : (typeof v.length === 'number' ? v.length : 0));
  let points = 0, widest = 0;
  const plots = document.querySelectorAll('.js-plotly-plot');
  for (const plot of plots) {
    for (const trace of (plot._fullData || plot.data || [])) {
      const n = Math.max(size(trace.x), size(trace.y));
      points += n; widest = Math.max(widest, n);
    }
  }
  return {elements: document.getElementsByTagName('*').length, charts: plots.length, points, widest,
          height: (document.querySelector('[data-testid="stMain"]') || document.scrollingElement).scrollHeight};
}"""


def fill(folder: Path, users: int, app_root: Path, log) -> dict[str, str]:
    """A demo warehouse of `users` people after two daily refreshes; the server's environment."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clari.toml").write_text(f"[schedule]\nenabled = false\n\n[demo]\njob_seconds = 0.02\nusers = {users}\n")
    env = {**os.environ, "CLARI_CONFIG": str(folder / "clari.toml"), "CLARI_DB_PATH": str(folder / "w.duckdb"),
           "PYTHONPATH": str(app_root)}
    env.pop("CLARI_API_KEY", None)
    started = time.perf_counter()
    for _ in range(2):
        subprocess.run([sys.executable, "-m", "clari_data", "refresh", "--quiet"], cwd=app_root, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, check=True, timeout=900)
    log(f"  {users:,} users: two refreshes in {time.perf_counter() - started:.0f} s")
    return env


# Installed before any page script: the time (ms since the navigation started) of the last change
# to what the page shows, and of the last change of any kind. Attribute changes are left out: the
# live refresh indicator's timed fragment flips the app's run state every 2 s without changing what
# is shown. Changes inside a <canvas> count only as "any kind": they are a data table's copy for
# screen readers (glide-data-grid rebuilds it 200 ms after the table last changed), which a browser
# with canvas support never draws.
WATCH_JS = """
window.__lastChange = 0; window.__lastAnyChange = 0;
new MutationObserver((changes) => {
  const now = performance.now();
  window.__lastAnyChange = now;
  if (changes.some(c => !(c.target.closest && c.target.closest('canvas')))) window.__lastChange = now;
}).observe(document, {childList: true, subtree: true, characterData: true});
"""
QUIET_MS = 1000  # no change for this long after the last one: the page has settled


def open_and_settle(context, url: str, title: str, shot: Path | None = None) -> dict:
    """Open `url` in a new tab of `context` (a new session); seconds from the start of the navigation
    until the page settled (its last change before a quiet second, with the run finished and every
    chart drawn), and its weight."""
    from playwright.sync_api import expect

    page = context.new_page()
    try:
        page.goto(url)
        page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]', timeout=TIMEOUT_MS)
        expect(page.get_by_role("heading", name=title, level=1)).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.locator('[data-testid="stCaptionContainer"]').filter(has_text="Data as of").first
               ).to_be_visible(timeout=TIMEOUT_MS)
        page.wait_for_function(
            f"""() => document.querySelector('[data-test-script-state="notRunning"]')
                     && [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
                        .every(c => c.querySelector('.main-svg'))
                     && !document.querySelector('[data-testid="stSkeleton"]')
                     && performance.now() - window.__lastChange > {QUIET_MS}""", timeout=TIMEOUT_MS, polling=100)
        seconds = page.evaluate("() => window.__lastChange") / 1000
        any_change = page.evaluate("() => window.__lastAnyChange") / 1000
        weight = page.evaluate(WEIGHT_JS)
        errors = page.locator('[data-testid="stException"]').count()
        if shot is not None:
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
        return {"seconds": round(seconds, 3), "any_change_s": round(any_change, 3), **weight, "exceptions": errors}
    finally:
        page.close()


def new_context(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(WATCH_JS)
    return context


def in_new_browser(browser, url: str, title: str, shot: Path | None = None) -> dict:
    context = new_context(browser)
    try:
        return open_and_settle(context, url, title, shot)
    finally:
        context.close()


def measure(users: int, work: Path, opts: argparse.Namespace, browser, log) -> dict:
    """Each page: a first open (the server's data cache empty), then `--repeats` opens in a new
    browser (an empty HTTP cache: the app's scripts, Plotly's among them, are fetched and compiled
    again) and as many in a browser that has shown the dashboard before (scripts cached)."""
    app_root = Path(opts.app_root).resolve()
    env = fill(work / f"u{users}", users, app_root, log)
    server = Dashboard(work / f"u{users}", env, app_root)
    pages = []
    returning = new_context(browser)
    try:
        open_and_settle(returning, server.url + "/data", "Data & refresh")  # fills its HTTP cache
        for route, title in PAGES:
            if opts.pages and route not in opts.pages:
                continue
            url = server.url + route
            shot = Path(opts.screenshots) / f"browser-{users}-{route.strip('/') or 'overview'}.png" \
                if opts.screenshots else None

            first = in_new_browser(browser, url, title)
            new = [in_new_browser(browser, url, title, shot if i == 0 else None) for i in range(opts.repeats)]
            again = [open_and_settle(returning, url, title) for _ in range(opts.repeats)]
            row = {"route": route, "title": title, "first_s": first["seconds"],
                   "new_s": [w["seconds"] for w in new], "returning_s": [w["seconds"] for w in again],
                   "new_any_change_s": [w["any_change_s"] for w in new],
                   **{k: new[0][k] for k in ("elements", "charts", "points", "widest", "height", "exceptions")}}
            for key in ("new_s", "returning_s", "new_any_change_s"):
                row[key.replace("_s", "_median_s")] = round(statistics.median(row[key]), 3)
                row[key.replace("_s", "_max_s")] = max(row[key])
            pages.append(row)
            log(f"  {users:,} users {route}: first {first['seconds']:.2f} s; new browser median "
                f"{row['new_median_s']:.2f} s, returning {row['returning_median_s']:.2f} s; "
                f"{row['elements']:,} elements, {row['charts']} charts, {row['points']:,} points "
                f"(widest trace {row['widest']}), {row['height']:,} px tall")
    finally:
        returning.close()
        server.stop()
    return {"users": users, "pages": pages}


def markdown(result: dict) -> str:
    lines = [f"Run {result['started_at']} ({result['command']}); app from {result['app_root']}; load average "
             f"{result['load_average_start']} at start, {result['load_average_end']} at end.", "",
             "| users | page | first open s (server cache empty) | new browser, median (max) s "
             f"| browser that has shown the dashboard, median (max) s | target ≤ {TARGET_S:g} s "
             "| new browser, last change of any kind, median (max) s | elements "
             "| charts | points drawn | most points in one trace | page height px |",
             "|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for size in result["sizes"]:
        for p in size["pages"]:
            worst = max(p["first_s"], p["new_max_s"], p["returning_max_s"])
            lines.append(f"| {size['users']:,} | `{p['route']}` | {p['first_s']:.2f} | {p['new_median_s']:.2f} "
                         f"({p['new_max_s']:.2f}) | {p['returning_median_s']:.2f} ({p['returning_max_s']:.2f}) | "
                         f"{'met' if worst <= TARGET_S else 'missed'} | {p['new_any_change_median_s']:.2f} "
                         f"({p['new_any_change_max_s']:.2f}) | {p['elements']:,} | {p['charts']} "
                         f"| {p['points']:,} | {p['widest']} | {p['height']:,} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench browser", description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="60,2000", help="demo org sizes to serve (default 60,2000)")
    parser.add_argument("--repeats", type=int, default=3, help="warm opens of each page (default 3)")
    parser.add_argument("--pages", default="", help="routes to open, comma-separated (default every page: "
                        + ",".join(r for r, _ in PAGES) + ")")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="where to write browser-latest.*")
    parser.add_argument("--app-root", default=str(ROOT), help="the checkout of the app to serve (default this one)")
    parser.add_argument("--screenshots", default=str(ROOT / "artifacts" / "screenshots"),
                        help="where to save a full-page screenshot of each page and size ('' for none)")
    opts = parser.parse_args(argv)
    if opts.repeats < 1:
        parser.error("--repeats must be at least 1")
    opts.pages = [r.strip() for r in opts.pages.split(",") if r.strip()]
    return opts


def main(argv: list[str] | None = None) -> dict:
    opts = parse_args(argv)
    chromium = chromium_path()
    if not chromium:
        raise SystemExit("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {message}", file=sys.stderr, flush=True)

    from clari_data.shared.timeutil import utc_now

    result: dict = {"command": "python -m bench browser " + " ".join(argv if argv is not None else sys.argv[2:]),
                    "started_at": utc_now().isoformat(timespec="seconds"), "app_root": opts.app_root,
                    "load_average_start": [round(x, 2) for x in os.getloadavg()], "sizes": []}
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as work, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            for users in [int(u) for u in opts.users.split(",") if u.strip()]:
                result["sizes"].append(measure(users, Path(work), opts, browser, log))
        finally:
            browser.close()
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    result["runtime_s"] = round(time.perf_counter() - started, 1)
    table = markdown(result)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "browser-latest.json").write_text(json.dumps(result, indent=1))
    (out / "browser-latest.md").write_text(table)
    print(table)
    log(f"done in {result['runtime_s']:.0f} s; wrote {out / 'browser-latest.md'}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
