"""The one secret scrubber: every credential the settings hold is replaced before text is stored,
logged or shown.

`Scrubber.for_settings` knows the Clari API key, the lake catalog's PostgreSQL password and the
notification credentials (the Slack webhook URL, with the parts of it that carry its token, and the
SMTP login). httpx names a
request's URL in its INFO log line, which for a webhook is the secret itself, so a process that
sends notifications calls `install_log_filter` once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from .config import Settings

MASK = "********"
_SHORTEST = 6  # a fragment shorter than this ("/", "v1") would mangle every text


def _url_fragments(url: str) -> set[str]:
    parts = urlsplit(url)
    return {url.rstrip("/"), parts.path, parts.path.rstrip("/").rsplit("/", 1)[-1], parts.query}


class Scrubber:
    """Replaces each known secret (longest first, so a URL goes whole before its path)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {s for s in secrets if s and len(s) >= _SHORTEST}
        self._values = tuple(sorted(values, key=len, reverse=True))

    @classmethod
    def for_settings(cls, settings: Settings) -> Scrubber:
        n = settings.notify
        values = {s.reveal() for s in (settings.clari.api_key, n.slack_webhook_url, n.smtp_username,
                                       n.smtp_password, settings.warehouse.password) if s}
        if n.slack_webhook_url:
            values |= _url_fragments(n.slack_webhook_url.reveal())
        return cls(values)

    @property
    def values(self) -> tuple[str, ...]:
        return self._values

    def __call__(self, text: object) -> str:
        text = str(text)
        for value in self._values:
            text = text.replace(value, MASK)
        return text


class _RedactingFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._scrub = Scrubber()

    def add(self, scrub: Scrubber) -> None:
        with self._lock:
            self._scrub = Scrubber(self._scrub.values + scrub.values)

    def filter(self, record: logging.LogRecord) -> bool:
        scrub = self._scrub
        if scrub.values:
            text = record.getMessage()
            clean = scrub(text)
            if clean != text:
                record.msg, record.args = clean, ()
        return True


_filter = _RedactingFilter()
_installed: set[str] = set()
_install_lock = threading.Lock()


def install_log_filter(scrub: Scrubber, loggers: Iterable[str] = ("httpx", "httpcore")) -> None:
    """Scrub these loggers' records of `scrub`'s secrets, from now on in this process."""
    _filter.add(scrub)
    with _install_lock:
        for name in loggers:
            if name not in _installed:
                logging.getLogger(name).addFilter(_filter)
                _installed.add(name)
