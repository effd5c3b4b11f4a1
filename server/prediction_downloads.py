"""GET /predictions/{databaseId}/file: a batch prediction's output CSV, and
GET /predictions/{databaseId}/rejects: the rows it could not score, for HR staff.

Served as model files are (server/downloads.py's verified_file_response): streamed, HEAD,
Range / If-Range, ETag = the sha256 recorded when the job completed (304), and never
when the bytes changed since (409 OUTPUT_FILE_CHANGED). Only a COMPLETED job has an
output: a job that failed or was cancelled, or a worker killed mid-file, never names one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from models.training_runs import RunStatus
from models.trust_jobs import BatchPrediction
from resolvers.context import Services
from resolvers.errors import ErrorCode
from server.downloads import verified_file_response
from server.refusals import admit, json_error
from trainer.artifacts import UnsafePath, contained_path
from trainer.model_files import ModelFileChanged, ModelFileMissing, VerifiedModelFiles

logger = logging.getLogger("server.prediction_downloads")

_INT4_MAX = 2**31 - 1
_METHODS = ("GET", "HEAD")
_PREFIX = "predictions/"


def _job_id(text: str) -> int | None:
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    value = int(text)
    return value if 0 < value <= _INT4_MAX else None


def _not_found(job_id: int | None, reason: str = "") -> Response:
    what = f"batch prediction {job_id}" if job_id is not None else "this batch prediction"
    return json_error(404, f"{what} has no output to download{reason}", ErrorCode.NOT_FOUND)


class PredictionDownloads:
    """An ASGI app (as ModelDownloads), so an unsupported method is refused in JSON."""

    def __init__(
        self,
        services: Services,
        files: VerifiedModelFiles,
        cors_origins: Sequence[str] = (),
        *,
        rejects: bool = False,
    ) -> None:
        self.services = services
        self.files = files
        self.cors_origins = frozenset(cors_origins)
        # Which of the job's two files this route serves.
        self.rejects = rejects

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.respond(Request(scope, receive))
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        # HR staff start and download batch predictions; managers read the jobs only.
        caller = await admit(
            self.services,
            request,
            what="batch prediction download",
            methods=_METHODS,
            allowed=lambda identity: identity.can_train,
            refused=(
                "Downloading batch predictions is reserved to HR staff (DRH, RESPONSABLE_RH)."
            ),
        )
        if isinstance(caller, Response):
            return caller
        job_id = _job_id(request.path_params["job_id"])
        if job_id is None:
            return _not_found(None)
        job = await BatchPrediction.get_or_none(id=job_id)
        if job is None:
            return json_error(404, f"batch prediction {job_id} does not exist", ErrorCode.NOT_FOUND)
        if job.status != RunStatus.COMPLETED:
            return _not_found(job_id, f" (its status is {job.status.value})")
        relative, sha256 = (
            (job.rejects_path, job.rejects_sha256)
            if self.rejects
            else (job.output_path, job.output_sha256)
        )
        if not relative or not sha256:
            return _not_found(job_id)
        try:
            if not relative.startswith(_PREFIX):
                raise UnsafePath("is not inside the predictions folder")
            path = contained_path(self.services.artifacts.predictions, relative[len(_PREFIX) :])
            stat_result = await self.files.verify(path, sha256)
        except (UnsafePath, ModelFileMissing):
            logger.warning("prediction download: batch prediction %d's output is missing", job_id)
            return _not_found(job_id, " (its output file is missing)")
        except ModelFileChanged as exc:
            logger.error(
                "prediction download: batch prediction %d's output (%d bytes) no longer "
                "matches the sha256 recorded when it completed; not served",
                job_id,
                exc.size,
            )
            return json_error(
                409,
                f"the output file of batch prediction {job_id} no longer matches the checksum "
                "recorded when it completed; it was not served",
                ErrorCode.OUTPUT_FILE_CHANGED,
            )
        return verified_file_response(
            request,
            path,
            stat_result,
            sha256,
            filename=f"batch-prediction-{job_id}{'-rejects' if self.rejects else ''}.csv",
            media_type="text/csv",
            cors_origins=self.cors_origins,
        )
