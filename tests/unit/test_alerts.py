"""The alert rules of clari_data/shared/rules.py: each check fires exactly when its threshold is crossed,
names the people and their numbers, lists at most five then "and N more"; the registry is complete."""

from __future__ import annotations

import inspect
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clari_data.read.analytics import DataStatus
from clari_data.shared import pages, rules
from clari_data.shared.config import ALERT_RULES, AlertSettings
from clari_data.shared.rules import (
    RULES,
    SHOWN_PER_BANNER,
    Alert,
    AlertItem,
    accuracy_alert,
    band_alert,
    band_side,
    change_alert,
    coverage_alert,
    export_problem_alert,
    refresh_failed_alert,
    stale_alert,
)

CALLS = {"fc_commit", "fc_best_case"}


def people(column: str, *rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["user_id", "user_name", column])


# -- Alert.keys ------------------------------------------------------------------------------


def test_keys_one_per_item():
    alert = Alert("coverage", "msg",
                  (AlertItem("u1", "Ann", "1.0x"), AlertItem("u2", "Bob", "2.0x")))
    assert alert.keys("net_arr|2026_Q1") == ["coverage|net_arr|2026_Q1|u1", "coverage|net_arr|2026_Q1|u2"]


def test_keys_without_items_is_the_rule_and_scope():
    assert Alert("stale", "msg").keys("global") == ["stale|global"]


# -- coverage --------------------------------------------------------------------------------


def test_coverage_alert_lists_the_people_below_the_minimum_lowest_first():
    rows = people("coverage_ratio",
                  ("u1", "Ann", 2.9), ("u2", "Bob", 3.0), ("u3", "<b>Cy</b>", 1.24),
                  ("u4", "Dee", np.nan), ("u5", "Eve", 4.0))
    alert = coverage_alert(rows, coverage_min=3.0)
    assert alert == Alert("coverage", "Pipeline coverage is below 3x for 2 of 5: <b>Cy</b> (1.24x), Ann (2.90x).",
        (AlertItem("u3", "<b>Cy</b>", "1.24x"), AlertItem("u1", "Ann", "2.90x")),
        "3x")


def test_coverage_alert_boundary_is_not_below():
    rows = people("coverage_ratio", ("u1", "Ann", 2.5), ("u2", "Bob", 2.5000001))
    assert coverage_alert(rows, coverage_min=2.5) is None
    fired = coverage_alert(rows, coverage_min=2.50000011)
    assert [i.subject_id for i in fired.items] == ["u1", "u2"]
    assert fired.threshold == "2.5x"


def test_coverage_alert_none_when_no_ratio_is_defined():
    rows = people("coverage_ratio", ("u1", "Ann", None), ("u2", "Bob", np.nan))
    assert coverage_alert(rows, coverage_min=3.0) is None
    assert coverage_alert(people("coverage_ratio"), coverage_min=3.0) is None


def below(n: int) -> pd.DataFrame:
    """P1 .. Pn, at 0.1x, 0.2x, ..."""
    return people("coverage_ratio", *[(f"u{i}", f"P{i}", i / 10) for i in range(1, n + 1)])


def listed(text, n: int) -> str:
    """What a banner lists of n people: `text(i)` for the first SHOWN_PER_BANNER."""
    return ", ".join(text(i) for i in range(1, min(n, SHOWN_PER_BANNER) + 1))


def test_coverage_alert_lists_the_first_then_how_many_more():
    n = SHOWN_PER_BANNER + 2
    alert = coverage_alert(below(n), coverage_min=3.0)
    assert alert.message == (f"Pipeline coverage is below 3x for {n} of {n}: "
                             f"{listed(lambda i: f'P{i} ({i / 10:.2f}x)', n)}, and 2 more.")
    assert len(alert.items) == n  # every one is kept for notifications and keys
    assert alert.keys("s")[-1] == f"coverage|s|u{n}"


def test_coverage_alert_exactly_as_many_as_shown_has_no_more():
    n = SHOWN_PER_BANNER
    assert coverage_alert(below(n), coverage_min=3.0).message.endswith(f"P{n} ({n / 10:.2f}x).")


def test_coverage_alert_one_over_says_one_more():
    n = SHOWN_PER_BANNER
    assert coverage_alert(below(n + 1), coverage_min=3.0).message.endswith(f"P{n} ({n / 10:.2f}x), and 1 more.")


# -- accuracy --------------------------------------------------------------------------------


def test_accuracy_alert_names_people_and_period():
    summary = people("mean_accuracy_pct",
                     ("m1", "Mia", 79.4), ("r1", "Rex", 80.0), ("r2", "Ria", 55.0), ("r3", "Rob", np.nan))
    alert = accuracy_alert(summary, "2026_Q1", accuracy_min_pct=80.0)
    assert alert == Alert(
        "accuracy",
        "Forecast accuracy in 2026_Q1 (mean over its weeks) is below 80% for 2 of 4: Ria (55.0%), Mia (79.4%).",
        (AlertItem("r2", "Ria", "55.0%"), AlertItem("m1", "Mia", "79.4%")),
        "80%")


def test_accuracy_alert_boundary():
    summary = people("mean_accuracy_pct", ("r1", "Rex", 72.5))
    assert accuracy_alert(summary, "2026_Q1", accuracy_min_pct=72.5) is None
    alert = accuracy_alert(summary, "2026_Q1", accuracy_min_pct=72.6)
    assert alert.threshold == "72.6%"
    assert "below 72.6% for 1 of 1: Rex (72.5%)." in alert.message


def test_accuracy_alert_lists_the_first_then_more():
    n = SHOWN_PER_BANNER + 2
    summary = people("mean_accuracy_pct", *[(f"u{i}", f"P{i}", 10.0 * i) for i in range(1, n + 1)])
    alert = accuracy_alert(summary, "2025_Q4", accuracy_min_pct=90.0)
    assert alert.message.endswith(f": {listed(lambda i: f'P{i} ({10.0 * i:.1f}%)', n)}, and 2 more.")


# -- change ----------------------------------------------------------------------------------
# The thresholds themselves are applied in SQL (`is_significant`, see test_alert_rules.py); the
# check keeps the calls among the significant moves and says what moved.

MOVE_COLUMNS = ["user_id", "user_name", "field_id", "field_name", "previous_amount", "change_amount", "change_pct"]
THRESHOLDS = {"change_pct": 10.0, "change_min_amount": 5000.0}


def moves(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=MOVE_COLUMNS)


def test_change_alert_lists_call_moves_biggest_first():
    table = moves(
        ("r1", "Rex", "fc_commit", "Commit", 50_000.0, 6_000.0, 12.0),
        ("r2", "Ria", "fc_best_case", "Best Case", 100_000.0, -20_000.0, -20.0),
        ("r3", "Rob", "fc_commit", "Commit", 0.0, 7_000.0, np.nan),
        ("r6", "Rae", "fc_quota", "Quota", 10_000.0, 50_000.0, 500.0),  # not a call
    )
    alert = change_alert(table, CALLS, **THRESHOLDS)
    assert alert == Alert("change", "3 call(s) moved by at least 10% and $5,000 since the previous export: "
                          "Ria Best Case (-$20,000, -20%), Rob Commit (+$7,000, from zero), "
                          "Rex Commit (+$6,000, +12%).",
                          (AlertItem("r2/fc_best_case", "Ria Best Case", "-$20,000, -20%"),
                           AlertItem("r3/fc_commit", "Rob Commit", "+$7,000, from zero"),
                           AlertItem("r1/fc_commit", "Rex Commit", "+$6,000, +12%")),
                          "10% and $5,000")


def test_change_alert_names_fractional_thresholds():
    table = moves(("r1", "Rex", "fc_commit", "Commit", 50_000.0, -5_000.0, -10.0))
    alert = change_alert(table, CALLS, change_pct=0.01, change_min_amount=1.0)
    assert alert.threshold == "0.01% and $1" and "at least 0.01% and $1 since" in alert.message
    assert [i.value for i in alert.items] == ["-$5,000, -10%"]


def test_change_alert_uses_the_given_call_fields():
    table = moves(("r1", "Rex", "fc_call", "Call", 50_000.0, 25_000.0, 50.0))
    assert change_alert(table, CALLS, **THRESHOLDS) is None
    assert change_alert(table, {"fc_call"}, **THRESHOLDS).items == (AlertItem("r1/fc_call", "Rex Call",
                                                                              "+$25,000, +50%"),)


def test_change_alert_nothing_moved():
    assert change_alert(moves(), CALLS, **THRESHOLDS) is None


def test_change_alert_lists_the_biggest_then_more():
    n = SHOWN_PER_BANNER + 3
    table = moves(*[(f"r{i}", f"P{i}", "fc_commit", "Commit", 100_000.0, 10_000.0 * i, 10.0 * i)
                    for i in range(1, n + 1)])
    alert = change_alert(table, CALLS, **THRESHOLDS)
    biggest = listed(lambda i: f"P{n + 1 - i} Commit (+${10_000 * (n + 1 - i):,}, +{10 * (n + 1 - i)}%)", n)
    assert alert.message.endswith(f": {biggest}, and 3 more.")
    assert alert.message.startswith(f"{n} call(s) moved")


# -- band ------------------------------------------------------------------------------------


def members(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["user_id", "user_name", "call_amount", "p10_amount", "p90_amount"])


def test_band_alert_a_call_on_an_edge_is_inside():
    assert band_alert(members(("r1", "Rex", 120_000.0, 80_000.0, 120_000.0),
                              ("r2", "Ria", 80_000.0, 80_000.0, 120_000.0))) is None


def test_band_alert_names_the_calls_outside_furthest_first():
    rows = members(("r1", "Rex", 120_000.01, 80_000.0, 120_000.0), ("r2", "Ria", 60_000.0, 80_000.0, 120_000.0),
                   ("r3", "Rob", 100_000.0, 80_000.0, 120_000.0), ("r4", "Roy", 100_000.0, np.nan, np.nan))
    alert = band_alert(rows)
    assert alert.items == (AlertItem("r2", "Ria", "call $60,000 below $80,000-$120,000"),
                           AlertItem("r1", "Rex", "call $120,000 above $80,000-$120,000"))
    assert alert.message.startswith("2 of 3 commit call(s) lie outside the caller's own P10-P90 band")


def test_band_side_is_what_the_banner_and_the_projection_table_say():
    assert [band_side(c, 80.0, 120.0) for c in (79.99, 80.0, 100.0, 120.0, 120.01)] == \
        ["below", "", "", "", "above"]
    assert band_side(100.0, np.nan, np.nan) is None and band_side(100.0, None, 120.0) is None
    assert band_side(np.nan, 80.0, 120.0) == ""


# -- stale -----------------------------------------------------------------------------------

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_stale_alert_without_data():
    assert stale_alert(None, NOW, stale_after_hours=26) == Alert(
        "stale", "No data has been loaded yet: run a refresh.", (), "26 h")


def test_stale_alert_boundary():
    fresh = datetime(2026, 3, 9, 10, 0)  # naive UTC, as the warehouse stores it
    assert stale_alert(fresh, NOW, stale_after_hours=26) is None  # exactly 26 h old
    assert stale_alert(fresh - timedelta(seconds=1), NOW, stale_after_hours=26) is not None
    assert stale_alert(fresh + timedelta(hours=20), NOW, stale_after_hours=26) is None


def test_stale_alert_message():
    alert = stale_alert(datetime(2026, 3, 9, 6, 0), NOW, stale_after_hours=26)
    assert alert == Alert(
        "stale",
        "The data is 30.0 hours old (last refreshed 2026-03-09 06:00 UTC), older than the 26 hours allowed. "
        "Check the refresh schedule and the run history.", (), "26 h")


def test_stale_alert_fractional_threshold():
    alert = stale_alert(datetime(2026, 3, 10, 10, 0), NOW, stale_after_hours=1.5)
    assert alert.threshold == "1.5 h"
    assert "The data is 2.0 hours old" in alert.message and "older than the 1.5 hours allowed" in alert.message


# -- failed runs -----------------------------------------------------------------------------


def status(outcome, error=None, finished=None) -> DataStatus:
    return DataStatus(fresh_at=datetime(2026, 3, 10, 6, 0), data_version=3,
                      last_outcome=outcome, last_error=error, last_finished_at=finished, runs_in_progress=0)


@pytest.mark.parametrize("outcome", ["success", None, "running"])
def test_refresh_failed_alert_quiet_unless_failed(outcome):
    assert refresh_failed_alert(status(outcome, "boom", datetime(2026, 3, 10, 6, 0))) is None


def test_refresh_failed_alert_failed():
    alert = refresh_failed_alert(status("failed", "net_arr 2026_Q1: Clari rejected the API key",
                                    datetime(2026, 3, 10, 6, 5, 59)))
    assert alert == Alert("refresh_failed", "The last refresh failed at 2026-03-10 06:05 UTC: net_arr 2026_Q1: "
                          "Clari rejected the API key. The dashboard shows the last good data.")
    assert alert.keys("global") == ["refresh_failed|global"]


def test_refresh_failed_alert_partial_without_details():
    alert = refresh_failed_alert(status("partial"))
    assert alert.message == ("The last refresh partly failed: see the run history. "
                             "The dashboard shows the last good data.")
    assert (alert.rule, alert.severity, alert.page, alert.items) == ("refresh_failed", "error", "data", ())


# -- export problems -------------------------------------------------------------------------

PROBLEM_COLUMNS = ["forecast_id", "time_period", "status", "failure_kind"]


def problems(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=PROBLEM_COLUMNS)


def test_export_problem_alert_lists_empty_and_truncated_exports():
    table = problems(("net_arr", "2026_Q1", "failed", "empty"),
                     ("renewals", "2026_Q2", "loaded", "truncated"),
                     ("net_arr", "2025_Q4", "failed", "network"),
                     ("upsell", "2026_Q1", "loaded", None))
    alert = export_problem_alert(table)
    assert alert == Alert(
        "export_problem",
        "An export came back empty or truncated and was not loaded: net_arr 2026_Q1 (empty), "
        "renewals 2026_Q2 (truncated). The previous data is kept.",
        (AlertItem("net_arr/2026_Q1", "net_arr 2026_Q1", "empty"),
         AlertItem("renewals/2026_Q2", "renewals 2026_Q2", "truncated")))


def test_export_problem_alert_quiet_for_other_failures():
    assert export_problem_alert(problems(("net_arr", "2026_Q1", "failed", "quota_reached"))) is None
    assert export_problem_alert(problems()) is None


def test_export_problem_alert_without_a_period_says_current_quarter():
    alert = export_problem_alert(problems(("net_arr", None, "failed", "empty")))
    assert alert.items == (AlertItem("net_arr/current", "net_arr current quarter", "empty"),)


def test_export_problem_alert_missing_period_among_known_ones():
    # A column mixing periods and NULLs comes back from DuckDB (and pandas 3) with NaN, not None, for the
    # NULL; NaN is truthy, so the "current quarter" fallback must not rely on `or`.
    table = problems(("net_arr", "2026_Q1", "failed", "empty"), ("net_arr", None, "failed", "truncated"))
    alert = export_problem_alert(table)
    assert [i.subject for i in alert.items] == ["net_arr 2026_Q1", "net_arr current quarter"]
    assert "nan" not in alert.message


def test_export_problem_alert_lists_the_first_then_more():
    n = SHOWN_PER_BANNER + 2
    table = problems(*[(f"f{i}", "2026_Q1", "failed", "empty") for i in range(1, n + 1)])
    assert export_problem_alert(table).message == (
        f"An export came back empty or truncated and was not loaded: {listed(lambda i: f'f{i} 2026_Q1 (empty)', n)}"
        ", and 2 more. The previous data is kept.")


# -- the registry ----------------------------------------------------------------------------


def test_the_registry_names_each_rule_once_in_the_configured_order():
    assert ALERT_RULES == rules.RULE_NAMES == ("coverage", "accuracy", "change", "band", "stale",
                                               "refresh_failed", "export_problem")
    assert [rules.rule(name).name for name in rules.RULE_NAMES] == list(rules.RULE_NAMES)
    with pytest.raises(KeyError, match="the rules are coverage, accuracy"):
        rules.rule("forecast_drop")


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_each_rule_is_complete(rule):
    assert rule.severity in ("error", "warning")
    assert pages.page(rule.page).name == rule.page  # a page there is
    assert rule.scope in ("selection", "dashboard")
    assert rule.title and rule.label
    known = {f.name for f in fields(AlertSettings)}
    assert set(rule.settings) <= known, set(rule.settings) - known
    # The check takes exactly the settings the rule says it reads, by their [alerts] names.
    keywords = [p.name for p in inspect.signature(rule.check).parameters.values() if p.kind == p.KEYWORD_ONLY]
    assert keywords == list(rule.settings)
    assert rule.thresholds(AlertSettings()) == {name: getattr(AlertSettings(), name) for name in rule.settings}


def test_an_alert_takes_severity_and_page_from_its_rule():
    alert = Alert("change", "msg")
    assert (alert.severity, alert.page) == ("warning", "changes")
    assert (Alert("stale", "msg").severity, Alert("stale", "msg").page) == ("error", "data")


def test_the_rules_module_needs_neither_pandas_nor_the_configuration():
    import subprocess
    import sys

    code = ("import sys; import clari_data.shared.rules; "
            "print(sorted(m for m in ('pandas', 'clari_data.shared.config') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.strip() == "[]"
