"""Constants and helpers shared by tests (conftest.py holds only fixtures: with a conftest.py in
tests/browser too, `from conftest import ...` would be ambiguous)."""

from datetime import datetime, timezone

# A recognisable API key: secret-scanning tests search every output for it.
TEST_KEY = "TEST-SECRET-KEY-7f3a9c"

# The simulated org's clock in tests: a mid-quarter Wednesday, so the next simulated day moves
# calls (on some days, such as a quarter's first or a weekend, none move and change tests would
# depend on the calendar).
SIM_NOW = datetime(2026, 11, 18, 10, 0, tzinfo=timezone.utc)
