"""Logging set-up shared by the server and worker processes: one line per event."""

from __future__ import annotations

import logging
import os

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


def configure_logging(level: str | None = None) -> None:
    logging.basicConfig(
        level=(level or os.environ.get("LOG_LEVEL", "INFO")).upper(), format=FORMAT, force=True
    )
    # Tortoise logs every SQL statement at DEBUG; keep that out of INFO logs.
    logging.getLogger("tortoise").setLevel(logging.WARNING)


def configure_worker_logging() -> None:
    configure_logging()
