"""Settings: one object, read from `clari.toml`, environment overrides and secrets.

Precedence for each value: environment variable > `.streamlit/secrets.toml` (the API key, and the
notification credentials, which only come from there or the environment) > `clari.toml` > built-in
default. No API key anywhere means demo mode: the built-in simulator.

Every problem is reported as one `ConfigError` naming the key and what is wrong, so the CLI and
the app can show a single line instead of a traceback.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, get_args, get_type_hints
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .retry import RetryPolicy
from .rules import RULE_NAMES

log = logging.getLogger(__name__)

ACCESS_ENTRY_RE = re.compile(r"[^@\s]*@[^@\s]+\.[^@\s]+")
# ASCII digits only, and fullmatch: `$` alone would accept a trailing newline.
PERIOD_RE = re.compile(r"[0-9]{4}_Q[1-4]", re.ASCII)
# What DuckDB takes as memory_limit: a size with its unit, or a percentage of memory.
MEMORY_LIMIT_RE = re.compile(r"\s*[0-9]+(\.[0-9]+)?\s*([KMGT]i?B|B|%)\s*", re.ASCII | re.IGNORECASE)
EXPORT_TYPES = ("forecast", "quota", "forecast_updated", "adjustment", "crm_total", "crm_closed")
# Clari's spec lists the crm_* types yet refuses them in its own type_not_supported example, and
# production extractors never ask for them: a forecast tab's CRM fields arrive as forecast values.
DEFAULT_EXPORT_TYPES = ("forecast", "quota", "forecast_updated", "adjustment")
DEFAULT_BASE_URL = "https://api.clari.com/v4"
# The [alerts] rules by name, for choosing what each notification channel receives.
ALERT_RULES = RULE_NAMES
# Notification credentials: read only from .streamlit/secrets.toml [notify] or these variables,
# never from clari.toml (a file people copy around and paste into tickets).
NOTIFY_SECRETS = {
    "slack_webhook_url": "CLARI_SLACK_WEBHOOK_URL",
    "smtp_username": "CLARI_SMTP_USERNAME",
    "smtp_password": "CLARI_SMTP_PASSWORD",
}
_EMAIL_RE = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")


class ConfigError(ValueError):
    """A configuration problem, phrased for the person who has to fix it."""


class Secret:
    """Holds a credential so that printing, logging or repr-ing it never reveals it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self):  # pickling would write the key into caches and files
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True)
class ClariSettings:
    base_url: str = DEFAULT_BASE_URL
    api_key: Secret | None = field(default=None, repr=False)
    forecast_ids: tuple[str, ...] = ("net_arr",)
    periods_back: int = 1
    time_periods: tuple[str, ...] = ()  # explicit periods; empty means current quarter + periods_back
    types_to_export: tuple[str, ...] = DEFAULT_EXPORT_TYPES
    currency: str | None = None
    scope_id: str | None = None
    timeout_seconds: float = 30.0
    max_attempts: int = 6  # per request, on 429, 5xx and network failures (an export POST: see client)
    backoff_seconds: float = 0.5  # wait before the second attempt; doubles each time, with jitter
    poll_interval_seconds: float = 5.0
    poll_deadline_seconds: float = 900.0
    # What people read for each forecast id (tabs, captions, options); ids stay in URLs and files.
    # Not part of the hash: a dict cannot be, and equality still compares it.
    forecast_names: dict[str, str] = field(default_factory=dict, hash=False)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.max_attempts, self.backoff_seconds, max_backoff_seconds=30.0, jitter=True)

    def forecast_name(self, forecast_id: str) -> str:
        """The display name of a forecast: `forecast_names`, else a readable form of its id."""
        return self.forecast_names.get(forecast_id) or readable_id(forecast_id)


# Words that read as acronyms in a forecast id: net_arr -> "Net ARR".
_ACRONYMS = frozenset({"arr", "mrr", "acv", "tcv", "nrr", "grr", "ndr", "ltv", "cac", "kpi", "qbr", "sdr",
                       "bdr", "ae", "smb", "amer", "emea", "apac", "latam", "us", "uk", "eu", "na"})


def readable_id(identifier: str) -> str:
    """`net_arr` -> "Net ARR", `new-business` -> "New Business": for ids nobody named."""
    words = [w for w in re.split(r"[_\-\s.]+", identifier) if w]
    if not words:
        return identifier
    return " ".join(w.upper() if w.lower() in _ACRONYMS else w[:1].upper() + w[1:] for w in words)


@dataclass(frozen=True)
class FieldRoles:
    commit: str = "fc_commit"
    best_case: str = "fc_best_case"
    quota: str = "fc_quota"
    closed: str = "crm_closed_won"
    pipeline: str = "crm_pipeline"


@dataclass(frozen=True)
class WarehouseSettings:
    path: str = "data/clari.duckdb"
    # DuckDB's memory cap, e.g. "1GB" or "50%" of the memory DuckDB sees; None is DuckDB's own 80%.
    # Half leaves the rest to Python, Streamlit and the page caches in the same process.
    memory_limit: str | None = "50%"
    # DuckDB's worker threads; None is one per core, at most four (duckdb_threads). Reading an
    # export parses its one JSON document on one thread: more threads speed only the page queries
    # and the diff, and each keeps memory of its own.
    threads: int | None = None
    downloads_dir: str | None = None  # where exports land before loading; default beside the warehouse
    # Where the tables live: the embedded file at `path` (the default), or a backend named in
    # clari_data/storage/backends, which says what each needs (`catalog`, `data_path`) and checks it
    # (Backend.from_settings).
    backend: str = "duckdb"
    catalog: str | None = None  # "postgres:dbname=clari host=db.internal port=5432 user=clari"
    data_path: str | None = None  # a shared directory, or an object-store URL
    # The catalog's PostgreSQL password: PGPASSWORD or [warehouse] password in .streamlit/secrets.toml only.
    password: Secret | None = field(default=None, repr=False)

    @property
    def duckdb_threads(self) -> int:
        return self.threads or min(4, os.cpu_count() or 1)


@dataclass(frozen=True)
class ServerSettings:
    # "all": one process serves the pages and runs the schedule (the default). "web": a dashboard
    # replica, with no scheduler; "Refresh now" leaves a request for the worker. "worker": what
    # `python -m clari_data worker` runs, the schedule and every refresh. CLARI_ROLE overrides.
    role: str = "all"


ROLES = ("all", "web", "worker")


@dataclass(frozen=True)
class AlertSettings:
    coverage_min: float = 3.0
    accuracy_min_pct: float = 80.0
    change_pct: float = 10.0
    change_min_amount: float = 5000.0
    stale_after_hours: float = 26.0
    # A rep's status from their commit as a % of quota (the rep_performance view).
    at_risk_below_pct: float = 70.0
    on_track_from_pct: float = 90.0


@dataclass(frozen=True)
class ScheduleSettings:
    cron: str | None = "0 6 * * *"  # crontab: minute hour day month day-of-week
    interval_minutes: float | None = None  # used instead of cron when set
    timezone: str = "UTC"
    misfire_grace_seconds: int = 3600
    manual_cooldown_seconds: int = 300
    manual_refresh: bool = True  # False hides "Refresh now" (when no sign-in decides who may)
    enabled: bool = True


@dataclass(frozen=True)
class DemoSettings:
    seed: int = 7
    users: int = 60
    advance_days_per_refresh: float = 1.0
    job_seconds: float = 0.3  # how long a simulated export job takes to run


@dataclass(frozen=True)
class NotifySettings:
    """Slack and e-mail messages about alerts that newly fire after a refresh (docs/notifications.md)."""

    public_base_url: str = "http://localhost:8501"  # the dashboard's address, for links in messages
    slack_enabled: bool = False
    slack_webhook_url: Secret | None = field(default=None, repr=False)  # secrets.toml or environment only
    slack_rules: tuple[str, ...] = ALERT_RULES
    email_enabled: bool = False
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: Secret | None = field(default=None, repr=False)  # secrets.toml or environment only
    smtp_password: Secret | None = field(default=None, repr=False)  # secrets.toml or environment only
    email_from: str | None = None
    email_to: tuple[str, ...] = ()
    email_rules: tuple[str, ...] = ALERT_RULES
    timeout_seconds: float = 10.0  # per attempt (an HTTP request, each SMTP command)
    max_attempts: int = 3  # per channel and refresh, with exponential backoff between them
    backoff_seconds: float = 2.0  # wait before the second attempt; doubles each time
    deadline_seconds: float = 30.0  # the most a refresh waits for all channels together

    def retry_policy(self) -> RetryPolicy:
        # The deadline bounds the waits, so no cap of its own is needed beyond it.
        return RetryPolicy(self.max_attempts, self.backoff_seconds, max_backoff_seconds=self.deadline_seconds)

    def channels(self) -> tuple[str, ...]:
        """The enabled channels, in a fixed order."""
        return tuple(name for name, on in (("slack", self.slack_enabled), ("email", self.email_enabled)) if on)

    def rules_for(self, channel: str) -> tuple[str, ...]:
        return {"slack": self.slack_rules, "email": self.email_rules}[channel]


@dataclass(frozen=True)
class AccessSettings:
    # With sign-in configured (Streamlit's [auth] in secrets.toml): who may press "Refresh now",
    # as e-mail addresses or "@domain" entries. Empty: nobody; refreshes then run on schedule only.
    refresh_allowed: tuple[str, ...] = ()
    # Who may see the dashboard at all, the same way. Empty: everyone who can open it (signed in,
    # when sign-in is configured). Listing anyone needs sign-in: without it nobody can be told apart.
    view_allowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    clari: ClariSettings = ClariSettings()
    fields: FieldRoles = FieldRoles()
    warehouse: WarehouseSettings = WarehouseSettings()
    alerts: AlertSettings = AlertSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    demo: DemoSettings = DemoSettings()
    notify: NotifySettings = NotifySettings()
    access: AccessSettings = AccessSettings()
    server: ServerSettings = ServerSettings()
    source_path: str | None = None  # the clari.toml that was read, if any
    deprecations: tuple[str, ...] = ()  # old setting names in use, each with what to write instead

    @property
    def demo_mode(self) -> bool:
        return not self.clari.api_key

    def redacted(self) -> dict[str, dict[str, Any]]:
        """The settings as plain data, safe to show: the key is reduced to whether one is set."""
        out: dict[str, dict[str, Any]] = {}
        for section in SECTIONS:
            values = {}
            for name, kind in _field_types(type(getattr(self, section))).items():
                value = getattr(getattr(self, section), name)
                if name == "api_key":
                    value = "(set)" if value else "(not set: demo mode)"
                elif _unwrap(kind)[0] is Secret:
                    value = "(set)" if value else "(not set)"
                elif isinstance(value, tuple):
                    value = list(value)
                values[name] = value
            out[section] = values
        return out


SECTIONS: dict[str, type] = {
    "clari": ClariSettings,
    "fields": FieldRoles,
    "warehouse": WarehouseSettings,
    "alerts": AlertSettings,
    "schedule": ScheduleSettings,
    "demo": DemoSettings,
    "notify": NotifySettings,
    "access": AccessSettings,
    "server": ServerSettings,
}


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # TOML's true is no number


# How a value read from TOML becomes each type the settings classes declare: what the type is called
# in messages, whether a value is one, and the conversion. Our own rather than pydantic-settings, which
# needs as much code to give these messages and adds its import to every process: `python -m bench settings`.
_CONVERTERS: dict[Any, tuple[str, Callable[[Any], bool], Callable[[Any], Any]]] = {
    str: ("a string", lambda v: isinstance(v, str), str),
    bool: ("true or false", lambda v: isinstance(v, bool), bool),
    int: ("a whole number", _is_whole, int),
    float: ("a number", lambda v: _is_whole(v) or isinstance(v, float), float),
    tuple[str, ...]: ("a list of strings", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
                      tuple),
    dict[str, str]: ('a table of id = "name" pairs, e.g. { net_arr = "Net ARR" }',
                     lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()), dict),
    Secret: ("a string", lambda v: isinstance(v, str), lambda v: Secret(v) if v else None),
}


@cache
def _field_types(cls: type) -> dict[str, Any]:
    """A settings class's fields and their types, the real ones (`Secret | None`, not the string)."""
    return get_type_hints(cls)


def _unwrap(kind: Any) -> tuple[Any, bool]:
    """`X | None` -> (X, True); any other type -> (it, False)."""
    if isinstance(kind, UnionType) and NoneType in get_args(kind):
        (base,) = (arg for arg in get_args(kind) if arg is not NoneType)
        return base, True
    return kind, False


def _coerce(where: str, kind: Any, value: Any) -> Any:
    """`value` from TOML as the type `kind`, or a ConfigError naming `where` and what it must be."""
    base, optional = _unwrap(kind)
    name, accepts, convert = _CONVERTERS[base]
    if accepts(value):
        return convert(value)
    if base is Secret:  # a credential: never quoted, not even in an error
        raise ConfigError(f"{where} must be {name}")
    left_out = " (or left out)" if optional else ""
    raise ConfigError(f"{where} must be {name}{left_out}, not {type(value).__name__} {value!r}")


# Old setting names that keep working for one release, each with the message its use logs (and
# /data shows): section, old key -> new key, conversion.
DEPRECATED_KEYS: dict[tuple[str, str], tuple[str, Any, str]] = {
    ("clari", "max_retries"): (
        "max_attempts", lambda retries: retries + 1,
        "[clari] max_retries is deprecated and goes away in the next release: use max_attempts, which counts "
        "the first try too (max_retries = N is max_attempts = N + 1)"),
}


def _section(section: str, raw: Any, base: Any) -> tuple[Any, list[str]]:
    """The section's settings over `base`, and the deprecation messages its keys gave."""
    cls = SECTIONS[section]
    if not isinstance(raw, dict):
        raise ConfigError(f"[{section}] must be a table of settings")
    known = _field_types(cls)
    changes, notes = {}, []
    for key, value in raw.items():
        if (section, key) in DEPRECATED_KEYS:
            new_key, convert, note = DEPRECATED_KEYS[section, key]
            if new_key in raw:
                raise ConfigError(f"[{section}] sets both {key} (deprecated) and {new_key}: keep only {new_key}")
            changes[new_key] = convert(_coerce(f"[{section}] {key}", known[new_key], value))
            notes.append(note)
            continue
        if key not in known:
            listed = sorted(k for k in known if not (section == "notify" and k in NOTIFY_SECRETS))
            raise ConfigError(
                f"[{section}] has an unknown key '{key}'; known keys: {', '.join(listed)}"
            )
        changes[key] = _coerce(f"[{section}] {key}", known[key], value)
    return replace(base, **changes), notes


def check_base_url(url: str, where: str = "[clari] base_url") -> str:
    """An http(s) URL without a user name or password in it: the one credential travels in a header,
    and this URL is shown on every page. A refused URL is never quoted (it may hold a password)."""
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if parts is not None and "@" in parts.netloc:
        raise ConfigError(f"{where} must not carry a user name or password (user:password@host); give the API key "
                          "as CLARI_API_KEY or [clari] api_key in .streamlit/secrets.toml")
    if parts is None or not port_ok or parts.scheme not in ("http", "https") or not parts.hostname:
        shown = repr(url[:80]) if "@" not in url else "that address"
        raise ConfigError(f"{where} must start with http:// or https://, not {shown}")
    return url


def _validate(s: Settings) -> None:
    c = s.clari
    check_base_url(c.base_url)
    if not c.forecast_ids or any(not f.strip() for f in c.forecast_ids):
        raise ConfigError("[clari] forecast_ids must list at least one Forecast Tab id, e.g. [\"net_arr\"]")
    if c.periods_back < 0 or c.periods_back > 20:
        raise ConfigError(f"[clari] periods_back must be between 0 and 20, not {c.periods_back}")
    for period in c.time_periods:
        check_period(period, "[clari] time_periods")
    bad = [t for t in c.types_to_export if t not in EXPORT_TYPES]
    if bad:
        raise ConfigError(
            f"[clari] types_to_export has unknown type {bad[0]!r}; allowed: {', '.join(EXPORT_TYPES)}"
        )
    for name in ("timeout_seconds", "poll_interval_seconds", "poll_deadline_seconds"):
        if getattr(c, name) <= 0:
            raise ConfigError(f"[clari] {name} must be above 0")
    if not 1 <= c.max_attempts <= 20:
        raise ConfigError(f"[clari] max_attempts must be between 1 and 20, not {c.max_attempts}")
    if c.backoff_seconds < 0:
        raise ConfigError("[clari] backoff_seconds must not be negative")
    for forecast_id, name in c.forecast_names.items():
        if not name.strip() or len(name) > 80:
            raise ConfigError(f"[clari] forecast_names: the name of {forecast_id[:80]!r} must be 1 to 80 characters, "
                              f"e.g. {{ {forecast_id[:80]} = \"{readable_id(forecast_id[:80])}\" }}")
    for f in fields(FieldRoles):
        if not getattr(s.fields, f.name).strip():
            raise ConfigError(f"[fields] {f.name} must name the fieldId that plays this role")
    a = s.alerts
    for f in fields(AlertSettings):
        if getattr(a, f.name) < 0:
            raise ConfigError(f"[alerts] {f.name} must not be negative")
    if a.at_risk_below_pct > a.on_track_from_pct:
        raise ConfigError("[alerts] at_risk_below_pct must not be above on_track_from_pct")
    _validate_warehouse(s.warehouse)
    if s.server.role not in ROLES:
        raise ConfigError(f"[server] role (or CLARI_ROLE) must be one of {', '.join(ROLES)}, not {s.server.role!r}")
    sch = s.schedule
    if sch.interval_minutes is not None and sch.interval_minutes <= 0:
        raise ConfigError("[schedule] interval_minutes must be above 0")
    try:
        ZoneInfo(sch.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"[schedule] timezone {sch.timezone!r} is not a known time zone, "
                          "e.g. \"Europe/Berlin\"") from None
    if sch.cron is not None:
        _check_cron(sch.cron, sch.timezone)
    if s.demo.users < 5 or s.demo.users > 10_000:
        raise ConfigError(f"[demo] users must be between 5 and 10000, not {s.demo.users}")
    _validate_notify(s.notify)
    for key in ("refresh_allowed", "view_allowed"):
        for entry in getattr(s.access, key):
            if not ACCESS_ENTRY_RE.fullmatch(entry) or not entry.isascii():
                raise ConfigError(f"[access] {key}: {entry!r} is neither an e-mail address nor an \"@domain\" entry "
                                  "in plain ASCII, e.g. \"ana@example.com\" or \"@example.com\"")


def _validate_warehouse(w: WarehouseSettings) -> None:
    if w.memory_limit is not None and not MEMORY_LIMIT_RE.fullmatch(w.memory_limit):
        raise ConfigError(f"[warehouse] memory_limit {w.memory_limit!r} is not a size or a share of memory, "
                          "e.g. \"2GB\", \"512MB\" or \"50%\"")
    if w.threads is not None and not 1 <= w.threads <= 256:
        raise ConfigError(f"[warehouse] threads must be between 1 and 256, not {w.threads}")


def _validate_notify(n: NotifySettings) -> None:
    if not n.public_base_url.startswith(("http://", "https://")):
        raise ConfigError(f"[notify] public_base_url must start with http:// or https://, not {n.public_base_url!r}")
    for name in ("slack_rules", "email_rules"):
        rules = getattr(n, name)
        bad = [r for r in rules if r not in ALERT_RULES]
        if bad:
            raise ConfigError(f"[notify] {name} has unknown rule {bad[0]!r}; known rules: {', '.join(ALERT_RULES)}")
        if not rules:
            channel = name.split("_")[0]
            raise ConfigError(f"[notify] {name} must list at least one rule (or set {channel}_enabled = false)")
    for name in ("timeout_seconds", "deadline_seconds"):
        if getattr(n, name) <= 0:
            raise ConfigError(f"[notify] {name} must be above 0")
    if n.backoff_seconds < 0:
        raise ConfigError("[notify] backoff_seconds must not be negative")
    if not 1 <= n.max_attempts <= 10:
        raise ConfigError(f"[notify] max_attempts must be between 1 and 10, not {n.max_attempts}")
    if not 1 <= n.smtp_port <= 65535:
        raise ConfigError(f"[notify] smtp_port must be between 1 and 65535, not {n.smtp_port}")
    for name, addresses in (("email_from", (n.email_from,) if n.email_from else ()), ("email_to", n.email_to)):
        for address in addresses:
            if not _EMAIL_RE.fullmatch(address):
                raise ConfigError(f"[notify] {name}: {address[:80]!r} is not an e-mail address like name@example.com")
    if n.smtp_host is not None and (not n.smtp_host.strip() or any(c.isspace() for c in n.smtp_host)):
        raise ConfigError(f"[notify] smtp_host must be a host name, not {n.smtp_host[:80]!r}")
    # The webhook URL is a secret: messages about it never quote it.
    if n.slack_webhook_url and not n.slack_webhook_url.reveal().startswith(("https://", "http://")):
        raise ConfigError("[notify] slack_webhook_url must start with https:// (the Slack incoming webhook's URL)")
    if bool(n.smtp_username) != bool(n.smtp_password):
        raise ConfigError("[notify] smtp_username and smtp_password go together: set both (for SMTP login) or neither")
    if n.slack_enabled and not n.slack_webhook_url:
        raise ConfigError("[notify] slack_enabled is true but no webhook URL is set: put slack_webhook_url under "
                          "[notify] in .streamlit/secrets.toml, or set CLARI_SLACK_WEBHOOK_URL")
    if n.email_enabled:
        missing = [name for name in ("smtp_host", "email_from", "email_to") if not getattr(n, name)]
        if missing:
            raise ConfigError(f"[notify] email_enabled is true but {missing[0]} is not set")


def _check_cron(expression: str, timezone: str) -> None:
    from apscheduler.triggers.cron import CronTrigger

    if len(expression.split()) != 5:
        raise ConfigError(f"[schedule] cron must have five fields (minute hour day month day-of-week), "
                          f"not {expression!r}")
    try:
        CronTrigger.from_crontab(expression, timezone=timezone)
    except ValueError as exc:
        raise ConfigError(f"[schedule] cron {expression!r} is not a valid schedule: {exc}") from None


def check_period(period: str, where: str = "time period") -> str:
    if not isinstance(period, str) or not PERIOD_RE.fullmatch(period):
        raise ConfigError(f"{where}: {period!r} is not a fiscal quarter shaped YYYY_QN, e.g. 2026_Q3")
    return period


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix the {what} or start from "
                          "clari.example.toml") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    secrets_path: str | os.PathLike[str] | None = None,
) -> Settings:
    """Read the settings. Raises ConfigError with one clear message on any bad value."""
    env = dict(os.environ if env is None else env)
    explicit = config_path is not None or "CLARI_CONFIG" in env
    path = Path(config_path or env.get("CLARI_CONFIG") or "clari.toml")

    raw: dict[str, Any] = {}
    source = None
    if path.exists():
        raw = _read_toml(path, "configuration")
        source = str(path)
    elif explicit:
        raise ConfigError(f"configuration file {path} does not exist (set by CLARI_CONFIG or --config)")

    settings = Settings(source_path=source)
    for section, values in raw.items():
        if section not in SECTIONS:
            raise ConfigError(
                f"{path}: unknown section [{section}]; known sections: {', '.join(SECTIONS)}"
            )
        if section == "notify" and isinstance(values, dict):
            for key in NOTIFY_SECRETS:
                if key in values:
                    raise ConfigError(
                        f"[notify] {key} is a secret and is not read from {path.name}: put it under [notify] in "
                        f".streamlit/secrets.toml, or set {NOTIFY_SECRETS[key]}")
        if section == "warehouse" and isinstance(values, dict) and "password" in values:
            raise ConfigError(f"[warehouse] password is a secret and is not read from {path.name}: put it under "
                              "[warehouse] in .streamlit/secrets.toml, or set PGPASSWORD")
        values, notes = _section(section, values, getattr(settings, section))
        settings = replace(settings, **{section: values}, deprecations=settings.deprecations + tuple(notes))

    clari = settings.clari
    notify = settings.notify
    warehouse_password = None
    secrets_file = Path(secrets_path or env.get("CLARI_SECRETS") or ".streamlit/secrets.toml")
    if secrets_file.exists():
        secrets = _read_toml(secrets_file, "secrets file")
        secret_key = _secrets_table(secrets, "clari").get("api_key")
        if secret_key:
            clari = replace(clari, api_key=_coerce("[clari] api_key (secrets.toml)", Secret, secret_key))
        notify = _notify_secrets(_secrets_table(secrets, "notify"), notify)
        lake_password = _secrets_table(secrets, "warehouse").get("password")
        if lake_password:
            warehouse_password = _coerce("[warehouse] password (secrets.toml)", Secret, lake_password)
    for key, variable in NOTIFY_SECRETS.items():
        if env.get(variable):
            notify = replace(notify, **{key: Secret(env[variable])})
    if env.get("CLARI_API_KEY"):
        clari = replace(clari, api_key=Secret(env["CLARI_API_KEY"]))
    if env.get("CLARI_BASE_URL"):
        clari = replace(clari, base_url=env["CLARI_BASE_URL"])
    warehouse = settings.warehouse
    if env.get("CLARI_DB_PATH"):
        warehouse = replace(warehouse, path=env["CLARI_DB_PATH"])
    if env.get("PGPASSWORD"):
        warehouse_password = Secret(env["PGPASSWORD"])
    if warehouse_password:
        warehouse = replace(warehouse, password=warehouse_password)
    server = settings.server
    if env.get("CLARI_ROLE"):
        server = replace(server, role=env["CLARI_ROLE"].strip().lower())
    settings = replace(settings, clari=clari, warehouse=warehouse, notify=notify, server=server)
    _validate(settings)
    for note in settings.deprecations:
        log.warning("%s", note)
    return settings


def _secrets_table(secrets: dict[str, Any], section: str) -> dict[str, Any]:
    table = secrets.get(section, {})
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}] in the secrets file must be a table of settings")
    return table


def _notify_secrets(raw: dict[str, Any], notify: NotifySettings) -> NotifySettings:
    """The [notify] table of the secrets file: the webhook URL and the SMTP login, nothing else."""
    for key, value in raw.items():
        if key not in NOTIFY_SECRETS:
            raise ConfigError(f"[notify] in the secrets file has an unknown key '{key}'; "
                              f"known keys: {', '.join(NOTIFY_SECRETS)}")
        if value:
            notify = replace(notify, **{key: _coerce(f"[notify] {key} (secrets.toml)", Secret, value)})
    return notify
