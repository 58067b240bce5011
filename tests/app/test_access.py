"""Who may see the pages and who may press "Refresh now": sign-in via Streamlit's OIDC (simulated
with AppTest's user and secrets) and [access] refresh_allowed."""

from dataclasses import replace

import pytest
from apptest_helpers import run
from support import sql_value

from clari_data.shared.access import may_refresh
from clari_data.shared.config import AccessSettings, ConfigError, ScheduleSettings, Settings, load_settings

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

    from clari_data.runtime.scheduler import process_service

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


# -- issue 16: look-alikes, verified addresses, who may see, checks where the action happens ----------


@pytest.mark.parametrize("email, listed", [
    ("Ana@ACME.com", True),  # casefolded
    ("  ana@acme.com ", True),
    ("\uff41na@acme.com", True),  # a full-width a: NFKC makes it the ASCII letter
    ("\u0430na@acme.com", False),  # a Cyrillic а looks the same and is refused
    ("ana@acme.c\u043em", False),  # a Cyrillic о in the domain
    ("ana@acme.com\u200b", False),  # an invisible trailing character
    ("ana@evil.com@acme.com", False),
])
def test_addresses_are_normalised_and_look_alikes_refused(email, listed):
    assert may_refresh(settings(("ana@acme.com",)), sign_in=True, email=email).allowed is listed
    domain = may_refresh(settings(("@acme.com",)), sign_in=True, email=email)
    assert domain.allowed is listed


@pytest.mark.parametrize("claims, expected", [
    ({"email": "Ana@Acme.com"}, "ana@acme.com"),  # a provider that sends no email_verified
    ({"email": "ana@acme.com", "email_verified": True}, "ana@acme.com"),
    ({"email": "ana@acme.com", "email_verified": "true"}, "ana@acme.com"),
    ({"email": "ana@acme.com", "email_verified": False}, None),
    ({"email": "ana@acme.com", "email_verified": "false"}, None),
    ({"email": "ana@acme.com", "email_verified": None}, None),
    ({"email": "\u0430na@acme.com", "email_verified": True}, None),
    ({}, None),
])
def test_only_a_verified_plain_address_counts(claims, expected):
    from clari_data.shared.access import verified_email

    assert verified_email(claims) == expected


def test_an_unverified_address_may_not_refresh(make_app):
    at = make_app('[access]\nrefresh_allowed = ["@acme.com"]\n')
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": "ana@acme.com", "email_verified": False}
    run(at, "views/data.py")
    assert at.button(key="refresh-now").disabled
    assert any("not a verified plain address" in c.value for c in at.caption)


@pytest.mark.parametrize("entry", ["\u0430na@acme.com", "@\u0430cme.com"])
def test_access_entries_must_be_plain_ascii(tmp_path, entry):
    config = tmp_path / "clari.toml"
    config.write_text(f'[access]\nview_allowed = ["{entry}"]\n')
    with pytest.raises(ConfigError, match=r"\[access\] view_allowed"):
        load_settings(config, env={})


def view_settings(allowed):
    return replace(Settings(), access=AccessSettings(view_allowed=tuple(allowed)))


@pytest.mark.parametrize("allowed, sign_in, email, ok", [
    ((), False, None, True),  # nothing listed: everyone who can open it
    ((), True, "eve@other.org", True),
    (("@acme.com",), True, "bob@acme.com", True),
    (("@acme.com",), True, "eve@other.org", False),
    (("@acme.com",), True, None, False),  # no verified address
    (("@acme.com",), False, None, False),  # a list without sign-in lets nobody in
])
def test_may_view(allowed, sign_in, email, ok):
    from clari_data.shared.access import may_view

    decision = may_view(view_settings(allowed), sign_in=sign_in, email=email)
    assert decision.allowed is ok and (decision.reason is None) is ok


@pytest.mark.parametrize("page", ["views/overview.py", "views/coverage.py", "views/data.py"])
def test_view_allowed_stops_the_page_before_any_data(make_app, page, monkeypatch):
    from clari_data.read import analytics

    def no_reads(*args, **kwargs):
        raise AssertionError("data was read for a visitor who may not see it")

    at = make_app('[access]\nview_allowed = ["@acme.com"]\n')
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": "eve@other.org"}
    monkeypatch.setattr(analytics, "data_status", no_reads)
    run(at, page)
    assert [e.value for e in at.error] == ["This dashboard is open only to the people listed in \\[access\\] "
                                           "view\\_allowed\\: ask RevOps to add you\\."]
    assert not at.metric and not at.get("plotly_chart") and not at.dataframe and not at.code
    assert [b.label for b in at.button] == ["Sign out"]


def test_view_allowed_lets_a_listed_person_in(make_app):
    at = make_app('[access]\nview_allowed = ["@acme.com"]\n')
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": "Bob@Acme.com", "email_verified": True}
    run(at, "views/overview.py")
    assert not at.error and at.metric


def test_a_visitor_who_has_not_signed_in_sees_no_configuration_error(make_app):
    at = make_app('[clari]\nbase_url = "https://user:hunter2@api.clari.com/v4"\n')
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False}
    run(at, "views/data.py")
    assert not at.error and [i.value for i in at.info] == ["Sign in to see the forecast."]


def test_the_service_refuses_a_manual_run_for_whoever_may_not_refresh(sim_settings):
    """A forged click reaches request_run: the service itself applies the access rule."""
    from clari_data.runtime.scheduler import RefreshService

    listed = replace(sim_settings, access=AccessSettings(refresh_allowed=("@acme.com",)))
    service = RefreshService(listed).start(refresh_if_empty=False)
    try:
        for email in ("eve@other.org", None, "\u0430na@acme.com"):
            answer = service.request_run("manual", email, sign_in=True)
            assert not answer.accepted and not service.state().running, answer
        assert service.state().runs_completed == 0 and service.state().progress is None
        off = RefreshService(replace(listed, schedule=ScheduleSettings(manual_refresh=False)))
        try:
            answer = off.request_run("manual", None)
            assert not answer.accepted and "manual_refresh = false" in answer.message
        finally:
            off.stop()
        assert service.request_run("manual", "ana@acme.com", sign_in=True).accepted
    finally:
        service.stop()
