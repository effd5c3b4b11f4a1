"""GET /runs/{databaseId}/model: a trained model file, for HR staff.

The REST original's `runs/<id>/download`, done as a download should be: Starlette's
FileResponse streams the file in chunks (never whole in memory) and answers HEAD and
Range / If-Range (206, resumable downloads); the ETag is the sha256 recorded when the run
was trained, so `If-None-Match` answers 304 and a client can check what it received. A
file whose bytes no longer match that sha256 is never served (409 MODEL_FILE_CHANGED);
trainer/model_files.py remembers what it verified so a download reads the file once.

Refusals are JSON in the API's error shape, `{"errors": [{"message", "extensions":
{"code"}}]}`, with the codes GraphQL uses (UNAUTHENTICATED, FORBIDDEN, NOT_FOUND), a
malformed or unsatisfiable Range header included (400 BAD_REQUEST, 416
RANGE_NOT_SATISFIABLE), which FileResponse would answer in plain text.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    MalformedRangeHeader,
    RangeNotSatisfiable,
    Response,
)
from starlette.types import Receive, Scope, Send

from models.run_records import RunRecord, get_run_record
from models.training_runs import RunStatus
from resolvers.context import Services
from resolvers.errors import ErrorCode
from server.audit import audit_http
from server.refusals import admit, json_error
from trainer.artifacts import UnsafePath
from trainer.model_files import (
    ModelFileChanged,
    ModelFileMissing,
    VerifiedModelFiles,
    model_file_path,
)

logger = logging.getLogger("schema.http.downloads")  # the name these lines always had

_INT4_MAX = 2**31 - 1
_COLUMNS = ("id", "status", "model_version", "model_path", "model_sha256")
_METHODS = ("GET", "HEAD")


def _run_id(text: str) -> int | None:
    """The path's run id when it can name a row (a positive int4), else None (404)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    value = int(text)
    return value if 0 < value <= _INT4_MAX else None


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison, as If-None-Match uses: `*` or any listed tag."""
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


def _range_refusal(request: Request, response: FileResponse, size: int) -> Response | None:
    """The JSON refusal of a Range header FileResponse would refuse (in plain text), or
    None. Its own parser and If-Range rule decide, so both refuse exactly the same
    headers: a malformed one (400) and one starting past the end (416, with the
    Content-Range a client resumes from)."""
    http_range = request.headers.get("range")
    if http_range is None:
        return None
    if_range = request.headers.get("if-range")
    if if_range is not None and not response._should_use_range(if_range):
        return None  # the whole file is sent: the range does not matter
    try:
        FileResponse._parse_range_header(http_range, size)
    except MalformedRangeHeader as exc:
        return json_error(400, f"malformed Range header: {exc.content}", ErrorCode.BAD_REQUEST)
    except RangeNotSatisfiable as exc:
        return json_error(
            416,
            f"the Range header asks for bytes past the end of the file ({exc.max_size} bytes)",
            ErrorCode.RANGE_NOT_SATISFIABLE,
            {"content-range": f"bytes */{exc.max_size}"},
        )
    return None


def _not_found(run_id: int | None, reason: str = "") -> Response:
    what = f"training run {run_id}" if run_id is not None else "this training run"
    return json_error(404, f"{what} has no model to download{reason}", ErrorCode.NOT_FOUND)


class ModelDownloads:
    """An ASGI app rather than a plain endpoint, so that the route passes every method to
    it and an unsupported one is answered in JSON like the other refusals."""

    def __init__(
        self, services: Services, files: VerifiedModelFiles, cors_origins: Sequence[str] = ()
    ) -> None:
        self.services = services
        self.files = files
        # Exposed here rather than through CORSMiddleware's expose_headers, which would
        # send Access-Control-Expose-Headers to every origin, refused ones included.
        self.cors_origins = frozenset(cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.respond(Request(scope, receive))
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        """The answer, recorded in the audit log whatever it is (served or refused)."""
        response = await self._respond(request)
        run_id = request.path_params.get("run_id", "")
        return await audit_http(request, "downloadModel", response, {"runId": run_id})

    async def _respond(self, request: Request) -> Response:
        # Those who may train (HR staff, superusers): a model file is the organisation's
        # asset; managers read metrics only.
        caller = await admit(
            self.services,
            request,
            what="model download",
            methods=_METHODS,
            allowed=lambda identity: identity.can_train,
            refused="Downloading model files is reserved to HR staff (DRH, RESPONSABLE_RH).",
        )
        if isinstance(caller, Response):
            return caller
        run_id = _run_id(request.path_params["run_id"])
        if run_id is None:
            return _not_found(None)
        run = await get_run_record(run_id, _COLUMNS)
        if run is None:
            return json_error(404, f"training run {run_id} does not exist", ErrorCode.NOT_FOUND)
        return await self._serve(request, run)

    async def _serve(self, request: Request, run: RunRecord) -> Response:
        run_id: int = run.id
        status: str = run.status
        model_path: str | None = run.model_path
        sha256: str | None = run.model_sha256
        if status != RunStatus.COMPLETED:
            return _not_found(run_id, f" (its status is {status})")
        if not model_path or not sha256:
            return _not_found(run_id)
        try:
            path = model_file_path(self.services.artifacts, model_path)
            stat_result = await self.files.verify(path, sha256)
        except UnsafePath:
            logger.error("model download: run %d's model path is outside the models folder", run_id)
            return _not_found(run_id, " (its model file is missing)")
        except ModelFileMissing:
            logger.warning("model download: run %d's model file is missing", run_id)
            return _not_found(run_id, " (its model file is missing)")
        except ModelFileChanged as exc:
            logger.error(
                "model download: run %d's model file (%d bytes) no longer matches the sha256 "
                "recorded when it was trained; not served",
                run_id,
                exc.size,
            )
            return json_error(
                409,
                f"the model file of training run {run_id} no longer matches the checksum "
                "recorded when it was trained; it was not served",
                ErrorCode.MODEL_FILE_CHANGED,
            )
        return verified_file_response(
            request,
            path,
            stat_result,
            sha256,
            filename=f"{run.model_version}.joblib",
            media_type="application/octet-stream",
            cors_origins=self.cors_origins,
        )


def verified_file_response(
    request: Request,
    path: Path,
    stat_result: os.stat_result,
    sha256: str,
    *,
    filename: str,
    media_type: str,
    cors_origins: frozenset[str],
) -> Response:
    """Serve a file whose bytes were just verified to hash to `sha256`: ETag = that
    sha256 (304 on If-None-Match), streamed in chunks with HEAD, Range and If-Range, and
    Range refusals in JSON. Shared by model downloads and batch prediction outputs."""
    etag = f'"{sha256}"'
    # Authenticated content: no shared cache keeps it; clients revalidate (304).
    headers = {"etag": etag, "cache-control": "private, no-cache"}
    if request.headers.get("origin") in cors_origins:
        # A page on an allowed origin reads the file name and the checksum.
        headers["access-control-expose-headers"] = "Content-Disposition, ETag"
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and _etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    response = FileResponse(
        path,
        media_type=media_type,
        filename=filename,
        stat_result=stat_result,
        headers=headers,
    )
    return _range_refusal(request, response, stat_result.st_size) or response
