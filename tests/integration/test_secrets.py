"""The Clari API key never appears in logs, exception text, the run history, the pages, URLs or
the warehouse: a recognisable key goes through every failure of the fault matrix, the command line
and every page, and all of it is searched."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from support import TEST_KEY
from test_faults import ROWS, Context

from clari_data.ingest.client import ClariClient
from clari_data.ingest.refresh import run_refresh
from clari_data.runtime.scheduler import stop_process_services
from clari_data.shared.retry import RetryPolicy
from clari_data.storage.warehouse import DATA_TABLES, Warehouse

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["views/overview.py", "views/accuracy.py", "views/coverage.py", "views/reps.py", "views/changes.py",
         "views/data.py"]


def all_text(wh: Warehouse) -> str:
    """Every value of every table, data and operational."""
    tables = [r[0] for r in wh.cursor().execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    assert set(DATA_TABLES) <= set(tables) and "runs" in tables
    return "\n".join(repr(wh.cursor().execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)


def rendered(at: AppTest) -> str:
    """Everything a page sent to the browser: the protobuf of every element, text and table data."""
    return "\n".join(str(node.proto) for block in (at.main, at.sidebar) for node in block)


@pytest.mark.slow
def test_the_key_never_leaks(sim_settings, simulator, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included, at its most talkative
    seen: list[str] = []
    db = Path(sim_settings.warehouse.path)
    period = simulator.org.current_period()
    with Warehouse.from_settings(sim_settings) as wh:
        assert run_refresh(sim_settings, wh, periods=[period]).outcome == "success"
        for row in ROWS:  # every failure and recovery of the fault matrix
            simulator.org.advance(1)
            context = Context()
            row.inject(simulator, context)
            settings = replace(sim_settings, clari=replace(sim_settings.clari, **row.clari, **context.clari))
            client = ClariClient.from_settings(
                settings.clari,
                **{"retry": RetryPolicy(settings.clari.max_attempts, 0.01, max_backoff_seconds=0.05, jitter=True),
                   **row.client})
            try:
                result = run_refresh(settings, wh, client=client,
                                     periods=[simulator.org.periods()[1] if row.past_period else period])
            except Exception as exc:  # an exception would be a bug, but its text must not leak either
                seen.append(f"{type(exc).__name__}: {exc!r} {exc}")
                raise
            finally:
                client.close()
                simulator.faults.clear()
                for sock in context.sockets:
                    sock.close()
            seen += [f"{o.error} {o.warnings} {o!r}" for o in result.outcomes] + [result.summary()]
        seen.append(all_text(wh))

    # The command line: a success and a failure, with verbose logging.
    config = tmp_path / "cli.toml"
    config.write_text(f'[clari]\nbase_url = "{simulator.base_url}"\npoll_interval_seconds = 0.02\n'
                      f'[warehouse]\npath = "{db}"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLARI_CONFIG": str(config), "CLARI_API_KEY": TEST_KEY}
    for fault in (None, "empty"):
        if fault:
            simulator.faults.result_body(fault)
        done = subprocess.run([sys.executable, "-m", "clari_data", "-v", "refresh"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        seen += [done.stdout, done.stderr]
    seen.append(subprocess.run([sys.executable, "-m", "clari_data", "status"], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=60).stdout)

    # Every page, in tenant mode with the key set.
    monkeypatch.setenv("CLARI_CONFIG", str(config))
    monkeypatch.setenv("CLARI_API_KEY", TEST_KEY)
    monkeypatch.chdir(ROOT)
    try:
        for page in PAGES:
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
            at.switch_page(page)
            at.run()
            assert not at.exception
            seen += [rendered(at), repr(dict(at.query_params))]
    finally:
        stop_process_services()

    seen += [repr(simulator.request_log), caplog.text]
    leaks = [text[max(0, text.find(TEST_KEY) - 80): text.find(TEST_KEY) + 40] for text in seen if TEST_KEY in text]
    assert not leaks, leaks
    assert "data as of" in "\n".join(seen).lower()  # the pages did render data
    # The warehouse file itself, byte for byte.
    for path in db.parent.glob(db.name + "*"):
        assert TEST_KEY.encode() not in path.read_bytes(), path


def test_secret_files_are_ignored_by_git():
    ignored = subprocess.run(["git", "check-ignore", "clari.toml", ".streamlit/secrets.toml", "data/clari.duckdb",
                              "x.duckdb.wal"], cwd=ROOT, capture_output=True, text=True)
    if ignored.returncode == 128:
        pytest.skip("not a git checkout")
    assert ignored.stdout.split() == ["clari.toml", ".streamlit/secrets.toml", "data/clari.duckdb", "x.duckdb.wal"]

