"""Shared fixtures. Data is built in code (tests/builders.py) or served by the simulator over real
loopback HTTP; the warehouse is always a real DuckDB file in a temporary folder."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from support import SIM_NOW, TEST_KEY

from clari_data.config import ClariSettings, DemoSettings, Secret, Settings, WarehouseSettings
from clari_data.simulator import SimulatorServer, SyntheticOrg
from clari_data.warehouse import Warehouse

# The shipped config shows viewers only an error's type; a failing AppTest should say what broke.
os.environ.setdefault("STREAMLIT_CLIENT_SHOW_ERROR_DETAILS", "full")


@pytest.fixture
def wh(tmp_path):
    warehouse = Warehouse(tmp_path / "test.duckdb")
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
    from clari_data import demo

    demo.stop()
    yield Settings(warehouse=WarehouseSettings(path=str(tmp_path / "demo.duckdb")),
                   demo=replace(DemoSettings(), job_seconds=0.02))
    demo.stop()
