"""The alert rules evaluated on a real warehouse: the change rule's thresholds are applied once, in
SQL, and inclusively; the banners and the notifications read the same evaluation."""

from __future__ import annotations

from datetime import datetime

import pytest
from builders import Export, small_org

from clari_data.alerting import alerts
from clari_data.read.analytics import Selection
from clari_data.shared.config import AlertSettings, FieldRoles

WEEK = "2026-03-23"
SEL = Selection("net_arr", "2026_Q1")


@pytest.fixture
def moved(wh, tmp_path):
    """Two exports a day apart: Rex's Commit falls by exactly 10% and $5,000, Ria's Best Case
    rises from zero by $7,000, Rob's Commit moves by 1%."""
    before = {"r1": (50_000, 60_000), "r2": (10_000, 0), "r3": (100_000, 120_000)}
    after = {"r1": (45_000, 60_000), "r2": (10_000, 7_000), "r3": (101_000, 120_000)}
    for day, numbers in ((2, before), (3, after)):
        e = Export(users=small_org(), weeks=[WEEK])
        for uid in ("cro", "m1", "m2"):
            e.row(uid, WEEK, commit=1_000_000, best_case=1_200_000, quota=2_000_000, closed=0, pipeline=5_000_000)
        for uid, (commit, best_case) in numbers.items():
            e.row(uid, WEEK, commit=commit, best_case=best_case, quota=500_000, closed=0, pipeline=2_000_000)
        wh.load_export(e.write(tmp_path / f"day-{day}.json"), forecast_id="net_arr", job_id=f"j{day}",
                       requested_period="2026_Q1", exported_at=datetime(2026, 4, day))
    return wh


def change(wh, **thresholds):
    found = alerts.data_alerts(wh, AlertSettings(coverage_min=0.0, accuracy_min_pct=0.0, **thresholds), FieldRoles(),
                               SEL)
    return next((a for a in found if a.rule == "change"), None)


def test_the_change_thresholds_are_inclusive(moved):
    alert = change(moved, change_pct=10, change_min_amount=5000)
    assert [i.subject_id for i in alert.items] == ["r2/fc_best_case", "r1/fc_commit"]
    assert [i.value for i in alert.items] == ["+$7,000, from zero", "-$5,000, -10%"]
    assert alert.threshold == "10% and $5,000"
    # Just above either threshold, Rex's move no longer counts; a move from zero counts by amount alone.
    assert [i.subject_id for i in change(moved, change_pct=10.01, change_min_amount=5000).items] == ["r2/fc_best_case"]
    assert [i.subject_id for i in change(moved, change_pct=10, change_min_amount=5000.01).items] == ["r2/fc_best_case"]
    assert change(moved, change_pct=10, change_min_amount=7000.01) is None


def test_zero_thresholds_count_every_moved_call(moved):
    alert = change(moved, change_pct=0, change_min_amount=0)
    assert {i.subject_id for i in alert.items} == {"r1/fc_commit", "r2/fc_best_case", "r3/fc_commit"}
