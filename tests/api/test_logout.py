"""Mutation.logout: the token that sent it is revoked, and only that one."""

from __future__ import annotations

import uuid
from typing import Any

from models.accounts import create_token, create_user
from tests.api.configured_app import ConfiguredApp
from tests.conftest import Server
from tests.helpers import json_of

LOGOUT = "mutation { logout { revoked } }"
VIEWER = "query { viewer { username } }"


async def _fresh_tokens(count: int) -> tuple[str, list[str]]:
    user = await create_user(f"logout-{uuid.uuid4().hex[:10]}", groups=["MANAGER"])
    return user.username, [await create_token(user, "dashboard") for _ in range(count)]


async def _post_as(server: Server, query: str, token: str) -> dict[str, Any]:
    response = await server.post(query, as_=None, headers={"Authorization": f"Token {token}"})
    assert response.status_code == 200, response.text
    return json_of(response)


async def test_logout_revokes_the_token_that_sent_it_and_no_other(server: Server) -> None:
    # given: one account with two tokens (two browsers)
    username, (signed_out, other) = await _fresh_tokens(2)

    # when
    body = await _post_as(server, LOGOUT, signed_out)

    # then: that token no longer works; the other still does
    assert body == {"data": {"logout": {"revoked": True}}}
    refused = await _post_as(server, VIEWER, signed_out)
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["UNAUTHENTICATED"]
    assert await _post_as(server, VIEWER, other) == {"data": {"viewer": {"username": username}}}


async def test_logout_twice_is_refused_as_unauthenticated(server: Server) -> None:
    # given
    _, (token,) = await _fresh_tokens(1)
    await _post_as(server, LOGOUT, token)

    # when
    body = await _post_as(server, LOGOUT, token)

    # then
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def test_anonymous_logout_is_unauthenticated(server: Server) -> None:
    # when
    body = await server.gql(LOGOUT, as_=None)

    # then
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def test_logout_is_refused_at_once_even_with_the_identity_cache_on(server: Server) -> None:
    # given: an app that remembers identities for a minute, and a token it has just seen
    app = ConfiguredApp(server, auth_cache_seconds=60)
    _, (token,) = await _fresh_tokens(1)
    headers = {"Authorization": f"Token {token}"}
    async with app.client() as client:
        seen = await client.post("/graphql", json={"query": VIEWER}, headers=headers)
        assert "errors" not in seen.json()

        # when
        await client.post("/graphql", json={"query": LOGOUT}, headers=headers)
        after = await client.post("/graphql", json={"query": VIEWER}, headers=headers)

    # then: not served from the cache for the minute left
    assert [e["extensions"]["code"] for e in after.json()["errors"]] == ["UNAUTHENTICATED"]
