"""The local pool's waiting line: fair between users, first come first served for each.

A plain FIFO lets one user's backlog hold everyone else's runs back; here the next run is
taken from the user served longest ago (a user not served yet comes first), so another
user's run waits for at most one run of each user ahead of it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class FairQueue(Generic[T]):
    def __init__(self) -> None:
        self._waiting: dict[Hashable, deque[T]] = {}
        self._served_at: dict[Hashable, int] = {}
        self._turn = 0

    def __len__(self) -> int:
        return sum(len(runs) for runs in self._waiting.values())

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def put(self, owner: Hashable, run_id: T) -> None:
        self._waiting.setdefault(owner, deque()).append(run_id)

    def pop(self) -> T:
        """The next run to start; raises IndexError when nothing waits."""
        if not self._waiting:
            raise IndexError("no run is waiting")
        # min() keeps the first of equals: among users never served, the earliest to arrive.
        owner = min(self._waiting, key=lambda o: self._served_at.get(o, -1))
        runs = self._waiting[owner]
        run_id = runs.popleft()
        self._turn += 1
        if runs:
            self._served_at[owner] = self._turn
        else:
            # Forgotten once nothing of theirs waits: the table only holds users with a backlog.
            del self._waiting[owner]
            self._served_at.pop(owner, None)
        return run_id
