"""clari_data/shared/config.py: defaults, the example file, environment and secrets overrides, one clear
ConfigError per problem, and a Secret that never shows the key.

Every call passes `env` and `secrets_path` explicitly and runs in an empty working directory, so
neither the real environment nor a developer's clari.toml / .streamlit/secrets.toml can leak in.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import pickle
import re
import shutil
import tomllib
from pathlib import Path
from typing import get_type_hints

import pytest

from clari_data.shared import config
from clari_data.shared.config import (
    DEFAULT_EXPORT_TYPES,
    SECTIONS,
    ClariSettings,
    ConfigError,
    Secret,
    Settings,
    WarehouseSettings,
    check_period,
    load_settings,
)
from clari_data.shared.retry import RetryPolicy
from clari_data.storage.backends import Backend

EXAMPLE = Path(__file__).resolve().parents[2] / "clari.example.toml"
KEY = "sk-live-9f8e7d6c5b4a"


@pytest.fixture(autouse=True)
def empty_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def no_secrets(tmp_path) -> Path:
    return tmp_path / "no-secrets.toml"  # never created


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, toml: str, env: dict | None = None, secrets: str | None = None) -> Settings:
    config = write(tmp_path / "clari.toml", toml)
    secrets_path = write(tmp_path / "secrets.toml", secrets) if secrets is not None else tmp_path / "none.toml"
    return load_settings(config, env=env or {}, secrets_path=secrets_path)


def error(tmp_path: Path, toml: str, env: dict | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, toml, env)
    return str(info.value)


# -- defaults and the example file -----------------------------------------------------------


def test_defaults_without_any_file(no_secrets):
    settings = load_settings(env={}, secrets_path=no_secrets)
    assert settings == Settings()
    assert settings.source_path is None
    assert settings.demo_mode is True
    assert settings.clari.base_url == "https://api.clari.com/v4"
    assert settings.clari.forecast_ids == ("net_arr",)
    assert settings.clari.types_to_export == ("forecast", "quota", "forecast_updated", "adjustment")
    assert settings.warehouse.path == "data/clari.duckdb"
    assert settings.schedule.cron == "0 6 * * *" and settings.schedule.timezone == "UTC"
    assert settings.alerts.coverage_min == 3.0


def test_clari_toml_in_the_working_directory_is_read_by_default(tmp_path, no_secrets):
    write(tmp_path / "clari.toml", "[demo]\nusers = 25\n")
    settings = load_settings(env={}, secrets_path=no_secrets)
    assert settings.demo.users == 25
    assert settings.source_path == "clari.toml"


def test_every_key_of_the_example_file_parses_to_its_value(tmp_path, no_secrets):
    raw = tomllib.loads(EXAMPLE.read_text())
    settings = load_settings(shutil.copy(EXAMPLE, tmp_path / "clari.toml"), env={}, secrets_path=no_secrets)
    assert set(raw) == {"clari", "fields", "warehouse", "alerts", "schedule", "demo", "notify", "access"}
    for section, values in raw.items():
        for key, value in values.items():
            got = getattr(getattr(settings, section), key)
            assert got == (tuple(value) if isinstance(value, list) else value), f"[{section}] {key}"
            assert type(got) is not list
    # The example shows the defaults, and whole numbers given for float settings become floats.
    assert settings == Settings(source_path=str(tmp_path / "clari.toml"))
    assert isinstance(settings.alerts.accuracy_min_pct, float) and settings.alerts.accuracy_min_pct == 80.0


def test_the_example_files_commented_out_keys_are_valid_too(tmp_path, no_secrets):
    text = re.sub(r"^# (\w+ = )", r"\1", EXAMPLE.read_text(), flags=re.MULTILINE)
    settings = load_settings(write(tmp_path / "clari.toml", text), env={}, secrets_path=no_secrets)
    assert settings.clari.time_periods == ("2026_Q3",)
    assert settings.clari.currency == "USD"
    assert settings.clari.scope_id == "1905::MGR"
    assert (settings.warehouse.memory_limit, settings.warehouse.threads) == ("2GB", 2)
    assert settings.warehouse.downloads_dir == "data/downloads"
    assert settings.schedule.interval_minutes == 60.0
    assert settings.clari.forecast_names == {"net_arr": "Net ARR", "renewals": "Renewals"}


def test_non_default_values_are_applied(tmp_path):
    settings = load(tmp_path, """
[clari]
base_url = "http://localhost:8123/v4"
forecast_ids = ["net_arr", "renewals"]
periods_back = 0
time_periods = ["2025_Q4", "2026_Q1"]
types_to_export = ["forecast", "quota"]
timeout_seconds = 5
max_attempts = 1
backoff_seconds = 0.25
[fields]
commit = "fc_call"
[warehouse]
path = "/data/x.duckdb"
[alerts]
coverage_min = 2.5
stale_after_hours = 0
[schedule]
cron = "30 5 * * 1-5"
timezone = "Europe/Berlin"
manual_refresh = false
enabled = false
[demo]
users = 5
job_seconds = 0
""")
    assert settings.clari.base_url == "http://localhost:8123/v4"
    assert settings.clari.forecast_ids == ("net_arr", "renewals")
    assert settings.clari.periods_back == 0
    assert settings.clari.time_periods == ("2025_Q4", "2026_Q1")
    assert settings.clari.types_to_export == ("forecast", "quota")
    assert settings.clari.timeout_seconds == 5.0 and isinstance(settings.clari.timeout_seconds, float)
    assert settings.clari.retry_policy() == RetryPolicy(1, 0.25, max_backoff_seconds=30.0, jitter=True)
    assert settings.deprecations == ()
    assert settings.fields.commit == "fc_call" and settings.fields.best_case == "fc_best_case"
    assert settings.warehouse.path == "/data/x.duckdb"
    assert settings.alerts.coverage_min == 2.5 and settings.alerts.stale_after_hours == 0.0
    assert settings.schedule.cron == "30 5 * * 1-5" and settings.schedule.timezone == "Europe/Berlin"
    assert settings.schedule.manual_refresh is False and settings.schedule.enabled is False
    assert settings.demo.users == 5 and settings.demo.job_seconds == 0.0


def test_an_empty_file_gives_the_defaults(tmp_path):
    settings = load(tmp_path, "")
    assert settings == Settings(source_path=str(tmp_path / "clari.toml"))


def test_every_setting_has_a_type_the_files_can_be_read_as():
    # Types come from the classes' type hints: a field of a type the converter table lacks would turn
    # every file that sets it into a KeyError instead of a setting.
    for section, cls in SECTIONS.items():
        for key, kind in get_type_hints(cls).items():
            assert config._unwrap(kind)[0] in config._CONVERTERS, f"[{section}] {key}: {kind}"


# -- environment overrides -------------------------------------------------------------------


def test_environment_overrides(tmp_path):
    settings = load(tmp_path, '[clari]\nbase_url = "https://file.example/v4"\n[warehouse]\npath = "file.duckdb"\n',
                    env={"CLARI_API_KEY": KEY, "CLARI_BASE_URL": "https://env.example/v4",
                         "CLARI_DB_PATH": "/tmp/env.duckdb"})
    assert settings.clari.api_key.reveal() == KEY
    assert settings.demo_mode is False
    assert settings.clari.base_url == "https://env.example/v4"
    assert settings.warehouse.path == "/tmp/env.duckdb"


def test_empty_environment_values_are_ignored(tmp_path):
    settings = load(tmp_path, "", env={"CLARI_API_KEY": "", "CLARI_BASE_URL": "", "CLARI_DB_PATH": ""})
    assert settings.demo_mode is True
    assert settings.clari.base_url == "https://api.clari.com/v4"
    assert settings.warehouse.path == "data/clari.duckdb"


def test_clari_config_names_the_file(tmp_path, no_secrets):
    path = write(tmp_path / "conf" / "prod.toml", "[demo]\nseed = 11\n")
    settings = load_settings(env={"CLARI_CONFIG": str(path)}, secrets_path=no_secrets)
    assert settings.demo.seed == 11
    assert settings.source_path == str(path)


def test_config_path_argument_beats_clari_config(tmp_path, no_secrets):
    chosen = write(tmp_path / "a.toml", "[demo]\nseed = 1\n")
    other = write(tmp_path / "b.toml", "[demo]\nseed = 2\n")
    settings = load_settings(chosen, env={"CLARI_CONFIG": str(other)}, secrets_path=no_secrets)
    assert settings.demo.seed == 1


def test_clari_config_that_does_not_exist(tmp_path, no_secrets):
    missing = tmp_path / "nowhere" / "clari.toml"
    with pytest.raises(ConfigError) as info:
        load_settings(env={"CLARI_CONFIG": str(missing)}, secrets_path=no_secrets)
    assert str(info.value) == f"configuration file {missing} does not exist (set by CLARI_CONFIG or --config)"


def test_config_path_that_does_not_exist(tmp_path, no_secrets):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", env={}, secrets_path=no_secrets)


def test_env_base_url_is_validated(tmp_path):
    message = error(tmp_path, "", env={"CLARI_BASE_URL": "ftp://clari.example"})
    assert message == "[clari] base_url must start with http:// or https://, not 'ftp://clari.example'"


# -- the API key: secrets file, environment, demo mode ---------------------------------------


def test_key_from_the_secrets_file(tmp_path):
    settings = load(tmp_path, "", secrets=f'[clari]\napi_key = "{KEY}"\n')
    assert settings.clari.api_key.reveal() == KEY
    assert settings.demo_mode is False


def test_environment_key_beats_the_secrets_file(tmp_path):
    settings = load(tmp_path, "", env={"CLARI_API_KEY": "from-env"}, secrets=f'[clari]\napi_key = "{KEY}"\n')
    assert settings.clari.api_key.reveal() == "from-env"


def test_secrets_file_beats_clari_toml(tmp_path):
    # Documented precedence: environment > .streamlit/secrets.toml > clari.toml > default.
    settings = load(tmp_path, '[clari]\napi_key = "from-toml"\n', secrets='[clari]\napi_key = "from-secrets"\n')
    assert settings.clari.api_key.reveal() == "from-secrets"


def test_key_in_clari_toml_alone_is_used(tmp_path):
    settings = load(tmp_path, '[clari]\napi_key = "from-toml"\n')
    assert settings.clari.api_key.reveal() == "from-toml"


def test_clari_secrets_names_the_secrets_file(tmp_path):
    path = write(tmp_path / "elsewhere" / "s.toml", f'[clari]\napi_key = "{KEY}"\n')
    settings = load_settings(env={"CLARI_SECRETS": str(path)})
    assert settings.clari.api_key.reveal() == KEY


def test_default_secrets_file_is_streamlits(tmp_path):
    write(tmp_path / ".streamlit" / "secrets.toml", f'[clari]\napi_key = "{KEY}"\n')
    assert load_settings(env={}).clari.api_key.reveal() == KEY


@pytest.mark.parametrize("secrets", ["", "[other]\napi_key = 'x'\n", "[clari]\napi_key = ''\n",
                                     "[clari]\nsomething = 1\n"])
def test_demo_mode_without_a_key(tmp_path, secrets):
    settings = load(tmp_path, "", secrets=secrets)
    assert settings.clari.api_key is None
    assert settings.demo_mode is True


def test_empty_key_in_clari_toml_means_demo_mode(tmp_path):
    assert load(tmp_path, '[clari]\napi_key = ""\n').demo_mode is True


def test_secrets_key_of_the_wrong_type(tmp_path):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "", secrets="[clari]\napi_key = 12345\n")
    assert str(info.value) == "[clari] api_key (secrets.toml) must be a string"


@pytest.mark.parametrize("section", ["clari", "warehouse", "notify"])
def test_secrets_section_that_is_not_a_table(tmp_path, section):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "", secrets=f'{section} = "{KEY}"\n')
    assert str(info.value) == f"[{section}] in the secrets file must be a table of settings"


def test_invalid_secrets_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "", secrets="[clari\napi_key = 'x'\n")
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'secrets.toml'} is not valid TOML (")
    assert message.endswith("); fix the secrets file or start from clari.example.toml")


# -- one clear message per problem -----------------------------------------------------------


def test_deprecated_max_retries_still_works_and_says_so(tmp_path, caplog):
    settings = load(tmp_path, "[clari]\nmax_retries = 2\n")
    assert settings.clari.max_attempts == 3
    assert len(settings.deprecations) == 1 and "use max_attempts" in settings.deprecations[0]
    assert "[clari] max_retries is deprecated" in caplog.text


def test_unknown_key(tmp_path):
    assert error(tmp_path, '[clari]\napi_keyy = "x"\n') == (
        "[clari] has an unknown key 'api_keyy'; known keys: api_key, backoff_seconds, base_url, currency, "
        "forecast_ids, forecast_names, max_attempts, periods_back, poll_deadline_seconds, poll_interval_seconds, "
        "scope_id, time_periods, timeout_seconds, types_to_export")


def test_unknown_section(tmp_path):
    assert error(tmp_path, "[alert]\ncoverage_min = 2\n") == (
        f"{tmp_path / 'clari.toml'}: unknown section [alert]; known sections: clari, fields, warehouse, alerts, "
        "schedule, demo, notify, access, server")


def test_section_that_is_not_a_table(tmp_path):
    assert error(tmp_path, "clari = 5\n") == "[clari] must be a table of settings"


@pytest.mark.parametrize("toml, message", [
    ('[clari]\nmax_attempts = "5"', "[clari] max_attempts must be a whole number, not str '5'"),
    ('[clari]\nmax_retries = "5"', "[clari] max_retries must be a whole number, not str '5'"),
    ("[clari]\nmax_attempts = 0", "[clari] max_attempts must be between 1 and 20, not 0"),
    ("[clari]\nbackoff_seconds = -1", "[clari] backoff_seconds must not be negative"),
    ("[clari]\nmax_retries = 2\nmax_attempts = 3",
     "[clari] sets both max_retries (deprecated) and max_attempts: keep only max_attempts"),
    ("[clari]\nperiods_back = 1.5", "[clari] periods_back must be a whole number, not float 1.5"),
    ("[clari]\nperiods_back = true", "[clari] periods_back must be a whole number, not bool True"),
    ("[clari]\nforecast_ids = 5", "[clari] forecast_ids must be a list of strings, not int 5"),
    ('[clari]\nforecast_ids = "net_arr"', "[clari] forecast_ids must be a list of strings, not str 'net_arr'"),
    ('[clari]\nforecast_ids = ["net_arr", 2]',
     "[clari] forecast_ids must be a list of strings, not list ['net_arr', 2]"),
    ("[clari]\ntimeout_seconds = true", "[clari] timeout_seconds must be a number, not bool True"),
    ('[alerts]\ncoverage_min = "3"', "[alerts] coverage_min must be a number, not str '3'"),
    ("[clari]\ncurrency = 5", "[clari] currency must be a string (or left out), not int 5"),
    ('[schedule]\ninterval_minutes = "60"',
     "[schedule] interval_minutes must be a number (or left out), not str '60'"),
    ('[schedule]\nenabled = "yes"', "[schedule] enabled must be true or false, not str 'yes'"),
    ("[schedule]\nmanual_refresh = 1", "[schedule] manual_refresh must be true or false, not int 1"),
    ("[demo]\nusers = 60.0", "[demo] users must be a whole number, not float 60.0"),
    ("[warehouse]\npath = 1", "[warehouse] path must be a string, not int 1"),
])
def test_wrong_type(tmp_path, toml, message):
    assert error(tmp_path, toml + "\n") == message


def test_wrong_type_for_the_key_does_not_echo_it(tmp_path):
    message = error(tmp_path, '[clari]\napi_key = ["sk-secret-in-a-list"]\n')
    assert message == "[clari] api_key must be a string"
    assert "sk-secret" not in message


@pytest.mark.parametrize("period", ["2026-Q3", "2026_Q5", "2026_Q0", "26_Q1", "2026_q1", "2026Q1", " 2026_Q1",
                                    "2026_Q1 ", ""])
def test_time_period_not_shaped_yyyy_qn(tmp_path, period):
    assert error(tmp_path, f'[clari]\ntime_periods = ["2026_Q1", "{period}"]\n') == (
        f"[clari] time_periods: {period!r} is not a fiscal quarter shaped YYYY_QN, e.g. 2026_Q3")


@pytest.mark.parametrize("role", ["commit", "best_case", "quota", "closed", "pipeline"])
@pytest.mark.parametrize("value", ["", "   "])
def test_empty_field_role(tmp_path, role, value):
    assert error(tmp_path, f'[fields]\n{role} = "{value}"\n') == (
        f"[fields] {role} must name the fieldId that plays this role")


def test_unknown_export_type(tmp_path):
    assert error(tmp_path, '[clari]\ntypes_to_export = ["forecast", "pipeline", "bogus"]\n') == (
        "[clari] types_to_export has unknown type 'pipeline'; allowed: forecast, quota, forecast_updated, "
        "adjustment, crm_total, crm_closed")


@pytest.mark.parametrize("zone", ["Mars/Olympus", "utc", "", "../etc/passwd"])
def test_bad_timezone(tmp_path, zone):
    assert error(tmp_path, f'[schedule]\ntimezone = "{zone}"\n') == (
        f'[schedule] timezone {zone!r} is not a known time zone, e.g. "Europe/Berlin"')


@pytest.mark.parametrize("cron", ["0 6 * *", "0 6 * * * *", "", "daily"])
def test_cron_without_five_fields(tmp_path, cron):
    assert error(tmp_path, f'[schedule]\ncron = "{cron}"\n') == (
        f"[schedule] cron must have five fields (minute hour day month day-of-week), not {cron!r}")


@pytest.mark.parametrize("cron", ["61 6 * * *", "a b c d e"])
def test_cron_with_five_fields_but_impossible_values(tmp_path, cron):
    # Caught here, not later as a bare ValueError from the scheduler's CronTrigger.
    assert error(tmp_path, f'[schedule]\ncron = "{cron}"\n').startswith(
        f"[schedule] cron {cron!r} is not a valid schedule: ")


def test_invalid_toml(tmp_path):
    message = error(tmp_path, "[clari]\nbase_url = https://no-quotes\n")
    assert message.startswith(f"{tmp_path / 'clari.toml'} is not valid TOML (")
    assert "line 2" in message
    assert message.endswith("); fix the configuration or start from clari.example.toml")


@pytest.mark.parametrize("toml, message", [
    ('[clari]\nbase_url = "api.clari.com"',
     "[clari] base_url must start with http:// or https://, not 'api.clari.com'"),
    ("[clari]\nforecast_ids = []",
     '[clari] forecast_ids must list at least one Forecast Tab id, e.g. ["net_arr"]'),
    ('[clari]\nforecast_ids = ["net_arr", " "]',
     '[clari] forecast_ids must list at least one Forecast Tab id, e.g. ["net_arr"]'),
    ("[clari]\nperiods_back = 21", "[clari] periods_back must be between 0 and 20, not 21"),
    ("[clari]\nperiods_back = -1", "[clari] periods_back must be between 0 and 20, not -1"),
    ("[clari]\ntimeout_seconds = 0", "[clari] timeout_seconds must be above 0"),
    ("[clari]\npoll_deadline_seconds = -5", "[clari] poll_deadline_seconds must be above 0"),
    ("[alerts]\nchange_min_amount = -1", "[alerts] change_min_amount must not be negative"),
    ("[schedule]\ninterval_minutes = 0", "[schedule] interval_minutes must be above 0"),
    ("[demo]\nusers = 4", "[demo] users must be between 5 and 10000, not 4"),
    ("[demo]\nusers = 10001", "[demo] users must be between 5 and 10000, not 10001"),
])
def test_out_of_range_values(tmp_path, toml, message):
    assert error(tmp_path, toml + "\n") == message


@pytest.mark.parametrize("toml", ["[clari]\nperiods_back = 20", "[clari]\nperiods_back = 0", "[demo]\nusers = 10000",
                                  "[alerts]\ncoverage_min = 0"])
def test_range_boundaries_are_allowed(tmp_path, toml):
    load(tmp_path, toml + "\n")


# -- check_period ----------------------------------------------------------------------------


@pytest.mark.parametrize("period", ["2026_Q1", "2026_Q2", "2026_Q3", "2026_Q4", "1999_Q1"])
def test_check_period_accepts_quarters(period):
    assert check_period(period) == period


def test_check_period_message_names_where():
    with pytest.raises(ConfigError) as info:
        check_period("2026Q1", "--period")
    assert str(info.value) == "--period: '2026Q1' is not a fiscal quarter shaped YYYY_QN, e.g. 2026_Q3"


def test_check_period_default_where_and_non_strings():
    with pytest.raises(ConfigError) as info:
        check_period(2026)
    assert str(info.value) == "time period: 2026 is not a fiscal quarter shaped YYYY_QN, e.g. 2026_Q3"
    with pytest.raises(ConfigError):
        check_period(None)


@pytest.mark.parametrize("period", ["2026_Q1\n", "２０２６_Q1", "٢٠٢٦_Q1"],
                         ids=["trailing-newline", "fullwidth-digits", "arabic-indic-digits"])
def test_check_period_rejects_lookalikes(period):
    # Only ASCII digits and nothing after the quarter (a regex `$` would also accept a trailing newline).
    with pytest.raises(ConfigError):
        check_period(period)


# -- Secret ----------------------------------------------------------------------------------


def test_secret_never_shows_its_value():
    secret = Secret(KEY)
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", "%s" % secret, "%r" % (secret,),  # noqa: UP031
                  str([secret]), str({"key": secret})):
        assert KEY not in shown
    assert repr(secret) == str(secret) == "Secret('********')"
    assert secret.reveal() == KEY


def test_secret_equality_and_truth():
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b") and Secret("a") != "a"
    assert bool(Secret("a")) is True and bool(Secret("")) is False


def test_secret_cannot_be_pickled_or_copied():
    with pytest.raises(TypeError, match="a Secret cannot be pickled"):
        pickle.dumps(Secret(KEY))
    with pytest.raises(TypeError, match="a Secret cannot be pickled"):
        pickle.dumps(Settings(clari=ClariSettings(api_key=Secret(KEY))))
    with pytest.raises(TypeError):
        copy.deepcopy(Secret(KEY))


def test_settings_repr_and_redacted_never_show_the_key(tmp_path):
    settings = load(tmp_path, "", env={"CLARI_API_KEY": KEY})
    assert KEY not in repr(settings)
    assert KEY not in repr(settings.clari)
    assert KEY not in f"{settings}"
    assert KEY not in str(settings.redacted())
    assert "api_key" not in repr(settings.clari)


def test_redacted_shows_whether_a_key_is_set(tmp_path):
    with_key = load(tmp_path, "", env={"CLARI_API_KEY": KEY}).redacted()
    without = load(tmp_path, "").redacted()
    assert with_key["clari"]["api_key"] == "(set)"
    assert without["clari"]["api_key"] == "(not set: demo mode)"


def test_redacted_is_plain_data_for_every_section():
    redacted = Settings().redacted()
    assert list(redacted) == ["clari", "fields", "warehouse", "alerts", "schedule", "demo", "notify", "access",
                             "server"]
    assert redacted["clari"]["forecast_ids"] == ["net_arr"]
    assert redacted["clari"]["time_periods"] == []
    assert redacted["clari"]["types_to_export"] == list(DEFAULT_EXPORT_TYPES)
    assert redacted["fields"] == {"commit": "fc_commit", "best_case": "fc_best_case", "quota": "fc_quota",
                                  "closed": "crm_closed_won", "pipeline": "crm_pipeline"}
    assert redacted["warehouse"] == {"path": "data/clari.duckdb", "memory_limit": "50%", "threads": None,
                                      "downloads_dir": None, "backend": "duckdb", "catalog": None,
                                      "data_path": None, "password": "(not set)"}
    assert redacted["schedule"]["cron"] == "0 6 * * *"
    assert redacted["demo"] == {"seed": 7, "users": 60, "advance_days_per_refresh": 1.0, "job_seconds": 0.3}
    assert "source_path" not in redacted


# -- forecast_names --------------------------------------------------------------------------


def test_forecast_names_default_to_a_readable_form_of_the_id():
    clari = Settings().clari
    assert clari.forecast_names == {}
    assert [clari.forecast_name(f) for f in ("net_arr", "new_business", "emea-mrr", "renewals", "x", "")] == [
        "Net ARR", "New Business", "EMEA MRR", "Renewals", "X", ""]


def test_forecast_names_from_the_file(tmp_path):
    settings = load(tmp_path, '[clari]\nforecast_ids = ["net_arr", "renewals"]\n'
                              'forecast_names = { net_arr = "Net new ARR", "odd id" = "Odd" }\n')
    assert settings.clari.forecast_name("net_arr") == "Net new ARR"
    assert settings.clari.forecast_name("renewals") == "Renewals"  # not named: the readable form
    assert settings.clari.forecast_name("odd id") == "Odd"
    assert settings.redacted()["clari"]["forecast_names"] == {"net_arr": "Net new ARR", "odd id": "Odd"}
    hash(settings.clari)  # settings stay hashable with a table in them


@pytest.mark.parametrize("toml, message", [
    ('forecast_names = ["Net ARR"]', r"\[clari\] forecast_names must be a table of id = \"name\" pairs"),
    ('forecast_names = { net_arr = 5 }', r"\[clari\] forecast_names must be a table"),
    ('forecast_names = { net_arr = { x = "y" } }', r"\[clari\] forecast_names must be a table"),
    ('forecast_names = { net_arr = "  " }', r"forecast_names: the name of 'net_arr' must be 1 to 80 characters"),
    (f'forecast_names = {{ net_arr = "{"x" * 81}" }}', r"must be 1 to 80 characters"),
])
def test_bad_forecast_names(tmp_path, toml, message):
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, f"[clari]\n{toml}\n")


def test_warehouse_memory_limit_and_threads_are_checked(tmp_path):
    w = load(tmp_path, '[warehouse]\nmemory_limit = "2GB"\nthreads = 3\n').warehouse
    assert (w.memory_limit, w.threads, w.duckdb_threads) == ("2GB", 3, 3)
    assert Settings().warehouse.duckdb_threads == min(4, os.cpu_count() or 1)
    for bad, words in (('memory_limit = "lots"', "memory_limit"), ("threads = 0", "threads")):
        with pytest.raises(ConfigError, match=words):
            load(tmp_path, f"[warehouse]\n{bad}\n")


def test_the_lake_settings_are_checked_and_its_password_comes_only_from_secrets(tmp_path):
    """The backend's own settings are the backend's to check (Backend.from_settings, which the app
    and the command line call right after load_settings); the password's source is the settings'."""
    config = tmp_path / "clari.toml"
    config.write_text('[warehouse]\nbackend = "ducklake"\n'
                      'catalog = "postgres:dbname=clari host=db port=5432 user=clari"\ndata_path = "/srv/lake/"\n')
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[warehouse]\npassword = "from-secrets"\n')
    s = load_settings(config, env={}, secrets_path=secrets)
    assert s.warehouse.backend == "ducklake" and s.warehouse.password.reveal() == "from-secrets"
    assert "from-secrets" not in repr(s) and s.redacted()["warehouse"]["password"] == "(set)"
    from_env = load_settings(config, env={"PGPASSWORD": "from-env"}, secrets_path=secrets)
    assert from_env.warehouse.password.reveal() == "from-env"
    assert Backend.from_settings(s).describe() == "the DuckLake postgres:dbname=clari host=db port=5432 user=clari " \
                                                  "(data in /srv/lake/)"
    bad = {
        'backend = "sqlite"': "[warehouse] backend must be one of duckdb, ducklake, not 'sqlite'",
        'backend = "ducklake"\ndata_path = "/l/"': "[warehouse] catalog must name the DuckLake catalog's PostgreSQL "
                                                   "database, e.g. \"postgres:dbname=clari host=db.internal "
                                                   "port=5432 user=clari\"",
        'backend = "ducklake"\ncatalog = "postgres:dbname=c password=hunter2"\ndata_path = "/l/"':
            "[warehouse] catalog must not carry the password: set PGPASSWORD, or [warehouse] password in "
            ".streamlit/secrets.toml",
        'backend = "ducklake"\ncatalog = "postgres:dbname=c"': "[warehouse] data_path must name the lake's data "
                                                               "directory (shared by every process), e.g. "
                                                               "\"/srv/clari/lake/\"",
    }
    for body, message in bad.items():
        config.write_text(f"[warehouse]\n{body}\n")
        with pytest.raises(ConfigError) as raised:
            Backend.from_settings(load_settings(config, env={}, secrets_path=tmp_path / "none.toml"))
        assert str(raised.value) == message
    config.write_text('[warehouse]\npassword = "x"\n')
    with pytest.raises(ConfigError, match="is a secret and is not read from clari.toml"):
        load_settings(config, env={}, secrets_path=tmp_path / "none.toml")


def test_the_role_comes_from_server_or_clari_role_and_a_replica_needs_the_lake(tmp_path):
    config = tmp_path / "clari.toml"
    config.write_text('[server]\nrole = "worker"\n')
    assert load_settings(config, env={}).server.role == "worker"
    assert load_settings(config, env={"CLARI_ROLE": "All"}).server.role == "all"
    with pytest.raises(ConfigError, match="must be one of all, web, worker"):
        load_settings(config, env={"CLARI_ROLE": "reader"})
    with pytest.raises(ConfigError) as raised:
        Backend.from_settings(load_settings(config, env={"CLARI_ROLE": "web"}))
    assert str(raised.value) == ("[server] role = \"web\" needs [warehouse] backend = \"ducklake\": a dashboard "
                                 "replica reads the lake the worker writes, and a DuckDB file is open to one process "
                                 "only")


def test_the_scrubber_knows_the_lake_password():
    from clari_data.shared.redact import MASK, Scrubber

    settings = dataclasses.replace(Settings(), warehouse=WarehouseSettings(password=Secret("pg-secret-123")))
    assert Scrubber.for_settings(settings)("FATAL: password pg-secret-123 refused") == f"FATAL: password {MASK} refused"
