"""Authentication: the Authorization header's schemes, tokens that must not work, how
credentials are stored, and logging in with a password."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from models.accounts import ApiToken, User, create_token, create_user, revoke_token
from tests.conftest import Server
from tests.helpers import json_of

VIEWER = """
query { viewer { username canTrain } }
"""

LOGIN = """
mutation Login($username: String!, $password: String!) {
  login(username: $username, password: $password) { token user { username canTrain } }
}
"""


async def viewer_as(server: Server, authorization: str) -> dict[str, Any]:
    response = await server.post(VIEWER, as_=None, headers={"Authorization": authorization})
    assert response.status_code == 200, response.text
    return json_of(response)


def assert_unauthenticated(body: dict[str, Any]) -> None:
    assert body["data"] is None or body["data"]["viewer"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def new_user(groups: list[str] | None = None, password: str | None = None) -> User:
    return await create_user(
        f"auth-{uuid.uuid4().hex[:10]}", password=password, groups=groups or ["DRH"]
    )


@pytest.mark.parametrize("scheme", ["Token", "Bearer", "token", "bearer", "TOKEN"])
async def test_token_is_accepted_under_either_scheme_in_any_case(
    server: Server, scheme: str
) -> None:
    # when
    body = await viewer_as(server, f"{scheme} {server.tokens['drh']}")

    # then
    assert "errors" not in body, body["errors"]
    assert body["data"]["viewer"] == {"username": "drh-user", "canTrain": True}


async def test_no_authorization_header_is_unauthenticated(server: Server) -> None:
    # when
    body = await server.gql(VIEWER, as_=None)

    # then
    assert_unauthenticated(body)


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Token fst_" + "x" * 43, id="unknown-token"),
        pytest.param("Token not-even-a-token", id="not-a-token"),
        pytest.param("Token", id="scheme-alone"),
        pytest.param("Token   ", id="scheme-and-spaces"),
        pytest.param("Basic x", id="basic"),
        pytest.param("Basic ZHJoLXVzZXI6ZHJoLXBhc3N3b3Jk", id="basic-with-valid-password"),
        pytest.param("fst_x", id="no-scheme"),
    ],
)
async def test_bad_authorization_is_unauthenticated(server: Server, authorization: str) -> None:
    # when
    body = await viewer_as(server, authorization)

    # then
    assert_unauthenticated(body)


async def test_known_token_under_another_scheme_is_unauthenticated(server: Server) -> None:
    # when
    body = await viewer_as(server, f"Basic {server.tokens['drh']}")

    # then
    assert_unauthenticated(body)


async def test_revoked_token_is_unauthenticated(server: Server) -> None:
    # given: a token that works
    user = await new_user()
    token = await create_token(user, "to-revoke")
    assert "errors" not in await viewer_as(server, f"Token {token}")
    token_id = (await ApiToken.get(user_id=user.id)).id

    # when
    assert await revoke_token(token_id) is True
    body = await viewer_as(server, f"Token {token}")

    # then
    assert_unauthenticated(body)
    assert await revoke_token(token_id) is False, "revoking twice reports nothing revoked"


async def test_revoking_one_token_leaves_the_others_working(server: Server) -> None:
    # given
    user = await new_user()
    kept = await create_token(user, "kept")
    revoked = await create_token(user, "revoked")
    await revoke_token((await ApiToken.get(user_id=user.id, name="revoked")).id)

    # when
    body = await viewer_as(server, f"Token {kept}")

    # then
    assert body["data"]["viewer"]["username"] == user.username
    assert_unauthenticated(await viewer_as(server, f"Token {revoked}"))


async def test_token_of_an_inactive_user_is_unauthenticated(server: Server) -> None:
    # given
    user = await new_user()
    token = await create_token(user)
    assert "errors" not in await viewer_as(server, f"Token {token}")

    # when
    await User.filter(id=user.id).update(is_active=False)
    body = await viewer_as(server, f"Token {token}")

    # then
    assert_unauthenticated(body)


async def test_tokens_are_stored_hashed(server: Server) -> None:
    # given
    user = await new_user()

    # when
    token = await create_token(user, "stored")

    # then: no column holds the secret, only a short prefix to tell tokens apart
    row = await ApiToken.get(user_id=user.id)
    values = await ApiToken.filter(id=row.id).values()
    assert all(token not in str(value) for value in values[0].values())
    assert token.startswith(row.prefix)
    assert len(row.prefix) < len(token) // 2
    assert token.startswith("fst_")


async def test_last_used_at_is_set_when_the_token_is_used(server: Server) -> None:
    # given
    user = await new_user()
    token = await create_token(user)
    assert (await ApiToken.get(user_id=user.id)).last_used_at is None

    # when
    await viewer_as(server, f"Bearer {token}")

    # then
    row = await ApiToken.get(user_id=user.id)
    assert row.last_used_at is not None
    assert row.last_used_at >= row.created_at


async def test_passwords_are_stored_as_argon2_hashes(server: Server) -> None:
    # given
    user = await new_user(password="correct horse battery")

    # when
    row = await User.get(id=user.id)

    # then
    assert row.password_hash is not None
    assert row.password_hash.startswith("$argon2")
    assert "correct horse battery" not in row.password_hash


async def test_login_with_the_right_password_returns_a_working_token(server: Server) -> None:
    # when
    login = (
        await server.data(LOGIN, {"username": "rrh-user", "password": "rrh-password"}, as_=None)
    )["login"]

    # then
    assert login["user"] == {"username": "rrh-user", "canTrain": True}
    assert login["token"] != server.tokens["rrh"]
    body = await viewer_as(server, f"Token {login['token']}")
    assert body["data"]["viewer"]["username"] == "rrh-user"
    user = await User.get(username="rrh-user")
    assert user.last_login is not None


@pytest.mark.parametrize(
    ("username", "password"),
    [
        pytest.param("drh-user", "wrong-password", id="wrong-password"),
        pytest.param("drh-user", "", id="empty-password"),
        pytest.param("nobody-here", "drh-password", id="unknown-user"),
    ],
)
async def test_login_with_bad_credentials_is_refused(
    server: Server, username: str, password: str
) -> None:
    # given
    tokens_before = await ApiToken.all().count()

    # when
    body = await server.gql(LOGIN, {"username": username, "password": password}, as_=None)

    # then
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_CREDENTIALS"]
    assert await ApiToken.all().count() == tokens_before


async def test_token_only_account_cannot_log_in(server: Server) -> None:
    # given: an account made without a password
    user = await new_user()
    assert (await User.get(id=user.id)).password_hash is None

    # when
    body = await server.gql(LOGIN, {"username": user.username, "password": ""}, as_=None)

    # then
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_CREDENTIALS"]


async def test_inactive_user_cannot_log_in(server: Server) -> None:
    # given
    user = await new_user(password="inactive-password")
    await User.filter(id=user.id).update(is_active=False)

    # when
    body = await server.gql(
        LOGIN, {"username": user.username, "password": "inactive-password"}, as_=None
    )

    # then
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_CREDENTIALS"]
