"""A bound on how many subscriptions one account may keep open at once.

Each open subscription costs a queue, a task and a share of every poll of the run
watcher; twenty connections of a hundred subscriptions each pushed every client's latency
towards a second (issue 12). Counted per account across all its connections in this
process; WS_MAX_SUBSCRIPTIONS_PER_USER sets the bound.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from resolvers.errors import TooManySubscriptions


class SubscriptionSlots:
    def __init__(self, max_per_user: int) -> None:
        self.max_per_user = max_per_user
        self._open: dict[int, int] = {}

    @contextmanager
    def hold(self, user_id: int) -> Iterator[None]:
        """One slot for the life of a subscription; refused when the account has none left."""
        held = self._open.get(user_id, 0)
        if held >= self.max_per_user:
            raise TooManySubscriptions(
                f"at most {self.max_per_user} subscriptions may be open at once per account",
                limit=self.max_per_user,
            )
        self._open[user_id] = held + 1
        try:
            yield
        finally:
            remaining = self._open[user_id] - 1
            if remaining:
                self._open[user_id] = remaining
            else:
                del self._open[user_id]

    def open_for(self, user_id: int) -> int:
        return self._open.get(user_id, 0)
