"""The ids clients send for one row: a decimal database id or a Relay global id, parsed
in one place for every kind of row (a run, a sweep, a schedule, a webhook, a job...)."""

from __future__ import annotations

from strawberry.relay import GlobalID, GlobalIDValueError

__all__ = ["MAX_DATABASE_ID", "parse_database_id", "parse_id"]

# Ids are 4-byte integers (IntField) on PostgreSQL; larger numbers cannot name a row.
MAX_DATABASE_ID = 2**31 - 1


def parse_database_id(raw: str) -> int | None:
    """A decimal id the database can hold, or None (ASCII digits only: int() and
    str.isdigit() disagree on characters such as '²')."""
    if not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if value <= MAX_DATABASE_ID else None


def parse_id(raw: str, type_name: str) -> int | None:
    """A numeric database id, or a global id of `type_name`; None if neither (a global id
    of another type names nothing here)."""
    if raw.isascii() and raw.isdigit():
        return parse_database_id(raw)
    try:
        global_id = GlobalID.from_id(raw)
    except GlobalIDValueError:
        return None
    return parse_database_id(global_id.node_id) if global_id.type_name == type_name else None
