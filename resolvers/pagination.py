"""Cursors of the run list: where a page ends, as an opaque string a client sends back.

A cursor is base64url of `[order name, sort value, id]`, so it is only valid in the
order it was made for; decoding checks everything a client could forge and gives the
typed `Position` models/run_list.py pages from. The SQL of paging is in models/.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

import orjson

from models.run_list import MAX_ID, Position, RunOrder, as_utc
from models.run_records import RunRecord
from resolvers.errors import InvalidCursor


def encode_cursor(order: RunOrder, run: RunRecord) -> str:
    value = getattr(run, order.column)
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = orjson.dumps([order.name, value, run.id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(order: RunOrder, cursor: str, argument: str = "after") -> Position:
    try:
        return _decode(order, cursor)
    except InvalidCursor as exc:
        exc.argument = argument
        raise


def _decode(order: RunOrder, cursor: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, value, run_id = orjson.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidCursor(f"malformed cursor {cursor[:60]!r}") from exc
    if name != order.name:
        raise InvalidCursor(
            f"this cursor belongs to the order {name!r}, not {order.name!r}: "
            "restart paging without after/before when changing the order"
        )
    if not isinstance(run_id, int) or not 0 <= run_id <= MAX_ID:
        raise InvalidCursor("malformed cursor")
    if value is None and not order.nullable:
        raise InvalidCursor("malformed cursor")
    if order.column == "run_date":
        try:
            value = as_utc(datetime.fromisoformat(value))
        except (TypeError, ValueError) as exc:
            raise InvalidCursor("malformed cursor") from exc
    elif value is not None:
        if not isinstance(value, int | float):
            raise InvalidCursor("malformed cursor")
        value = float(value)  # the order columns besides run_date are all floats
    return Position(value, run_id)
