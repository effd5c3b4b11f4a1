"""Who recently seen API tokens belong to, remembered for a few seconds.

Looking a token up (token, user and groups, one query) was about a third of the time a
list request took (bench profile, issue 5). Remembering the answer for `ttl` seconds
removes it from nearly every request, at a price: a token revoked, or a user
deactivated, from another process keeps working for up to `ttl` seconds on a server
process that had just seen it. AUTH_CACHE_SECONDS sets `ttl`; 0 looks every request up.

When a remembered answer expires, the requests in flight for that token all miss at
once: they share one lookup (the first one's) instead of each queueing its own on the
database connection, which under load made every `ttl` seconds a burst of slow answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

from models.accounts import Identity, authenticate_token


class IdentityCache:
    """Successful lookups only, so made-up tokens cannot fill it; at most `max_entries`,
    the least recently used going first. Keyed by the token's digest, not the secret."""

    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, Identity]] = OrderedDict()
        # Lookups under way, by digest: later misses for the same token await this one.
        self._pending: dict[bytes, asyncio.Future[Identity | None]] = {}

    async def authenticate(self, key: str, *, fresh: bool = False) -> Identity | None:
        """`fresh` skips the remembered answer (and refreshes it): open WebSockets
        re-check that way, so a revocation reaches them within their own interval."""
        if self.ttl <= 0:
            return await authenticate_token(key)
        digest = hashlib.sha256(key.encode()).digest()
        now = self._clock()
        entry = self._entries.get(digest)
        if entry is not None and now < entry[0] and not fresh:
            self._entries.move_to_end(digest)
            return entry[1]
        pending = self._pending.get(digest)
        if pending is not None and not fresh:
            # shield: one waiter cancelled (its client went away) cancels not the lookup.
            return await asyncio.shield(pending)
        lookup = asyncio.ensure_future(self._look_up(key, digest, now))
        if not fresh:
            self._pending[digest] = lookup
            lookup.add_done_callback(lambda done: self._forget_pending(digest, done))
        return await asyncio.shield(lookup)

    async def _look_up(self, key: str, digest: bytes, now: float) -> Identity | None:
        identity = await authenticate_token(key)
        if identity is None:
            self._entries.pop(digest, None)
            return None
        self._entries[digest] = (now + self.ttl, identity)
        self._entries.move_to_end(digest)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return identity

    def _forget_pending(self, digest: bytes, done: asyncio.Future[Identity | None]) -> None:
        if self._pending.get(digest) is done:
            del self._pending[digest]

    def forget(self, key: str) -> None:
        """Drop what is remembered of `key`: a token revoked by this process (logout)
        stops working here at once, not `ttl` seconds later."""
        digest = hashlib.sha256(key.encode()).digest()
        self._entries.pop(digest, None)
        self._pending.pop(digest, None)  # a lookup under way must not be shared after

    def __len__(self) -> int:
        return len(self._entries)
