"""Accounts: users, the groups that decide what each may do, API tokens, passwords, and
the identity a credential resolves to.

Passwords go through argon2 (slow on purpose); tokens are 256-bit random secrets, so the
database keeps only their SHA-256 (a fast hash is enough for 256 random bits) and finds
them through a unique index; a database leak leaks no credential.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tortoise import fields
from tortoise.models import Model

from models.run_records import datetime_from_db, read


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


TOKEN_PREFIX = "fst_"
# Touching last_used_at on every request would turn each read into a write; once a
# minute is enough to tell which tokens are in use.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_hasher = PasswordHasher()


@functools.cache
def dummy_password_hash() -> str:
    """A real hash to verify against when the username is unknown, so that a failed login
    takes as long whether or not the account exists.

    Made on first use rather than at import: argon2 is slow on purpose (about half a second
    of CPU), and the command line and training workers, which import this module but never
    verify a password, would pay it at every start. The server makes it at start-up
    (server/app.py), so no login waits for it."""
    return _hasher.hash(secrets.token_urlsafe(16))


class Scope:
    """What an identity may do; permission classes check these, never group names."""

    READ_RUNS = "runs:read"
    TRAIN = "runs:train"
    # See other accounts (their groups, superuser flag); everyone sees their own.
    READ_USERS = "users:read"
    # Delete any dataset, not only those one uploaded (deleteDataset): DRH and superusers.
    MANAGE_DATASETS = "datasets:manage"


@dataclass(frozen=True, slots=True)
class Identity:
    """The authenticated caller of one request or WebSocket connection."""

    id: int
    username: str
    is_superuser: bool
    groups: tuple[str, ...]
    scopes: frozenset[str]

    @property
    def can_train(self) -> bool:
        return Scope.TRAIN in self.scopes


def scopes_for(is_superuser: bool, groups: set[str]) -> frozenset[str]:
    if is_superuser or GroupName.DRH in groups:
        return frozenset({Scope.READ_RUNS, Scope.TRAIN, Scope.READ_USERS, Scope.MANAGE_DATASETS})
    if groups & HR_STAFF_GROUPS:
        return frozenset({Scope.READ_RUNS, Scope.TRAIN, Scope.READ_USERS})
    if GroupName.MANAGER in groups:
        return frozenset({Scope.READ_RUNS})
    return frozenset()


def identity_from(user: User, group_names: list[str]) -> Identity:
    return Identity(
        id=user.id,
        username=user.username,
        is_superuser=user.is_superuser,
        groups=tuple(sorted(group_names)),
        scopes=scopes_for(user.is_superuser, set(group_names)),
    )


async def identity_of(user: User) -> Identity:
    # cast: tortoise types values_list as tuples even with flat=True, which gives values.
    names = cast("list[str]", await user.groups.all().values_list("name", flat=True))
    return identity_from(user, names)


async def hash_password_off_loop(password: str) -> str:
    """argon2 is slow on purpose (tens of milliseconds of CPU, more on a busy machine):
    done in a thread, it leaves the event loop serving other requests meanwhile (argon2
    releases the GIL)."""
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_user(
    username: str,
    *,
    password: str | None = None,
    groups: list[str] | tuple[str, ...] = (),
    is_superuser: bool = False,
) -> User:
    unknown = set(groups) - {g.value for g in GroupName}
    if unknown:
        raise ValueError(f"unknown group(s): {', '.join(sorted(unknown))}")
    user = await User.create(
        username=username,
        password_hash=await hash_password_off_loop(password) if password else None,
        is_superuser=is_superuser,
    )
    if groups:
        await user.groups.add(*await Group.filter(name__in=list(groups)))
    return user


async def create_token(user: User, name: str = "default") -> str:
    """Make a token and return its secret: the only time it is ever visible."""
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await ApiToken.create(user=user, name=name, key_hash=_token_digest(key), prefix=key[:12])
    return key


async def revoke_token(token_id: int) -> bool:
    updated = await ApiToken.filter(id=token_id, revoked_at__isnull=True).update(
        revoked_at=datetime.now(UTC)
    )
    return updated == 1


async def revoke_token_key(key: str) -> bool:
    """Revoke the token whose secret is `key` (logout): False when it is unknown or
    already revoked."""
    updated = await ApiToken.filter(key_hash=_token_digest(key), revoked_at__isnull=True).update(
        revoked_at=datetime.now(UTC)
    )
    return updated == 1


# A token, its user and the user's groups in one query (one row per group).
_TOKEN_COLUMNS = (
    "id",
    "key_hash",
    "last_used_at",
    "user_id",
    "user__username",
    "user__is_superuser",
    "user__groups__name",
)
_TOKEN_SQL = (
    "SELECT t.id, t.key_hash, t.last_used_at, t.user_id, u.username, u.is_superuser, g.name "
    "FROM auth_token t JOIN auth_user u ON u.id = t.user_id "
    "LEFT JOIN auth_user_groups ug ON ug.auth_user_id = u.id "
    "LEFT JOIN auth_group g ON g.id = ug.group_id "
    "WHERE t.key_hash = ? AND t.revoked_at IS NULL AND u.is_active = ?"
)


async def authenticate_token(key: str) -> Identity | None:
    """Resolve a presented token to an identity, or None when unknown, revoked or inactive.

    One query (token, user and groups joined): it runs on nearly every request.
    """
    if not key.startswith(TOKEN_PREFIX) or len(key) > 100:
        return None
    digest = _token_digest(key)
    # Plain SQL on the read path (models/run_records.read): a short read by a unique
    # index, so on SQLite it runs on the loop's thread instead of queueing on the ORM's
    # one connection and its thread, which stalled every request waiting on it under load.
    found, _ = await read(_TOKEN_SQL, [digest, True], short=True)
    rows = [dict(zip(_TOKEN_COLUMNS, row, strict=True)) for row in found]
    # The index lookup already matched; the constant-time compare keeps the final
    # equality check free of timing differences all the same.
    if not rows or not hmac.compare_digest(rows[0]["key_hash"], digest):
        return None
    token = rows[0]
    last_used = token["last_used_at"]
    if last_used is not None:
        last_used = datetime_from_db(last_used)
    now = datetime.now(UTC)
    if last_used is None or now - last_used > LAST_USED_RESOLUTION:
        await ApiToken.filter(id=token["id"]).update(last_used_at=now)
    token["user__is_superuser"] = bool(token["user__is_superuser"])
    groups = sorted(row["user__groups__name"] for row in rows if row["user__groups__name"])
    return Identity(
        id=token["user_id"],
        username=token["user__username"],
        is_superuser=token["user__is_superuser"],
        groups=tuple(groups),
        scopes=scopes_for(token["user__is_superuser"], set(groups)),
    )


async def verify_password(username: str, password: str) -> User | None:
    """The active user with this username and password, or None (same cost either way)."""
    user = await User.get_or_none(username=username)
    stored = user.password_hash if user and user.is_active and user.password_hash else None
    if not await asyncio.to_thread(_verify, stored or dummy_password_hash(), password):
        return None
    if stored is None or user is None:
        return None
    if _hasher.check_needs_rehash(stored):
        user.password_hash = await hash_password_off_loop(password)
        await user.save(update_fields=["password_hash"])
    return user
