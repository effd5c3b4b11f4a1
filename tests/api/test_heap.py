"""The server keeps its start-up objects out of the cyclic GC's full collections while
it runs (server/heap.py): walking them cost ~0.3 ms a list request."""

from __future__ import annotations

import gc

from tests.conftest import Server


async def test_a_running_server_has_frozen_its_startup_objects(server: Server) -> None:
    # The session's server has gone through its lifespan's start-up: the modules, the
    # schema and the models are out of the collector's sight.
    assert gc.get_freeze_count() > 10_000
