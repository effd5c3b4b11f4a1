"""Logging set-up shared by the server and worker processes: one line per event.

Two formats (LOG_FORMAT): `text` for people, `json` (one object per line) for log
collectors. Either way each line carries what is known about where it comes from: the
request id, GraphQL operation and user of an HTTP request, the run id of a training job.
Those come from a context variable (`log_context`), set by the web layer for a request and
by the job for a run, so code that logs needs not pass them around; asyncio tasks and
`asyncio.to_thread` copy it, so a training thread's lines carry their run id too.
"""

from __future__ import annotations

import json
import logging
import logging.config
from contextvars import ContextVar, Token
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any, Literal

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s%(context)s"
LogFormat = Literal["text", "json"]


@dataclass
class LogContext:
    """Where a log line comes from. Mutable on purpose: a request binds one object, and
    what is learnt later (the user, once a resolver has authenticated it) is set on that
    same object, which the tasks started for the request share."""

    request_id: str | None = None
    operation: str | None = None
    user: str | None = None
    run_id: int | None = None
    # The other jobs (issue 24): "batch_prediction 3", "evaluation 7".
    job: str | None = None


log_context: ContextVar[LogContext | None] = ContextVar("log_context", default=None)


def bind_log_context(**values: Any) -> Token[LogContext | None]:
    """A new context for the current task (copying what is already bound), for
    `log_context.reset(token)` when it ends."""
    current = log_context.get() or LogContext()
    return log_context.set(replace(current, **values))


def update_log_context(**values: Any) -> None:
    """Record what was learnt about the current request or run, if one is bound."""
    current = log_context.get()
    if current is not None:
        for name, value in values.items():
            setattr(current, name, value)


class ContextFilter(logging.Filter):
    """Copies the bound LogContext onto each record (and a text rendering of it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = log_context.get()
        parts = []
        for field in fields(LogContext):
            value = getattr(current, field.name) if current is not None else None
            setattr(record, field.name, value)
            if value is not None:
                parts.append(f"{field.name}={value}")
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context, exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for field in fields(LogContext):
            value = getattr(record, field.name, None)
            if value is not None:
                entry[field.name] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


def logging_config(level: str, log_format: str) -> dict[str, Any]:
    """A logging.config.dictConfig for this process; uvicorn applies it in each of its
    worker processes too (`log_config`), so every process logs the same way."""
    level = level.upper()
    log_format = log_format.lower()
    formatter: dict[str, Any] = (
        {"()": "trainer.logs.JsonFormatter"} if log_format == "json" else {"format": FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "trainer.logs.ContextFilter"},
            "redact": {"()": "trainer.logs.RedactQueryString"},
        },
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["context"],
                # The process's real stderr: a Celery worker replaces sys.stderr with a
                # proxy that logs what is written to it, and records would loop back into
                # it and be lost.
                "stream": "ext://sys.__stderr__",
            }
        },
        "root": {"level": level, "handlers": ["default"]},
        "loggers": {
            # Tortoise logs every SQL statement at DEBUG; keep that out of INFO logs.
            "tortoise": {"level": "WARNING"},
            # uvicorn's own loggers go through the same handler (and format).
            **{
                name: {"level": level, "handlers": [], "propagate": True}
                for name in ("uvicorn", "uvicorn.error")
            },
            "uvicorn.access": {
                "level": level,
                "handlers": [],
                "propagate": True,
                "filters": ["redact"],
            },
        },
    }


def configure_logging(level: str, log_format: str) -> None:
    logging.config.dictConfig(logging_config(level, log_format))


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
