"""Tortoise models: users and groups, API tokens, training runs."""

from models.tokens import ApiToken
from models.training_runs import RunStatus, TrainingRun
from models.users import Group, GroupName, User

__all__ = ["ApiToken", "Group", "GroupName", "RunStatus", "TrainingRun", "User"]
