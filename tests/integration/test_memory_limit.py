"""A memory cap too tight for an export: the load fails as a memory problem (not as a bad file), the
warehouse is untouched, and the downloaded file and its Clari job are kept for the next refresh."""

from dataclasses import replace

import pytest
from builders import Export, small_org

from clari_data.ingest.refresh import run_refresh
from clari_data.storage.warehouse import ExportRejected, Warehouse, WarehouseError

# DuckDB's JSON reader asks for at least 32 MiB whatever the file's size, so 16MB is always too little.
TIGHT = "16MB"


def small_export() -> Export:
    e = Export(users=small_org(), weeks=["2026-03-23"])
    for who in ("cro", "m1", "m2", "r1", "r2", "r3"):
        e.row(who, "2026-03-23", commit=100, best_case=120, quota=200, closed=50, pipeline=300)
    return e


def test_a_load_over_the_memory_limit_says_so_and_changes_nothing(tmp_path):
    path = small_export().write(tmp_path / "small.json")
    db = tmp_path / "w.duckdb"
    with Warehouse(db, memory_limit=TIGHT) as wh:
        with pytest.raises(WarehouseError) as caught:
            wh.load_export(path, forecast_id="net_arr", job_id="j1", requested_period="2026_Q1")
        assert not isinstance(caught.value, ExportRejected)
        assert "memory_limit" in str(caught.value) and "not valid JSON" not in str(caught.value)
        assert wh.table_contents(("exports",))["exports"] == []
    with Warehouse(db) as wh:
        assert wh.load_export(path, forecast_id="net_arr", job_id="j1", requested_period="2026_Q1").status == "loaded"


def test_the_next_refresh_loads_the_kept_download_without_a_new_export(sim_settings, simulator):
    tight = replace(sim_settings, warehouse=replace(sim_settings.warehouse, memory_limit=TIGHT))
    with Warehouse.from_settings(tight) as wh:
        first = run_refresh(tight, wh, periods=[simulator.org.current_period()])
    (failed,) = first.outcomes
    assert failed.status == "failed" and failed.kind == "warehouse" and "memory_limit" in failed.error
    posts = sum(1 for method, _path, _status in simulator.request_log if method == "POST")
    with Warehouse.from_settings(sim_settings) as wh:
        second = run_refresh(sim_settings, wh, periods=[simulator.org.current_period()])
    (loaded,) = second.outcomes
    assert loaded.status == "loaded" and loaded.job_id == failed.job_id
    assert sum(1 for method, _path, _status in simulator.request_log if method == "POST") == posts
