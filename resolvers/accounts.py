"""login: exchange a username and password for a new API token."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from models.credentials import Identity, create_token, identity_of, verify_password
from models.users import User
from resolvers.context import RequestContext
from resolvers.errors import ApiError, RateLimited

logger = logging.getLogger("resolvers.accounts")


MAX_USERNAME_LENGTH: int = User._meta.fields_map["username"].max_length


class InvalidCredentials(ApiError):
    code = "INVALID_CREDENTIALS"


@dataclass(frozen=True)
class LoginResult:
    token: str
    user: Identity


async def login(
    context: RequestContext, username: str, password: str, token_name: str = "login"
) -> LoginResult:
    if len(username) > MAX_USERNAME_LENGTH:
        # No account has such a name; refused before it is counted, checked or logged.
        raise InvalidCredentials("invalid username or password")
    wait = context.services.login_limiter.retry_after(username, context.client_address)
    if wait > 0:
        logger.warning("login rate-limited for %r from %s", username[:150], context.client_address)
        raise RateLimited(
            f"too many login attempts; retry in {wait:.0f} s", retryAfter=round(wait, 1)
        )
    user = await verify_password(username, password)
    if user is None:
        logger.info("login refused for %r", username[:150])
        raise InvalidCredentials("invalid username or password")
    await User.filter(id=user.id).update(last_login=datetime.now(UTC))
    token = await create_token(user, token_name)
    logger.info("login: new token for %s", user.username)
    return LoginResult(token=token, user=await identity_of(user))
