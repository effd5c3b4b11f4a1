"""/healthz and /readyz, for load balancers and orchestrators.

/healthz answers "is this process alive" and touches nothing else, so a database outage
does not get healthy processes restarted. /readyz answers "should traffic come here":
the database answers, every shipped migration is applied, and runs can be handed to the
training backend. Each check has its own short timeout; the answer says what was checked.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse

from models.availability import Check, MigrationsCheck, database_check, timed
from trainer.jobs.runners import JobRunner


async def healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


class Readiness:
    def __init__(self, database_url: str, runner: JobRunner, timeout: float) -> None:
        self.migrations = MigrationsCheck(database_url)
        self.runner = runner
        self.timeout = timeout

    async def _training(self) -> Check:
        result = dict(await self.runner.check(self.timeout))
        return Check(bool(result.pop("ok")), result)

    async def respond(self, _request: Request) -> JSONResponse:
        database, migrations, training = await asyncio.gather(
            timed("database", self.timeout, database_check()),
            timed("migrations", self.timeout, self.migrations()),
            timed("training", self.timeout, self._training()),
        )
        checks = {"database": database, "migrations": migrations, "training": training}
        ready = all(check.ok for check in checks.values())
        return JSONResponse(
            {
                "status": "ready" if ready else "unavailable",
                "checks": {name: check.as_dict() for name, check in checks.items()},
            },
            status_code=200 if ready else 503,
            headers={"cache-control": "no-store"},
        )
