"""What a channel is sent: one message grouping the new keys by alert, as Slack and e-mail text.

Every link is made by `pages.page_url` and labelled with the page's title from `pages`, so a
renamed or moved page cannot leave a message pointing nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from clari_data.shared import pages
from clari_data.shared.rules import AlertItem, rule

from .findings import Finding, Keyed

ITEMS_PER_ALERT = {"slack": 20, "email": 200}  # the rest is "and N more" with the page's link
HOME_PAGE = "data"  # where the footer and the test message point: the refresh and delivery history


@dataclass(frozen=True)
class NewItem:
    key: str
    text: str  # plain text from the data: "Rex Rep (team Mia Manager): 1.20x"
    url: str


@dataclass(frozen=True)
class Section:
    """One firing alert of one scope, with the items of it that are new to the channel."""

    rule: str
    severity: str
    title: str  # plain text naming the rule, threshold, forecast and period
    url: str  # the page with the filters that show it
    page_title: str
    items: tuple[NewItem, ...] = ()
    detail: str = ""  # the alert's own text, for rules without items (stale data, a failed refresh)
    still_firing: int = 0  # items of this alert already notified earlier that still fire
    keys: tuple[str, ...] = ()  # the new keys this section carries


@dataclass(frozen=True)
class Message:
    subject: str
    sections: tuple[Section, ...]
    keys: tuple[str, ...]
    footer: str = ""


# -- links -----------------------------------------------------------------------------------------


def _person_params(people: pd.DataFrame | None, user_id: str) -> list[tuple[str, str]]:
    """Filters that show one person: their manager's team, and for a rep the rep themself."""
    if people is None or people.empty:
        return []
    rows = people[people["user_id"] == user_id]
    if rows.empty:
        return []
    row = rows.iloc[0]
    managers = set(people.loc[people["is_manager"], "user_id"])
    boss = row["manager_user_id"] if isinstance(row["manager_user_id"], str) else None
    params = [("team", boss)] if boss in managers else []
    if not bool(row["is_manager"]):
        params.append(("rep", user_id))
    return params


def _manager_name(people: pd.DataFrame | None, user_id: str) -> str | None:
    if people is None or people.empty:
        return None
    rows = people[people["user_id"] == user_id]
    if rows.empty or not isinstance(rows.iloc[0]["manager_user_id"], str):
        return None
    boss = people[people["user_id"] == rows.iloc[0]["manager_user_id"]]
    name = boss.iloc[0]["user_name"] if not boss.empty else None
    return name if isinstance(name, str) and name else None


# -- the message -----------------------------------------------------------------------------------


def _where(f: Finding) -> str:
    return f"{f.forecast_id} {f.period}" if f.forecast_id else ""


def _section(f: Finding, new: list[tuple[str, AlertItem | None]], still: int, base: str) -> Section:
    r = rule(f.alert.rule)
    scope_params = [("forecast", f.forecast_id), ("period", f.period)] if f.forecast_id else []
    items = []
    for key, item in new:
        if item is None:
            continue
        if f.forecast_id:  # a person: user id, or user/field for a moved call
            user_id = item.subject_id.split("/", 1)[0]
            boss = _manager_name(f.people, user_id)
            text = f"{item.subject}{f' (in {boss}’s team)' if boss else ''}: {item.value}"
            url = pages.page_url(base, r.page, scope_params + _person_params(f.people, user_id))
        else:
            text = f"{item.subject}: {item.value}"
            url = pages.page_url(base, r.page)
        items.append(NewItem(key, text, url))
    return Section(r.name, r.severity, r.heading(f.alert.threshold, _where(f)),
                   pages.page_url(base, r.page, scope_params), pages.page(r.page).title, tuple(items),
                   "" if f.alert.items else f.alert.message, still, tuple(k for k, _ in new))


def build_message(keyed: Keyed, new_keys: set[str], base: str, run_id: int | None = None) -> Message:
    """One message grouping the new keys by alert, in the alerts' order."""
    groups: dict[int, tuple[Finding, list[tuple[str, AlertItem | None]], list[str]]] = {}
    for key, (f, item) in keyed.items():
        _, new, old = groups.setdefault(id(f), (f, [], []))
        if key in new_keys:
            new.append((key, item))
        else:
            old.append(key)
    sections, labels = [], []
    for f, new, old in groups.values():
        if not new:
            continue
        sections.append(_section(f, new, len(old), base))
        label = _where(f) or rule(f.alert.rule).label
        if label not in labels:
            labels.append(label)
    keys = tuple(k for s in sections for k in s.keys)
    n = len(keys)
    subject = f"[Clari forecast] {n} new alert{'s' if n != 1 else ''}: {', '.join(labels)}"
    home = pages.page(HOME_PAGE)
    footer = (f"Sent by the Clari forecast dashboard{f' after refresh run {run_id}' if run_id else ''}. "
              f"{home.title}: {pages.page_url(base, HOME_PAGE)}")
    return Message(subject if len(subject) <= 200 else subject[:199] + "…", tuple(sections), keys, footer)


TEST_SUBJECT = "[Clari forecast] Test message"


def sample_text(base: str, channel_name: str) -> str:
    """The body of the test message the /data button sends: where it came from, what will arrive."""
    return (f"This is a test message from the Clari forecast dashboard ({pages.page_url(base, HOME_PAGE)}). "
            f"If you read it, {channel_name} notifications work: alerts that newly fire after a refresh "
            "arrive here.")


def sample_message(base: str, channel_name: str) -> Message:
    """The test message as a one-section message, for a channel that renders sections (Slack)."""
    home = pages.page(HOME_PAGE)
    section = Section("test", "warning", "Test message", pages.page_url(base, HOME_PAGE), home.title,
                      detail=sample_text(base, channel_name))
    return Message(TEST_SUBJECT, (section,), ())


# -- as text ---------------------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Plain text for Slack's mrkdwn: only &, < and > are special (names are data, never markup)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str, label: str) -> str:
    return f"<{slack_escape(url)}|{slack_escape(label)}>"


def slack_text(message: Message) -> str:
    cap = ITEMS_PER_ALERT["slack"]
    headline = message.subject.removeprefix("[Clari forecast] ")
    lines = [f"*{slack_escape(headline[:1].upper() + headline[1:])}*"]
    for s in message.sections:
        icon = ":rotating_light:" if s.severity == "error" else ":warning:"
        lines.append("")
        lines.append(f"{icon} *{slack_escape(s.title)}* · {_slack_link(s.url, s.page_title)}")
        if s.detail:
            lines.append(slack_escape(s.detail))
        for item in s.items[:cap]:
            lines.append(f"• {_slack_link(item.url, item.text)}")
        if len(s.items) > cap:
            lines.append(f"• and {len(s.items) - cap} more: {_slack_link(s.url, 'see them all')}")
        if s.still_firing:
            lines.append(f"_({s.still_firing} more still firing, notified before)_")
    lines += ["", f"_{slack_escape(message.footer)}_"] if message.footer else []
    return "\n".join(lines)


def email_text(message: Message) -> str:
    cap = ITEMS_PER_ALERT["email"]
    n = len(message.keys)
    lines = [f"{n} new alert{'s' if n != 1 else ''} from the Clari forecast dashboard."]
    for s in message.sections:
        lines += ["", f"{'ERROR' if s.severity == 'error' else 'WARNING'}: {s.title}", f"  {s.page_title}: {s.url}"]
        if s.detail:
            lines.append(f"  {s.detail}")
        for item in s.items[:cap]:
            lines += [f"  - {item.text}", f"    {item.url}"]
        if len(s.items) > cap:
            lines.append(f"  - and {len(s.items) - cap} more: {s.url}")
        if s.still_firing:
            lines.append(f"  ({s.still_firing} more still firing, notified before)")
    lines += ["", "-- ", message.footer] if message.footer else []
    return "\n".join(lines) + "\n"
