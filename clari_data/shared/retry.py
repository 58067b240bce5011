"""The one retry policy: how often to try a call and how long to wait in between.

Used by the Clari client (HTTP 429/5xx and network failures) and by the notification channels
(Slack and SMTP), each with its own settings under the same names: `max_attempts` and
`backoff_seconds` in `[clari]` and `[notify]`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3  # the first try included
    backoff_seconds: float = 1.0  # the wait before the second attempt; it doubles each time after
    max_backoff_seconds: float = 30.0  # no single wait is longer
    jitter: bool = False  # spread each wait over [50%, 100%] so many clients do not retry in step

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")
        if self.backoff_seconds < 0 or self.max_backoff_seconds < 0:
            raise ValueError("backoff waits must not be negative")

    def may_retry(self, attempts_made: int) -> bool:
        """Whether another attempt is allowed after `attempts_made` attempts."""
        return attempts_made < self.max_attempts

    def delay(self, attempts_made: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after attempt number `attempts_made` (1-based) failed."""
        wait = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** max(0, attempts_made - 1))
        if self.jitter:
            wait *= (rng or random).uniform(0.5, 1.0)
        return wait
