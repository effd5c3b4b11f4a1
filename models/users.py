"""Accounts and the groups that decide what an account may do."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class GroupName(StrEnum):
    DRH = "DRH"
    RESPONSABLE_RH = "RESPONSABLE_RH"
    MANAGER = "MANAGER"


HR_STAFF_GROUPS = frozenset({GroupName.DRH, GroupName.RESPONSABLE_RH})
USERNAME_MAX_LENGTH = 150


class Group(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)

    class Meta:
        table = "auth_group"

    def __str__(self) -> str:
        return self.name


class User(Model):
    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=USERNAME_MAX_LENGTH, unique=True)
    # Null for token-only accounts (service accounts of HR tools): they cannot log in.
    password_hash = fields.CharField(max_length=255, null=True)
    is_active = fields.BooleanField(default=True)
    is_superuser = fields.BooleanField(default=False)
    date_joined = fields.DatetimeField(auto_now_add=True)
    last_login = fields.DatetimeField(null=True)
    groups: fields.ManyToManyRelation[Group] = fields.ManyToManyField(
        "models.Group", related_name="users", through="auth_user_groups"
    )

    class Meta:
        table = "auth_user"

    def __str__(self) -> str:
        return self.username
