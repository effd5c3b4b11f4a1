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


# --- predictFutureNeed (issue 10) ---
class ModelNotFound(ApiError):
    """No alias or modelVersion of that name, or its run has no model to answer with."""

    code = "MODEL_NOT_FOUND"


class ModelFileMissing(ApiError):
    code = "MODEL_FILE_MISSING"


class ModelFileChanged(ApiError):
    """The model file's bytes are not those the run recorded: it was not loaded."""

    code = "MODEL_FILE_CHANGED"
