"""Clocks for the emulator: real time by default, a manual clock for deterministic tests."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """What the emulator needs from a clock."""

    def now(self) -> float:
        """Return monotonic seconds; only differences between readings matter."""
        ...

    def time(self) -> float:
        """Return the wall-clock time as UTC epoch seconds."""
        ...


class MonotonicClock:
    """The real clock: ``time.monotonic()`` for intervals and ``time.time()`` for the wall clock."""

    def now(self) -> float:
        """Return ``time.monotonic()``."""
        return time.monotonic()

    def time(self) -> float:
        """Return ``time.time()``."""
        return time.time()


class ManualClock:
    """
    A clock that only moves when a test calls :meth:`advance`.

    The wall clock starts at ``epoch`` (the real time at creation by default) so that timestamps
    such as ``scheduled_at="now-1m"`` still look current.

    :param start: the first reading of :meth:`now`.
    :param epoch: the wall-clock time, as UTC epoch seconds, at the first reading.
    """

    def __init__(self, start: float = 0.0, epoch: float | None = None) -> None:
        self._start = start
        self._epoch = time.time() if epoch is None else epoch
        self._elapsed = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Return ``start`` plus the seconds advanced so far."""
        with self._lock:
            return self._start + self._elapsed

    def time(self) -> float:
        """Return ``epoch`` plus the seconds advanced so far."""
        with self._lock:
            return self._epoch + self._elapsed

    def advance(self, seconds: float) -> None:
        """
        Move the clock forward.

        :param seconds: how far to move; must not be negative (clocks do not go back).
        """
        if seconds < 0:
            raise ValueError(f"A clock cannot go back: advance({seconds}) was asked for.")
        with self._lock:
            self._elapsed += seconds


def utc_naive(clock: Clock) -> datetime:
    """
    Return the clock's wall time as a naive UTC datetime, the form the API's timestamps take.

    :param clock: the clock to read.
    """
    return datetime.fromtimestamp(clock.time(), UTC).replace(tzinfo=None)


def to_naive_utc(value: datetime) -> datetime:
    """
    Return ``value`` as a naive UTC datetime; a naive one is taken to be UTC already.

    :param value: the datetime to convert.
    """
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)
