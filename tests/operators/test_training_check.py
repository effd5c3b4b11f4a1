"""The training-backend check behind /readyz for Celery: is the broker reachable?

(The local pool's check runs in test_health.py through the real app.) Needs
TEST_REDIS_URL; skipped without it, failed instead when REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.processes import free_port
from trainer.jobs.celery_app import CeleryRunner

REDIS_URL = os.environ.get("TEST_REDIS_URL")


@pytest.mark.celery
async def test_celery_check_says_whether_the_broker_answers() -> None:
    if not REDIS_URL:
        if REQUIRE_SERVICES:
            pytest.fail("needs TEST_REDIS_URL")
        pytest.skip("needs TEST_REDIS_URL")
    # The first connection also imports the broker's client: allow it time on a busy box.
    reachable = await CeleryRunner(
        REDIS_URL, max_active_runs_per_user=5, max_active_jobs_per_user=5
    ).check(60)
    assert reachable == {"ok": True, "backend": "celery"}

    started = time.monotonic()
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    nobody = await CeleryRunner(
        nowhere, max_active_runs_per_user=5, max_active_jobs_per_user=5
    ).check(2)
    assert nobody["ok"] is False
    error = nobody["error"]
    assert isinstance(error, str), error
    assert error.startswith("broker: ")
    assert time.monotonic() - started < 10  # bounded by its timeout, not hanging
