"""Who may see the dashboard, and who may press "Refresh now" or send a test message.

Without sign-in anyone who can open the dashboard may see it and refresh, unless `[schedule]
manual_refresh = false` turns manual refresh off (and a non-empty `[access] view_allowed`, which
needs sign-in, shuts everyone out). With sign-in configured (Streamlit's OIDC `[auth]` in
secrets.toml), only signed-in users whose verified address or domain is listed may: in
`[access] view_allowed` to see (empty: every signed-in user), in `refresh_allowed` to refresh.

Addresses are compared after NFKC normalisation and casefolding, and only in plain ASCII: a
look-alike such as `аna@acme.com` (Cyrillic а) or `ana@acme.com` in full-width letters is never
taken for the listed one.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import ACCESS_ENTRY_RE, Settings


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str | None = None  # why not, in words for the person who cannot


def normalise(address: str | None) -> str | None:
    """The address as compared: NFKC, casefolded, trimmed; None for anything that is not a plain
    ASCII address (so a look-alike never matches a listed one)."""
    if not isinstance(address, str):
        return None
    folded = unicodedata.normalize("NFKC", address).casefold().strip()
    if not folded.isascii() or not ACCESS_ENTRY_RE.fullmatch(folded) or folded.startswith("@"):
        return None
    return folded


def verified_email(claims: Mapping[str, Any]) -> str | None:
    """The signed-in user's address from the identity provider's claims, normalised; None when there
    is none, when the provider says it is not verified (`email_verified` sent and not true), or when
    it is not a plain ASCII address."""
    if "email_verified" in claims and claims["email_verified"] not in (True, "true", "True"):
        return None
    return normalise(claims.get("email"))


def listed(address: str | None, entries: tuple[str, ...]) -> bool:
    """Whether the (normalised) address is one of the entries, or in one of their "@domain"s."""
    if address is None:
        return False
    for entry in entries:
        entry = unicodedata.normalize("NFKC", entry).casefold().strip()
        if address == entry or (entry.startswith("@") and address.endswith(entry)):
            return True
    return False


def may_view(settings: Settings, *, sign_in: bool, email: str | None) -> Decision:
    """Whether this visitor may see anything at all (checked before any data is read)."""
    allowed = settings.access.view_allowed
    if not allowed:
        return Decision(True)
    if not sign_in:
        return Decision(False, "[access] view_allowed lists who may see this dashboard, but sign-in is not set up "
                               "([auth] in .streamlit/secrets.toml), so no one can be let in.")
    if listed(normalise(email), allowed):
        return Decision(True)
    if email is None:
        return Decision(False, "Your identity provider did not vouch for an e-mail address (a verified, plain "
                               "address is needed), so this dashboard cannot tell who you are.")
    return Decision(False, "This dashboard is open only to the people listed in [access] view_allowed: ask RevOps "
                           "to add you.")


def may_refresh(settings: Settings, *, sign_in: bool, email: str | None) -> Decision:
    """Whether this visitor may start a refresh by hand (and send a test notification)."""
    if not settings.schedule.manual_refresh:
        return Decision(False, "Manual refresh is turned off in the configuration ([schedule] manual_refresh = "
                               "false); data refreshes on its schedule.")
    if not sign_in:
        return Decision(True)
    if not email:
        return Decision(False, "Sign in to refresh.")
    if listed(normalise(email), settings.access.refresh_allowed):
        return Decision(True)
    if not settings.access.refresh_allowed:
        return Decision(False, "No one may refresh by hand here ([access] refresh_allowed is empty); data "
                               "refreshes on its schedule.")
    return Decision(False, f"{email} may not refresh by hand: ask RevOps to add you to [access] refresh_allowed.")
