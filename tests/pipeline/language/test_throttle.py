"""RateLimiter, retry_after_s and backoff_delay on a fake clock (no time is measured)."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from pipeline.language.throttle import RateLimiter, backoff_delay, retry_after_s


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        with self.lock:
            self.now += s


def test_starts_are_spaced_by_the_rate():
    clock = FakeClock()
    limiter = RateLimiter(120, clock=clock, sleep=clock.sleep)  # 0.5 s apart
    starts = []
    for _ in range(5):
        limiter.acquire()
        starts.append(clock.now)
    assert starts == pytest.approx([100.0, 100.5, 101.0, 101.5, 102.0])


def test_slots_are_shared_by_threads():
    clock = FakeClock()
    limiter = RateLimiter(60, clock=lambda: 0.0, sleep=lambda s: None)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            w = limiter.acquire()
            with lock:
                waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # the clock stands still: the 20 starts got the 20 distinct slots 0, 1, ..., 19 s
    assert sorted(waits) == pytest.approx([float(i) for i in range(20)])
    assert clock.now == 100.0


def test_defer_pauses_everyone():
    clock = FakeClock()
    limiter = RateLimiter(600, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.defer(5.0)
    limiter.acquire()
    assert clock.now == pytest.approx(105.0)


def test_bad_rate():
    with pytest.raises(ValueError):
        RateLimiter(0)


def test_retry_after_forms():
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_s(None) is None and retry_after_s({}) is None
    assert retry_after_s({"Retry-After": "3"}) == 3.0
    assert retry_after_s({"retry-after": "0.25"}) == 0.25
    assert retry_after_s({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_s({"Retry-After": "-4"}) == 0.0
    date = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert retry_after_s({"Retry-After": date}, now=now) == pytest.approx(7.0)
    assert retry_after_s({"Retry-After": "soon"}) is None


def test_backoff_grows_jitters_honours_retry_after_and_is_capped():
    rng = random.Random(0)
    delays = [[backoff_delay(r, base_s=1.0, cap_s=60.0, rng=rng) for r in range(5)]
              for _ in range(50)]  # fmt: skip
    for r in range(5):
        column = [d[r] for d in delays]
        assert all(0.5 * 2**r <= d < 2**r for d in column)
        assert len(set(column)) > 1  # jitter
    assert backoff_delay(0, base_s=1.0, cap_s=60.0, retry_after=10.0) == 10.0
    assert backoff_delay(0, base_s=1.0, cap_s=4.0, retry_after=10.0) == 4.0
    assert backoff_delay(40, base_s=1.0, cap_s=30.0) == 30.0
    assert backoff_delay(3, base_s=0.0, cap_s=30.0) == 0.0
    with pytest.raises(ValueError):
        backoff_delay(-1, base_s=1.0, cap_s=1.0)
