"""How `make test` shares the suite between its pytest-xdist workers (`--dist loadgroup`).

Each test file is one unit of work, sent whole to one worker, so that its module fixtures
(a live server, a browser) start once. Files marked `xdist_group(NAME)` form one unit with
the other files of that group: those sharing a session fixture's server (which would
otherwise start on both workers) or an outside resource that two workers must not use at
once (the Redis database the Celery tests flush).
"""

from __future__ import annotations

from xdist.scheduler import LoadGroupScheduling


class FileOrGroupScheduling(LoadGroupScheduling):
    """xdist's loadgroup, with a file rather than a single test as the default unit."""

    def _split_scope(self, nodeid: str) -> str:
        if nodeid.rfind("@") > nodeid.rfind("]"):  # grouped: xdist appended "@NAME"
            scope: str = super()._split_scope(nodeid)
            return scope
        return nodeid.split("::", 1)[0]
