"""Who recently seen API tokens belong to, remembered for a few seconds.

Looking a token up (token, user and groups, one query) was about a third of the time a
list request took (bench profile, issue 5). Remembering the answer for `ttl` seconds
removes it from nearly every request, at a price: a token revoked, or a user
deactivated, from another process keeps working for up to `ttl` seconds on a server
process that had just seen it. AUTH_CACHE_SECONDS sets `ttl`; 0 looks every request up.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

from models.credentials import Identity, authenticate_token


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
        identity = await authenticate_token(key)
        if identity is None:
            self._entries.pop(digest, None)
            return None
        self._entries[digest] = (now + self.ttl, identity)
        self._entries.move_to_end(digest)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return identity

    def __len__(self) -> int:
        return len(self._entries)
