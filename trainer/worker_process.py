"""One training worker process: its event loop and database connection, set up once.

Shared by the local pool (ProcessPoolExecutor initializer) and Celery (worker process
init signal), so both execute runs with the very same code.
"""

from __future__ import annotations

import asyncio
import os

from trainer.jobs import JobSettings, execute_run

_loop: asyncio.AbstractEventLoop | None = None
_settings: JobSettings | None = None


def init_worker_process(database_url: str, settings: JobSettings) -> None:
    global _loop, _settings
    from tortoise import Tortoise

    from models.db import tortoise_config
    from trainer.logs import configure_logging

    configure_logging()
    if settings.nice > 0:
        os.nice(settings.nice)
    # Import scikit-learn now, once per process, rather than inside the first run.
    import trainer.model_trainer  # noqa: F401

    _settings = settings
    _loop = asyncio.new_event_loop()
    asyncio.set_event_loop(_loop)
    # Global fallback: the ORM context must outlive this init task and serve every job.
    _loop.run_until_complete(
        Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    )


def run_in_worker_process(run_id: int) -> str | None:
    """Execute one run; returns its final status, or None when it was not ours to run."""
    assert _loop is not None, "worker process not initialised"
    assert _settings is not None, "worker process not initialised"
    status = _loop.run_until_complete(execute_run(run_id, _settings))
    return status.value if status else None


def ready() -> bool:
    """A no-op task that makes the pool start (and import) its processes ahead of time."""
    return True
