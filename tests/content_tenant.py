"""A small tenant built in code whose every number the page-content tests work out by hand
(tests/app/test_page_content.py).

Org (builders.small_org): Cleo Root (CRO) > Mia Manager (MGR-1) over reps Rex Rep and Ria Rep, and
Max Manager (MGR-2) over rep Rob Rep. Mia's and Cleo's rows are their teams' sums; Max's are his
own call (he carries house accounts beside Rob), so his team's "everyone else" is not zero.

Forecast net_arr, amounts in thousands below (the export carries dollars):

Q3 2026 (2026_Q3, 1 Jul - 30 Sep), ended: one export on 5 Oct. Weeks 14, 21, 28 Sep. Quota as in
Q4. Commit call by week -> closed won by week (the last is the actual):

    person  calls W1 W2 W3     closed W1 W2 W3
    r1      100 100 100        50  90  125      under-calls: actual / call 1.25
    r2      200 200 200        60  110 160      over-calls: actual / call 0.8
    r3      80  90  100        40  70  100
    m1      300 300 300        110 200 285      = r1 + r2
    m2      100 110 120        45  85  125
    cro     400 410 420        155 285 410      = m1 + m2

Q4 2026 (2026_Q4, 1 Oct - 31 Dec), current: three exports.
    E1 Mon 9 Nov 08:00   weeks W1 (2 Nov), W2 (9 Nov)
    E2 Mon 16 Nov 08:00  W1, W2 as in E1, and W3 (16 Nov)
    E3 Tue 17 Nov 08:00  W1, W2 as before, W3 moved

    person quota | W1: commit best closed pipe | W2: commit best closed pipe | W3 at E2 | W3 at E3
    r1     100   | 60  90  10  150             | 70  100 20  160             | 80 115 30 170    | 95 115 45 170
    r2     200   | 120 160 30  300             | 140 180 50  320             | 150 190 60 330   | 150 (Mia's adjustment
                                                                                                   130) 190 60 330
    r3     150   | 90  120 20  200             | 100 130 30  210             | 112 140 40 220   | 80 120 40 200
    m1     300   | 180 250 40  450             | 210 280 70  480             | 230 305 90 500   | 225 305 105 500
    m2     200   | 120 150 30  260             | 130 160 40  270             | 140 170 50 280   | 110 150 50 260
    cro    500   | 300 400 70  710             | 340 440 110 750             | 370 475 140 780  | 335 455 155 760

Rex and Rob updated their call in W3 (Clari's isUpdated), Ria did not.

Runs (the Data page): 1 loads Q3, 2 loads E1, 3 fails (Clari cut the export short), 4 loads E2,
5 (manual, by revops@example.com) loads E3.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from builders import Export, small_org, user

from clari_data.storage.warehouse import Warehouse

K = 1000
FORECAST = "net_arr"
Q3, Q4 = "2026_Q3", "2026_Q4"
Q3_WEEKS = ["2026-09-14", "2026-09-21", "2026-09-28"]
W1, W2, W3 = "2026-11-02", "2026-11-09", "2026-11-16"
E1_AT = datetime(2026, 11, 9, 8, 0)
E2_AT = datetime(2026, 11, 16, 8, 0)
E3_AT = datetime(2026, 11, 17, 8, 0)
Q3_AT = datetime(2026, 10, 5, 8, 0)
FAILED_AT = datetime(2026, 11, 12, 8, 0)
FAILURE = "net_arr current quarter: Clari cut the export short"
MANUAL_BY = "revops@example.com"
NAMES = {"cro": "Cleo Root", "m1": "Mia Manager", "m2": "Max Manager", "r1": "Rex Rep", "r2": "Ria Rep",
         "r3": "Rob Rep"}
QUOTA = {"r1": 100, "r2": 200, "r3": 150, "m1": 300, "m2": 200, "cro": 500}

# Q3: (calls by week, closed by week)
Q3_ROWS = {
    "r1": ((100, 100, 100), (50, 90, 125)),
    "r2": ((200, 200, 200), (60, 110, 160)),
    "r3": ((80, 90, 100), (40, 70, 100)),
    "m1": ((300, 300, 300), (110, 200, 285)),
    "m2": ((100, 110, 120), (45, 85, 125)),
    "cro": ((400, 410, 420), (155, 285, 410)),
}
# Q4 by week: (commit, best case, closed, pipeline)
Q4_W1 = {"r1": (60, 90, 10, 150), "r2": (120, 160, 30, 300), "r3": (90, 120, 20, 200),
         "m1": (180, 250, 40, 450), "m2": (120, 150, 30, 260), "cro": (300, 400, 70, 710)}
Q4_W2 = {"r1": (70, 100, 20, 160), "r2": (140, 180, 50, 320), "r3": (100, 130, 30, 210),
         "m1": (210, 280, 70, 480), "m2": (130, 160, 40, 270), "cro": (340, 440, 110, 750)}
Q4_W3_E2 = {"r1": (80, 115, 30, 170), "r2": (150, 190, 60, 330), "r3": (112, 140, 40, 220),
            "m1": (230, 305, 90, 500), "m2": (140, 170, 50, 280), "cro": (370, 475, 140, 780)}
Q4_W3_E3 = {"r1": (95, 115, 45, 170), "r2": (150, 190, 60, 330), "r3": (80, 120, 40, 200),
            "m1": (225, 305, 105, 500), "m2": (110, 150, 50, 260), "cro": (335, 455, 155, 760)}
ADJUSTED_E3 = {"r2": 130}  # Mia's override of Ria's call, in E3 only
UPDATED = {"r1": True, "r2": False, "r3": True}  # isUpdated of the reps' W3 calls


def _q3_export() -> Export:
    e = Export(period=Q3, start="2026-07-01", end="2026-09-30", users=small_org(), weeks=list(Q3_WEEKS))
    for uid, (calls, closed) in Q3_ROWS.items():
        for week, call, done in zip(Q3_WEEKS, calls, closed):
            e.row(uid, week, commit=call * K, best_case=(call + 20) * K, quota=QUOTA[uid] * K, closed=done * K,
                  pipeline=2 * QUOTA[uid] * K)
    return e


def _q4_export(weeks: list[tuple[str, dict]], adjusted: dict[str, int] | None = None) -> Export:
    e = Export(period=Q4, start="2026-10-01", end="2026-12-31", users=small_org(), weeks=[w for w, _ in weeks])
    last = weeks[-1][0]
    for week, rows in weeks:
        for uid, (commit, best, closed, pipeline) in rows.items():
            extra = {}
            if week == W3 and uid in UPDATED:
                extra["isUpdated"] = UPDATED[uid]
            if week == last and adjusted and uid in adjusted:
                extra["adjustmentValue"] = adjusted[uid] * K
            e.row(uid, week, commit=commit * K, best_case=best * K, quota=QUOTA[uid] * K, closed=closed * K,
                  pipeline=pipeline * K, **extra)
    return e


def _load(wh: Warehouse, folder: Path, name: str, export: Export, requested: str | None, at: datetime,
          trigger: str = "schedule", requested_by: str | None = None) -> None:
    run_id = wh.start_run(trigger, requested_by)
    result = wh.load_export(export.write(folder / f"{name}.json"), forecast_id=FORECAST, job_id=name,
                            requested_period=requested, exported_at=at)
    wh.record_attempt(run_id, forecast_id=FORECAST, requested_period=requested, started_at=at - timedelta(minutes=1),
                      status="loaded", time_period=result.time_period, job_id=name, export_id=result.export_id)
    wh.finish_run(run_id, outcome="success", exports_loaded=1, rows_loaded=result.entries,
                  changes_detected=result.changes_detected)


def build(folder: Path) -> Path:
    """The tenant's warehouse file, loaded through the warehouse's own load path and run records."""
    path = folder / "content.duckdb"
    with Warehouse(path) as wh:
        _load(wh, folder, "q3", _q3_export(), Q3, Q3_AT)
        _load(wh, folder, "e1", _q4_export([(W1, Q4_W1), (W2, Q4_W2)]), None, E1_AT)
        run_id = wh.start_run("schedule")
        wh.record_attempt(run_id, forecast_id=FORECAST, requested_period=None, time_period=Q4,
                          started_at=FAILED_AT, status="failed", failure_kind="truncated", error=FAILURE)
        wh.finish_run(run_id, outcome="failed", error=FAILURE)
        _load(wh, folder, "e2", _q4_export([(W1, Q4_W1), (W2, Q4_W2), (W3, Q4_W3_E2)]), None, E2_AT)
        _load(wh, folder, "e3", _q4_export([(W1, Q4_W1), (W2, Q4_W2), (W3, Q4_W3_E3)], ADJUSTED_E3), None, E3_AT,
              trigger="manual", requested_by=MANUAL_BY)
    return path


# -- a wider level: enough reps below the top for the pages' spreads --------------------------
#
# Tia Top (TOP) > Ann Lead (LEAD-A) over reps a1..a5, Ben Lead (LEAD-B) over reps b1..b5; one export
# of Q4 2026, one week (16 Nov). Every rep has quota 100; the leads' and the top's rows are sums.
#   a reps: closed 20, remaining 80; coverage c -> pipeline 20 + 80 c
#   b reps: closed 10, remaining 90; coverage c -> pipeline 10 + 90 c
WIDE_COVERAGE = {"a1": 0.5, "a2": 1.0, "a3": 1.0, "a4": 2.9, "a5": 3.0,
                 "b1": 3.1, "b2": 4.0, "b3": 5.5, "b4": 6.0, "b5": 10.0}
WIDE_COMMIT = {"a1": 20, "a2": 50, "a3": 69, "a4": 70, "a5": 89,
               "b1": 90, "b2": 100, "b3": 150, "b4": 199, "b5": 250}  # = commit / quota in %
WIDE_NAMES = {"top": "Tia Top", "la": "Ann Lead", "lb": "Ben Lead",
              **{f"{t}{i}": f"{t.upper()}{i} Rep" for t in "ab" for i in range(1, 6)}}


def build_wide(folder: Path) -> Path:
    users = [user("top", WIDE_NAMES["top"], "TOP"), user("la", WIDE_NAMES["la"], "LEAD-A", "TOP"),
             user("lb", WIDE_NAMES["lb"], "LEAD-B", "TOP")]
    users += [user(uid, WIDE_NAMES[uid], f"REP-{uid}", "LEAD-A" if uid[0] == "a" else "LEAD-B")
              for uid in WIDE_COVERAGE]
    e = Export(period=Q4, start="2026-10-01", end="2026-12-31", users=users, weeks=[W3])
    sums: dict[str, list[float]] = {"la": [0, 0, 0, 0], "lb": [0, 0, 0, 0], "top": [0, 0, 0, 0]}
    for uid, cover in WIDE_COVERAGE.items():
        closed = 20 if uid[0] == "a" else 10
        row = [WIDE_COMMIT[uid] * K, 100 * K, closed * K, round((closed + (100 - closed) * cover) * K)]
        e.row(uid, W3, commit=row[0], best_case=row[0], quota=row[1], closed=row[2], pipeline=row[3])
        for lead in ("la" if uid[0] == "a" else "lb", "top"):
            sums[lead] = [s + v for s, v in zip(sums[lead], row)]
    for uid, (commit, quota, closed, pipeline) in sums.items():
        e.row(uid, W3, commit=commit, best_case=commit, quota=quota, closed=closed, pipeline=pipeline)
    path = folder / "wide.duckdb"
    with Warehouse(path) as wh:
        wh.load_export(e.write(folder / "wide.json"), forecast_id=FORECAST, job_id="wide", requested_period=None,
                       exported_at=E3_AT)
    return path
