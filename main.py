"""Composition root: puts the settings (server/settings.py), the job runner, the ASGI app
(server/app.py) and the command line (server/cli.py) together.

python main.py serve            # migrate, then serve http://127.0.0.1:8000/graphql
python main.py --help           # every command
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from models.db import tortoise_config
from server.cli import build_parser, main, migrate
from server.settings import Settings, job_settings

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from trainer.jobs.runners import JobRunner

__all__ = [
    "Settings",
    "build_parser",
    "build_runner",
    "create_app",
    "main",
    "migrate",
]

# The web stack and the job runners are imported inside the functions that need them: a
# command such as `token create` starts without them (tests/api/test_cli.py).


def build_runner(settings: Settings) -> JobRunner:
    from trainer.jobs.runners import LocalPoolRunner

    if settings.training_backend == "celery":
        from trainer.jobs.celery_app import CeleryRunner

        return CeleryRunner(
            settings.celery_broker_url,
            max_active_runs_per_user=settings.max_active_runs_per_user,
            max_active_jobs_per_user=settings.max_active_jobs_per_user,
        )
    return LocalPoolRunner(
        settings.db_url,
        job_settings(settings),
        settings.training_workers,
        warm_up=settings.training_warm_up,
        max_active_runs_per_user=settings.max_active_runs_per_user,
        max_active_jobs_per_user=settings.max_active_jobs_per_user,
    )


def create_app(settings: Settings | None = None) -> Starlette:
    """The ASGI app (server/app.py) for these settings, or for the environment's:
    what `serve` (uvicorn's factory, in each worker process) and the tests run."""
    from server.app import build_app

    settings = settings or Settings()
    return build_app(settings, build_runner(settings))


def __getattr__(name: str) -> dict[str, Any]:
    """`main.TORTOISE_ORM`, read by the `tortoise` command line ([tool.tortoise] in
    pyproject.toml), built from the settings only when that tool asks for it."""
    if name == "TORTOISE_ORM":
        return tortoise_config(Settings().db_url)
    raise AttributeError(f"module 'main' has no attribute {name!r}")


if __name__ == "__main__":
    sys.exit(main())
