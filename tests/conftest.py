"""Shared fixtures. Data is built in code (tests/builders.py) or served by the simulator over real
loopback HTTP; the warehouse is a real DuckDB file in a temporary folder or, for a test that takes
the `backend` fixture (through `wh` or `place`), also a real DuckLake on a real PostgreSQL
(tests/postgres.py): such a test runs once per backend, its id ending in [duckdb] or [ducklake]."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import postgres
import pytest
from support import SIM_NOW, TEST_KEY, write_config

from clari_data.ingest.simulator import SimulatorServer, SyntheticOrg
from clari_data.shared.config import ClariSettings, DemoSettings, Secret, Settings, WarehouseSettings, load_settings
from clari_data.storage.warehouse import Warehouse

# The shipped config shows viewers only an error's type; a failing AppTest should say what broke.
os.environ.setdefault("STREAMLIT_CLIENT_SHOW_ERROR_DETAILS", "full")


@pytest.fixture(scope="session")
def _postgres():
    """The session's PostgreSQL (tests/postgres.py), or a skip (a failure with REQUIRE_POSTGRES=1)."""
    try:
        server = postgres.session_server()
    except postgres.PostgresUnavailable as exc:
        postgres.unavailable(str(exc))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server(_postgres) -> str:
    """libpq keywords of a PostgreSQL to test against: "host=127.0.0.1 port=N user=postgres"."""
    return _postgres.conninfo


@pytest.fixture
def new_lake(_postgres, tmp_path):
    """Makes lakes of the test's own: `new_lake(name)` is a fresh catalog database and a data
    directory tmp_path/<name>-lake/; every one is dropped after the test."""
    made = []

    def make(name: str = "lake", password: str | None = None):
        lake = postgres.new_lake(_postgres, tmp_path / f"{name}-lake", password)
        made.append(lake)
        return lake

    yield make
    for lake in made:
        postgres.drop_lake(_postgres, lake)


@pytest.fixture(scope="session")
def _template_lake(_postgres, tmp_path_factory):
    """The session's migrated lake, which `migrated_lake` copies (tests/postgres.py says why)."""
    lake = postgres.template_lake(_postgres, tmp_path_factory.mktemp("template") / "lake")
    yield lake
    postgres.drop_lake(_postgres, lake)


@pytest.fixture
def migrated_lake(_postgres, _template_lake, tmp_path):
    """Makes migrated lakes of the test's own, as a warehouse leaves a lake it opened first:
    `migrated_lake(name)` is a copy of the session's template, its data in tmp_path/<name>-migrated-lake/;
    every one is dropped after the test."""
    made = []

    def make(name: str = "lake"):
        lake = postgres.copy_lake(_postgres, _template_lake, tmp_path / f"{name}-migrated-lake")
        made.append(lake)
        return lake

    yield make
    for lake in made:
        postgres.drop_lake(_postgres, lake)


@pytest.fixture
def lake_settings(new_lake, tmp_path) -> Settings:
    """Default settings on a fresh lake of the test's own (backend = "ducklake")."""
    return postgres.default_lake_settings(new_lake(), tmp_path)


@pytest.fixture(params=["duckdb", "ducklake"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def place(backend, tmp_path, request):
    """Makes places for a warehouse on the backend under test: `place(name)` is the file
    tmp_path/<name>.duckdb, or a migrated lake; `Warehouse(place(...))` opens it, again and again.
    `place(name, empty=True)`: a lake no warehouse has opened yet, for a test of the first open."""
    if backend == "duckdb":
        return lambda name="test", empty=False: tmp_path / f"{name}.duckdb"
    lakes: dict = {}

    def lake(name: str = "test", empty: bool = False):
        if name not in lakes:
            lakes[name] = request.getfixturevalue("new_lake" if empty else "migrated_lake")(name)
        return lakes[name]

    return lake


@pytest.fixture(scope="module", params=["duckdb", "ducklake"])
def module_place(request, tmp_path_factory):
    """Where a warehouse that all of a module's tests share lives, once per backend (ids [duckdb],
    [ducklake] as `backend` gives): for data they only read, built once instead of once a test
    (wrap the yield in support.unchanged). A file, or a migrated lake."""
    folder = tmp_path_factory.mktemp("shared")
    if request.param == "duckdb":
        yield folder / "shared.duckdb"
        return
    server, template = request.getfixturevalue("_postgres"), request.getfixturevalue("_template_lake")
    lake = postgres.copy_lake(server, template, folder / "shared-migrated-lake")
    yield lake
    postgres.drop_lake(server, lake)


@pytest.fixture
def wh(place):
    warehouse = Warehouse(place())
    yield warehouse
    warehouse.close()


@pytest.fixture
def simulator():
    """A simulator on a free loopback port, fast jobs, accepting TEST_KEY."""
    server = SimulatorServer(SyntheticOrg(seed=7, users=60, now=SIM_NOW), api_keys=(TEST_KEY,),
                             job_seconds=0.05).start()
    yield server
    server.stop()


@pytest.fixture
def sim_settings(tmp_path, simulator):
    """Settings that talk to the `simulator` fixture as if it were a real tenant (key set)."""
    return Settings(
        clari=ClariSettings(base_url=simulator.base_url, api_key=Secret(TEST_KEY), poll_interval_seconds=0.02,
                            poll_deadline_seconds=20, max_attempts=4, timeout_seconds=5),
        warehouse=WarehouseSettings(path=str(tmp_path / "sim.duckdb")),
    )


@pytest.fixture
def demo_settings(tmp_path):
    """Demo mode (no key): refreshes go to the process's built-in simulator."""
    from clari_data.ingest import demo

    demo.stop()
    yield Settings(warehouse=WarehouseSettings(path=str(tmp_path / "demo.duckdb")),
                   demo=replace(DemoSettings(), job_seconds=0.02))
    demo.stop()


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory):
    """demo_warehouse(config="") -> the file of a warehouse after two demo refreshes a simulated day
    apart (an ended quarter, and calls that moved), the demo tenant configured by
    `support.write_config(folder, config)`. Built on first use, once per config in the session:
    read it, or copy it to write (tests/app's make_app does)."""
    from clari_data.ingest import demo
    from clari_data.ingest.refresh import run_refresh

    built: dict[str, Path] = {}

    def make(config: str = "") -> Path:
        if config not in built:
            folder = tmp_path_factory.mktemp("demo")
            path = folder / "demo.duckdb"
            settings = load_settings(env={"CLARI_DB_PATH": str(path)}, config_path=write_config(folder, config))
            demo.stop()  # the demo's simulator is the process's: one started for another config has another org
            with Warehouse.from_settings(settings) as wh:
                wh.set_demo_clock(SIM_NOW - timedelta(days=1))  # a day on which calls move
                for _ in range(2):
                    assert run_refresh(settings, wh).outcome == "success"
            demo.stop()
            built[config] = path
        return built[config]

    return make
