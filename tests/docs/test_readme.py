"""The README's configuration table is the one list of knobs: every setting the server
reads is documented there, and every row names a setting that exists."""

from __future__ import annotations

import re

from main import Settings
from tests.conftest import REPO


def configuration_table() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("\n## Configuration") :]
    return section[: section.index("\n## ", 1)]


def documented_names() -> set[str]:
    names: set[str] = set()
    for row in re.findall(r"^\| (`[A-Z0-9_]+`(?:, `[A-Z0-9_]+`)*) \|", configuration_table(), re.M):
        names.update(re.findall(r"`([A-Z0-9_]+)`", row))
    return names


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    settings = {name.upper() for name in Settings.model_fields}
    assert sorted(settings - documented_names()) == []


def test_every_row_of_the_configuration_table_is_a_setting() -> None:
    settings = {name.upper() for name in Settings.model_fields}
    assert documented_names(), "no rows found: has the table's format changed?"
    assert sorted(documented_names() - settings) == []
