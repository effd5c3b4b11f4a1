"""Invalid settings stop the command line at once with one clear line naming the setting,
not a traceback from deep inside the server (e.g. TRAINING_WORKERS=0 used to end in a bare
AssertionError when the training pool started)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def serve(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in settings}
    env.update(
        {
            "DATABASE_URL": f"sqlite://{tmp_path}/db.sqlite3",
            "ARTIFACTS_DIR": str(tmp_path),
            "PORT": "1",  # never reached; if validation failed to stop it, binding fails fast
            **settings,
        }
    )
    return subprocess.run(
        [sys.executable, "main.py", "serve"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"TRAINING_WORKERS": "0"}, "TRAINING_WORKERS"),
        ({"PROGRESS_INTERVAL": "5", "STALE_RUN_AFTER": "2"}, "STALE_RUN_AFTER"),
        ({"MAX_MODEL_BYTES": "600000000"}, "MAX_MODEL_BYTES"),
        ({"PREDICTION_ROWS_BURST": "999"}, "PREDICTION_ROWS_BURST"),
        ({"DATABASE_URL": "mysqlx://root:s3cret@db/x"}, "DATABASE_URL"),
        ({"DEFAULT_PAGE_SIZE": "50", "MAX_PAGE_SIZE": "10"}, "DEFAULT_PAGE_SIZE"),
    ],
    ids=[
        "no-workers",
        "heartbeat-longer-than-staleness",
        "model-larger-than-the-cache",
        "burst-below-one-request",
        "unknown-database-scheme",
        "default-page-above-the-maximum",
    ],
)
def test_serve_with_an_invalid_setting_exits_with_a_line_naming_it(
    tmp_path: Path, settings: dict[str, str], named: str
) -> None:
    # when
    result = serve(tmp_path, **settings)

    # then
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert named in lines[0]
    assert "Traceback" not in result.stderr
    assert "s3cret" not in result.stderr
    # and: nothing was started or created
    assert not (tmp_path / "db.sqlite3").exists()


def test_an_unreachable_database_is_one_line_without_its_password(tmp_path: Path) -> None:
    # when: nothing listens on port 1
    result = serve(tmp_path, DATABASE_URL="postgres://nobody:s3cret@127.0.0.1:1/x")

    # then
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]], result.stderr
    assert lines[0].startswith("error: cannot use the database postgres://nobody:***@127.0.0.1:1/x")
    assert "ConnectionRefusedError" in lines[0]
    assert "s3cret" not in result.stderr


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_a_sqlite_database_in_a_missing_folder_is_one_line_not_a_hang(
    tmp_path: Path, command: str
) -> None:
    """SQLite creates its file but not the folder; the driver's thread used to keep the
    process waiting forever after the failure."""
    env = {**os.environ, "ARTIFACTS_DIR": str(tmp_path), "PORT": "1"}
    env["DATABASE_URL"] = f"sqlite://{tmp_path}/missing/db.sqlite3"

    result = subprocess.run(
        [sys.executable, "main.py", command],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: cannot use the database sqlite://{tmp_path}/missing/db.sqlite3: "
        f"OperationalError: unable to open database file: the folder {tmp_path}/missing "
        "does not exist"
    ]


def test_max_page_size_alone_lowers_the_default_page() -> None:
    from main import Settings

    settings = Settings(max_page_size=10)

    assert (settings.default_page_size, settings.max_page_size) == (10, 10)


def test_the_tortoise_command_line_gets_its_database_from_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`tortoise makemigrations` reads main.TORTOISE_ORM ([tool.tortoise]); it is built
    from Settings, the one reader of the environment, when asked for."""
    import main

    monkeypatch.setenv("DATABASE_URL", f"sqlite://{tmp_path}/other.sqlite3")

    config = main.TORTOISE_ORM

    assert config["connections"]["default"].startswith(f"sqlite://{tmp_path}/other.sqlite3")
    assert config["apps"]["models"]["migrations"] == "models.migrations"
