"""The large-tenant benchmark at a tiny size (docs/performance/index.md): it checks that the bench
works and writes every section (the DuckLake one too, on the tests' PostgreSQL when there is one),
never how fast anything is."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
USERS, DAYS = 40, 3
pytestmark = pytest.mark.slow  # the bench run the tests share takes minutes
PAGES = ("overview", "accuracy", "coverage", "reps", "changes", "projection", "data")  # each run whole by AppTest
# Timed for their data only: the Overview's pacing, the /changes waterfall, and each page with a
# selection as of a past export.
DATA_ONLY = ("pacing", "waterfall", *(f"{p} as of" for p in (*PAGES, "pacing", "waterfall") if p != "data"))


@pytest.fixture(scope="module")
def lake_options(request) -> list[str]:
    """The lake half on the tests' PostgreSQL; without one, the file alone (the rest still checked)."""
    try:
        return ["--postgres", request.getfixturevalue("postgres_server")]
    except pytest.skip.Exception:
        return ["--file-only"]


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory, lake_options):
    out = tmp_path_factory.mktemp("bench")
    env = {k: v for k, v in os.environ.items() if k not in ("CLARI_API_KEY", "CLARI_DB_PATH", "CLARI_CONFIG")}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--users", str(USERS), "--days", str(DAYS), "--fractions", "1",
         "--repeats", "1", "--page-repeats", "1", "--memory-limits", "512MB", "--out", str(out), *lake_options],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads((out / "latest.json").read_text()), proc.stdout


def test_every_section_is_measured(bench_run):
    _out, result, _stdout = bench_run
    assert result["machine"]["cpus"] >= 1 and result["runtime_s"] > 0
    (size,) = result["sizes"]
    assert size["users"] == USERS

    # Refresh over HTTP, and the floor reading the very file the refresh downloaded.
    (refresh,), (floor,) = size["refresh"], size["floor"]
    assert refresh["status"] == "loaded" and refresh["seconds"] > 0
    assert set(refresh["phases"]) == {"open", "queue_and_poll", "download", "load"}
    assert refresh["export"]["entries"] == USERS * 8 * 14  # 8 fields, the quarter's 14 weeks
    assert refresh["peak_rss"] >= refresh["baseline_rss"] > 0
    assert floor["same_file"] is True and floor["rows"] == USERS * 8 * 14 and floor["peak_rss"] > 0
    assert floor["read_json"]["same_file"] is True and floor["read_json"]["rows"] == 1

    # The memory cap run completes under DuckDB's memory_limit.
    (cap,) = size["caps"]
    assert cap["memory_limit"] == "512MB" and "error" not in cap["refresh"]
    assert cap["refresh"]["memory_limit"].startswith("488")  # DuckDB reports 512MB as 488.2 MiB

    # Storage: one row per daily export, with the cells that changed.
    series = size["history"]["series"]
    assert [d["day"] for d in series] == list(range(DAYS))
    assert all(0 <= d["cells_changed"] <= d["cells"] for d in series)

    # Pages: data calls cold and warm, and whole AppTest runs against the empty page.
    calls = size["data_calls"]["pages"]
    assert set(calls) == {*PAGES, *DATA_ONLY}
    assert all(len(c["cold"]) == 1 and len(c["warm"]) == 1 for c in calls.values())
    runs = size["apptest"]["pages"]
    assert set(runs) == {f"views/{p}.py" for p in PAGES}
    assert all(r["title"] and r["first"] > 0 and len(r["warm"]) == len(r["empty_warm"]) == 1 for r in runs.values())


def test_summary_and_table(bench_run):
    out, result, stdout = bench_run
    (summary,) = result["summary"]["sizes"]
    assert 0 < summary["time_ratio"]["median"] and 0 < summary["memory_ratio"]["median"]
    assert summary["storage"]["exports"] == DAYS
    assert set(summary["pages"]) == {*PAGES, *DATA_ONLY}
    assert all(summary["pages"][f"{p} as of"]["as_of_ratio"] > 0 for p in ("overview", "waterfall"))
    table = (out / "latest.md").read_text()
    assert stdout.startswith(table)  # printed and written alike
    for heading in ("**Refresh and memory**", "**Memory cap**", "**Storage**", "**Pages**", "**Time travel**",
                    "**Growth**", "**Noise**"):
        assert heading in table


def test_the_lake_is_measured_beside_the_file(bench_run, lake_options):
    out, result, _stdout = bench_run
    if "--postgres" not in lake_options:
        pytest.skip("no PostgreSQL: the bench measured the file alone")
    (size,) = result["sizes"]
    (refresh,) = size["lake"]["refresh"]
    assert refresh["status"] == "loaded" and refresh["export"]["entries"] == USERS * 8 * 14
    assert set(size["lake"]["data_calls"]["pages"]) == {*PAGES, *DATA_ONLY}
    assert size["lake"]["data_calls"]["mirror_s"] and size["lake"]["storage"]["used_bytes"] > 0
    (summary,) = result["summary"]["sizes"]
    assert summary["lake"]["refresh_ratio"]["median"] > 0
    assert all(p["ratio"] > 0 for p in summary["lake"]["pages"].values())
    table = (out / "latest.md").read_text()
    assert "**DuckLake**" in table and "lake: with shared calls, warm" in table


def test_table_shows_growth_across_sizes(bench_run):
    from bench import report

    _out, result, _stdout = bench_run
    half = json.loads(json.dumps(result["sizes"][0]))
    half.update(users=USERS // 2, fraction=0.5, caps=[])
    two = {**result, "sizes": [half, result["sizes"][0]]}
    two["summary"] = report.summarise(two)
    growth = report.markdown(two).split("**Growth**")[1].split("**Noise**")[0]
    rows = [line for line in growth.splitlines() if line.startswith((f"| {USERS // 2} |", f"| {USERS} |"))]
    assert len(rows) == 2
