"""Keep the cyclic garbage collector off the objects the server holds for its lifetime.

Once started, the process holds some 130,000 objects that live as long as it does
(modules, the schema, Tortoise's models, the loaded libraries). CPython's collector
walks all of them at each full collection, which every request's allocations trigger
every few hundred requests: measured in-process at 0.3 ms a list request on average,
more than the rest of the API's own layers (bench/results/read-path-experiments.md).
`gc.freeze()` moves every object alive at that moment out of the collector's sight;
they are still freed by reference counting, only cycles among them wait until
`gc.unfreeze()`, which the server calls when it stops (so a process that starts and
stops many apps, such as the tests, leaks nothing).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def startup_objects_frozen() -> Iterator[None]:
    """Within it, the objects alive on entry are left out of full collections."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
