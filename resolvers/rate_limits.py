"""Per-key rate limits kept in the server process: the login limiter's sliding windows
(failed attempts per username and per address) and the prediction budget's token
buckets (rows per user and second). One shape for both: state per key in a bounded
table (resolvers/lru.py: the least recently used key goes first, in constant time), an
answer in seconds to wait (0: go ahead), and one refusal, `RATE_LIMITED` with
`retryAfter`.

With several server processes each keeps its own table, so the effective limit is the
limit times the processes.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from resolvers.errors import RateLimited
from resolvers.lru import LRU


def rate_limited(message: str, wait: float) -> RateLimited:
    """The refusal: `retryAfter` rounded up to a tenth of a second, so that a client
    waiting that long is let through (a wait of 0.04 s is not told 0)."""
    retry_after = max(0.1, math.ceil(wait * 10) / 10)
    return RateLimited(f"{message}; retry in {retry_after:g} s", retryAfter=retry_after)


class SlidingWindow:
    """At most `limit` hits per key in any `window_seconds`; each key keeps at most
    `limit` timestamps, and the table at most `max_keys` keys."""

    def __init__(
        self,
        limit: int,
        window_seconds: float,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.max_keys = max_keys
        self._clock = clock
        self._hits: LRU[str, deque[float]] = LRU(max_keys)

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it may now. Records nothing."""
        hits = self._hits.peek(key)
        if hits is None:
            return 0.0
        now = self._clock()
        while hits and hits[0] <= now - self.window_seconds:
            hits.popleft()
        if not hits:
            self._hits.pop(key)
            return 0.0
        if len(hits) >= self.limit:
            return hits[0] + self.window_seconds - now
        return 0.0

    def record(self, key: str) -> float:
        """Count one hit for `key` now; returns its timestamp (see `forget`)."""
        now = self._clock()
        hits = self._hits.get(key)
        if hits is None:
            hits = deque(maxlen=self.limit)
            self._hits.put(key, hits)
        hits.append(now)
        return now

    def forget(self, key: str, stamp: float) -> None:
        """Take back one recorded hit (a login attempt turned out to succeed)."""
        hits = self._hits.peek(key)
        if hits is not None and stamp in hits:
            hits.remove(stamp)

    def __len__(self) -> int:
        return len(self._hits)


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class TokenBuckets:
    """`rate` tokens per second per key, up to `burst` saved up; at most `max_keys` keys
    (a key pushed out comes back with a full bucket, so keep it above the number of
    callers active at once).

    A request that cannot be paid in full takes nothing: a client refused and waiting
    `retryAfter` is let through, however many refusals it collected meanwhile.
    """

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: LRU[Hashable, _Bucket] = LRU(max_keys)

    def take(self, key: Hashable, amount: float) -> float:
        """Take `amount` tokens for `key`: 0 when taken, else the seconds until the
        bucket will hold them (nothing is taken). More than `burst` never fits."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
            self._buckets.put(key, bucket)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if amount <= bucket.tokens:
            bucket.tokens -= amount
            return 0.0
        if amount > self.burst:
            return math.inf
        return (amount - bucket.tokens) / self.rate

    def __len__(self) -> int:
        return len(self._buckets)


def charge(buckets: TokenBuckets, key: Hashable, amount: float, message: str) -> None:
    """Take `amount` from `key`'s bucket, or refuse the request (RATE_LIMITED)."""
    wait = buckets.take(key, amount)
    if wait > 0:
        raise rate_limited(message, wait)
