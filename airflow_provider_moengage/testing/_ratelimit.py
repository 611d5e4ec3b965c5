"""The emulator's rate limiter: at most N requests in any window of 60 seconds."""

from __future__ import annotations

from collections import deque


class SlidingWindow:
    """
    A sliding-log limiter, on the emulator clock.

    A request admitted at time t stays in the window until t + ``window`` (exclusive), so a client
    is refused exactly when it would exceed ``limit`` requests in some ``window``-second span.

    :param limit: requests allowed per window; None means unlimited.
    :param window: the window's length in seconds.
    """

    def __init__(self, limit: int | None, window: float = 60.0) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"rate_limit_per_minute must be at least 1 (or None), not {limit}.")
        self.limit = limit
        self.window = window
        self._admitted: deque[float] = deque()

    def admit(self, now: float) -> bool:
        """
        Count a request if the limit allows it.

        :param now: the emulator clock reading.
        :return: False if the request must be refused (it is then not counted).
        """
        self._expire(now)
        if self.limit is not None and len(self._admitted) >= self.limit:
            return False
        self._admitted.append(now)
        return True

    def count(self, now: float) -> None:
        """
        Count a request whatever the limit (one answered by a gateway fault still reached the server).

        :param now: the emulator clock reading.
        """
        self._expire(now)
        self._admitted.append(now)

    def remaining(self, now: float) -> int:
        """
        Return how many more requests the window allows now (0 when unlimited is meaningless).

        :param now: the emulator clock reading.
        """
        self._expire(now)
        if self.limit is None:
            return 0
        return max(self.limit - len(self._admitted), 0)

    def resets_at(self, now: float) -> float:
        """
        Return when the oldest counted request leaves the window (``now`` if the window is empty).

        :param now: the emulator clock reading.
        """
        self._expire(now)
        return self._admitted[0] + self.window if self._admitted else now

    def _expire(self, now: float) -> None:
        while self._admitted and self._admitted[0] <= now - self.window:
            self._admitted.popleft()
