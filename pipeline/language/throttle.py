"""Request pacing shared by the labelling workers: a rate limiter and the retry delays.

Both take their clock and sleep as arguments, so tests drive them with a fake clock instead of
measuring time.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


class RateLimiter:
    """At most ``per_minute`` request starts per minute, shared by all threads.

    Starts are spaced evenly, ``60 / per_minute`` seconds apart (the first one at once): a
    caller reserves the next free slot under the lock and sleeps until it outside the lock.
    ``defer(s)`` moves the next slot at least ``s`` seconds ahead (a server's 429 pauses every
    worker, not just the one that was told).
    """

    def __init__(
        self,
        per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not per_minute > 0:
            raise ValueError(f"per_minute must be > 0, got {per_minute!r}")
        self.interval = 60.0 / per_minute
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next: float | None = None

    def acquire(self) -> float:
        """Wait for this caller's slot; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = now if self._next is None else max(now, self._next)
            self._next = slot + self.interval
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def defer(self, seconds: float) -> None:
        with self._lock:
            later = self._clock() + max(0.0, seconds)
            self._next = later if self._next is None else max(self._next, later)


def retry_after_s(
    headers: Mapping[str, str] | None, *, now: datetime | None = None
) -> float | None:
    """Seconds a server asked to wait: ``retry-after-ms``, else ``Retry-After`` as seconds or an
    HTTP date; None when absent or unreadable; never negative."""
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    raw_ms = lower.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = lower.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def backoff_delay(
    retry: int,
    *,
    base_s: float,
    cap_s: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Delay before retry number ``retry`` (0 = the first retry): ``base_s * 2**retry`` times a
    jitter factor in [0.5, 1), at least the server's ``retry_after``, at most ``cap_s``."""
    if retry < 0:
        raise ValueError(f"retry must be >= 0, got {retry}")
    r = (rng or random).random()
    delay = base_s * (2.0 ** min(retry, 30)) * (0.5 + 0.5 * r)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return max(0.0, min(delay, cap_s))
