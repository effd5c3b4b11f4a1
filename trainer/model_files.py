"""Model files served for download: found only inside the models folder, and served only
while their bytes are exactly those recorded when the run was trained.

A model can be hundreds of megabytes and is downloaded again and again; hashing it on
every download would read it twice each time (once to hash, once to send). What was
verified is therefore remembered per process, keyed by what a change to the file changes:
its path, size, modification time (ns) and inode. A file replaced by another (rename or
re-link, the way models are written) gets a new inode; one rewritten in place gets a new
mtime. What remains open, and is documented in SECURITY.md: a write in place that keeps
size and mtime (a deliberate `touch -d` back-dating), and a change between the last stat
here and the moment the response opens the file, or while it streams. Neither can be
made by this project's own code: models are written once, atomically, and never rewritten.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import stat
from collections import OrderedDict
from pathlib import Path

from trainer.artifacts import ArtifactPaths, UnsafePath, contained_path

# Runs store model paths relative to the artifacts folder, under this folder.
_MODELS_PREFIX = "models/"

StatKey = tuple[str, int, int, int]


class ModelFileMissing(Exception):
    """No regular file where the run says its model is."""


class ModelFileChanged(Exception):
    """The file is there, but its bytes are not those the run recorded."""

    def __init__(self, size: int) -> None:
        super().__init__(f"model file changed ({size} bytes)")
        self.size = size


def model_file_path(artifacts: ArtifactPaths, model_path: str) -> Path:
    """The file a run's `model_path` names, resolved inside the models folder only
    (symbolic links are followed only while they stay inside it)."""
    if not model_path.startswith(_MODELS_PREFIX):
        raise UnsafePath("is not inside the models folder")
    return contained_path(artifacts.models, model_path[len(_MODELS_PREFIX) :])


def _key(path: Path, result: os.stat_result) -> StatKey:
    return (str(path), result.st_size, result.st_mtime_ns, result.st_ino)


def _regular_stat(path: Path) -> os.stat_result:
    try:
        result = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise ModelFileMissing() from None
    if not stat.S_ISREG(result.st_mode):
        raise ModelFileMissing()
    return result


def _hash(path: Path) -> tuple[os.stat_result, str]:
    """The file's sha256 and the stat it belongs to, read in chunks (hashlib.file_digest)
    from one open file.

    The stat is taken from the open file before and after hashing, and from the path
    after: if any differ, the file changed meanwhile and the hash belongs to no version
    of it that could be served.
    """
    try:
        with path.open("rb") as handle:
            before = os.fstat(handle.fileno())
            if not stat.S_ISREG(before.st_mode):
                raise ModelFileMissing()
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
            after = os.fstat(handle.fileno())
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        raise ModelFileMissing() from None
    now = _regular_stat(path)
    if not (_key(path, before) == _key(path, after) == _key(path, now)):
        raise ModelFileChanged(now.st_size)
    return now, digest


class VerifiedModelFiles:
    """What this process has hashed: (path, size, mtime_ns, inode) -> sha256, at most
    `max_entries`, the least recently used going first. `hashes` counts the files read
    to hash them (the test and operators can see the cache working)."""

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self.hashes = 0
        self._entries: OrderedDict[StatKey, str] = OrderedDict()
        # Hashes under way: concurrent first downloads of a file wait for one reading.
        self._pending: dict[StatKey, asyncio.Future[tuple[os.stat_result, str]]] = {}

    async def verify(self, path: Path, expected_sha256: str) -> os.stat_result:
        """The file's current stat when its bytes hash to `expected_sha256`.

        Raises ModelFileMissing, or ModelFileChanged. The stat returned is taken last
        (after hashing, or as the cache lookup), right before the caller serves it.
        """
        current = await asyncio.to_thread(_regular_stat, path)
        key = _key(path, current)
        digest = self._entries.get(key)
        if digest is None:
            current, digest = await self._hash_once(key, path)
            key = _key(path, current)
            self._entries[key] = digest
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        self._entries.move_to_end(key)
        if not hmac.compare_digest(digest.encode(), expected_sha256.strip().lower().encode()):
            raise ModelFileChanged(current.st_size)
        return current

    async def _hash_once(self, key: StatKey, path: Path) -> tuple[os.stat_result, str]:
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(asyncio.to_thread(_hash, path))
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
            self.hashes += 1
        # Shielded: a client that goes away does not cancel the others' hash.
        return await asyncio.shield(pending)

    def __len__(self) -> int:
        return len(self._entries)
