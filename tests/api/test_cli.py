"""The command line, run as an operator runs it: `python main.py ...` in a subprocess on
its own SQLite database and artifacts folder. Commands other than serve, worker and
export-schema import neither the web stack nor scikit-learn, so most runs start in about a
second."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from trainer.ml.generator import generate_dataset

REPO = Path(__file__).resolve().parents[2]
DESIGN_HEADER = (
    "job_role_name,skill_name,skill_category,job_department,trend_score,internal_usage,"
    "training_requests,scarcity_index,hiring_difficulty,avg_salary_k,economic_indicator,"
    "future_need_level"
)
ALICE_PASSWORD = "alice-secret-42"


@dataclass
class Cli:
    folder: Path
    database: Path

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return self.python("main.py", *args, stdin=stdin)

    def python(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """The project's interpreter, in the project folder, on this CLI's database."""
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite://{self.database}",
            "ARTIFACTS_DIR": str(self.folder),
            "LOG_LEVEL": "WARNING",
        }
        return subprocess.run(
            [sys.executable, *args],
            cwd=REPO,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.database) as connection:
            return connection.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    folder = tmp_path_factory.mktemp("cli")
    cli = Cli(folder, folder / "cli.sqlite3")
    result = cli.run("migrate")
    assert result.returncode == 0, result.stderr
    return cli


@pytest.fixture(scope="module")
def alice(cli: Cli) -> str:
    result = cli.run("createuser", "alice", "--group", "DRH", "--password", stdin=ALICE_PASSWORD)
    assert result.returncode == 0, result.stderr
    return "alice"


def groups_of(cli: Cli, username: str) -> list[str]:
    rows = cli.query(
        "SELECT g.name FROM auth_group g JOIN auth_user_groups ug ON ug.group_id = g.id "
        "JOIN auth_user u ON u.id = ug.auth_user_id WHERE u.username = ? ORDER BY g.name",
        username,
    )
    return [name for (name,) in rows]


def test_migrate_creates_the_tables_and_folders(cli: Cli) -> None:
    # then (the fixture ran `migrate`)
    tables = {name for (name,) in cli.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"auth_user", "auth_group", "auth_token", "training_run"} <= tables
    assert (cli.folder / "datasets").is_dir()
    assert (cli.folder / "models").is_dir()
    assert {name for (name,) in cli.query("SELECT name FROM auth_group")} == {
        "DRH",
        "RESPONSABLE_RH",
        "MANAGER",
    }


def test_createuser_reads_the_password_from_stdin(cli: Cli, alice: str) -> None:
    # then (the fixture ran `createuser alice --group DRH --password`)
    [(password_hash,)] = cli.query("SELECT password_hash FROM auth_user WHERE username = ?", alice)
    assert password_hash.startswith("$argon2")
    assert PasswordHasher().verify(password_hash, ALICE_PASSWORD)
    assert groups_of(cli, alice) == ["DRH"]


def test_createuser_without_password_makes_a_token_only_account(cli: Cli) -> None:
    # when
    result = cli.run("createuser", "bob", "--group", "MANAGER")

    # then
    assert result.returncode == 0, result.stderr
    assert cli.query("SELECT password_hash FROM auth_user WHERE username = 'bob'") == [(None,)]
    assert groups_of(cli, "bob") == ["MANAGER"]


def test_token_create_list_and_revoke(cli: Cli, alice: str) -> None:
    # when: a token is made
    created = cli.run("token", "create", alice)

    # then: stdout is the token alone, so that scripts can capture it
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert created.stdout == token + "\n"
    assert token.startswith("fst_")
    [(token_id, prefix, revoked_at)] = cli.query(
        "SELECT t.id, t.prefix, t.revoked_at FROM auth_token t "
        "JOIN auth_user u ON u.id = t.user_id WHERE u.username = ?",
        alice,
    )
    assert token.startswith(prefix)
    assert revoked_at is None

    # when: it is revoked, then listed
    revoked = cli.run("token", "revoke", str(token_id))
    listed = cli.run("token", "list", alice)

    # then
    assert revoked.returncode == 0, revoked.stderr
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    assert line.split("\t")[0] == str(token_id)
    assert prefix in line
    assert token not in listed.stdout
    assert "revoked" in line.split("\t")
    [(revoked_at,)] = cli.query("SELECT revoked_at FROM auth_token WHERE id = ?", token_id)
    assert revoked_at is not None


def test_createuser_refuses_an_unknown_group(cli: Cli) -> None:
    # when
    result = cli.run("createuser", "carol", "--group", "ADMINS")

    # then
    assert result.returncode != 0
    assert "ADMINS" in result.stderr
    assert cli.query("SELECT id FROM auth_user WHERE username = 'carol'") == []


def test_createuser_refuses_a_short_password(cli: Cli) -> None:
    # when
    result = cli.run("createuser", "dave", "--group", "DRH", "--password", stdin="short\n")

    # then
    assert result.returncode != 0
    assert cli.query("SELECT id FROM auth_user WHERE username = 'dave'") == []


def test_createuser_refuses_an_existing_username_cleanly(cli: Cli, alice: str) -> None:
    # when
    result = cli.run("createuser", alice, "--group", "MANAGER")

    # then: a one-line error, not a traceback, and alice is unchanged
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert alice in result.stderr
    assert groups_of(cli, alice) == ["DRH"]


def test_export_schema_prints_the_sdl(cli: Cli) -> None:
    # when
    result = cli.run("export-schema")

    # then
    assert result.returncode == 0, result.stderr
    assert "type TrainingRun implements Node" in result.stdout
    assert "trainModel(input: TrainModelInput!): TrainModelPayload!" in result.stdout


def test_generate_dataset_is_reproducible_from_its_seed(cli: Cli, tmp_path: Path) -> None:
    # given: the same generator run in this process with the same seed
    out, reference = cli.folder / "d.csv", tmp_path / "reference.csv"
    generate_dataset(500, 3, reference)

    # when
    result = cli.run("generate-dataset", "--rows", "500", "--seed", "3", "--out", str(out))

    # then
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 501
    assert lines[0] == DESIGN_HEADER
    assert {line.rsplit(",", 1)[1] for line in lines[1:]} == {"LOW", "MEDIUM", "HIGH"}
    assert out.read_bytes() == reference.read_bytes()
    generate_dataset(500, 4, reference)
    assert out.read_bytes() != reference.read_bytes(), "the seed must matter"


# The web stack and the ML libraries a `token create` must not load (each costs seconds).
HEAVY_MODULES = {"strawberry", "starlette", "uvicorn", "sklearn", "pandas", "schema", "resolvers"}
IMPORTS_OF_TOKEN_CREATE = """
import sys
import main
status = main.main(["token", "create", "alice", "--name", "imports"])
print(status, sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[1:])))
"""


def test_token_create_loads_neither_the_web_stack_nor_scikit_learn(cli: Cli, alice: str) -> None:
    # when: `token create` run through main.main, its imports listed afterwards
    result = cli.python("-c", IMPORTS_OF_TOKEN_CREATE, *sorted(HEAVY_MODULES))

    # then: a token, and none of the heavy packages imported
    assert result.returncode == 0, result.stderr
    token, summary = result.stdout.strip().splitlines()
    assert token.startswith("fst_")
    assert summary == "0 []"
