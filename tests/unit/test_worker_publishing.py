"""How often the refresh worker publishes its status (each write a commit, on a lake a snapshot):
at most every `publish_seconds` however fast the progress moves, at least every
`heartbeat_seconds` while a run goes on however still it stands (so replicas can tell a silent
worker from a slow job), and never for nothing while idle. The worker is the one
`python -m clari_data worker` builds (its default intervals), on a clock the test moves by the
lead loop's tick."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from clari_data.ingest.refresh import Progress
from clari_data.runtime import worker as worker_module
from clari_data.runtime.leader import WorkerIdentity
from clari_data.runtime.service import RefreshState
from clari_data.runtime.worker import Worker
from clari_data.shared.config import Settings

TICK = 0.25  # the lead loop looks at the refresh service this often
START = 1000.0  # the monotonic clock's value when the worker starts leading


class Clock:
    def __init__(self) -> None:
        self.now = START

    def monotonic(self) -> float:
        return self.now


class Published:
    """The warehouse as the worker's status reaches it: when each write happened, and what it said."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.writes: list[tuple[float, str | None]] = []

    def publish_worker_status(self, **status) -> None:
        self.writes.append((self.clock.now, status["message"]))


@pytest.fixture
def leading(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(worker_module, "time", SimpleNamespace(monotonic=clock.monotonic))
    worker = Worker(Settings(), identity=WorkerIdentity(worker_id="w1"))
    published = Published(clock)
    worker.service = SimpleNamespace(warehouse=published)
    worker._publish(state(True, "starting"), force=True)  # as the worker does when it starts leading
    return worker, clock, published


def state(running: bool, message: str) -> RefreshState:
    return RefreshState(running, Progress("exporting", message), None, 0.0, None, 0)


def ticks(clock: Clock, seconds: float):
    for _ in range(round(seconds / TICK)):
        clock.now += TICK
        yield clock.now


def test_progress_moving_at_every_tick_is_published_at_most_every_publish_seconds(leading):
    worker, clock, published = leading
    for now in ticks(clock, 30):
        worker._publish(state(True, f"step at {now:.2f}"))
    times = [t for t, _ in published.writes]
    assert [b - a for a, b in zip(times, times[1:])] == [worker.publish_seconds] * (len(times) - 1)
    assert len(times) == 1 + 30 / worker.publish_seconds
    # Each write says the progress of its moment, not an older one.
    assert all(message == f"step at {t:.2f}" for t, message in published.writes[1:])


def test_a_run_standing_still_is_published_every_heartbeat_seconds(leading):
    worker, clock, published = leading
    for _ in ticks(clock, 60):
        worker._publish(state(True, "Clari job STARTED"))
    times = [t for t, _ in published.writes]
    # The first change goes out as soon as publish_seconds allow, then only the heartbeat.
    assert times[:2] == [START, START + worker.publish_seconds]
    assert [b - a for a, b in zip(times[1:], times[2:])] == [worker.heartbeat_seconds] * (len(times) - 2)
    assert times[-1] > START + 60 - worker.heartbeat_seconds


def test_an_idle_worker_publishes_a_change_once_and_then_nothing(leading):
    worker, clock, published = leading
    for _ in ticks(clock, 60):
        worker._publish(state(False, "last run done"))
    assert published.writes == [(START, "starting"), (START + worker.publish_seconds, "last run done")]
