"""The audit log from the command line (issue 25, section 3): `token create` / `token
revoke` are recorded, `audit export --since` writes the entries as JSON lines, `audit
prune` applies a retention; run as an operator runs them (tests/api/test_cli.py)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.api.test_cli import Cli
from tests.processes import start_live_server


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    folder = tmp_path_factory.mktemp("audit-cli")
    cli = Cli(folder, folder / "cli.sqlite3")
    assert cli.run("migrate").returncode == 0
    assert cli.run("createuser", "bob", "--group", "DRH").returncode == 0
    return cli


def audit_rows(cli: Cli) -> list[tuple[str, str, str, str | None, str]]:
    return [
        (row[0], row[1], row[2], row[3], row[4])
        for row in cli.query(
            "SELECT channel, operation, outcome, error_code, arguments FROM audit_log ORDER BY id"
        )
    ]


def test_tokens_made_and_revoked_on_the_command_line_are_recorded(cli: Cli) -> None:
    # when
    created = cli.run("token", "create", "bob", "--name", "ci")
    [(token_id,)] = cli.query("SELECT id FROM auth_token WHERE name = 'ci'")
    revoked = cli.run("token", "revoke", str(token_id), "999")
    missing_user = cli.run("token", "create", "nobody")

    # then
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert revoked.returncode == 1
    assert missing_user.returncode == 2
    rows = audit_rows(cli)
    assert [
        (channel, operation, outcome, code) for channel, operation, outcome, code, _ in rows
    ] == [
        ("cli", "token.create", "OK", None),
        ("cli", "token.revoke", "OK", None),
        ("cli", "token.revoke", "ERROR", "NOT_FOUND"),
        ("cli", "token.create", "ERROR", "NOT_FOUND"),
    ]
    assert json.loads(rows[0][4]) == {"username": "bob", "name": "ci"}
    assert token not in str(rows)


def test_the_export_writes_json_lines_since_a_date(cli: Cli) -> None:
    # given: one entry of last year beside this year's
    old = (datetime.now(UTC) - timedelta(days=500)).isoformat(" ")
    cli.query(
        "INSERT INTO audit_log (at, channel, operation, outcome, username) "
        "VALUES (?, 'graphql', 'login', 'OK', 'old-entry')",
        old,
    )
    since = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    out = cli.folder / "audit.jsonl"

    # when
    to_file = cli.run("audit", "export", "--since", since, "--out", str(out))
    to_stdout = cli.run("audit", "export", "--since", "2000-01-01")

    # then: oldest first, this year's only, one JSON object per line
    assert to_file.returncode == 0, to_file.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["operation"] for line in lines] == [
        "token.create",
        "token.revoke",
        "token.revoke",
        "token.create",
    ]
    assert lines[0]["channel"] == "cli"
    assert set(lines[0]) >= {"id", "at", "username", "operation", "arguments", "outcome"}
    everything = [json.loads(line) for line in to_stdout.stdout.splitlines()]
    assert [line["username"] for line in everything if line["username"]] == ["old-entry"]
    assert len(everything) == len(lines) + 1


def test_a_bad_date_is_refused(cli: Cli) -> None:
    result = cli.run("audit", "export", "--since", "last tuesday")

    assert result.returncode == 2
    assert "is not a date" in result.stderr


def test_prune_deletes_entries_past_the_retention(cli: Cli) -> None:
    before = len(audit_rows(cli))

    result = cli.run("audit", "prune", "--days", "30")

    assert result.returncode == 0, result.stderr
    assert cli.query("SELECT count(*) FROM audit_log WHERE username = 'old-entry'") == [(0,)]
    assert len(audit_rows(cli)) == before - 1


async def test_a_server_applies_the_retention_at_start_up(tmp_path: Path) -> None:
    # given: a database holding an entry 40 days old and one 10 days old
    database = tmp_path / "retention.sqlite3"
    cli = Cli(tmp_path, database)
    assert cli.run("migrate").returncode == 0
    for name, age in (("forty-days", 40), ("ten-days", 10)):
        cli.query(
            "INSERT INTO audit_log (at, channel, operation, outcome, username) "
            "VALUES (?, 'graphql', 'login', 'OK', ?)",
            (datetime.now(UTC) - timedelta(days=age)).isoformat(" "),
            name,
        )

    # when: a server keeping 30 days starts on it
    server = await start_live_server(
        tmp_path / "server",
        database_url=f"sqlite://{database}",
        settings={"AUDIT_RETENTION_DAYS": "30", "TRAINING_WARM_UP": "false"},
    )
    try:
        kept: list[tuple[str]] = []
        for _ in range(100):
            kept = cli.query("SELECT username FROM audit_log WHERE operation = 'login'")
            if len(kept) < 2:
                break
            await asyncio.sleep(0.1)
    finally:
        await server.kill()

    # then
    assert kept == [("ten-days",)]
