"""API tokens, stored only as hashes so a database leak does not leak credentials."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from models.users import User


class ApiToken(Model):
    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="tokens", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=100)
    # SHA-256 of the secret: tokens carry 256 random bits, so a fast hash is enough and
    # lets the lookup use a unique index (unlike passwords, which need a slow KDF).
    key_hash = fields.CharField(max_length=64, unique=True)
    # First characters of the token, shown in listings so a person can tell tokens apart.
    prefix = fields.CharField(max_length=12)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "auth_token"
