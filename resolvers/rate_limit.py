"""A sliding-window limiter for login attempts, per username and per client address.

It lives in the server process: with several processes each counts its own share, so
the effective limit is (limit times processes). That bounds password guessing to a few per
second at most, which argon2's cost makes hopeless; a shared store is not worth a broker.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class SlidingWindow:
    limit: int
    window_seconds: float
    _hits: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it may now. Records the attempt."""
        now = time.monotonic()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window_seconds:
            hits.popleft()
        if len(hits) >= self.limit:
            return hits[0] + self.window_seconds - now
        hits.append(now)
        if len(self._hits) > 100_000:  # bound memory under a flood of distinct keys
            self._forget_idle(now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        for key in [
            k for k, v in self._hits.items() if not v or v[-1] <= now - self.window_seconds
        ]:
            del self._hits[key]


@dataclass
class LoginLimiter:
    per_username: SlidingWindow = field(default_factory=lambda: SlidingWindow(10, 60.0))
    per_address: SlidingWindow = field(default_factory=lambda: SlidingWindow(30, 60.0))

    def retry_after(self, username: str, address: str | None) -> float:
        return max(
            self.per_username.retry_after(username.lower()),
            self.per_address.retry_after(address or "-"),
        )
