"""AppTest fixtures: app.py on a private copy of a warehouse filled by demo refreshes."""

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from support import write_config

from clari_data.runtime.scheduler import stop_process_services

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def demo_db(demo_warehouse) -> Path:
    """The default demo tenant's warehouse (tests/conftest.py: demo_warehouse); copy it to write."""
    return demo_warehouse()


@pytest.fixture
def make_app(tmp_path, monkeypatch, demo_warehouse):
    """make_app(config_text, db=None) -> an AppTest of app.py on a private copy of the warehouse."""
    def make(config: str = "", db: Path | None = None) -> AppTest:
        target = tmp_path / "app.duckdb"
        if not target.exists():
            shutil.copy(db or demo_warehouse(), target)
        monkeypatch.setenv("CLARI_CONFIG", str(write_config(tmp_path, config)))
        monkeypatch.setenv("CLARI_DB_PATH", str(target))
        monkeypatch.delenv("CLARI_API_KEY", raising=False)
        monkeypatch.chdir(ROOT)
        return AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)

    yield make
    stop_process_services()


