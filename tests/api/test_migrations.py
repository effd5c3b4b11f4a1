"""The migrations describe the models exactly: `tortoise makemigrations` over the project
finds nothing to write. A model changed without its migration would make a database
migrated from scratch differ from what the code expects (a column the ORM reads and no
migration adds), which no other test sees while the test databases are built from the
same migrations."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO


def test_makemigrations_finds_no_change(tmp_path: Path) -> None:
    # given: a copy of the project's code (makemigrations writes into models/migrations)
    project = tmp_path / "project"
    shutil.copytree(
        REPO,
        project,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "__pycache__", "tests", "docs", "bench", "static", "artifacts"
        ),
    )
    before = sorted(path.name for path in (project / "models" / "migrations").glob("*.py"))

    # when
    result = subprocess.run(
        [str(Path(sys.executable).with_name("tortoise")), "makemigrations"],
        cwd=project,
        env={
            **os.environ,
            "DATABASE_URL": f"sqlite://{tmp_path}/db.sqlite3",
            "ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # then
    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout, result.stdout + result.stderr
    after = sorted(path.name for path in (project / "models" / "migrations").glob("*.py"))
    assert after == before
