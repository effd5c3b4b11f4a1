"""Live servers started in the background while the in-process tests run.

Starting a `main.py serve` process costs seconds, mostly its imports, and the in-process
tests leave the machine's second core idle. A module- or session-scoped fixture whose
setup only starts servers can be marked `@prestartable` (under `@pytest.fixture`): when the
session begins, `start_collected` runs the setup of each such fixture that a collected test
uses, one at a time, in the background, in the order the tests need them; the fixture then
takes its pre-started value instead of waiting for a start of its own, and its teardown
runs as usual. Without a pre-start (a fixture that no pre-start reached, or one that failed)
the fixture simply starts its server itself.

Only fixtures whose arguments are session-scoped fixtures (tmp_path_factory, ...) can be
pre-started; their setup must not depend on what the tests before them did, and must only
start processes (and warm their pools): a setup that trains would compete for the cores
with the timed tests running meanwhile (the server-kill scenario of test_crash_safety is
left out for that reason).

Under pytest-xdist (`make test` runs the suite on two workers) nothing is pre-started: the
other worker keeps the second core busy already, and a worker cannot know which of the
collected tests it will be sent, so it would start servers for the other worker's tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
FixtureFunction = Callable[..., AsyncIterator[Any]]
logger = logging.getLogger(__name__)

# The fixture functions that may be pre-started (the undecorated ones).
PRESTARTABLE: set[FixtureFunction] = set()


@dataclass
class Prestarted:
    """One fixture's setup, run (or running) in the background."""

    generator: AsyncIterator[Any]
    setup: asyncio.Task[Any]
    taken: bool = False


@dataclass
class Prestarts:
    by_function: dict[FixtureFunction, Prestarted] = field(default_factory=dict)
    # Fixtures set up by now, pre-started or not: the background runner skips them.
    claimed: set[FixtureFunction] = field(default_factory=set)
    runner: asyncio.Task[None] | None = None

    def take(self, function: FixtureFunction) -> Prestarted | None:
        self.claimed.add(function)
        prestarted = self.by_function.get(function)
        if prestarted is None or prestarted.taken:
            return None
        prestarted.taken = True
        return prestarted


PRESTARTS = Prestarts()


def prestartable(function: Callable[..., AsyncIterator[T]]) -> Callable[..., AsyncIterator[T]]:
    """Let this async-generator fixture's setup be run in the background beforehand."""
    PRESTARTABLE.add(function)

    @functools.wraps(function)
    async def fixture(**kwargs: Any) -> AsyncIterator[T]:
        prestarted = PRESTARTS.take(function)
        value: Any = None
        if prestarted is not None:
            try:
                value = await prestarted.setup
            except Exception:  # start it here instead, where its error will show
                logger.warning("pre-start of %s failed; starting it now", function.__name__)
                prestarted = None
        generator = prestarted.generator if prestarted is not None else function(**kwargs)
        if prestarted is None:
            value = await generator.__anext__()
        try:
            yield value
        finally:
            with contextlib.suppress(StopAsyncIteration):
                await generator.__anext__()
                raise RuntimeError(f"{function.__name__} yielded twice")

    return fixture


def _prestartable_fixtures(items: list[pytest.Item]) -> list[tuple[FixtureFunction, list[str]]]:
    """The prestartable fixtures the collected items use, in the order first needed."""
    found: dict[FixtureFunction, list[str]] = {}
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        for name in item.fixturenames:  # type: ignore[attr-defined]  # any item with a _fixtureinfo has them; pytest.Item does not declare them
            for definition in info.name2fixturedefs.get(name, ()):
                function = inspect.unwrap(definition.func)
                if function in PRESTARTABLE and function not in found:
                    found[function] = list(inspect.signature(function).parameters)
    return list(found.items())


async def start_collected(request: pytest.FixtureRequest) -> None:
    """Begin pre-starting, one after the other, the fixtures the session's tests will use;
    nothing on an xdist worker (see the module docstring)."""
    if hasattr(request.config, "workerinput"):
        return
    wanted = []
    for function, arguments in _prestartable_fixtures(request.session.items):
        try:
            kwargs = {name: request.getfixturevalue(name) for name in arguments}
        except Exception:  # an argument that is not session-wide: no pre-start
            continue
        wanted.append((function, kwargs))
    if not wanted:
        return

    async def one_after_another() -> None:
        for function, kwargs in wanted:
            if function in PRESTARTS.claimed:
                continue
            generator = function(**kwargs)
            setup = asyncio.ensure_future(generator.__anext__())
            PRESTARTS.by_function[function] = Prestarted(generator, setup)
            with contextlib.suppress(Exception):
                await asyncio.shield(setup)

    PRESTARTS.runner = asyncio.create_task(one_after_another())


async def stop_untaken() -> None:
    """Tear down what was pre-started for tests that did not run (-x, a failure, ...)."""
    if PRESTARTS.runner is not None:
        PRESTARTS.runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await PRESTARTS.runner
    for prestarted in PRESTARTS.by_function.values():
        if prestarted.taken:
            continue
        prestarted.taken = True
        if not prestarted.setup.done():
            prestarted.setup.cancel()
        with contextlib.suppress(BaseException):
            await prestarted.setup
        with contextlib.suppress(Exception):
            await prestarted.generator.aclose()  # type: ignore[attr-defined]  # an async generator's, though the fixtures are typed AsyncIterator
