"""DataLoaders: fetch related rows for a whole page in one go instead of once per row."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from models.accounts import Identity, User, identity_from
from models.model_aliases import aliases_of_runs
from models.run_tags import tags_of_runs
from models.sweeps import Sweep
from models.training_schedules import TrainingSchedule


async def _load_identities(ids: list[int]) -> list[Identity | None]:
    users = await User.filter(id__in=ids).prefetch_related("groups")
    found = {user.id: identity_from(user, [g.name for g in user.groups]) for user in users}
    return [found.get(user_id) for user_id in ids]


class UserLoader(DataLoader[int, Identity | None]):
    """Users (with their groups) by id: three queries per page of runs, whatever its size."""

    def __init__(self) -> None:
        super().__init__(load_fn=_load_identities)


class AliasLoader(DataLoader[int, list[str]]):
    """The model aliases of runs by id: one query per page of runs."""

    def __init__(self) -> None:
        super().__init__(load_fn=aliases_of_runs)


class TagLoader(DataLoader[int, list[str]]):
    """The tags of runs by id: one query per page of runs."""

    def __init__(self) -> None:
        super().__init__(load_fn=tags_of_runs)


async def _load_schedules(ids: list[int]) -> list[TrainingSchedule | None]:
    found = {row.id: row for row in await TrainingSchedule.filter(id__in=ids)}
    return [found.get(schedule_id) for schedule_id in ids]


async def _load_sweeps(ids: list[int]) -> list[Sweep | None]:
    found = {row.id: row for row in await Sweep.filter(id__in=ids)}
    return [found.get(sweep_id) for sweep_id in ids]


class ScheduleLoader(DataLoader[int, TrainingSchedule | None]):
    """The schedules that started runs, by id: one query per page of runs."""

    def __init__(self) -> None:
        super().__init__(load_fn=_load_schedules)


class SweepLoader(DataLoader[int, Sweep | None]):
    """The sweeps runs are trials of, by id: one query per page of runs."""

    def __init__(self) -> None:
        super().__init__(load_fn=_load_sweeps)
