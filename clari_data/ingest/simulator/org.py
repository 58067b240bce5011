"""A synthetic Clari tenant: an org chart, its forecast calls, quotas and CRM roll-ups.

`SyntheticOrg` produces the result document of a Clari forecast export (the shape in
docs/reference/clari-export-api.md) for any of its periods, as of any moment of its clock. Its
periods are the fiscal quarters of `FiscalCalendar` (calendar quarters unless told otherwise).

The story behind the numbers, per rep and quarter (all seeded from `(seed, forecast, period,
user index)`, so no value depends on the order in which anything is generated):

- quota 200k-700k (a rep keeps theirs from quarter to quarter); the actual (closed won at the
  quarter's end) is quota x attainment, spread roughly 50%-140% around 95%;
- closed won grows along a back-loaded S-curve to the actual, moving only on days a deal closes;
  the CRM pipeline total is closed + open pipeline, open starting near 1.5x-4.5x of quota and
  shrinking as deals close or slip;
- the commit call converges to the actual: sandbaggers (~20%) start 17-31% low, over-callers
  (~15%) 21-36% high, the rest within 8%; a rep's leaning is a habit kept from quarter to
  quarter (drawn once per rep and forecast), wobbling by up to 4 points in each quarter; Most
  Likely lies between commit and Best Case, which is 15-40% above commit; calls move only on
  days the rep updates them;
- a manager overrides ~15% of their reps' commit in a week (0.8-1.1 x the rep's call);
- managers' rows are roll-ups: calls are the sum of their direct reports' effective calls times
  a weekly judgement factor (0.95-1.05); quota and CRM numbers are exact sums.

Every week's snapshot is taken at the end of that week (or at `as_of` for the running week), so
finished weeks never change when the clock moves. The document is written incrementally, one
entry per line, so that a 10,000-user export never sits in memory.
"""

from __future__ import annotations

import json
import math
import random
import unicodedata
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import BinaryIO

from clari_data.shared.config import EXPORT_TYPES, PERIOD_RE
from clari_data.shared.periods import FiscalCalendar, periods_ending_at

ORG_ID = 280627
DAY_MS = 86_400_000
HOUR_MS = 3_600_000

DEFAULT_TYPES = ("forecast", "forecast_updated")

# code -> (symbol, units of that currency per USD). Fixed rates: the simulator has no market.
CURRENCIES: dict[str, tuple[str, float]] = {
    "USD": ("$", 1.0),
    "EUR": ("€", 0.92),
    "GBP": ("£", 0.79),
    "CAD": ("CA$", 1.36),
    "AUD": ("A$", 1.52),
    "JPY": ("¥", 151.0),
    "INR": ("₹", 83.0),
    "CHF": ("CHF", 0.89),
}

# Field kinds: which export type carries a field's values.
CALL, QUOTA, CRM_TOTAL, CRM_CLOSED = "call", "quota", "crm_total", "crm_closed"

_BASE_FIELDS = (
    # fieldId, fieldName, fieldType, kind, metric
    ("fc_commit", "Commit", "forecast", CALL, "commit"),
    ("fc_most_likely", "Most Likely", "forecast", CALL, "ml"),
    ("fc_best_case", "Best Case", "forecast", CALL, "bc"),
    ("fc_quota", "Quota", "quota", QUOTA, "quota"),
    ("crm_closed_won", "Closed Won", "crm", CRM_CLOSED, "closed"),
    ("crm_pipeline", "Pipeline", "crm", CRM_TOTAL, "pipe"),
)
_EXTRA_FIELDS = (
    ("fc_upside", "Upside", "forecast", CALL, "upside"),
    ("crm_open", "Open Pipeline", "crm", CRM_TOTAL, "open"),
    ("fc_worst_case", "Worst Case", "forecast", CALL, "worst"),
    ("fc_plan", "Plan", "quota", QUOTA, "plan"),
    ("crm_commit_pipeline", "Commit Pipeline", "crm", CRM_TOTAL, "commit_pipe"),
)

_REGIONS = ("East", "West", "Central", "EMEA", "APAC", "LATAM", "North", "South")

_FIRST = (
    "Jane", "Michael", "Priya", "Carlos", "Aisha", "Tom", "Mei", "Lukas", "Olivia", "Daniel",
    "Fatima", "Noah", "Sofia", "Ethan", "Chloé", "Liam", "Hannah", "Mateo", "Grace", "Ravi",
    "Emma", "Kenji", "Zoë", "Marcus", "Ingrid", "Omar", "Renée", "Samuel", "Yara", "Björn",
    "Amara", "Finn", "Lucía", "Owen", "Nadia", "François", "Elena", "Tariq", "Maya", "Patrick",
)
_LAST = (
    "Smith", "Johnson", "Patel", "García", "Chen", "Williams", "Nguyen", "Kowalski", "Brown",
    "O'Connor", "Rossi", "Schmidt", "Okafor", "Martin", "Lefèvre", "Jensen", "Tanaka", "Davis",
    "D'Angelo", "Silva", "Novak", "Murphy", "Hernández", "Kim", "Andersson", "Walsh", "Dubois",
    "Khan", "Moreno", "Fischer", "Taylor", "Costa", "Ivanova", "Brennan", "Sato", "Larsen",
)
# A few fixed names at fixed places, so that quoting and encoding are always exercised.
_FIXED_NAMES = {2: ("Siobhán", "O'Brien"), 5: ("José", "Müller"), 13: ("Zoë", "Ødegård")}

_SF_CHECK = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _sf_id(prefix: str, number: int) -> str:
    """An 18-character Salesforce-style id (with the real case-checksum suffix)."""
    body = ""
    for _ in range(10):
        number, digit = divmod(number, 62)
        body = _B62[digit] + body
    id15 = prefix + "4M" + body
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, c in enumerate(id15[chunk * 5 : chunk * 5 + 5]) if "A" <= c <= "Z")
        suffix += _SF_CHECK[bits]
    return id15 + suffix


def _ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii() and c.isalnum())


def _r500(x: float) -> float:
    return float(round(x / 500.0) * 500)


def _logistic(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-9.0 * (t - 0.68)))


_L0, _L1 = _logistic(0.0), _logistic(1.0)

# The commit call's relative error at the quarter's start, by archetype (a rep's habit and each
# quarter's wobble around it stay inside their archetype's range).
_BIAS_RANGE = {"sandbagger": (-0.31, -0.17), "over_caller": (0.21, 0.36), "accurate": (-0.08, 0.08)}


def _s_curve(t: float) -> float:
    """Back-loaded share of the quarter's bookings closed by elapsed fraction `t`."""
    return (_logistic(t) - _L0) / (_L1 - _L0)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _day_ms(day: date) -> int:
    return _ms(datetime.combine(day, time(0), tzinfo=UTC))


@dataclass(frozen=True)
class _Calendar:
    """The days and weeks of one period as the simulation walks them."""

    period: str
    frames: tuple[tuple[str, date, date], ...]
    first_day_ms: int  # Monday of week 1, 00:00 UTC
    qs: int  # index (days since week 1's Monday) of the quarter's first day
    qe: int  # ... and of its last day
    t: tuple[float, ...]  # elapsed share of the quarter at the end of each day
    s: tuple[float, ...]  # s-curve of t
    s2: tuple[float, ...]  # pipeline burn curve of t

    @classmethod
    def build(cls, period: str, fiscal: FiscalCalendar) -> _Calendar:
        frames = tuple(fiscal.week_frames(period))
        start, end = fiscal.bounds(period)
        monday = frames[0][1]
        qs, qe = (start - monday).days, (end - monday).days
        n_days = 7 * len(frames)
        length = qe - qs + 1
        t = tuple(min(1.0, max(0.0, (i - qs + 1) / length)) for i in range(n_days))
        s = tuple(_s_curve(x) for x in t)
        s2 = tuple(0.4 * x + 0.6 * y for x, y in zip(t, s))
        return cls(period, frames, _day_ms(monday), qs, qe, t, s, s2)


@dataclass(frozen=True)
class RepProfile:
    """The hidden truth behind one rep's numbers in one period (for tests and demos)."""

    archetype: str  # "sandbagger", "over_caller" or "accurate"
    quota: float
    attainment: float
    actual: float  # closed won at the quarter's end, USD
    bias: float  # the commit call's relative error at the start of the quarter
    coverage: float  # open pipeline / quota at the start of the quarter


class SyntheticOrg:
    """A deterministic Clari tenant: CRO -> RVPs -> managers -> reps.

    `fiscal_start_month` is the first month of its fiscal year (see `FiscalCalendar` for how
    periods are named); 1, the default, writes the same bytes as before fiscal years existed.
    """

    def __init__(
        self,
        seed: int = 7,
        users: int = 60,
        extra_fields: int = 0,
        now: datetime | None = None,
        past_quarters: int = 4,
        forecasts: tuple[str, ...] = ("net_arr",),
        fiscal_start_month: int = 1,
    ) -> None:
        if not 5 <= users <= 10_000:
            raise ValueError(f"users must be between 5 and 10000, not {users}")
        if extra_fields < 0:
            raise ValueError("extra_fields must not be negative")
        if past_quarters < 0:
            raise ValueError("past_quarters must not be negative")
        if not forecasts:
            raise ValueError("forecasts must name at least one forecast id")
        self.seed = seed
        self.fiscal = FiscalCalendar(fiscal_start_month)
        self.past_quarters = past_quarters
        self.forecasts = tuple(forecasts)
        self.now = now if now is not None else datetime.now(UTC)
        self._build_fields(extra_fields)
        self._build_users(users)

    # ----------------------------------------------------------------- clock and periods
    @property
    def now(self) -> datetime:
        """The org's clock (UTC). Moves only when set or `advance`d; exports are as of it."""
        return self._now

    @now.setter
    def now(self, moment: datetime) -> None:
        self._now = self._aware(moment)

    @staticmethod
    def _aware(moment: datetime) -> datetime:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("the simulator's clock needs a timezone-aware datetime (UTC)")
        return moment.astimezone(UTC)

    def advance(self, days: float) -> datetime:
        """Move the clock forward by `days` (fractions allowed); returns the new time."""
        if days < 0:
            raise ValueError("the clock only moves forward")
        self.now = self.now + timedelta(days=days)
        return self.now

    def current_period(self) -> str:
        return self.fiscal.quarter_of(self.now.date())

    def periods(self, as_of: datetime | None = None) -> list[str]:
        """The current quarter and `past_quarters` before it, newest first."""
        moment = self._aware(as_of) if as_of is not None else self.now
        return periods_ending_at(self.fiscal.quarter_of(moment.date()), self.past_quarters)

    # ----------------------------------------------------------------- org chart
    def _build_fields(self, extra: int) -> None:
        specs = list(_BASE_FIELDS)
        for k in range(extra):
            if k < len(_EXTRA_FIELDS):
                specs.append(_EXTRA_FIELDS[k])
            else:
                j = k - len(_EXTRA_FIELDS) + 1
                specs.append((f"fc_custom_{j}", f"Custom Call {j}", "forecast", CALL, f"custom:{j}"))
        self._field_specs = specs
        self.fields = [{"fieldId": f, "fieldName": n, "fieldType": t} for f, n, t, _, _ in specs]

    def _build_users(self, total: int) -> None:
        n_mgr = max(1, round((total - 1) / 6.5))
        n_rvp = min(n_mgr, max(1, round(math.sqrt(n_mgr))))
        n_rep = total - 1 - n_rvp - n_mgr
        rng = random.Random(f"{self.seed}|org")

        # (level, parent index, region, role name); level 0 CRO, 1 RVP, 2 manager, 3 rep
        roles: list[tuple[int, int | None, str, str]] = [(0, None, "", "CRO")]
        rvp_regions = []
        for j in range(n_rvp):
            region = _REGIONS[j % len(_REGIONS)] + (f" {j // len(_REGIONS) + 1}" if j >= len(_REGIONS) else "")
            rvp_regions.append(region)
            roles.append((1, 0, region, f"RVP - {region}"))
        mgr_of_rvp = [0] * n_rvp
        first_mgr = len(roles)
        for m in range(n_mgr):
            j = m * n_rvp // n_mgr
            mgr_of_rvp[j] += 1
            region = rvp_regions[j]
            roles.append((2, 1 + j, region, f"Manager - {region} {mgr_of_rvp[j]}"))
        reps_in_region: dict[str, int] = {}
        for r in range(n_rep):
            m = r * n_mgr // n_rep
            region = roles[first_mgr + m][2]
            reps_in_region[region] = reps_in_region.get(region, 0) + 1
            roles.append((3, first_mgr + m, region, f"Sales Rep - {region} {reps_in_region[region]}"))

        users: list[dict] = []
        names_seen: set[str] = set()
        emails_seen: set[str] = set()
        self._level: list[int] = []
        self._parent: list[int | None] = []
        for i, (level, parent, _region, role) in enumerate(roles):
            first, last = _FIXED_NAMES.get(i) or (rng.choice(_FIRST), rng.choice(_LAST))
            name = f"{first} {last}"
            while name in names_seen:
                name = f"{first} {rng.choice('ABCDEFGHJKLMNPRSTW')}. {last}"
            names_seen.add(name)
            local = f"{_ascii(first).lower()}.{_ascii(last).lower()}"
            email, n = f"{local}@acme-demo.com", 1
            while email in emails_seen:
                n += 1
                email = f"{local}{n}@acme-demo.com"
            emails_seen.add(email)
            hierarchy_id = _sf_id("00E", 7_000_003 * (i + 1) + self.seed)
            users.append(
                {
                    "userId": f"{ORG_ID}:{hierarchy_id}",
                    "name": name,
                    "email": email,
                    "crmId": _sf_id("005", 9_000_011 * (i + 1) + self.seed),
                    "hierarchyId": hierarchy_id,
                    "hierarchyName": role,
                    "parentHierarchyId": users[parent]["hierarchyId"] if parent is not None else None,
                    "parentHierarchyName": users[parent]["hierarchyName"] if parent is not None else None,
                    "scopeId": f"{1000 + i}::{'REP' if level == 3 else 'MGR'}",
                }
            )
            self._level.append(level)
            self._parent.append(parent)
        self.users = users
        self._children: list[list[int]] = [[] for _ in users]
        for i, parent in enumerate(self._parent):
            if parent is not None:
                self._children[parent].append(i)
        self._index = {u["userId"]: i for i, u in enumerate(users)}

    def role_of(self, user_id: str) -> str:
        """"cro", "rvp", "manager" or "rep"."""
        return ("cro", "rvp", "manager", "rep")[self._level[self._index[user_id]]]

    def subtree(self, scope_id: str) -> list[int] | None:
        """Indices of the user whose scopeId is `scope_id` and everyone below; None if unknown."""
        root = next((i for i, u in enumerate(self.users) if u["scopeId"] == scope_id), None)
        if root is None:
            return None
        out, stack = [], [root]
        while stack:
            i = stack.pop()
            out.append(i)
            stack.extend(self._children[i])
        return sorted(out)

    # ----------------------------------------------------------------- the story
    def _rng(self, forecast_id: str, period: str, i: int) -> random.Random:
        return random.Random(f"{self.seed}|{forecast_id}|{period}|{i}")

    def _quota(self, forecast_id: str, i: int) -> float:
        """A rep keeps their quota from quarter to quarter."""
        rng = random.Random(f"{self.seed}|{forecast_id}|quota|{i}")
        return 5000.0 * round(rng.uniform(200_000, 700_000) / 5000)

    def _leaning(self, forecast_id: str, i: int) -> tuple[str, float]:
        """A rep's own way of calling, the same every quarter: who sandbags and who over-calls is a
        habit, which is what lets a projection learn it from past quarters."""
        rng = random.Random(f"{self.seed}|{forecast_id}|leaning|{i}")
        roll = rng.random()
        archetype = "sandbagger" if roll < 0.20 else "over_caller" if roll < 0.35 else "accurate"
        low, high = _BIAS_RANGE[archetype]
        return archetype, rng.uniform(low, high)

    @staticmethod
    def _rep_constants(rng: random.Random, quota: float, leaning: tuple[str, float]) -> tuple:
        attainment = min(1.4, max(0.5, rng.gauss(0.95, 0.2)))
        actual = float(round(quota * attainment))
        # The quarter wobbles around the rep's habit. Two draws, as many as the quarter's own
        # archetype took before habits existed, so every later draw is the same as then.
        archetype, habit = leaning
        low, high = _BIAS_RANGE[archetype]
        bias = min(high, max(low, habit + 0.04 * (rng.random() + rng.random() - 1.0)))
        ml_share = rng.uniform(0.3, 0.7)
        bc_up = rng.uniform(0.15, 0.40)
        coverage = min(4.5, max(1.5, rng.gauss(3.1, 0.7)))
        burn = rng.uniform(0.7, 0.92)
        discipline = rng.uniform(0.5, 0.95)
        return quota, attainment, actual, archetype, bias, ml_share, bc_up, coverage, burn, discipline

    def profile(self, user_id: str, period: str, forecast_id: str | None = None) -> RepProfile:
        """The hidden parameters of a rep's quarter: who sandbags, who over-calls, the actual."""
        i = self._index[user_id]
        if self._level[i] != 3:
            raise ValueError(f"{user_id} is not a rep")
        forecast_id = forecast_id or self.forecasts[0]
        q, att, actual, arche, bias, _ml, _bc, cov, _burn, _disc = self._rep_constants(
            self._rng(forecast_id, period, i), self._quota(forecast_id, i), self._leaning(forecast_id, i)
        )
        return RepProfile(arche, q, att, actual, bias, cov)

    def _simulate_rep(
        self, rng: random.Random, quota: float, leaning: tuple[str, float], cal: _Calendar, n_weeks: int,
        as_of_ms: int,
    ) -> list[tuple]:
        """Walk the quarter day by day; one snapshot tuple per included week.

        The random draws per week and per in-quarter day are fixed in number and never depend
        on `as_of`, so moving the clock only reveals more of the same story.
        """
        quota, _att, actual, _arche, bias, ml_share, bc_up, coverage, burn, discipline = self._rep_constants(
            rng, quota, leaning
        )
        rnd = rng.random
        weekly = [
            (rnd() < discipline, int(rnd() * 5), rnd() < 0.15, 0.8 + 0.3 * rnd(), int(rnd() * 5), rnd())
            for _ in range(len(cal.frames))
        ]
        open0 = coverage * quota
        commit = _r500(actual * (1 + bias))
        ml = _r500(commit * (1 + ml_share * bc_up))
        bc = _r500(commit * (1 + bc_up))
        closed = 0.0
        pipe = float(round(open0, -2))
        qs, qe, t_of, s_of, s2_of = cal.qs, cal.qe, cal.t, cal.s, cal.s2
        day0 = cal.first_day_ms
        out = []
        for w in range(n_weeks):
            engaged, forced, adjusts, adj_factor, adj_day, adj_frac = weekly[w]
            updated_on = 0
            adj_value = math.nan
            adj_on = 0
            for d in range(7):
                i = 7 * w + d
                if i < qs or i > qe:
                    continue
                day_ms = day0 + i * DAY_MS
                if day_ms > as_of_ms:
                    break
                t = t_of[i]
                u_roll, u_time, u_noise, c_roll, c_time, c_noise = rnd(), rnd(), rnd(), rnd(), rnd(), rnd()
                if engaged and (d == forced or u_roll < (0.4 if d < 5 else 0.04)):
                    ts = day_ms + 8 * HOUR_MS + int(u_time * 5 * HOUR_MS)
                    if ts <= as_of_ms:
                        left = 1.0 - t
                        err = bias * left**1.3 + (u_noise - 0.5) * 0.06 * left
                        commit = _r500(actual * (1 + err))
                        ml = _r500(commit * (1 + ml_share * bc_up))
                        bc = _r500(commit * (1 + bc_up))
                        updated_on = ts
                if adjusts and d == adj_day:
                    ts = day_ms + 14 * HOUR_MS + int(adj_frac * 5 * HOUR_MS)
                    if ts <= as_of_ms:
                        adj_value = _r500(commit * adj_factor)
                        adj_on = ts
                if i == qe or c_roll < ((0.10 + 0.22 * t) if d < 5 else 0.04):
                    ts = day_ms + 9 * HOUR_MS + int(c_time * 9 * HOUR_MS)
                    if ts <= as_of_ms:
                        closed = actual if i == qe else float(round(actual * s_of[i]))
                        left_open = open0 * max(0.06, 1.0 - burn * s2_of[i]) * (0.95 + 0.1 * c_noise)
                        pipe = closed + float(round(left_open, -2))
            out.append((commit, ml, bc, closed, pipe, updated_on, adj_value, adj_on, quota))
        return out

    # ----------------------------------------------------------------- export
    def write_export(
        self,
        fh: BinaryIO,
        forecast_id: str,
        time_period: str,
        types_to_export: Sequence[str],
        include_historical: bool,
        as_of: datetime | None = None,
        *,
        scope_id: str | None = None,
        currency: str | None = None,
    ) -> dict:
        """Write the export's JSON result document to `fh`, incrementally.

        Returns {"entries": n, "time_period": period, "frames": n_frames}. Raises ValueError for
        an unknown forecast, period (not one of `.periods(as_of)`), type, scope or currency.
        """
        as_of = self._aware(as_of) if as_of is not None else self.now
        if forecast_id not in self.forecasts:
            raise ValueError(f"unknown forecast {forecast_id!r}")
        if not isinstance(time_period, str) or not PERIOD_RE.fullmatch(time_period):
            raise ValueError(f"{time_period!r} is not a period id like 2026_Q1")
        if time_period not in self.periods(as_of):
            raise ValueError(f"period {time_period} is not available as of {as_of.isoformat()}")
        types = set(types_to_export)
        bad = types - set(EXPORT_TYPES)
        if bad:
            raise ValueError(f"unknown export types: {sorted(bad)}")
        code = currency or "USD"
        if code not in CURRENCIES:
            raise ValueError(f"unknown currency {currency!r}")
        selected = list(range(len(self.users)))
        if scope_id is not None:
            selected = self.subtree(scope_id)
            if selected is None:
                raise ValueError(f"unknown scope {scope_id!r}")

        cal = _Calendar.build(time_period, self.fiscal)
        as_of_ms = _ms(as_of)
        as_of_day = as_of.date()
        n_incl = sum(1 for _tf, start, _end in cal.frames if start <= as_of_day)
        grid = self._grid(forecast_id, cal, n_incl, as_of_ms, CURRENCIES[code][1])
        weeks = list(range(n_incl))
        random.Random(f"{self.seed}|{forecast_id}|{time_period}|weeks|{n_incl}").shuffle(weeks)
        if not include_historical:
            weeks = [n_incl - 1]

        n_entries = self._write_document(fh, cal, grid, weeks, selected, types, code)
        return {"entries": n_entries, "time_period": time_period, "frames": len(weeks)}

    def _grid(self, forecast_id: str, cal: _Calendar, n_weeks: int, as_of_ms: int, rate: float) -> dict:
        """Per-metric arrays indexed [week * n_users + user], weeks in calendar order."""
        n = len(self.users)
        size = n_weeks * n
        metrics = ("commit", "ml", "bc", "closed", "pipe", "upd", "adj", "adj_on", "quota")
        g = {m: array("d", bytes(8 * size)) for m in metrics}
        commit_a, ml_a, bc_a, closed_a, pipe_a, upd_a, adj_a, adjon_a, quota_a = (g[m] for m in metrics)
        nan = math.nan
        for i in range(n):
            if self._level[i] != 3:
                continue
            rng = self._rng(forecast_id, cal.period, i)
            weeks = self._simulate_rep(rng, self._quota(forecast_id, i), self._leaning(forecast_id, i), cal,
                                      n_weeks, as_of_ms)
            for w, (c, m, b, cl, p, u, a, ao, q) in enumerate(weeks):
                k = w * n + i
                if rate != 1.0:
                    c, m, b, cl, p, q = (float(round(x * rate)) for x in (c, m, b, cl, p, q))
                    a = a if a != a else float(round(a * rate))
                commit_a[k], ml_a[k], bc_a[k] = c, m, b
                closed_a[k], pipe_a[k], quota_a[k] = cl, p, q
                upd_a[k], adj_a[k], adjon_a[k] = u, a, ao
        # roll-ups, deepest level first
        week_end_ms = [min(_day_ms(end) + DAY_MS - 1, as_of_ms) for _tf, _s, end in cal.frames[:n_weeks]]
        for level in (2, 1, 0):
            for i in range(n):
                if self._level[i] != level:
                    continue
                kids = self._children[i]
                rng = self._rng(forecast_id, cal.period, i)
                rnd = rng.random
                weekly = [(0.95 + 0.1 * rnd(), rnd() < 0.85, int(rnd() * 5), rnd()) for _ in cal.frames]
                for w in range(n_weeks):
                    base = w * n
                    factor, engaged, day, frac = weekly[w]
                    eff = ml = bc = quota = closed = pipe = 0.0
                    for c in kids:
                        k = base + c
                        a = adj_a[k]
                        eff += commit_a[k] if a != a else a
                        ml += ml_a[k]
                        bc += bc_a[k]
                        quota += quota_a[k]
                        closed += closed_a[k]
                        pipe += pipe_a[k]
                    k = base + i
                    commit_a[k] = float(round(eff * factor))
                    ml_a[k] = float(round(ml * factor))
                    bc_a[k] = float(round(bc * factor))
                    quota_a[k], closed_a[k], pipe_a[k] = quota, closed, pipe
                    adj_a[k] = nan
                    ts = cal.first_day_ms + (7 * w + day) * DAY_MS + 9 * HOUR_MS + int(frac * 9 * HOUR_MS)
                    in_quarter = cal.qs <= 7 * w + day <= cal.qe
                    upd_a[k] = float(ts) if engaged and in_quarter and ts <= week_end_ms[w] else 0.0
        return g

    def _metric_array(self, grid: dict, metric: str) -> array:
        if metric in grid:
            return grid[metric]
        c, m, b, cl, p, q = (grid[x] for x in ("commit", "ml", "bc", "closed", "pipe", "quota"))
        if metric == "upside":
            return array("d", (float(round((x + y) / 2)) for x, y in zip(m, b)))
        if metric == "open":
            return array("d", (y - x for x, y in zip(cl, p)))
        if metric == "worst":
            return array("d", (max(x, float(round(y * 0.85))) for x, y in zip(cl, c)))
        if metric == "plan":
            return array("d", (float(round(x * 1.1)) for x in q))
        if metric == "commit_pipe":
            return array("d", (x + float(round((y - x) * 0.35)) for x, y in zip(cl, p)))
        if metric.startswith("custom:"):
            f = 1 + 0.02 * int(metric.split(":")[1])
            return array("d", (float(round(x * f)) for x in c))
        raise ValueError(metric)

    def _write_document(
        self, fh: BinaryIO, cal: _Calendar, grid: dict, weeks: list[int], selected: list[int], types: set[str],
        code: str,
    ) -> int:
        n = len(self.users)
        want_fc = "forecast" in types
        want_upd = "forecast_updated" in types
        want_adj = "adjustment" in types
        # A CRM field's own type puts its value in aggregationTotal. Without that type (Clari's
        # Export API refuses crm_total and crm_closed) the forecast tab's CRM-derived fields arrive
        # as the forecastValue of their field, as in GitLab's and tap-clari's exports.
        amount_key = {
            QUOTA: '"quotaValue":',
            CRM_TOTAL: '"aggregationTotal":' if "crm_total" in types else '"forecastValue":',
            CRM_CLOSED: '"aggregationTotal":' if "crm_closed" in types else '"forecastValue":',
        }
        wanted_kind = {
            CALL: want_fc or want_upd or want_adj,
            QUOTA: "quota" in types,
            CRM_TOTAL: "crm_total" in types or want_fc,
            CRM_CLOSED: "crm_closed" in types or want_fc,
        }
        fields = []  # (kind, values array, fieldId, adjustable)
        for fid, _name, _ftype, kind, metric in self._field_specs:
            if not wanted_kind[kind]:
                continue
            if kind == CALL and not (want_fc or want_upd) and fid != "fc_commit":
                continue  # only the commit carries adjustments
            fields.append((kind, self._metric_array(grid, metric), fid, fid == "fc_commit"))
        upd_a, adj_a, adjon_a = grid["upd"], grid["adj"], grid["adj_on"]
        symbol = CURRENCIES[code][0]
        tail = ',"currency":' + json.dumps({"code": code, "symbol": symbol}, ensure_ascii=False) + "}"
        names = [json.dumps(u["name"], ensure_ascii=False) for u in self.users]
        parent_names = [names[p] if p is not None else "null" for p in self._parent]
        uheads = ['{"userId":"' + u["userId"] + '","fieldId":"' for u in self.users]

        write = fh.write
        pending: list[str] = []
        count = 0
        write(b'{"entries":[')
        sep = "\n"
        for w in weeks:
            tf_id = cal.frames[w][0]
            mid = '","timePeriodId":"' + cal.period + '","timeFrameId":"' + tf_id + '",'
            base = w * n
            for i in selected:
                k = base + i
                uh = uheads[i]
                upd_part = None
                for kind, values, fid, adjustable in fields:
                    if kind == CALL:
                        parts = []
                        if want_fc:
                            parts.append(f'"forecastValue":{values[k]:.1f}')
                        if want_upd:
                            if upd_part is None:
                                upd = upd_a[k]
                                upd_part = (
                                    f'"isUpdated":true,"updatedBy":{names[i]},"updatedOn":{int(upd)}'
                                    if upd
                                    else '"isUpdated":false,"updatedBy":null,"updatedOn":null'
                                )
                            parts.append(upd_part)
                        if want_adj and adjustable:
                            a = adj_a[k]
                            if a == a:
                                parts.append(
                                    f'"adjustmentValue":{a:.1f},"adjustedBy":{parent_names[i]},'
                                    f'"adjustedOn":{int(adjon_a[k])}'
                                )
                        if not parts:
                            continue
                        body = ",".join(parts)
                    else:
                        body = f"{amount_key[kind]}{values[k]:.1f}"
                    pending.append(sep + uh + fid + mid + body + tail)
                    sep = ",\n"
                    count += 1
                if len(pending) >= 4096:
                    write("".join(pending).encode())
                    pending.clear()
        if pending:
            write("".join(pending).encode())
        write(b"\n],\n")
        self._write_list(fh, "users", (self.users[i] for i in selected))
        write(b",\n")
        self._write_list(fh, "fields", self.fields)
        write(b",\n")
        start, end = self.fiscal.bounds(cal.period)
        year, q = cal.period.split("_Q")  # the fiscal year and quarter
        period_doc = {
            "timePeriodId": cal.period,
            "label": f"Q{q}",
            "year": year,
            "type": "quarter",
            "startDate": start.isoformat(),
            "endDate": end.isoformat(),
            "crmId": _sf_id("026", int(year) * 10 + int(q)),
        }
        self._write_list(fh, "timePeriods", [period_doc])
        write(b",\n")
        frames = [
            {"timeFrameId": tf, "startDate": first.isoformat(), "endDate": last.isoformat()}
            for tf, first, last in (cal.frames[w] for w in weeks)
        ]
        self._write_list(fh, "timeFrames", frames)
        write(b"}\n")
        return count

    @staticmethod
    def _write_list(fh: BinaryIO, key: str, items) -> None:
        fh.write(f'"{key}":['.encode())
        sep = "\n"
        chunk: list[str] = []
        for item in items:
            chunk.append(sep + json.dumps(item, ensure_ascii=False, separators=(",", ":")))
            sep = ",\n"
            if len(chunk) >= 2048:
                fh.write("".join(chunk).encode())
                chunk.clear()
        chunk.append("\n]")
        fh.write("".join(chunk).encode())
