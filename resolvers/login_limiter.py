"""A sliding-window limiter for failed login attempts, per username and per client address.

Only attempts whose password was actually checked count, and only when they failed: a
refused attempt (over either limit) is not counted at all, so nobody can keep an account
locked by sending its username from an address that is already over its own limit, and
people behind one NAT who log in successfully do not use up each other's budget.

Memory is bounded twice: each key keeps at most `limit` timestamps, and the table keeps at
most `max_keys` keys, the least recently touched going first (O(1) per eviction): the
sliding windows of resolvers/rate_limits.py, whose token buckets bound predictions. Keys are
usernames no longer than the username column (longer ones are refused before they get
here) and addresses, so the table's size is bounded in bytes too.

It lives in the server process: with several processes each counts its own share, so
the effective limit is (limit times processes). That bounds password guessing to a few per
second at most, which argon2's cost makes hopeless.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import Counter

from models.accounts import USERNAME_MAX_LENGTH
from resolvers.errors import InvalidCredentials
from resolvers.rate_limits import SlidingWindow, rate_limited

logger = logging.getLogger("resolvers.accounts")  # the name these lines always had
T = TypeVar("T")

# Exposed by /metrics with the instruments of schema/telemetry.py.
LOGIN_REFUSALS = Counter(
    "training_api_login_refusals",
    "Refused login attempts, by reason (invalid_credentials, rate_limited).",
    ["reason"],
)


@dataclass(frozen=True)
class Attempt:
    """A login attempt counted as a failure until it is known to have succeeded.

    Counted up front, so that concurrent attempts (password checks run in threads) cannot
    all pass the limit check before any of them is counted.
    """

    limiter: LoginLimiter
    username: str
    address: str
    stamps: tuple[float, float]

    def succeeded(self) -> None:
        self.limiter.per_username.forget(self.username, self.stamps[0])
        self.limiter.per_address.forget(self.address, self.stamps[1])


@dataclass
class LoginLimiter:
    per_username: SlidingWindow
    per_address: SlidingWindow

    def address_retry_after(self, address: str | None) -> float:
        return self.per_address.retry_after(address or "-")

    def username_retry_after(self, username: str) -> float:
        return self.per_username.retry_after(username.lower())

    def record_address_failure(self, address: str | None) -> None:
        self.per_address.record(address or "-")

    def begin(self, username: str, address: str | None) -> Attempt:
        """Count an attempt about to be checked; call `succeeded()` if it was right."""
        user_key, address_key = username.lower(), address or "-"
        stamps = (self.per_username.record(user_key), self.per_address.record(address_key))
        return Attempt(self, user_key, address_key, stamps)


async def limited_login(
    limiter: LoginLimiter,
    address: str | None,
    username: str,
    check: Callable[[], Awaitable[T]],
) -> T:
    """Run `check` (the login resolver) under the limits.

    Refused attempts (over a limit, or a username no account can have) check no
    password; only checked attempts that failed (InvalidCredentials) count.
    """
    wait = limiter.address_retry_after(address)
    if wait <= 0 and len(username) > USERNAME_MAX_LENGTH:
        limiter.record_address_failure(address)
        logger.info("login refused for an over-long username from %s", address)
        raise InvalidCredentials("invalid username or password")
    wait = wait or limiter.username_retry_after(username)
    if wait > 0:
        LOGIN_REFUSALS.labels("rate_limited").inc()
        logger.warning("login rate-limited for %r from %s", username[:150], address)
        raise rate_limited("too many login attempts", wait)
    attempt = limiter.begin(username, address)
    try:
        result = await check()
    except InvalidCredentials:
        LOGIN_REFUSALS.labels("invalid_credentials").inc()
        raise
    attempt.succeeded()
    return result
