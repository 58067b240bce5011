"""Research: the settings on pydantic-settings, the alternative `python -m bench settings` measures
clari_data/shared/config.py against. The app never imports it.

It has what the comparison needs: every section as a frozen, strict pydantic model, clari.toml,
the secrets file and the environment as pydantic-settings sources in the precedence env > secrets >
clari.toml > defaults, the deprecated key, and pydantic's errors translated into config.py's
messages. What config.py checks after typing (ranges, URLs, cron, ...) is config.py's `_validate`,
called unchanged: that code is the same either way, and so are the sections' methods, left out here.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from types import NoneType
from typing import Annotated, Any, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from clari_data.shared import config as own
from clari_data.shared.config import NOTIFY_SECRETS, ConfigError, Secret


def _secret(value: Any) -> Secret | None:
    if isinstance(value, Secret):  # ClariSettings(api_key=Secret(...)), as code and tests build them
        return value
    if not isinstance(value, str):
        raise ValueError("not a string")  # translated below, without the value
    return Secret(value) if value else None


SecretValue = Annotated[Secret | None, PlainValidator(_secret)]
# TOML arrays arrive as lists; strict mode takes only tuples.
Strings = Annotated[tuple[str, ...], BeforeValidator(lambda v: tuple(v) if isinstance(v, list) else v)]
SECTION = ConfigDict(strict=True, frozen=True, extra="forbid", arbitrary_types_allowed=True)


class ClariSettings(BaseModel):
    model_config = SECTION
    base_url: str = own.DEFAULT_BASE_URL
    api_key: SecretValue = Field(default=None, repr=False)
    forecast_ids: Strings = ("net_arr",)
    periods_back: int = 1
    time_periods: Strings = ()
    types_to_export: Strings = own.DEFAULT_EXPORT_TYPES
    currency: str | None = None
    scope_id: str | None = None
    timeout_seconds: float = 30.0
    max_attempts: int = 6
    backoff_seconds: float = 0.5
    poll_interval_seconds: float = 5.0
    poll_deadline_seconds: float = 900.0
    forecast_names: dict[str, str] = {}
    retry_policy = own.ClariSettings.retry_policy
    forecast_name = own.ClariSettings.forecast_name

    def __hash__(self) -> int:  # pydantic's own hashes every field, and a dict has no hash
        return hash((self.base_url, self.forecast_ids))


class FieldRoles(BaseModel):
    model_config = SECTION
    commit: str = "fc_commit"
    best_case: str = "fc_best_case"
    quota: str = "fc_quota"
    closed: str = "crm_closed_won"
    pipeline: str = "crm_pipeline"


class WarehouseSettings(BaseModel):
    model_config = SECTION
    path: str = "data/clari.duckdb"
    memory_limit: str | None = "50%"
    threads: int | None = None
    downloads_dir: str | None = None
    backend: str = "duckdb"
    catalog: str | None = None
    data_path: str | None = None
    password: SecretValue = Field(default=None, repr=False)
    duckdb_threads = own.WarehouseSettings.duckdb_threads


class ServerSettings(BaseModel):
    model_config = SECTION
    role: str = "all"


class AlertSettings(BaseModel):
    model_config = SECTION
    coverage_min: float = 3.0
    accuracy_min_pct: float = 80.0
    change_pct: float = 10.0
    change_min_amount: float = 5000.0
    stale_after_hours: float = 26.0
    at_risk_below_pct: float = 70.0
    on_track_from_pct: float = 90.0


class ScheduleSettings(BaseModel):
    model_config = SECTION
    cron: str | None = "0 6 * * *"
    interval_minutes: float | None = None
    timezone: str = "UTC"
    misfire_grace_seconds: int = 3600
    manual_cooldown_seconds: int = 300
    manual_refresh: bool = True
    enabled: bool = True


class DemoSettings(BaseModel):
    model_config = SECTION
    seed: int = 7
    users: int = 60
    advance_days_per_refresh: float = 1.0
    job_seconds: float = 0.3


class NotifySettings(BaseModel):
    model_config = SECTION
    public_base_url: str = "http://localhost:8501"
    slack_enabled: bool = False
    slack_webhook_url: SecretValue = Field(default=None, repr=False)
    slack_rules: Strings = own.ALERT_RULES
    email_enabled: bool = False
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: SecretValue = Field(default=None, repr=False)
    smtp_password: SecretValue = Field(default=None, repr=False)
    email_from: str | None = None
    email_to: Strings = ()
    email_rules: Strings = own.ALERT_RULES
    timeout_seconds: float = 10.0
    max_attempts: int = 3
    backoff_seconds: float = 2.0
    deadline_seconds: float = 30.0
    retry_policy = own.NotifySettings.retry_policy
    channels = own.NotifySettings.channels
    rules_for = own.NotifySettings.rules_for


class AccessSettings(BaseModel):
    model_config = SECTION
    refresh_allowed: Strings = ()
    view_allowed: Strings = ()


SECTIONS: dict[str, type[BaseModel]] = {
    "clari": ClariSettings, "fields": FieldRoles, "warehouse": WarehouseSettings, "alerts": AlertSettings,
    "schedule": ScheduleSettings, "demo": DemoSettings, "notify": NotifySettings, "access": AccessSettings,
    "server": ServerSettings,
}
# The sources of one load_settings call: pydantic-settings builds its sources in the class, so what
# a call was given reaches them through here.
_CALL: ContextVar[tuple[dict[str, Any], dict[str, Any], dict[str, str]]] = ContextVar("_CALL")


class _Values(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], values: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self.values = values

    def get_field_value(self, field, field_name):
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return self.values


def _env_values(env: dict[str, str]) -> dict[str, Any]:
    """The variables config.py reads, as nested values; empty ones count as unset."""
    names = {("clari", "api_key"): "CLARI_API_KEY", ("clari", "base_url"): "CLARI_BASE_URL",
             ("warehouse", "path"): "CLARI_DB_PATH", ("warehouse", "password"): "PGPASSWORD",
             ("server", "role"): "CLARI_ROLE", **{("notify", k): v for k, v in NOTIFY_SECRETS.items()}}
    out: dict[str, Any] = {}
    for (section, key), variable in names.items():
        if env.get(variable):
            value = env[variable].strip().lower() if variable == "CLARI_ROLE" else env[variable]
            out.setdefault(section, {})[key] = value
    return out


class Settings(BaseSettings):
    model_config = SettingsConfigDict(strict=True, frozen=True, extra="forbid", arbitrary_types_allowed=True)
    clari: ClariSettings = ClariSettings()
    fields: FieldRoles = FieldRoles()
    warehouse: WarehouseSettings = WarehouseSettings()
    alerts: AlertSettings = AlertSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    demo: DemoSettings = DemoSettings()
    notify: NotifySettings = NotifySettings()
    access: AccessSettings = AccessSettings()
    server: ServerSettings = ServerSettings()
    source_path: str | None = None
    deprecations: tuple[str, ...] = ()

    @property
    def demo_mode(self) -> bool:
        return not self.clari.api_key

    def redacted(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for section in SECTIONS:
            values = {}
            for name, info in type(getattr(self, section)).model_fields.items():
                value = getattr(getattr(self, section), name)
                if name == "api_key":
                    value = "(set)" if value else "(not set: demo mode)"
                elif info.annotation == Secret | None:
                    value = "(set)" if value else "(not set)"
                elif isinstance(value, tuple):
                    value = list(value)
                values[name] = value
            out[section] = values
        return out

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        toml, secrets, env = _CALL.get(({}, {}, {}))  # Settings() alone: the defaults
        return (init_settings, _Values(settings_cls, _env_values(env)), _Values(settings_cls, secrets),
                _Values(settings_cls, toml))


_TYPE_NAMES = {str: "a string", int: "a whole number", float: "a number", bool: "true or false",
               tuple[str, ...]: "a list of strings",
               dict[str, str]: 'a table of id = "name" pairs, e.g. { net_arr = "Net ARR" }'}


def _message(exc: ValidationError, raw: dict[str, Any], path: Path) -> str:
    """config.py's message for pydantic's first error; pydantic's own text never reaches anyone."""
    error = exc.errors()[0]
    loc, kind = error["loc"], error["type"]
    section = str(loc[0])
    if len(loc) == 1:
        if kind == "extra_forbidden":
            return f"{path}: unknown section [{section}]; known sections: {', '.join(SECTIONS)}"
        return f"[{section}] must be a table of settings"
    key, model = str(loc[1]), SECTIONS[section]
    if kind == "extra_forbidden":
        known = sorted(k for k in model.model_fields if not (section == "notify" and k in NOTIFY_SECRETS))
        return f"[{section}] has an unknown key '{key}'; known keys: {', '.join(known)}"
    annotation = model.model_fields[key].annotation
    if annotation == Secret | None:
        return f"[{section}] {key} must be a string"
    optional = NoneType in get_args(annotation)
    base = next((a for a in get_args(annotation) if a is not NoneType), annotation) if optional else annotation
    value = raw[section][key]  # the whole value as written, not the item pydantic stopped at
    return (f"[{section}] {key} must be {_TYPE_NAMES[base]}{' (or left out)' if optional else ''}, "
            f"not {type(value).__name__} {value!r}")


def _deprecated(raw: dict[str, Any]) -> list[str]:
    notes = []
    for (section, key), (new_key, convert, note) in own.DEPRECATED_KEYS.items():
        values = raw.get(section)
        if isinstance(values, dict) and key in values:
            if new_key in values:
                raise ConfigError(f"[{section}] sets both {key} (deprecated) and {new_key}: keep only {new_key}")
            value = values.pop(key)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"[{section}] {key} must be a whole number, not {type(value).__name__} {value!r}")
            values[new_key] = convert(value)
            notes.append(note)
    return notes


def _secrets(path: Path) -> dict[str, Any]:
    """The secrets file's values pydantic is given: checked here, for messages that say where from."""
    if not path.exists():
        return {}
    raw = own._read_toml(path, "secrets file")
    out: dict[str, Any] = {}
    wanted = [("clari", "api_key", own._secrets_table(raw, "clari").get("api_key")),
              ("warehouse", "password", own._secrets_table(raw, "warehouse").get("password"))]
    for key, value in own._secrets_table(raw, "notify").items():
        if key not in NOTIFY_SECRETS:
            raise ConfigError(f"[notify] in the secrets file has an unknown key '{key}'; "
                              f"known keys: {', '.join(NOTIFY_SECRETS)}")
        wanted.append(("notify", key, value))
    for section, key, value in wanted:
        if value:
            if not isinstance(value, str):
                raise ConfigError(f"[{section}] {key} (secrets.toml) must be a string")
            out.setdefault(section, {})[key] = value
    return out


def load_settings(config_path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None,
                  secrets_path: str | os.PathLike[str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    explicit = config_path is not None or "CLARI_CONFIG" in env
    path = Path(config_path or env.get("CLARI_CONFIG") or "clari.toml")
    raw: dict[str, Any] = {}
    if path.exists():
        raw = own._read_toml(path, "configuration")
    elif explicit:
        raise ConfigError(f"configuration file {path} does not exist (set by CLARI_CONFIG or --config)")
    for section, key in [("notify", k) for k in NOTIFY_SECRETS] + [("warehouse", "password")]:
        if isinstance(raw.get(section), dict) and key in raw[section]:
            where = "PGPASSWORD" if key == "password" else NOTIFY_SECRETS[key]
            raise ConfigError(f"[{section}] {key} is a secret and is not read from {path.name}: put it under "
                              f"[{section}] in .streamlit/secrets.toml, or set {where}")
    notes = _deprecated(raw)
    secrets = _secrets(Path(secrets_path or env.get("CLARI_SECRETS") or ".streamlit/secrets.toml"))
    token = _CALL.set((raw, secrets, env))
    try:
        settings = Settings(source_path=str(path) if path.exists() else None, deprecations=tuple(notes))
    except ValidationError as exc:
        raise ConfigError(_message(exc, raw, path)) from None
    finally:
        _CALL.reset(token)
    own._validate(settings)
    for note in notes:
        own.log.warning("%s", note)
    return settings
