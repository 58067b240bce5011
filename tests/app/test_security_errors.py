"""What a viewer sees when something is wrong (issue 16, items 6 and 9): one sentence, never a
traceback or a credential; a warehouse held by another process says so, with **Try again**; and
every table comes with its (formula-safe) CSV download, the only export offered."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from apptest_helpers import run
from support import wait_until

from clari_data.shared.pages import PAGES

PASSWORD = "hunter2-secret"


@pytest.fixture
def holder(tmp_path):
    """Another process holding a warehouse file read-write, as the CLI refresh or a second server would."""
    processes = []

    def hold(path) -> subprocess.Popen:
        ready = tmp_path / "held"
        code = textwrap.dedent(f"""
            import duckdb, pathlib, time
            con = duckdb.connect({str(path)!r})
            pathlib.Path({str(ready)!r}).write_text("x")
            time.sleep(120)
        """)
        process = subprocess.Popen([sys.executable, "-c", code])
        processes.append(process)
        wait_until(ready.exists, 30, "the other process to hold the warehouse")
        return process

    yield hold
    for process in processes:
        process.kill()
        process.wait()


def test_a_warehouse_held_by_another_process_says_so_with_try_again(make_app, tmp_path, demo_db, holder):
    from clari_data.runtime.scheduler import stop_process_services

    stop_process_services()
    db = tmp_path / "app.duckdb"
    shutil.copy(demo_db, db)
    process = holder(db)
    at = run(make_app(), "views/overview.py")
    [error] = [e.value for e in at.error]
    assert "The warehouse cannot be opened" in error and f"in use by process {process.pid}" in error
    assert [b.label for b in at.button] == ["Try again"]
    assert not at.metric and "Traceback" not in error
    process.kill()
    process.wait()
    at.button[0].click().run()
    assert not at.exception and not at.error and at.metric  # the page, once the file is free


def test_a_configuration_error_is_one_line_without_credentials(make_app, monkeypatch):
    monkeypatch.setenv("CLARI_BASE_URL", f"https://revops:{PASSWORD}@api.clari.com/v4")
    at = make_app()
    at.run()
    [error] = [e.value for e in at.error]
    assert error.startswith("**Configuration error:**") and "base\\_url" in error and PASSWORD not in error
    page = " ".join(str(getattr(e, "value", "")) for e in (*at.caption, *at.markdown, *at.error, *at.code))
    assert PASSWORD not in page and not at.exception


@pytest.mark.parametrize("script", [p.script for p in PAGES])
def test_every_table_has_its_csv_download(make_app, script):
    at = run(make_app(), script)
    tables = at.dataframe
    downloads = [b for b in at.get("download_button") if b.proto.label.startswith("Download CSV")]
    assert len(downloads) == len(tables), (script, len(tables), [d.proto.label for d in downloads])
    for table, download in zip(tables, downloads, strict=True):
        assert download.proto.label == f"Download CSV ({len(table.value)} rows)"


def test_streamlit_shows_no_traceback_to_a_viewer():
    """What `client.showErrorDetails = "type"` (in .streamlit/config.toml) does, read back from the
    server's own configuration as `streamlit run` loads it."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = "from streamlit import config; config.get_config_options(force_reparse=True); " \
           "print(config.get_option('client.showErrorDetails'), config.get_option('client.disableDataExport'))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}  # the file alone, as shipped
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["type", "True"], out.stderr
