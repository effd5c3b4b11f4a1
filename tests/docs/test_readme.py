"""The README's configuration table is the one list of knobs: every setting the server
reads is documented there, and every row names a setting that exists. Its Layout section
names paths that exist, and every package of the tree. Its Guides section lists every
guide of docs/guide/, each of which says first what it is for."""

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


def layout_paths() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("\n## Layout") :]
    block = section[section.index("```\n") + 4 : section.index("\n```", section.index("```\n"))]
    return re.findall(r"^(\S+)", block, re.M)


def test_every_path_of_the_layout_section_exists() -> None:
    paths = layout_paths()
    assert paths, "no paths found: has the Layout section's format changed?"
    assert [path for path in paths if not (REPO / path).exists()] == []


def test_every_package_of_the_tree_is_in_the_layout_section() -> None:
    listed = {path.rstrip("/") for path in layout_paths()}
    packages = {
        str(init.parent.relative_to(REPO))
        for top in ("schema", "resolvers", "models", "trainer")
        for init in (REPO / top).rglob("__init__.py")
        if "migrations" not in init.parts
    }
    assert sorted(packages - listed) == []


def guides_section() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("\n## Guides") :]
    following = section.find("\n## ", 1)
    return section if following == -1 else section[:following]


def test_the_readme_lists_every_guide() -> None:
    guides = {path.name for path in (REPO / "docs" / "guide").glob("*.md")}
    listed = set(re.findall(r"\]\(docs/guide/([\w.-]+\.md)\)", guides_section()))
    assert guides, "no guides found"
    assert sorted(guides ^ listed) == []


def test_every_guide_starts_with_its_title_and_what_it_is_for() -> None:
    openings = {
        path.name: path.read_text().split("\n", 3)[:3]
        for path in sorted((REPO / "docs" / "guide").glob("*.md"))
    }
    assert [
        name
        for name, (title, blank, what_for) in openings.items()
        if not (title.startswith("# ") and blank == "" and what_for.startswith("What for: "))
    ] == []
