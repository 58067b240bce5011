"""Constants and helpers shared by tests (conftest.py holds only fixtures: with a conftest.py in
tests/browser too, `from conftest import ...` would be ambiguous)."""

import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bench.dashboard import free_port as free_port  # the dashboard process's: one home for both

# A recognisable API key: secret-scanning tests search every output for it.
TEST_KEY = "TEST-SECRET-KEY-7f3a9c"

# The simulated org's clock in tests: a mid-quarter Wednesday, so the next simulated day moves
# calls (on some days, such as a quarter's first or a weekend, none move and change tests would
# depend on the calendar).
SIM_NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)


def write_config(folder: Path, text: str = "") -> Path:
    """folder/clari.toml for a demo tenant whose simulated exports finish at once, then `text`: a
    line of its own ("users = 2000") is in the [demo] table, other settings need their table's header."""
    config = folder / "clari.toml"
    config.write_text("[demo]\njob_seconds = 0.02\n" + text)
    return config


# wait_until's longest pause between checks: at most this late to see a state, at most 20 checks a second.
POLL_MAX = 0.05


def wait_until(condition, timeout: float = 30.0, what: str = "the condition") -> None:
    """Poll a condition on the system's own state, instead of sleeping a guessed time. The pause
    between checks grows from 5 ms to POLL_MAX: quick states are seen quickly, and a long wait
    does not take the CPU from the threads and processes it waits for (at a steady 5 ms, it did)."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} was not reached in {timeout:g} s")
        time.sleep(pause)
        pause = min(pause * 2, POLL_MAX)


def posts(simulator) -> int:
    """Export requests the simulator answered: each would spend Clari quota."""
    return sum(1 for method, _, _ in simulator.request_log if method == "POST")


def sql_value(wh, sql: str, params: list | None = None):
    """The first column of the first row of a test's own query, read through a cursor of the
    warehouse (tests check the stored data directly; the product's SQL lives in clari_data/storage/sql)."""
    cur = wh.cursor()
    try:
        return cur.execute(sql, params or []).fetchone()[0]
    finally:
        cur.close()


@contextmanager
def unchanged(wh):
    """Fails if the warehouse's data changed inside: guards one that a module's tests share
    (conftest's module_place), which a test that writes would change under the tests after it."""
    before = wh.table_contents()
    yield
    assert wh.table_contents() == before, "a test changed the warehouse its module shares: give it one of its own"
