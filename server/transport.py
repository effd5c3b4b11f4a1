"""GraphQL over HTTP (the GraphQL Foundation's spec): which media type a response is
written in, and the refusals that answer before any GraphQL runs.

`application/graphql-response+json` lets a client tell a request error (the document
could not be parsed or validated, a variable could not be coerced: no `data`, a 4xx
status) from a field error (`data` present, 200). `application/json` keeps the status
200 for GraphQL errors, as clients written before the spec expect. A client sending no
Accept header, or `*/*`, gets `application/json`.
"""

from __future__ import annotations

from collections.abc import Mapping

from cross_web import HTTPException
from graphql import GraphQLError

from resolvers.errors import ErrorCode
from schema.errors import error_body

APPLICATION_JSON = "application/json"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
_RESPONSE_MEDIA_TYPES = (GRAPHQL_RESPONSE_JSON, APPLICATION_JSON)

_STATUS_CODES = {
    400: ErrorCode.BAD_REQUEST,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    406: ErrorCode.NOT_ACCEPTABLE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}


class RequestRefused(HTTPException):
    """A refusal answered as a GraphQL error body with a stable `extensions.code`.

    `status` maps media types to a status when it depends on them (persisted queries
    answer 200 in application/json, as Apollo's clients and servers do); `headers` go
    on the response (Allow for a 405, Cache-Control for a refusal that must not be
    cached).
    """

    def __init__(
        self,
        status_code: int,
        reason: str,
        *,
        code: ErrorCode | None = None,
        headers: Mapping[str, str] | None = None,
        status_for: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(status_code, reason)
        self.code = code or _STATUS_CODES.get(status_code, ErrorCode.BAD_REQUEST)
        self.headers = dict(headers or {})
        self.status_for = dict(status_for or {})

    @classmethod
    def from_http_exception(cls, exc: HTTPException) -> RequestRefused:
        if isinstance(exc, RequestRefused):
            return exc
        return cls(exc.status_code, exc.reason)

    def status(self, media_type: str) -> int:
        return self.status_for.get(media_type, self.status_code)

    def body(self, media_type: str) -> bytes:
        """The error as a GraphQL response. A request error has no `data` entry; the
        application/json form keeps `"data": null`, as this API always answered."""
        return error_body(self.reason, self.code, with_data=media_type != GRAPHQL_RESPONSE_JSON)


def _media_ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        media_range, *params = (piece.strip() for piece in part.split(";"))
        if not media_range:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges.append((media_range.lower(), quality))
    return ranges


def _quality(media_type: str, ranges: list[tuple[str, float]]) -> tuple[float, int]:
    """The quality the client gives `media_type`, from its most specific matching range,
    with that range's specificity (2 exact, 1 `type/*`, 0 `*/*`, -1 no match)."""
    kind = media_type.split("/")[0]
    best = (0.0, -1)
    for media_range, quality in ranges:
        if media_range == media_type:
            specificity = 2
        elif media_range == f"{kind}/*":
            specificity = 1
        elif media_range == "*/*":
            specificity = 0
        else:
            continue
        if specificity > best[1]:
            best = (quality, specificity)
    return best


def negotiate_media_type(accept: str | None) -> str | None:
    """The response media type for this Accept header, or None when the client accepts
    neither JSON form (the caller answers 406).

    Highest quality wins, then the type matched by the more specific range. When both
    are named with the same quality, graphql-response+json (the client knows it); when
    both only match a wildcard such as `*/*`, application/json (the client may not).
    """
    if not accept or not accept.strip():
        return APPLICATION_JSON
    ranges = _media_ranges(accept)

    def rank(media_type: str) -> tuple[float, int, bool]:
        quality, specificity = _quality(media_type, ranges)
        named = specificity == 2
        return quality, specificity, named == (media_type == GRAPHQL_RESPONSE_JSON)

    best = max(_RESPONSE_MEDIA_TYPES, key=rank)
    return best if rank(best)[0] > 0 else None


def is_request_error(data: object, errors: list[GraphQLError] | None) -> bool:
    """Whether a result failed before execution began (parse, validation, variable
    coercion, operation selection): then there is no data and no error has a path,
    whereas a field error always carries the path of its field."""
    return data is None and bool(errors) and all(error.path is None for error in errors or [])
