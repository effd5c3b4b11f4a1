"""The login limiter (issue 12): refused attempts count against nobody, only checked
failures count, its table stays bounded under a flood of usernames, and password checks
run off the event loop. Each test builds its own app (tests/api/configured_app.py), so
its limiter starts empty and the shared server's is left alone."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from argon2 import PasswordHasher

from models.accounts import User, create_user
from tests.api.configured_app import ConfiguredApp
from tests.conftest import Server
from tests.helpers import json_of

PASSWORD = "right-password-1"
LOGIN = """
mutation Login($username: String!, $password: String!) {
  login(username: $username, password: $password) { token user { username } }
}
"""


async def login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": LOGIN, "variables": {"username": username, "password": password}},
    )
    assert response.status_code == 200, response.text
    return json_of(response)


async def logins(client: httpx.AsyncClient, credentials: list[tuple[str, str]]) -> list[str | None]:
    """Send the logins as one batched request; the code of each refusal (None: success)."""
    operations = [
        {"query": LOGIN, "variables": {"username": username, "password": password}}
        for username, password in credentials
    ]
    response = await client.post("/graphql", json=operations)
    assert response.status_code == 200, response.text
    return [code(body) for body in response.json()]


def code(body: dict[str, Any]) -> str | None:
    return body["errors"][0]["extensions"]["code"] if body.get("errors") else None


async def user_with_password(password: str = PASSWORD) -> User:
    return await create_user(f"login-{uuid.uuid4().hex[:10]}", password=password, groups=["DRH"])


async def test_attempts_refused_for_their_address_do_not_lock_the_account(server: Server) -> None:
    # given: an address that has used its budget of failures on other names
    app = ConfiguredApp(server, login_attempts_per_address=5)
    victim = await user_with_password()
    async with app.client("10.30.0.66") as attacker, app.client("10.30.0.7") as office:
        spent = await logins(attacker, [(f"nobody-{i}", "guess") for i in range(5)])
        assert spent == ["INVALID_CREDENTIALS"] * 5

        # when: it keeps sending the victim's name, twice the per-username limit
        refused = await logins(attacker, [(victim.username, "guess")] * 10)
        refused += await logins(attacker, [(victim.username, "guess")] * 10)

        # then: all refused for the address, none checked, and the victim logs in elsewhere
        assert refused == ["RATE_LIMITED"] * 20
        body = await login(office, victim.username, PASSWORD)
    assert code(body) is None
    assert body["data"]["login"]["user"]["username"] == victim.username


async def test_successful_logins_do_not_count(server: Server) -> None:
    # given: a limit of three failures per username
    app = ConfiguredApp(server, login_attempts_per_username=3, login_attempts_per_address=3)
    user = await user_with_password()

    # when: more successful logins than that, from one address, one after the other (an
    # attempt in flight counts until it has succeeded)
    async with app.client() as client:
        results = [code(await login(client, user.username, PASSWORD)) for _ in range(6)]

    # then
    assert results == [None] * 6


async def test_failures_still_count_per_username(server: Server) -> None:
    # given
    app = ConfiguredApp(server, login_attempts_per_username=3)
    user = await user_with_password()
    async with app.client("10.30.1.1") as first, app.client("10.30.1.2") as second:
        # when: three failures from one address, then the right password from another
        failed = await logins(first, [(user.username, "guess")] * 3)
        body = await login(second, user.username, PASSWORD)

    # then
    assert failed == ["INVALID_CREDENTIALS"] * 3
    assert code(body) == "RATE_LIMITED"


async def test_the_limiter_table_stays_bounded_under_a_flood_of_usernames(server: Server) -> None:
    # given: room for 8 keys, and an address allowed many attempts
    app = ConfiguredApp(server, login_limiter_max_keys=8, login_attempts_per_address=1000)
    limiter = app.services.login_limiter
    async with app.client("10.30.2.1") as client:
        # when: 20 distinct usernames, and 30 of 9 kB (longer than any account's)
        for batch in range(2):
            names = [(f"flood-{batch}-{i}-{'x' * 130}", "guess") for i in range(10)]
            assert await logins(client, names) == ["INVALID_CREDENTIALS"] * 10
        for batch in range(6):
            huge = [(f"{batch}-{i}-" + "y" * 9_000, "guess") for i in range(5)]
            assert await logins(client, huge) == ["INVALID_CREDENTIALS"] * 5

    # then
    assert len(limiter.per_username) == 8
    assert len(limiter.per_address) == 1
    assert all(len(key) <= 150 for key in limiter.per_username._hits)


async def test_other_requests_are_answered_while_a_password_is_being_checked(
    server: Server,
) -> None:
    # given: an account whose stored hash is costly to verify (its own argon2 parameters)
    app = ConfiguredApp(server)
    user = await user_with_password()
    slow = PasswordHasher(time_cost=120, memory_cost=16_384)
    await User.filter(id=user.id).update(password_hash=await asyncio.to_thread(slow.hash, "x"))
    async with app.client() as client:
        # when: a login is being checked and, meanwhile, another request comes
        checking = asyncio.create_task(login(client, user.username, "wrong-password"))
        await asyncio.sleep(0.3)
        answered = await client.post("/graphql", json={"query": "{ __typename }"})

        # then: it is answered before the password check is over
        assert answered.json() == {"data": {"__typename": "Query"}}
        assert not checking.done(), "the login finished first: was the check on the loop?"
        assert code(await asyncio.wait_for(checking, 120)) == "INVALID_CREDENTIALS"
