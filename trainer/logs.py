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


def configure_worker_logging() -> None:
    configure_logging()
