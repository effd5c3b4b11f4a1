"""Every error code the API answers with, and the types that carry them.

Two kinds of refusal, one vocabulary:
- a refused mutation input comes back in the payload's `errors` as `FieldError`s (which
  field, why, a `FieldErrorCode`, exposed in GraphQL as `UserErrorCode`), and changes nothing;
- a refused request (bad id, over a limit, not logged in...) is a GraphQL error whose
  `extensions.code` is an `ErrorCode`: resolvers raise `ApiError`, the schema maps it
  (schema/errors.py), and HTTP-level refusals answer the same body (schema/errors.error_body).

Both enums are `StrEnum`s: each member is its wire string, which clients depend on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

# Re-exported: schema/errors.py maps an outage to SERVICE_UNAVAILABLE without reading models/.
from models.availability import is_database_outage as is_database_outage

if TYPE_CHECKING:
    from models.run_records import RunRecord


class ErrorCode(StrEnum):
    """`extensions.code` of a GraphQL error or of an HTTP error body."""

    # the document and the request
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE"
    BAD_REQUEST = "BAD_REQUEST"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    # query limits (schema/limits.py, schema/cost.py)
    QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
    QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"
    TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
    TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
    TOO_MANY_ROOT_FIELDS = "TOO_MANY_ROOT_FIELDS"
    INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"
    # persisted queries (server/persisted_queries.py)
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
    PERSISTED_QUERY_INVALID = "PERSISTED_QUERY_INVALID"
    PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
    # who is calling
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    RATE_LIMITED = "RATE_LIMITED"
    TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"
    # what was asked for
    NOT_FOUND = "NOT_FOUND"
    INVALID_CURSOR = "INVALID_CURSOR"
    MODEL_FILE_CHANGED = "MODEL_FILE_CHANGED"
    # GET /predictions/{id}/file: the output's bytes are no longer those recorded (HTTP 409)
    OUTPUT_FILE_CHANGED = "OUTPUT_FILE_CHANGED"
    # GET /runs/{id}/model: a Range header beyond the file's end (HTTP 416)
    RANGE_NOT_SATISFIABLE = "RANGE_NOT_SATISFIABLE"
    # predictFutureNeed (issue 10)
    MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
    MODEL_FILE_MISSING = "MODEL_FILE_MISSING"
    MODEL_FILE_INVALID = "MODEL_FILE_INVALID"
    MODEL_TOO_LARGE = "MODEL_TOO_LARGE"
    # the server
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


class FieldErrorCode(StrEnum):
    """Why a mutation refused its input (GraphQL: UserErrorCode); stable, unlike messages."""

    OUT_OF_RANGE = "OUT_OF_RANGE"
    INVALID = "INVALID"
    DUPLICATE = "DUPLICATE"
    PATH_NOT_ALLOWED = "PATH_NOT_ALLOWED"
    NOT_FOUND = "NOT_FOUND"
    INVALID_STATE = "INVALID_STATE"
    TOO_MANY_ACTIVE_RUNS = "TOO_MANY_ACTIVE_RUNS"
    DATASET_EXISTS = "DATASET_EXISTS"
    DATASET_INVALID = "DATASET_INVALID"
    # uploadDataset / deleteDataset (dataset quotas and deletion)
    DATASET_QUOTA_EXCEEDED = "DATASET_QUOTA_EXCEEDED"
    DATASET_PROTECTED = "DATASET_PROTECTED"
    DATASET_IN_USE = "DATASET_IN_USE"
    DATASET_NOT_OWNED = "DATASET_NOT_OWNED"
    # createWebhook / updateWebhook: not http(s), or an address the server must not reach
    URL_NOT_ALLOWED = "URL_NOT_ALLOWED"
    # setModelAlias(gate:): the candidate did not reach the current model (issue 24)
    PROMOTION_GATE_FAILED = "PROMOTION_GATE_FAILED"
    # startBatchPrediction / startEvaluation: MAX_ACTIVE_JOBS_PER_USER reached (issue 24)
    TOO_MANY_ACTIVE_JOBS = "TOO_MANY_ACTIVE_JOBS"


@dataclass(frozen=True)
class FieldError:
    """One refused input: the path to the field (e.g. [input, hyperparameters, nEstimators])."""

    field: list[str]
    message: str
    code: FieldErrorCode


@dataclass
class RunOutcome:
    """What a mutation on a run returns: the run, and/or the field errors that refused it."""

    training_run: RunRecord | None = None
    errors: list[FieldError] = field(default_factory=list)


class ApiError(Exception):
    """A request the server refuses on purpose; its message is safe to show the caller.

    `code` overrides the class's own (a refusal met in one place needs no class of its
    own); `argument` names the refused argument; `details` go into the error's extensions.
    """

    code: ErrorCode = ErrorCode.BAD_USER_INPUT

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        argument: str | None = None,
        **details: object,
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.argument = argument
        self.details = details


class NotFound(ApiError):
    code = ErrorCode.NOT_FOUND


class InvalidCursor(ApiError):
    code = ErrorCode.INVALID_CURSOR


class RateLimited(ApiError):
    code = ErrorCode.RATE_LIMITED


class InvalidCredentials(ApiError):
    code = ErrorCode.INVALID_CREDENTIALS


class TooManySubscriptions(ApiError):
    code = ErrorCode.TOO_MANY_SUBSCRIPTIONS


# --- predictFutureNeed (issue 10) ---
class ModelNotFound(ApiError):
    """No alias or modelVersion of that name, or its run has no model to answer with."""

    code = ErrorCode.MODEL_NOT_FOUND
