"""Every link a notification carries opens a page the dashboard has: each rule's section, each item,
the footer and the test message, in both channels, are made from the page registry."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from clari_data.alerting.notify import render
from clari_data.alerting.notify.findings import Finding, keyed
from clari_data.shared import pages
from clari_data.shared.rules import RULE_NAMES, RULES, Alert, AlertItem

BASE = "https://forecast.example.com/dash"
PEOPLE = pd.DataFrame([("m1", "Mia Manager", None, True), ("r1", "Rex Rep", "m1", False)],
                      columns=["user_id", "user_name", "manager_user_id", "is_manager"])


def finding(rule) -> Finding:
    """A firing alert of `rule` with one item (and one of each rule without items)."""
    if rule.scope == "selection":
        subject_id = "r1/fc_commit" if rule.name == "change" else "r1"
        alert = Alert(rule.name, "message", (AlertItem(subject_id, "Rex Rep", "1"),), "1")
        return Finding(alert, "net_arr/2026_Q1", "net_arr", "2026_Q1", PEOPLE)
    items = (AlertItem("net_arr/2026_Q1", "net_arr 2026_Q1", "empty"),) if rule.name == "export_problem" else ()
    return Finding(Alert(rule.name, "message", items), rule.scope)


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def urls(text: str) -> list[str]:
    """Each address in a text: Slack's <url|label> links, and bare ones ending before punctuation
    or Slack's italics."""
    return [u.rstrip("._,") for u in re.findall(r"https?://[^\s|>)]+", unescape(text))]


def routes(found: list[str]) -> set[str]:
    assert found and all(u.startswith(BASE + "/") for u in found), found
    return {urlsplit(u).path.removeprefix(urlsplit(BASE).path + "/") for u in found}


def every_rule_message() -> render.Message:
    firing = keyed([finding(rule) for rule in RULES], RULE_NAMES)
    return render.build_message(firing, set(firing), BASE, run_id=7)


def test_every_link_of_every_rule_opens_a_page_there_is():
    message = every_rule_message()
    assert [s.rule for s in message.sections] == list(RULE_NAMES)
    known = {p.route for p in pages.PAGES}
    for text in (render.slack_text(message), render.email_text(message)):
        linked = routes(urls(text))
        assert linked <= known, linked - known
        assert linked == {pages.page(rule.page).route for rule in RULES}  # each rule's page, the footer's too


def test_each_section_links_its_rules_page_with_its_title():
    for section, rule in zip(every_rule_message().sections, RULES):
        page = pages.page(rule.page)
        assert section.page_title == page.title
        assert urlsplit(section.url).path == urlsplit(pages.page_url(BASE, rule.page)).path
        for item in section.items:
            assert urlsplit(item.url).path == urlsplit(section.url).path
            if rule.scope == "selection":  # the item's person, within their manager's team
                assert parse_qs(urlsplit(item.url).query) == {"forecast": ["net_arr"], "period": ["2026_Q1"],
                                                              "team": ["m1"], "rep": ["r1"]}


def test_the_test_message_links_a_page_there_is():
    known = {p.route for p in pages.PAGES}
    for text in (render.slack_text(render.sample_message(BASE, "Slack")), render.sample_text(BASE, "E-mail")):
        assert routes(urls(text)) <= known


def test_a_moved_page_moves_the_links(monkeypatch):
    moved = pages.Page("changes", "Moves of the calls", "moves", "views/changes.py", ":material/swap_vert:")
    monkeypatch.setitem(pages.BY_NAME, "changes", moved)
    [change] = [s for s in every_rule_message().sections if s.rule == "change"]
    assert change.page_title == "Moves of the calls"
    assert urlsplit(change.url).path == "/dash/moves" and urlsplit(change.items[0].url).path == "/dash/moves"


@pytest.mark.parametrize("channel", ["slack", "email"])
def test_the_footer_links_the_data_page(channel):
    text = (render.slack_text if channel == "slack" else render.email_text)(every_rule_message())
    assert f"Data & refresh: {BASE}/data" in unescape(text)
