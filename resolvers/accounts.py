"""login: exchange a username and password for a new API token; logout: revoke it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from models.credentials import (
    Identity,
    Scope,
    create_token,
    identity_of,
    revoke_token_key,
    verify_password,
)
from models.users import USERNAME_MAX_LENGTH, User
from resolvers.context import RequestContext
from resolvers.errors import ApiError, RateLimited
from resolvers.telemetry import LOGIN_REFUSALS

logger = logging.getLogger("resolvers.accounts")


class InvalidCredentials(ApiError):
    code = "INVALID_CREDENTIALS"


@dataclass(frozen=True)
class LoginResult:
    token: str
    user: Identity


async def visible_user(context: RequestContext, user_id: int) -> Identity | None:
    """An account as the caller may see it: their own always, others only for HR staff
    and superusers; None otherwise, as for an account that does not exist, so a manager
    can neither list accounts nor tell which ids exist."""
    viewer = await context.viewer()
    if viewer is None:
        return None
    if viewer.id != user_id and Scope.READ_USERS not in viewer.scopes:
        return None
    return await context.users.load(user_id)


async def login(
    context: RequestContext, username: str, password: str, token_name: str = "login"
) -> LoginResult:
    """Refused attempts (over a limit, or a username no account can have) check no
    password; only checked attempts that failed count against the limits."""
    limiter = context.services.login_limiter
    address = context.client_address
    wait = limiter.address_retry_after(address)
    if wait <= 0 and len(username) > USERNAME_MAX_LENGTH:
        limiter.record_address_failure(address)
        logger.info("login refused for an over-long username from %s", address)
        raise InvalidCredentials("invalid username or password")
    wait = wait or limiter.username_retry_after(username)
    if wait > 0:
        LOGIN_REFUSALS.labels("rate_limited").inc()
        logger.warning("login rate-limited for %r from %s", username[:150], address)
        raise RateLimited(
            f"too many login attempts; retry in {wait:.0f} s", retryAfter=round(wait, 1)
        )
    attempt = limiter.begin(username, address)
    user = await verify_password(username, password)
    if user is None:
        LOGIN_REFUSALS.labels("invalid_credentials").inc()
        logger.info("login refused for %r", username[:150])
        raise InvalidCredentials("invalid username or password")
    attempt.succeeded()
    await User.filter(id=user.id).update(last_login=datetime.now(UTC))
    token = await create_token(user, token_name)
    logger.info("login: new token for %s", user.username)
    return LoginResult(token=token, user=await identity_of(user))


async def logout(context: RequestContext) -> bool:
    """Revoke the token that made this request (the dashboard's "sign out"), so a copy
    left in a browser or a log no longer works. True when this call revoked it."""
    viewer = await context.viewer()
    if viewer is None or context.token is None:
        return False
    revoked = await revoke_token_key(context.token)
    context.services.identities.forget(context.token)
    logger.info("logout: token revoked for %s", viewer.username)
    return revoked
