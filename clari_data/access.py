"""Who may press "Refresh now".

Without sign-in anyone who can open the dashboard may, unless `[schedule] manual_refresh = false`
turns manual refresh off. With sign-in configured (Streamlit's OIDC `[auth]` in secrets.toml), only
signed-in users whose address or domain is listed in `[access] refresh_allowed` may.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import Settings


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str | None = None  # why not, in words for the person who cannot


def may_refresh(settings: Settings, *, sign_in: bool, email: str | None) -> Decision:
    if not settings.schedule.manual_refresh:
        return Decision(False, "Manual refresh is turned off in the configuration ([schedule] manual_refresh = "
                               "false); data refreshes on its schedule.")
    if not sign_in:
        return Decision(True)
    if not email:
        return Decision(False, "Sign in to refresh.")
    address = email.strip().lower()
    for entry in settings.access.refresh_allowed:
        entry = entry.lower()
        if address == entry or (entry.startswith("@") and address.endswith(entry)):
            return Decision(True)
    if not settings.access.refresh_allowed:
        return Decision(False, "No one may refresh by hand here ([access] refresh_allowed is empty); data "
                               "refreshes on its schedule.")
    return Decision(False, f"{email} may not refresh by hand: ask RevOps to add you to [access] refresh_allowed.")
