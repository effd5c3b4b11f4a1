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

Loading a model (predictions, `trainer.ml.model_trainer.load_model`) is the other use, and
unpickling runs code: `load_verified_model` reads the file once into memory, hashes that
buffer and unpickles that same buffer, so the bytes unpickled are the bytes verified
whatever happens to the file meanwhile.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import hashlib
import hmac
import io
import os
import stat
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


class ModelFileTooLarge(Exception):
    """The file is larger than a server process agrees to hold (MAX_MODEL_BYTES): it is
    not read at all."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"model file of {size} bytes, over the limit of {limit}")
        self.size = size
        self.limit = limit


class ModelFileInvalid(Exception):
    """The bytes are those the run recorded, but they hold no fitted scikit-learn Pipeline
    with class probabilities (a run row pointing at another pickle): refused, never kept."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"the model file holds a {kind}, not a fitted Pipeline")
        self.kind = kind


@dataclass(frozen=True)
class VerifiedModel:
    """A fitted Pipeline and the size of the bytes it was unpickled from: about what it
    costs in memory (a 103 MB forest takes 104 MB loaded; bench/results/model-memory.md)."""

    pipeline: Any
    size: int


def model_file_path(artifacts: ArtifactPaths, model_path: str) -> Path:
    """The file a run's `model_path` names, resolved inside the models folder only
    (symbolic links are followed only while they stay inside it)."""
    if not model_path.startswith(_MODELS_PREFIX):
        raise UnsafePath("is not inside the models folder")
    return contained_path(artifacts.models, model_path[len(_MODELS_PREFIX) :])


def _same_digest(digest: str, expected_sha256: str) -> bool:
    return hmac.compare_digest(digest.encode(), expected_sha256.strip().lower().encode())


def _verified_bytes(path: Path, expected_sha256: str, max_bytes: int | None) -> bytes:
    """The file's whole content, read once, if it hashes to `expected_sha256`."""
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ModelFileMissing()
            if max_bytes is not None and info.st_size > max_bytes:
                raise ModelFileTooLarge(info.st_size, max_bytes)
            # At most one byte over the limit: a file that grew since fstat is still bounded.
            data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        raise ModelFileMissing() from None
    if max_bytes is not None and len(data) > max_bytes:
        raise ModelFileTooLarge(len(data), max_bytes)
    if not _same_digest(hashlib.sha256(data).hexdigest(), expected_sha256):
        raise ModelFileChanged(len(data))
    return data


def load_verified_model(
    path: Path, expected_sha256: str, *, max_bytes: int | None = None
) -> VerifiedModel:
    """Unpickle the model at `path` only if its bytes hash to `expected_sha256`, and keep
    it only if it is a fitted Pipeline that gives class probabilities.

    The file is read once, into memory; the hash is taken over that buffer and the
    unpickling reads that same buffer (io.BytesIO). Hashing the open file and then
    seeking back to load it, as this once did, let a write in place between the two
    have other bytes unpickled than those verified. Costs the file's size again in memory
    while loading, peaking at about three times the file (hence MAX_MODEL_BYTES, checked
    on the open file before reading).

    Raises ModelFileMissing (no regular file), ModelFileTooLarge (over `max_bytes`: not
    read), ModelFileChanged (other bytes: never unpickled), ModelFileInvalid (the
    recorded bytes, but not a fitted Pipeline).
    """
    # Imported here: a server that never predicts never imports scikit-learn.
    import joblib
    from sklearn.pipeline import Pipeline

    data = _verified_bytes(path, expected_sha256, max_bytes)
    size = len(data)
    loaded = joblib.load(io.BytesIO(data))
    del data
    _return_freed_memory()
    fitted = (
        isinstance(loaded, Pipeline)
        and hasattr(loaded, "predict_proba")
        and hasattr(loaded, "classes_")
    )
    if not fitted:
        raise ModelFileInvalid(type(loaded).__name__)
    return VerifiedModel(loaded, size)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
        return trim
    except (OSError, AttributeError):
        return None  # not glibc


def _return_freed_memory() -> None:
    """Give the memory unpickling freed back to the system.

    Unpickling a forest allocates its node arrays, which scikit-learn copies into each
    tree's own buffers and frees; glibc keeps those freed pages, so a loaded model held
    twice its size for good (a 103 MB file: 206 MB of server memory, 1,000 trees 1 GB).
    malloc_trim returns them, and a model then costs about its file's size
    (bench/results/model-memory.md). Best effort: other C libraries have no such call.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


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
        if not _same_digest(digest, expected_sha256):
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
