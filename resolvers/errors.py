"""Errors resolvers raise for a caller's mistake; the schema maps `code` into the response."""

from __future__ import annotations


class ApiError(Exception):
    """A request the server refuses on purpose; its message is safe to show the caller."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str, *, argument: str | None = None, **details: object) -> None:
        super().__init__(message)
        self.argument = argument
        self.details = details


class InvalidCursor(ApiError):
    code = "INVALID_CURSOR"


class RateLimited(ApiError):
    code = "RATE_LIMITED"
