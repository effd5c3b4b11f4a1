"""The artifacts folder layout, and the one check that keeps client paths inside it."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# Names a client may use for a dataset: plain relative paths of ordinary characters.
# Always used with fullmatch: "$" would also match before a trailing newline.
_SAFE_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._ -]{0,127}")
_MAX_LINK_HOPS = 16


class UnsafePath(ValueError):
    """A client-supplied path that could reach outside its folder."""


@dataclass(frozen=True)
class ArtifactPaths:
    root: Path

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def predictions(self) -> Path:
        """Batch predictions' output and rejects files (issue 24)."""
        return self.root / "predictions"

    @classmethod
    def at(cls, root: str | Path) -> ArtifactPaths:
        return cls(Path(root).resolve())

    def ensure(self) -> None:
        self.datasets.mkdir(parents=True, exist_ok=True)
        self.models.mkdir(parents=True, exist_ok=True)
        self.predictions.mkdir(parents=True, exist_ok=True)

    def model_file(self, model_version: str) -> Path:
        return self.models / f"{model_version}.joblib"

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def dataset(self, relative: str) -> Path:
        return contained_path(self.datasets, relative)


def canonical_path(relative: str) -> str:
    """The one spelling of a client's relative path: `./x.csv` and `a//b.csv` name the
    files `x.csv` and `a/b.csv`, and are stored (runs, dataset descriptions) that way, so
    one file never has two names. UnsafePath if it is not a path a client may use."""
    return "/".join(_relative_parts(relative))


def _relative_parts(relative: str) -> list[str]:
    """The components of a client's relative path, checked lexically: no absolute path,
    no `..`, only ordinary characters in each part (`.` and empty parts dropped)."""
    if not relative or "\x00" in relative or "\\" in relative:
        raise UnsafePath("must be a non-empty relative path")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or relative.startswith("~"):
        raise UnsafePath("must be relative to the datasets folder, not absolute")
    if any(part == ".." for part in pure.parts):
        raise UnsafePath("must not contain '..'")
    parts = [part for part in pure.parts if part != "."]
    if not parts or not all(_SAFE_PART.fullmatch(part) for part in parts):
        raise UnsafePath("may only contain letters, digits, '.', '_', '-', ' ' and '/'")
    return parts


def contained_path(base: Path, relative: str) -> Path:
    """Resolve `relative` under `base`, refusing anything that could leave `base`.

    The name is checked lexically first (no absolute path, no `..`, no odd characters),
    then walked one component at a time with lstat/readlink, so a symbolic link that
    points outside is refused without the server ever touching its target.
    """
    parts = _relative_parts(relative)
    root = base.resolve()
    current = root
    pending = list(parts)
    hops = 0
    while pending:
        candidate = current / pending.pop(0)
        try:
            mode = os.lstat(candidate).st_mode
        except (FileNotFoundError, NotADirectoryError):
            # Nothing there (or a file where a folder should be): the rest of the path
            # cannot be a link, so it stays inside; reading it fails later, clearly.
            return candidate.joinpath(*pending)
        if stat.S_ISLNK(mode):
            hops += 1
            if hops > _MAX_LINK_HOPS:
                raise UnsafePath("has too many symbolic links")
            target = Path(os.path.normpath(current / os.readlink(candidate)))
            if not target.is_relative_to(root):
                raise UnsafePath("points outside the datasets folder")
            pending = list(target.relative_to(root).parts) + pending
            current = root
        else:
            current = candidate
    return current
