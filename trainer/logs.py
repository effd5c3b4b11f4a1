"""Logging set-up shared by the server and worker processes: one line per event."""

from __future__ import annotations

import logging
import os
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


def configure_logging(level: str | None = None) -> None:
    logging.basicConfig(
        level=(level or os.environ.get("LOG_LEVEL", "INFO")).upper(),
        format=FORMAT,
        force=True,
        # The process's real stderr: a Celery worker replaces sys.stderr with a proxy that
        # logs what is written to it, and records would loop back into it and be lost.
        stream=sys.__stderr__,
    )
    # Tortoise logs every SQL statement at DEBUG; keep that out of INFO logs.
    logging.getLogger("tortoise").setLevel(logging.WARNING)
    redact_access_log()


# Longest request path an access log line shows.
MAX_LOGGED_PATH = 200


class RedactQueryString(logging.Filter):
    """Keeps query strings out of uvicorn's access log: a GET to /graphql carries the
    whole operation there, passwords and tokens included; and bounds the path.

    uvicorn logs (client, method, path with query, HTTP version, status) as the record's
    args; only the path is rewritten.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path, mark, _query = args[2].partition("?")
            if len(path) > MAX_LOGGED_PATH:
                path = f"{path[:MAX_LOGGED_PATH]}..."
            record.args = (args[0], args[1], path + ("?[redacted]" if mark else ""), *args[3:])
        return True


def redact_access_log() -> None:
    """Install RedactQueryString on uvicorn's access logger, once per process.

    A filter on the logger survives uvicorn's own logging set-up (dictConfig replaces
    handlers, not filters); main.create_app calls this too, for uvicorn's worker
    processes, which do not run configure_logging.
    """
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, RedactQueryString) for existing in access.filters):
        access.addFilter(RedactQueryString())


def configure_worker_logging() -> None:
    configure_logging()
