"""Automatic persisted queries, as Apollo's clients speak them (PersistedQueryLink).

A client first sends only `extensions.persistedQuery = {version: 1, sha256Hash}`. The
server answers `PersistedQueryNotFound` (code PERSISTED_QUERY_NOT_FOUND) unless it knows
the hash; the client then sends the query with the hash, the server checks that the hash
is the query's sha256, and remembers it for the next hash-only request, over POST or GET
(so a query can be a short, cacheable GET). The store is a bounded LRU per server
process: a client whose hash another process does not know simply registers it again.
Only documents that parsed and validated are remembered, so junk cannot evict them.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from resolvers.errors import ErrorCode
from resolvers.lru import LRU
from server.transport import APPLICATION_JSON, RequestRefused

NOT_FOUND = "PersistedQueryNotFound"
NOT_SUPPORTED = "PersistedQueryNotSupported"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# Apollo's clients read these refusals from a 200 application/json response, as Apollo
# Server sends them; they must never be cached, or a registered query would stay unknown.
_NO_CACHE = {"Cache-Control": "private, no-cache, must-revalidate"}


class PersistedQueryStore(LRU[str, str]):
    """sha256 hex → query text, least recently used evicted beyond `max_size`.

    `max_size` 0 turns automatic persisted queries off: hash-only requests are answered
    PersistedQueryNotSupported, and Apollo's link then sends full queries.
    """

    @property
    def enabled(self) -> bool:
        return self.max_size > 0

    def remember(self, sha256_hash: str, query: str) -> None:
        if not self.enabled:
            return
        self.put(sha256_hash, query)


def requested_hash(extensions: dict[str, Any] | None) -> str | None:
    """The sha256 a request names in `extensions.persistedQuery`, checked; None when the
    request does not use persisted queries."""
    if not extensions or extensions.get("persistedQuery") is None:
        return None
    persisted = extensions["persistedQuery"]
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise RequestRefused(
            400,
            "extensions.persistedQuery must be {version: 1, sha256Hash: <hex>}",
            code=ErrorCode.PERSISTED_QUERY_INVALID,
        )
    sha256_hash = persisted.get("sha256Hash")
    if not isinstance(sha256_hash, str) or not _SHA256_HEX.fullmatch(sha256_hash.lower()):
        raise RequestRefused(
            400,
            "extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits",
            code=ErrorCode.PERSISTED_QUERY_INVALID,
        )
    return sha256_hash.lower()


def resolve_query(store: PersistedQueryStore, sha256_hash: str, query: str | None) -> str:
    """The document to run for a request naming `sha256_hash`, or the refusal Apollo's
    link understands."""
    if not store.enabled:
        raise RequestRefused(
            400,
            NOT_SUPPORTED,
            code=ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED,
            headers=_NO_CACHE,
            status_for={APPLICATION_JSON: 200},
        )
    if query is None:
        known = store.get(sha256_hash)
        if known is None:
            raise RequestRefused(
                404,
                NOT_FOUND,
                code=ErrorCode.PERSISTED_QUERY_NOT_FOUND,
                headers=_NO_CACHE,
                status_for={APPLICATION_JSON: 200},
            )
        return known
    if hashlib.sha256(query.encode("utf-8", "surrogatepass")).hexdigest() != sha256_hash:
        raise RequestRefused(
            400,
            "provided sha256Hash does not match the query",
            code=ErrorCode.PERSISTED_QUERY_HASH_MISMATCH,
        )
    return query
