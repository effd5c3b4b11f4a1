"""Prepare a deployment's database for a test server in one short process.

    python -m tests.provision USERNAME [--group G]... [--password] [--no-migrate]

Applies the migrations, creates the account (its password read from a line on stdin with
`--password`) and prints a new API token for it: what `main.py migrate`, `createuser` and
`token create` do, without three interpreter start-ups. The settings come from the
environment, as for the server. The CLI itself is tested in tests/api/test_cli.py.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from main import Settings, migrate


async def provision(
    settings: Settings, username: str, groups: list[str], password: str | None, *, migrated: bool
) -> str:
    from models.accounts import create_token, create_user
    from models.db import connected

    if not migrated:
        await migrate(settings)
    async with connected(settings.db_url):
        user = await create_user(username, password=password, groups=groups)
        return await create_token(user, "tests")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.provision")
    parser.add_argument("username")
    parser.add_argument("--group", action="append", default=[])
    parser.add_argument("--password", action="store_true", help="read it from stdin")
    parser.add_argument("--no-migrate", action="store_true", help="the tables exist already")
    args = parser.parse_args()
    password = sys.stdin.readline().rstrip("\n") if args.password else None
    settings = Settings()
    print(
        asyncio.run(
            provision(settings, args.username, args.group, password, migrated=args.no_migrate)
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
