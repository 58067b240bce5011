"""A tenant whose fiscal year starts in February, end to end over loopback HTTP: whole refreshes
against the simulator (`fiscal_start_month=2`: Q1 = Feb-Apr, the fiscal year named after the
calendar year it ends in), then every public view, accuracy's week numbering, the "ended
quarter" rule and every page, checked against the documents the simulator served.

The clock sits in FY2027 Q1 (1 February to 30 April 2026). 1 February 2026 is a Sunday, so the
quarter's week 1 is the week of Monday 26 January, six days before the quarter begins; the
previous quarter, FY2026 Q4 (November 2025 to January 2026), starts on a Saturday and its last
week runs past its last day into the new quarter.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from support import TEST_KEY

from clari_data.ingest.refresh import run_refresh
from clari_data.ingest.simulator import SimulatorServer, SyntheticOrg
from clari_data.runtime.scheduler import stop_process_services
from clari_data.shared.config import ClariSettings, ScheduleSettings, Secret, Settings, WarehouseSettings
from clari_data.shared.pages import PAGES
from clari_data.storage.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 2, 18, 15, 0, tzinfo=UTC)  # Wednesday of week 4 of FY2027 Q1
CURRENT, PREVIOUS = "2027_Q1", "2026_Q4"
ROLES = {"commit": "fc_commit", "best_case": "fc_best_case", "quota": "fc_quota", "closed": "crm_closed_won",
         "pipeline": "crm_pipeline"}
pytestmark = pytest.mark.timeout(300)


def settings_for(server: SimulatorServer, path) -> Settings:
    return Settings(
        clari=ClariSettings(base_url=server.base_url, api_key=Secret(TEST_KEY), poll_interval_seconds=0.02,
                            poll_deadline_seconds=20, max_attempts=4, timeout_seconds=5, periods_back=1),
        warehouse=WarehouseSettings(path=str(path)),
        schedule=ScheduleSettings(enabled=False),
    )


class Tenant:
    """The simulator, the warehouse its refreshes filled, and the document behind each export."""

    def __init__(self, server: SimulatorServer, settings: Settings) -> None:
        self.server, self.settings = server, settings
        self.docs: dict[int, dict] = {}  # export_id -> the result document the simulator served

    def refresh(self, wh: Warehouse):
        result = run_refresh(self.settings, wh)
        assert result.outcome == "success", result.failures
        for o in result.outcomes:
            if o.status == "loaded":
                self.docs[o.export_id] = json.loads(self.server.jobs[o.job_id].file_path.read_text())
        return result

    def rows(self, sql: str, params=None) -> list[dict]:
        with Warehouse(self.settings.warehouse.path) as wh:
            cur = wh.cursor().execute(sql, params or [])
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    org = SyntheticOrg(seed=7, users=30, now=NOW, fiscal_start_month=2)
    server = SimulatorServer(org, api_keys=(TEST_KEY,), job_seconds=0.02).start()
    t = Tenant(server, settings_for(server, tmp_path_factory.mktemp("fiscal") / "fiscal.duckdb"))
    try:
        with Warehouse.from_settings(t.settings) as wh:
            t.first = t.refresh(wh)
            org.advance(1)  # a day later the calls have moved
            t.second = t.refresh(wh)
        yield t
    finally:
        server.stop()


def amount(entry: dict, role: str) -> float | None:
    """A cell's amount in a role, as the views read it: a call is the manager's adjustment where
    there is one; CRM fields arrive as forecastValue (no CRM types are asked for)."""
    keys = {"commit": ("adjustmentValue", "forecastValue"), "best_case": ("adjustmentValue", "forecastValue"),
            "quota": ("quotaValue", "forecastValue", "aggregationTotal")}
    keys = keys.get(role, ("aggregationTotal", "forecastValue"))
    return next((entry[k] for k in keys if entry.get(k) is not None), None)


def latest_week_values(doc: dict) -> dict[tuple[str, str], float | None]:
    """(userId, role) -> the amount in the export's latest week."""
    last = max(f["timeFrameId"] for f in doc["timeFrames"])
    role_of = {field: role for role, field in ROLES.items()}
    return {(e["userId"], role_of[e["fieldId"]]): amount(e, role_of[e["fieldId"]])
            for e in doc["entries"] if e["timeFrameId"] == last and e["fieldId"] in role_of}


def latest_week_cells(doc: dict) -> dict[tuple[str, str], float | None]:
    """(userId, fieldId) -> a cell's number in the export's latest week, as changes compare them."""
    last = max(f["timeFrameId"] for f in doc["timeFrames"])
    return {(e["userId"], e["fieldId"]): next((e[k] for k in ("forecastValue", "quotaValue", "aggregationTotal")
                                               if e.get(k) is not None), None)
            for e in doc["entries"] if e["timeFrameId"] == last}


# ------------------------------------------------------------------------------ the refresh
def test_the_refresh_takes_the_fiscal_quarters_from_clari(tenant):
    first = {o.time_period: o for o in tenant.first.outcomes}
    assert set(first) == {CURRENT, PREVIOUS} and all(o.status == "loaded" for o in first.values())
    # The current quarter is the one Clari answered to an export asked without a period.
    exports = tenant.rows("SELECT export_id, time_period, requested_period FROM exports ORDER BY export_id")
    assert [(e["time_period"], e["requested_period"]) for e in exports[:2]] == [(CURRENT, None), (PREVIOUS, PREVIOUS)]
    # A day later: the current quarter again; the ended one exported after its last day is final.
    second = {o.time_period: o.status for o in tenant.second.outcomes}
    assert second == {CURRENT: "loaded", PREVIOUS: "skipped"}
    periods = tenant.rows("SELECT time_period_id, label, year, start_date, end_date FROM time_periods "
                          "ORDER BY time_period_id")
    assert periods == [
        {"time_period_id": PREVIOUS, "label": "Q4", "year": "2026", "start_date": date(2025, 11, 1),
         "end_date": date(2026, 1, 31)},
        {"time_period_id": CURRENT, "label": "Q1", "year": "2027", "start_date": date(2026, 2, 1),
         "end_date": date(2026, 4, 30)},
    ]


def test_week_one_is_the_week_holding_the_quarters_first_day(tenant):
    weeks = {p: tenant.rows("SELECT week_number, time_frame_id, start_date, end_date FROM week_numbers "
                            "WHERE time_period = ? ORDER BY week_number", [p]) for p in (CURRENT, PREVIOUS)}
    # FY2027 Q1 begins on Sunday 1 February: its week 1 began on Monday 26 January.
    assert [w["time_frame_id"] for w in weeks[CURRENT]] == [
        "TF:2026-01-26", "TF:2026-02-02", "TF:2026-02-09", "TF:2026-02-16"]  # the weeks so far
    assert weeks[CURRENT][0]["start_date"] == date(2026, 1, 26) < date(2026, 2, 1) <= weeks[CURRENT][0]["end_date"]
    # FY2026 Q4 begins on Saturday 1 November 2025: week 1 from Monday 27 October, 14 weeks, the
    # last running past 31 January into the next quarter.
    assert [w["week_number"] for w in weeks[PREVIOUS]] == list(range(1, 15))
    assert weeks[PREVIOUS][0]["time_frame_id"] == "TF:2025-10-27"
    assert weeks[PREVIOUS][-1]["time_frame_id"] == "TF:2026-01-26"
    assert weeks[PREVIOUS][-1]["end_date"] == date(2026, 2, 1)


# ------------------------------------------------------------------------------ the views
def test_coverage_and_performance_are_the_latest_week_of_the_current_export(tenant):
    export_id = max(tenant.docs)
    values = latest_week_values(tenant.docs[export_id])
    coverage = tenant.rows("SELECT * FROM pipeline_coverage WHERE time_period = ?", [CURRENT])
    performance = tenant.rows("SELECT * FROM rep_performance WHERE time_period = ?", [CURRENT])
    users = {u for u, _f in values}
    assert {r["user_id"] for r in coverage} == users == {r["user_id"] for r in performance}
    assert {r["time_frame_id"] for r in coverage + performance} == {"TF:2026-02-16"}
    for r in coverage:
        quota, closed, pipeline = (values[(r["user_id"], k)] for k in ("quota", "closed", "pipeline"))
        assert (r["quota_amount"], r["closed_amount"], r["pipeline_amount"]) == (quota, closed, pipeline)
        assert r["open_pipeline_amount"] == pipeline - closed
    for r in performance:
        assert r["forecast_amount"] == values[(r["user_id"], "commit")]
        assert r["best_case_amount"] == values[(r["user_id"], "best_case")]
    # The ended quarter keeps its own rows, from its one export.
    assert {r["time_frame_id"] for r in tenant.rows("SELECT * FROM rep_performance WHERE time_period = ?",
                                                    [PREVIOUS])} == {"TF:2026-01-26"}


def test_accuracy_covers_the_ended_quarter_only_numbered_from_its_week_one(tenant):
    rows = tenant.rows("SELECT * FROM forecast_accuracy ORDER BY user_id, week_number")
    assert rows and {r["time_period"] for r in rows} == {PREVIOUS}  # FY2027 Q1 has not ended
    previous_export = min(e for e, d in tenant.docs.items() if d["timePeriods"][0]["timePeriodId"] == PREVIOUS)
    doc = tenant.docs[previous_export]
    actual = latest_week_values(doc)
    commit = {(e["userId"], e["timeFrameId"]): amount(e, "commit") for e in doc["entries"]
              if e["fieldId"] == ROLES["commit"]}
    week_of = {f"TF:{date(2025, 10, 27) + timedelta(weeks=n - 1)}": n for n in range(1, 15)}
    assert {r["week_number"] for r in rows} == set(range(1, 15))
    for r in rows:
        assert week_of[r["time_frame_id"]] == r["week_number"]
        assert r["forecast_amount"] == commit[(r["user_id"], r["time_frame_id"])]
        assert r["actual_amount"] == actual[(r["user_id"], "closed")]


def test_changes_are_the_moves_between_the_two_exports_of_the_current_quarter(tenant):
    before, after = sorted(e for e, d in tenant.docs.items() if d["timePeriods"][0]["timePeriodId"] == CURRENT)
    old, new = latest_week_cells(tenant.docs[before]), latest_week_cells(tenant.docs[after])
    moves = tenant.rows("SELECT * FROM forecast_moves")
    assert moves and {(m["time_period"], m["previous_export_id"], m["export_id"]) for m in moves} == {
        (CURRENT, before, after)}
    for m in moves:
        key = (m["user_id"], m["field_id"])
        assert (m["previous_amount"], m["current_amount"]) == (old[key], new[key]) and old[key] != new[key]
    changes = tenant.rows("SELECT * FROM forecast_changes")
    assert {(c["user_id"], c["field_id"]) for c in changes} <= {(m["user_id"], m["field_id"]) for m in moves}
    assert {c["time_period"] for c in changes} <= {CURRENT}


def test_a_quarter_has_ended_once_an_export_is_taken_after_its_last_day(tmp_path):
    """An export taken on FY2026 Q4's last day (31 January) does not end it. The next day's export
    of it comes back byte-for-byte the same: nothing is loaded, yet it confirms the stored export
    as of 1 February, so the quarter has ended (accuracy) and, a day later, is final (not asked
    for again)."""
    org = SyntheticOrg(seed=7, users=12, now=datetime(2026, 1, 31, 20, 0, tzinfo=UTC), fiscal_start_month=2)
    with SimulatorServer(org, api_keys=(TEST_KEY,), job_seconds=0.02) as server:
        t = Tenant(server, settings_for(server, tmp_path / "w.duckdb"))
        with Warehouse.from_settings(t.settings) as wh:
            assert {o.time_period: o.status for o in t.refresh(wh).outcomes} == {PREVIOUS: "loaded",
                                                                                 "2026_Q3": "loaded"}
            assert {r["time_period"] for r in t.rows("SELECT time_period FROM forecast_accuracy")} == {"2026_Q3"}
            org.advance(1)  # 1 February: FY2027 Q1 is current, Q4 the quarter before
            assert {o.time_period: o.status for o in t.refresh(wh).outcomes} == {CURRENT: "loaded",
                                                                                 PREVIOUS: "unchanged"}
            assert {r["time_period"] for r in t.rows("SELECT DISTINCT time_period FROM forecast_accuracy")} == {
                "2026_Q3", PREVIOUS}
            org.advance(1.5)  # more than a day after Q4's last day, confirmed after it: final
            assert {o.time_period: o.status for o in t.refresh(wh).outcomes} == {CURRENT: "loaded",
                                                                                 PREVIOUS: "skipped"}
    assert len(t.rows("SELECT * FROM exports WHERE time_period = ?", [PREVIOUS])) == 1


# ------------------------------------------------------------------------------ the pages
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_page_shows_the_fiscal_quarter(page, tenant, tmp_path, monkeypatch):
    root = ROOT
    db = tmp_path / "app.duckdb"
    shutil.copy(tenant.settings.warehouse.path, db)
    config = tmp_path / "clari.toml"
    config.write_text("[schedule]\nenabled = false\n")
    monkeypatch.setenv("CLARI_CONFIG", str(config))
    monkeypatch.setenv("CLARI_DB_PATH", str(db))
    monkeypatch.delenv("CLARI_API_KEY", raising=False)
    monkeypatch.chdir(root)
    try:
        at = AppTest.from_file(str(root / "app.py"), default_timeout=60)
        at.switch_page(page.script)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.title[0].value == page.title
        period = next(s for s in at.sidebar.selectbox if s.label == "Period")
        # Named as Clari names them (label and year), the current fiscal quarter first and chosen.
        assert (period.value, list(period.options)) == (CURRENT, ["Q1 2027", "Q4 2026"])
        # The ended quarter too: on /accuracy it is the one with numbers.
        period.set_value(PREVIOUS).run()
        assert not at.exception, [e.value for e in at.exception]
        period = next(s for s in at.sidebar.selectbox if s.label == "Period")
        assert period.value == PREVIOUS
        if page.name == "accuracy":
            assert at.get("plotly_chart")
    finally:
        stop_process_services()
