"""Who may see the pages and who may press "Refresh now": sign-in via Streamlit's OIDC (simulated
with AppTest's user and secrets) and [access] refresh_allowed."""

from dataclasses import replace

import pytest
from apptest_helpers import run
from support import sql_value

from clari_data.access import may_refresh
from clari_data.config import AccessSettings, ConfigError, ScheduleSettings, Settings, load_settings

AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
        "client_id": "dashboard", "client_secret": "s", "server_metadata_url": "https://id.example.com/.well-known/openid-configuration"}


def settings(allowed=(), manual=True) -> Settings:
    return replace(Settings(), access=AccessSettings(refresh_allowed=tuple(allowed)),
                   schedule=ScheduleSettings(manual_refresh=manual))


@pytest.mark.parametrize("allowed, sign_in, email, ok", [
    ((), False, None, True),  # no sign-in: anyone who can open the dashboard
    ((), True, "ana@acme.com", False),  # sign-in, nobody listed: nobody
    (("ana@acme.com",), True, "ANA@acme.com", True),  # addresses compare case-insensitively
    (("ana@acme.com",), True, "bob@acme.com", False),
    (("@acme.com",), True, "bob@acme.com", True),  # a whole domain
    (("@acme.com",), True, "bob@evil-acme.com", False),  # not a look-alike domain
    (("@acme.com",), True, "bob@acme.com.evil.io", False),
    (("@acme.com",), True, None, False),  # signed in without an address
])
def test_may_refresh(allowed, sign_in, email, ok):
    decision = may_refresh(settings(allowed), sign_in=sign_in, email=email)
    assert decision.allowed is ok and (decision.reason is None) is ok


def test_manual_refresh_switched_off_without_sign_in():
    decision = may_refresh(settings(manual=False), sign_in=False, email=None)
    assert not decision.allowed and "manual_refresh = false" in decision.reason


@pytest.mark.parametrize("entry", ["ana", "acme.com", "@", "a@b", "two@@acme.com", "ana @acme.com"])
def test_refresh_allowed_entries_are_validated(tmp_path, entry):
    config = tmp_path / "clari.toml"
    config.write_text(f'[access]\nrefresh_allowed = ["{entry}"]\n')
    with pytest.raises(ConfigError, match=r"\[access\] refresh_allowed"):
        load_settings(config, env={})


def test_with_sign_in_configured_a_visitor_must_sign_in(make_app):
    at = make_app()
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False}
    run(at, "views/coverage.py")
    assert [i.value for i in at.info] == ["Sign in to see the forecast."]
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.get("plotly_chart") and not at.metric  # no data shown


@pytest.mark.parametrize("email, allowed", [("ana@acme.com", True), ("eve@other.org", False)])
def test_only_listed_people_may_refresh(make_app, email, allowed):
    at = make_app('[access]\nrefresh_allowed = ["@acme.com"]\n')
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": email}
    run(at, "views/data.py")
    # Without Markdown escapes and the zero-width space that keeps addresses from becoming links.
    captions = [c.value.replace("\\", "").replace("\u200b", "") for c in at.caption]
    assert f"Signed in as {email}" in captions
    button = at.button(key="refresh-now")
    assert button.disabled is not allowed
    assert any("may not refresh by hand" in c for c in captions) is not allowed


def test_refresh_is_recorded_with_who_asked(make_app):
    import time

    from clari_data.scheduler import process_service

    at = make_app('[access]\nrefresh_allowed = ["ana@acme.com"]\n')
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": "ana@acme.com"}
    run(at, "views/data.py")
    at.button(key="refresh-now").click().run()
    service = process_service(load_settings())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not sql_value(
            service.warehouse, "SELECT count(*) FROM runs WHERE trigger = 'manual' AND outcome <> 'running'"):
        time.sleep(0.05)
    assert sql_value(service.warehouse, "SELECT requested_by FROM runs WHERE trigger = 'manual'") == "ana@acme.com"


def test_manual_refresh_off_disables_the_button_and_says_why(make_app):
    at = run(make_app("[schedule]\nmanual_refresh = false\n"), "views/data.py")
    assert at.button(key="refresh-now").disabled
    assert any("manual_refresh = false" in c.value.replace("\\", "") for c in at.caption)
