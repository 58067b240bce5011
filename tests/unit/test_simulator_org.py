"""The synthetic Clari org: its hierarchy, the result document it writes and the story in the numbers."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import textwrap
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from clari_data.ingest.simulator import SyntheticOrg
from clari_data.ingest.simulator.org import CURRENCIES

ROOT = Path(__file__).resolve().parents[2]
ALL_TYPES = ["forecast", "quota", "forecast_updated", "adjustment", "crm_total", "crm_closed"]
# A Wednesday afternoon in week 7 of the 14 weeks of 2026_Q2 (which starts on a Wednesday).
MID_Q2 = datetime(2026, 5, 13, 15, 0, tzinfo=UTC)
BASE_FIELDS = ["fc_commit", "fc_most_likely", "fc_best_case", "fc_quota", "crm_closed_won", "crm_pipeline"]
CALL_FIELDS = {"fc_commit", "fc_most_likely", "fc_best_case"}


def export_bytes(org: SyntheticOrg, period: str, types=ALL_TYPES, historical: bool = True, **kw) -> bytes:
    buf = io.BytesIO()
    org.write_export(buf, "net_arr", period, types, historical, **kw)
    return buf.getvalue()


def export(org: SyntheticOrg, period: str, types=ALL_TYPES, historical: bool = True, **kw) -> dict:
    return json.loads(export_bytes(org, period, types, historical, **kw))


def by_key(doc: dict) -> dict[tuple, dict]:
    out = {}
    for e in doc["entries"]:
        key = (e["timePeriodId"], e["timeFrameId"], e["userId"], e["fieldId"])
        assert key not in out, f"duplicate natural key {key}"
        out[key] = e
    return out


@pytest.fixture(scope="module")
def org() -> SyntheticOrg:
    return SyntheticOrg(now=MID_Q2)


@pytest.fixture(scope="module")
def past_doc(org) -> dict:
    """A finished quarter, every week, every type."""
    return export(org, "2026_Q1")


def role_counts(org: SyntheticOrg) -> Counter:
    return Counter(org.role_of(u["userId"]) for u in org.users)


# --------------------------------------------------------------------------- hierarchy
def test_default_org_is_a_four_level_sales_hierarchy(org):
    assert len(org.users) == 60
    assert role_counts(org) == {"cro": 1, "rvp": 3, "manager": 9, "rep": 47}
    by_role_id = {u["hierarchyId"]: u for u in org.users}
    assert len(by_role_id) == 60
    assert len({u["userId"] for u in org.users}) == 60
    assert len({u["email"] for u in org.users}) == 60
    assert len({u["crmId"] for u in org.users}) == 60
    for u in org.users:
        assert re.fullmatch(r"280627:[0-9A-Za-z]{18}", u["userId"]), u["userId"]
        assert u["userId"].split(":")[1] == u["hierarchyId"]
        assert re.fullmatch(r"005[0-9A-Za-z]{15}", u["crmId"])
        assert re.fullmatch(r"[^@\s]+@[a-z0-9.-]+", u["email"])
        role = org.role_of(u["userId"])
        if role == "cro":
            assert u["hierarchyName"] == "CRO"
            assert u["parentHierarchyId"] is None and u["parentHierarchyName"] is None
            continue
        parent = by_role_id[u["parentHierarchyId"]]
        assert u["parentHierarchyName"] == parent["hierarchyName"]
        expected_parent = {"rvp": "cro", "manager": "rvp", "rep": "manager"}[role]
        assert org.role_of(parent["userId"]) == expected_parent
        pattern = {"rvp": r"RVP - \w+", "manager": r"Manager - \w+ \d+", "rep": r"Sales Rep - \w+ \d+"}[role]
        assert re.fullmatch(pattern, u["hierarchyName"]), u["hierarchyName"]
        assert u["scopeId"].endswith("::REP" if role == "rep" else "::MGR")
    names = {u["name"] for u in org.users}
    assert {"Siobhán O'Brien", "José Müller"} <= names
    # every manager has reps, spans are not all equal
    spans = Counter(u["parentHierarchyId"] for u in org.users if org.role_of(u["userId"]) == "rep")
    assert len(spans) == 9 and min(spans.values()) >= 3 and len(set(spans.values())) > 1


@pytest.mark.parametrize("size", [5, 2_000, 10_000])
def test_org_scales_to_the_requested_size(size):
    org = SyntheticOrg(users=size, now=MID_Q2)
    assert abs(len(org.users) - size) <= 0.03 * size
    counts = role_counts(org)
    assert counts["cro"] == 1 and counts["rvp"] >= 1 and counts["manager"] >= 1
    assert counts["rep"] >= counts["manager"] + counts["rvp"]
    assert len({u["userId"] for u in org.users}) == len(org.users)
    assert len({u["email"] for u in org.users}) == len(org.users)


@pytest.mark.parametrize("size", [4, 10_001])
def test_org_size_outside_the_supported_range_is_refused(size):
    with pytest.raises(ValueError):
        SyntheticOrg(users=size)


def test_fields_and_extra_fields():
    org = SyntheticOrg(now=MID_Q2)
    assert [f["fieldId"] for f in org.fields] == BASE_FIELDS
    kinds = {f["fieldId"]: f["fieldType"] for f in org.fields}
    assert kinds == {
        "fc_commit": "forecast",
        "fc_most_likely": "forecast",
        "fc_best_case": "forecast",
        "fc_quota": "quota",
        "crm_closed_won": "crm",
        "crm_pipeline": "crm",
    }
    big = SyntheticOrg(now=MID_Q2, extra_fields=8)
    ids = [f["fieldId"] for f in big.fields]
    assert len(ids) == 14 and len(set(ids)) == 14
    assert ids[6:8] == ["fc_upside", "crm_open"]
    doc = export(big, "2026_Q2", historical=False)
    assert {e["fieldId"] for e in doc["entries"]} == set(ids)


def test_clock_and_periods():
    org = SyntheticOrg(now=MID_Q2, past_quarters=2)
    assert org.current_period() == "2026_Q2"
    assert org.periods() == ["2026_Q2", "2026_Q1", "2025_Q4"]
    org.advance(60)
    assert org.now == MID_Q2 + timedelta(days=60)
    assert org.current_period() == "2026_Q3"
    assert org.periods()[0] == "2026_Q3"
    with pytest.raises(ValueError):
        SyntheticOrg(now=datetime(2026, 5, 13))  # naive
    with pytest.raises(ValueError):
        org.advance(-1)
    assert SyntheticOrg().now.tzinfo is not None  # default: the real time, aware


# --------------------------------------------------------------------------- the document
def test_document_shape_and_lookups(org):
    raw = export_bytes(org, "2026_Q2")
    doc = json.loads(raw)
    assert list(doc) == ["entries", "users", "fields", "timePeriods", "timeFrames"]
    assert doc["users"] == org.users and doc["fields"] == org.fields
    assert doc["timePeriods"] == [
        {
            "timePeriodId": "2026_Q2",
            "label": "Q2",
            "year": "2026",
            "type": "quarter",
            "startDate": "2026-04-01",
            "endDate": "2026-06-30",
            "crmId": doc["timePeriods"][0]["crmId"],
        }
    ]
    weeks = [tf for tf, start, _end in org.fiscal.week_frames("2026_Q2") if start <= MID_Q2.date()]
    assert len(weeks) == 7 and weeks[0] == "TF:2026-03-30"  # week 1 starts before the quarter
    frame_ids = [f["timeFrameId"] for f in doc["timeFrames"]]
    assert sorted(frame_ids) == weeks
    assert frame_ids != weeks  # shuffled, as the real API returns them
    for f in doc["timeFrames"]:
        start = datetime.fromisoformat(f["startDate"]).date()
        assert f["timeFrameId"] == f"TF:{start.isoformat()}" and start.weekday() == 0
        assert (datetime.fromisoformat(f["endDate"]).date() - start).days == 6
    # entries come grouped by week, in the timeFrames order
    seen_order = list(dict.fromkeys(e["timeFrameId"] for e in doc["entries"]))
    assert seen_order == frame_ids
    users = {u["userId"] for u in doc["users"]}
    for e in doc["entries"]:
        assert e["userId"] in users and e["fieldId"] in set(BASE_FIELDS)
        assert e["timePeriodId"] == "2026_Q2" and e["timeFrameId"] in weeks
        assert e["currency"] == {"code": "USD", "symbol": "$"}
    info = org.write_export(io.BytesIO(), "net_arr", "2026_Q2", ALL_TYPES, True)
    assert info == {"entries": len(doc["entries"]), "time_period": "2026_Q2", "frames": 7}
    assert "Siobhán O'Brien".encode() in raw  # UTF-8 on the wire, quotes intact


def test_export_is_deterministic():
    a = export_bytes(SyntheticOrg(seed=11, now=MID_Q2), "2026_Q2")
    b = export_bytes(SyntheticOrg(seed=11, now=MID_Q2), "2026_Q2")
    assert a == b
    org = SyntheticOrg(seed=11, now=MID_Q2)
    assert export_bytes(org, "2026_Q2") == export_bytes(org, "2026_Q2") == a
    assert export_bytes(SyntheticOrg(seed=12, now=MID_Q2), "2026_Q2") != a
    # values are seeded per user and period, not by generation order: other periods first, same bytes
    org2 = SyntheticOrg(seed=11, now=MID_Q2)
    export_bytes(org2, "2025_Q3")
    assert export_bytes(org2, "2026_Q2") == a


def test_latest_week_only_without_history(org, past_doc):
    doc = export(org, "2026_Q2", historical=False)
    assert [f["timeFrameId"] for f in doc["timeFrames"]] == ["TF:2026-05-11"]
    assert {e["timeFrameId"] for e in doc["entries"]} == {"TF:2026-05-11"}
    past = export(org, "2026_Q1", historical=False)
    assert [f["timeFrameId"] for f in past["timeFrames"]] == ["TF:2026-03-30"]
    assert len(past_doc["timeFrames"]) == 14
    # the latest week of a history export is the same data as the latest-week export
    hist = by_key(past_doc)
    for key, entry in by_key(past).items():
        assert hist[key] == entry


def test_unknown_period_forecast_type_are_refused(org):
    with pytest.raises(ValueError):
        export(org, "2026_Q3")  # the future
    with pytest.raises(ValueError):
        export(org, "2020_Q1")  # beyond past_quarters
    with pytest.raises(ValueError):
        export(org, "2026-Q2")
    with pytest.raises(ValueError):
        org.write_export(io.BytesIO(), "deal_owner", "2026_Q2", ["forecast"], False)
    with pytest.raises(ValueError):
        org.write_export(io.BytesIO(), "net_arr", "2026_Q2", ["forecast_value"], False)


VALUE_KEYS = {
    "forecast": {"forecastValue"},
    "forecast_updated": {"isUpdated", "updatedBy", "updatedOn"},
    "adjustment": {"adjustmentValue", "adjustedBy", "adjustedOn"},
    "quota": {"quotaValue"},
    "crm_total": {"aggregationTotal"},
    "crm_closed": {"aggregationTotal"},
}
BASE_KEYS = {"userId", "fieldId", "timePeriodId", "timeFrameId", "currency"}


@pytest.mark.parametrize(
    "types",
    [
        ["forecast", "forecast_updated"],
        ["forecast"],
        ["quota"],
        ["adjustment"],
        ["crm_total"],
        ["crm_closed"],
        ["forecast_updated", "crm_closed"],
        ["forecast", "crm_total"],
        ["forecast", "quota", "forecast_updated", "adjustment"],
        ALL_TYPES,
    ],
)
def test_value_keys_follow_types_to_export(org, types):
    doc = export(org, "2026_Q2", types=types)
    assert doc["entries"], "every type yields some entries"
    fields_seen = set()
    for e in doc["entries"]:
        fid = e["fieldId"]
        fields_seen.add(fid)
        extra = set(e) - BASE_KEYS
        if fid in CALL_FIELDS:
            expected = set()
            if "forecast" in types:
                expected |= VALUE_KEYS["forecast"]
            if "forecast_updated" in types:
                expected |= VALUE_KEYS["forecast_updated"]
            has_adj = "adjustmentValue" in e
            if has_adj:
                assert "adjustment" in types and fid == "fc_commit"
                expected |= VALUE_KEYS["adjustment"]
            assert extra == expected, (types, e)
        elif fid == "fc_quota":
            assert "quota" in types and extra == {"quotaValue"}
        elif fid in ("crm_pipeline", "crm_closed_won"):
            # its own CRM type gives the CRM roll-up; without it, the forecast tab's value of the field
            own = "crm_total" if fid == "crm_pipeline" else "crm_closed"
            assert extra == ({"aggregationTotal"} if own in types else {"forecastValue"}), (types, e)
        for key in ("forecastValue", "quotaValue", "aggregationTotal", "adjustmentValue"):
            if key in e:
                assert isinstance(e[key], float) and e[key] == round(e[key]) and e[key] >= 0
        if "updatedOn" in e and e["isUpdated"]:
            assert isinstance(e["updatedOn"], int) and e["updatedOn"] > 1.7e12
    wanted = set()
    if {"forecast", "forecast_updated"} & set(types):
        wanted |= CALL_FIELDS
    if types == ["adjustment"]:
        wanted |= {"fc_commit"}  # entries without any requested value are omitted
    if "quota" in types:
        wanted.add("fc_quota")
    if "crm_total" in types or "forecast" in types:
        wanted.add("crm_pipeline")
    if "crm_closed" in types or "forecast" in types:
        wanted.add("crm_closed_won")
    assert fields_seen == wanted


def test_currency_and_scope(org):
    usd = by_key(export(org, "2026_Q2", historical=False))
    eur_doc = export(org, "2026_Q2", historical=False, currency="EUR")
    eur = by_key(eur_doc)
    assert eur.keys() == usd.keys()
    rate = CURRENCIES["EUR"][1]
    for key, e in eur.items():
        assert e["currency"] == {"code": "EUR", "symbol": "€"}
        if "quotaValue" in e:
            assert e["quotaValue"] == pytest.approx(usd[key]["quotaValue"] * rate, rel=0.01)
    rvp = next(u for u in org.users if org.role_of(u["userId"]) == "rvp")
    scoped = export(org, "2026_Q2", historical=False, scope_id=rvp["scopeId"])
    ids = {u["userId"] for u in scoped["users"]}
    assert rvp["userId"] in ids and 5 < len(ids) < 60
    assert {e["userId"] for e in scoped["entries"]} == ids
    with pytest.raises(ValueError):
        export(org, "2026_Q2", scope_id="99999::MGR")


# --------------------------------------------------------------------------- the story
def reps(org):
    return [u for u in org.users if org.role_of(u["userId"]) == "rep"]


def test_callers_converge_to_the_actual(org, past_doc):
    entries = by_key(past_doc)
    weeks = sorted(f["timeFrameId"] for f in past_doc["timeFrames"])
    first, last = weeks[0], weeks[-1]
    kinds = Counter()
    for u in reps(org):
        p = org.profile(u["userId"], "2026_Q1")
        kinds[p.archetype] += 1
        uid = u["userId"]
        get = lambda week, field, key, uid=uid: entries[("2026_Q1", week, uid, field)][key]  # noqa: E731
        actual = get(last, "crm_closed_won", "aggregationTotal")
        assert actual == p.actual  # closed won at the quarter's end is the actual
        assert get(first, "fc_quota", "quotaValue") == p.quota
        assert 0.5 <= actual / p.quota <= 1.4
        early = get(first, "fc_commit", "forecastValue") / actual - 1
        late = get(last, "fc_commit", "forecastValue") / actual - 1
        if p.archetype == "sandbagger":
            assert -0.36 <= early <= -0.12, (uid, early)
        elif p.archetype == "over_caller":
            assert 0.15 <= early <= 0.42, (uid, early)
        else:
            assert abs(early) <= 0.12, (uid, early)
        assert abs(late) <= 0.06, (uid, late)
        commit = get(last, "fc_commit", "forecastValue")
        ml = get(last, "fc_most_likely", "forecastValue")
        best = get(last, "fc_best_case", "forecastValue")
        assert commit <= ml <= best and 1.12 <= best / commit <= 1.43
        # closed won only grows, and mostly late: back-loaded
        closed = [get(w, "crm_closed_won", "aggregationTotal") for w in weeks]
        assert closed == sorted(closed)
        assert closed[len(weeks) // 2 - 1] < 0.5 * actual
    assert kinds["sandbagger"] >= 4 and kinds["over_caller"] >= 3 and kinds["accurate"] >= 20


def test_managers_roll_up_their_direct_reports(org, past_doc):
    entries = by_key(past_doc)
    weeks = [f["timeFrameId"] for f in past_doc["timeFrames"]]
    children = defaultdict(list)
    for u in org.users:
        children[u["parentHierarchyId"]].append(u)
    managers = [u for u in org.users if org.role_of(u["userId"]) != "rep"]
    assert len(managers) == 13
    for m in managers:
        kids = children[m["hierarchyId"]]
        assert kids
        for week in weeks:
            def value(u, field, key, week=week):
                return entries[("2026_Q1", week, u["userId"], field)][key]

            for field, key in (("fc_quota", "quotaValue"), ("crm_closed_won", "aggregationTotal"),
                               ("crm_pipeline", "aggregationTotal")):
                assert value(m, field, key) == sum(value(k, field, key) for k in kids), (m["name"], field, week)
            effective = 0.0
            for k in kids:
                e = entries[("2026_Q1", week, k["userId"], "fc_commit")]
                effective += e.get("adjustmentValue", e["forecastValue"])
            assert 0.949 <= value(m, "fc_commit", "forecastValue") / effective <= 1.051


def test_pipeline_coverage_varies_by_rep(org, past_doc):
    entries = by_key(past_doc)
    week = "TF:2026-01-05"  # week 2
    coverages = []
    for u in reps(org):
        get = lambda field, key, u=u: entries[("2026_Q1", week, u["userId"], field)][key]  # noqa: E731
        closed = get("crm_closed_won", "aggregationTotal")
        pipeline = get("crm_pipeline", "aggregationTotal")
        assert pipeline >= closed
        coverages.append((pipeline - closed) / (get("fc_quota", "quotaValue") - closed))
    below = sum(c < 3 for c in coverages)
    assert 5 <= below <= len(coverages) - 5, sorted(coverages)
    assert min(coverages) < 2.5 and max(coverages) > 3.5


def test_submission_and_override_rates(org, past_doc):
    rep_ids = {u["userId"] for u in reps(org)}
    names = {u["userId"]: u["name"] for u in org.users}
    by_role = {u["hierarchyId"]: u for u in org.users}
    commits = [e for e in past_doc["entries"] if e["fieldId"] == "fc_commit" and e["userId"] in rep_ids]
    assert len(commits) == 47 * 14
    updated = [e for e in commits if e["isUpdated"]]
    assert 0.55 <= len(updated) / len(commits) <= 0.85
    for e in updated:
        assert e["updatedBy"] == names[e["userId"]]
        start = datetime.fromisoformat(e["timeFrameId"][3:]).replace(tzinfo=UTC)
        assert start.timestamp() * 1000 <= e["updatedOn"] < (start + timedelta(days=7)).timestamp() * 1000
    for e in commits:
        if not e["isUpdated"]:
            assert e["updatedBy"] is None and e["updatedOn"] is None
    adjusted = [e for e in commits if "adjustmentValue" in e]
    assert 0.08 <= len(adjusted) / len(commits) <= 0.22
    user = {u["userId"]: u for u in org.users}
    for e in adjusted:
        manager = by_role[user[e["userId"]]["parentHierarchyId"]]
        assert e["adjustedBy"] == manager["name"]
        assert 0.78 <= e["adjustmentValue"] / e["forecastValue"] <= 1.12
    assert not any("adjustmentValue" in e for e in past_doc["entries"] if e["fieldId"] != "fc_commit")


def test_one_day_moves_a_small_share_of_the_current_quarter():
    org = SyntheticOrg(now=MID_Q2)
    before = by_key(export(org, "2026_Q2"))
    again = by_key(export(org, "2026_Q2"))
    assert again == before  # same clock, same data
    org.advance(1)
    after = by_key(export(org, "2026_Q2"))
    assert after.keys() == before.keys()  # Wednesday -> Thursday: no new week
    changed = [k for k in before if before[k] != after[k]]
    share = len(changed) / len(before)
    assert 0.03 <= share <= 0.08, share
    assert {k[1] for k in changed} == {"TF:2026-05-11"}  # finished weeks are frozen
    changed_fields = Counter(k[3] for k in changed)
    assert changed_fields["fc_commit"] and changed_fields["crm_closed_won"] and not changed_fields["fc_quota"]
    # a week ends: the next day adds a week and leaves the ended week as it was at its end
    org.advance(4)  # Monday
    later = by_key(export(org, "2026_Q2"))
    assert {k[1] for k in later} - {k[1] for k in before} == {"TF:2026-05-18"}
    org.advance(1)
    latest = by_key(export(org, "2026_Q2"))
    for key, entry in later.items():
        if key[1] != "TF:2026-05-18":
            assert latest[key] == entry


def test_past_quarters_do_not_change_when_the_clock_moves():
    org = SyntheticOrg(now=MID_Q2)
    before = export_bytes(org, "2026_Q1")
    org.advance(3)
    assert export_bytes(org, "2026_Q1") == before


@pytest.mark.slow
def test_ten_thousand_users_stream_in_bounded_memory():
    """1.1M entries (10k users x 8 fields x 14 weeks) in bounded memory (its speed: bench/limits.py).

    Measured in a child process by its peak resident set size: tracemalloc slows this
    allocation-heavy loop ~15x, the whole-process peak is the stricter bound anyway.
    """
    code = textwrap.dedent(
        """
        import json, resource, sys
        from datetime import datetime, timezone
        from clari_data.ingest.simulator import SyntheticOrg

        class Sink:
            def __init__(self):
                self.size, self.head, self.tail = 0, b"", b""
            def write(self, data):
                self.size += len(data)
                if len(self.head) < 200:
                    self.head += data[:200]
                self.tail = (self.tail + data)[-200:]
                return len(data)

        org = SyntheticOrg(users=10_000, extra_fields=2, now=datetime(2026, 4, 2, 12, tzinfo=timezone.utc))
        sink = Sink()
        info = org.write_export(sink, "net_arr", "2026_Q1", ALL_TYPES, True)
        with open("/proc/self/status") as fh:
            peak_kb = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM"))
        print(json.dumps({"info": info, "bytes": sink.size, "peak_mb": peak_kb / 1024,
                          "head": sink.head.decode(errors="replace"), "tail": sink.tail.decode(errors="replace")}))
        """
    ).replace("ALL_TYPES", repr(ALL_TYPES))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["info"] == {"entries": 10_000 * 8 * 14, "time_period": "2026_Q1", "frames": 14}
    assert result["head"].startswith('{"entries":[\n{"userId":"280627:')
    assert result["tail"].rstrip().endswith("]}")
    assert result["peak_mb"] < 200, result["peak_mb"]
    assert result["bytes"] > 1.2 * result["peak_mb"] * 2**20  # the document is far bigger than the process


def test_public_interface():
    import clari_data.ingest.simulator as sim

    assert sorted(sim.__all__) == ["DEMO_API_KEY", "FaultPlan", "SimulatorServer", "SyntheticOrg", "serve"]
    assert sim.DEMO_API_KEY == "demo-key"
    assert callable(sim.serve)
    # the core package stays free of the UI toolkit
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, clari_data.ingest.simulator; print('streamlit' in sys.modules)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout.strip() == "False", proc.stderr


def test_the_clock_can_be_set_but_must_be_aware():
    org = SyntheticOrg(now=MID_Q2)
    org.now = datetime(2026, 8, 1, 9, 0, tzinfo=timezone(timedelta(hours=2)))
    assert org.now == datetime(2026, 8, 1, 7, 0, tzinfo=UTC) and org.now.tzinfo == UTC
    assert org.current_period() == "2026_Q3"
    with pytest.raises(ValueError):
        org.now = datetime(2026, 8, 1)


@pytest.mark.slow
def test_the_stream_speed_is_measured_by_the_benchmark():
    """Its throughput limit is the benchmark's (`python -m bench.limits`), never a pass/fail test's."""
    from bench import limits

    [limit] = limits.simulator_stream()
    assert limit.at_least and limit.limit == 50_000 and limit.measured > 0 and limit.unit == "entries/s"
