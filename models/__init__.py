"""Tortoise models: users and groups, API tokens, training runs."""

from models.accounts import ApiToken, Group, GroupName, User
from models.training_runs import RunStatus, TrainingRun

__all__ = ["ApiToken", "Group", "GroupName", "RunStatus", "TrainingRun", "User"]
