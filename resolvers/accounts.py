"""Accounts: who may see which account, login (a username and password for a token) and
logout (revoke the token that asked).

The login limits are applied around `login` by resolvers/login_limiter.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from models.accounts import (
    Identity,
    Scope,
    User,
    create_token,
    identity_of,
    revoke_token_key,
    verify_password,
)
from resolvers.errors import InvalidCredentials
from resolvers.loaders import UserLoader

# Identity and Scope with the functions: schema/ reads them here, never from models/.
__all__ = [
    "Identity",
    "LoginResult",
    "Scope",
    "login",
    "logout",
    "visible_identity",
    "visible_user",
]

logger = logging.getLogger("resolvers.accounts")


@dataclass(frozen=True)
class LoginResult:
    token: str
    user: Identity


async def visible_identity(
    viewer: Identity | None, user_id: int, users: UserLoader
) -> Identity | None:
    """An account as the caller may see it: their own always, others only for HR staff
    and superusers; None otherwise, as for an account that does not exist, so a manager
    can neither list accounts nor tell which ids exist."""
    if viewer is None:
        return None
    if viewer.id != user_id and Scope.READ_USERS not in viewer.scopes:
        return None
    return await users.load(user_id)


class _Caller(Protocol):
    users: UserLoader

    async def viewer(self) -> Identity | None: ...


async def visible_user(context: _Caller, user_id: int) -> Identity | None:
    """visible_identity for callers still passing the request context (schema/types.py
    until the read-path change lands); new code calls visible_identity."""
    return await visible_identity(await context.viewer(), user_id, context.users)


async def login(username: str, password: str, token_name: str = "login") -> LoginResult:
    """A new token for the account whose password this is; InvalidCredentials otherwise."""
    user = await verify_password(username, password)
    if user is None:
        logger.info("login refused for %r", username[:150])
        raise InvalidCredentials("invalid username or password")
    await User.filter(id=user.id).update(last_login=datetime.now(UTC))
    token = await create_token(user, token_name)
    logger.info("login: new token for %s", user.username)
    return LoginResult(token=token, user=await identity_of(user))


async def logout(viewer: Identity, token: str, forget: Callable[[str], None]) -> bool:
    """Revoke `token`, the one that made this request (the dashboard's "sign out"), so a
    copy left in a browser or a log no longer works; `forget` drops it from this
    process's identity cache at once. True when this call revoked it."""
    revoked = await revoke_token_key(token)
    forget(token)
    logger.info("logout: token revoked for %s", viewer.username)
    return revoked
