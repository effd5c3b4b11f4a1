"""The identity cache: a token's lookup is reused for AUTH_CACHE_SECONDS, then redone, so
revocation and deactivation take effect within that time. Real database, fake clock."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from models.accounts import (
    ApiToken,
    Identity,
    User,
    authenticate_token,
    create_token,
    create_user,
    revoke_token,
)
from resolvers.identity_cache import IdentityCache
from tests.conftest import Server


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def user_with_token() -> tuple[User, str]:
    user = await create_user(f"cache-{uuid.uuid4().hex[:10]}", groups=["DRH"])
    return user, await create_token(user, "cache")


async def test_a_revoked_token_works_until_its_entry_expires_then_not(server: Server) -> None:
    # given: a token looked up once
    clock = Clock()
    cache = IdentityCache(ttl=5, clock=clock)
    user, token = await user_with_token()
    first = await cache.authenticate(token)
    assert first is not None
    assert first.username == user.username

    # when: revoked from elsewhere
    await revoke_token((await ApiToken.get(user_id=user.id)).id)

    # then: trusted while the entry is fresh, refused once it is not
    clock.now += 4.9
    assert await cache.authenticate(token) == first
    clock.now += 0.2
    assert await cache.authenticate(token) is None
    assert len(cache) == 0


async def test_a_deactivated_user_is_refused_after_the_ttl(server: Server) -> None:
    # given
    clock = Clock()
    cache = IdentityCache(ttl=2, clock=clock)
    user, token = await user_with_token()
    assert await cache.authenticate(token) is not None

    # when
    await User.filter(id=user.id).update(is_active=False)
    clock.now += 2.0

    # then
    assert await cache.authenticate(token) is None


async def test_unknown_tokens_are_not_remembered(server: Server) -> None:
    # given
    cache = IdentityCache(ttl=60, clock=Clock())

    # when
    for number in range(50):
        assert await cache.authenticate(f"fst_made-up-{number}") is None

    # then
    assert len(cache) == 0


async def test_the_least_recently_used_entry_goes_first(server: Server) -> None:
    # given: room for two
    cache = IdentityCache(ttl=60, max_entries=2, clock=Clock())
    (a, token_a), (b, token_b), (_, token_c) = [await user_with_token() for _ in range(3)]
    await cache.authenticate(token_a)
    await cache.authenticate(token_b)
    await cache.authenticate(token_a)  # a is now the most recently used

    # when
    await cache.authenticate(token_c)

    # then: b went; a is still served from memory even once revoked
    await revoke_token((await ApiToken.get(user_id=a.id)).id)
    await revoke_token((await ApiToken.get(user_id=b.id)).id)
    assert len(cache) == 2
    assert (await cache.authenticate(token_a)) is not None
    assert await cache.authenticate(token_b) is None


async def test_ttl_zero_looks_every_request_up(server: Server) -> None:
    # given
    cache = IdentityCache(ttl=0, clock=Clock())
    user, token = await user_with_token()
    assert await cache.authenticate(token) is not None

    # when
    await revoke_token((await ApiToken.get(user_id=user.id)).id)

    # then
    assert await cache.authenticate(token) is None
    assert len(cache) == 0


async def test_concurrent_misses_for_one_token_share_one_lookup(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a token no request has looked up yet, and a count of database lookups
    import resolvers.identity_cache as identity_cache

    user, token = await user_with_token()
    lookups = 0

    # identity_cache calls models.accounts.authenticate_token through its own global
    async def counted(key: str) -> Identity | None:
        nonlocal lookups
        lookups += 1
        return await authenticate_token(key)

    monkeypatch.setattr(identity_cache, "authenticate_token", counted)
    cache = IdentityCache(ttl=5, clock=Clock())

    # when: 20 requests miss at once, as all requests in flight do when an entry expires
    found = await asyncio.gather(*(cache.authenticate(token) for _ in range(20)))

    # then: one lookup answered them all; a forced fresh one still looks up again
    assert lookups == 1
    assert {identity.username for identity in found if identity is not None} == {user.username}
    assert all(identity is not None for identity in found)
    assert await cache.authenticate(token, fresh=True) is not None
    assert lookups == 2
