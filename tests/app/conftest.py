"""AppTest fixtures: app.py on a private copy of a warehouse filled by demo refreshes."""

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from support import SIM_NOW

from clari_data.ingest.refresh import run_refresh
from clari_data.runtime.scheduler import stop_process_services
from clari_data.shared.config import load_settings
from clari_data.storage.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """A warehouse after two demo refreshes a simulated day apart: an ended quarter, and changes."""
    from clari_data.ingest import demo

    folder = tmp_path_factory.mktemp("demo")
    path = folder / "demo.duckdb"
    settings = load_settings(env={"CLARI_DB_PATH": str(path)}, config_path=write_config(folder, ""))
    with Warehouse.from_settings(settings) as wh:
        wh.set_demo_clock(SIM_NOW - timedelta(days=1))  # a day on which calls move
        for _ in range(2):
            assert run_refresh(settings, wh).outcome == "success"
    demo.stop()
    return path


def write_config(folder: Path, text: str) -> Path:
    config = folder / "clari.toml"
    config.write_text("[demo]\njob_seconds = 0.02\n" + text)
    return config


@pytest.fixture
def make_app(tmp_path, monkeypatch, demo_db):
    """make_app(config_text, db=None) -> an AppTest of app.py on a private copy of the warehouse."""
    def make(config: str = "", db: Path | None = None) -> AppTest:
        target = tmp_path / "app.duckdb"
        if not target.exists():
            shutil.copy(db or demo_db, target)
        monkeypatch.setenv("CLARI_CONFIG", str(write_config(tmp_path, config)))
        monkeypatch.setenv("CLARI_DB_PATH", str(target))
        monkeypatch.delenv("CLARI_API_KEY", raising=False)
        monkeypatch.chdir(ROOT)
        return AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)

    yield make
    stop_process_services()


