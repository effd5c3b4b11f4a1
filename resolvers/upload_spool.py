"""Where the bytes of an uploaded file are: the temporary files of one request's uploads.

The HTTP room (server/uploads.py) writes each file part of a multipart request to
a file made here, in the datasets folder (an atomic os.replace into place needs the
same file system); uploadDataset asks which file an Upload is; the view removes every
file still there when the request ends, however it ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from starlette.datastructures import UploadFile

from trainer.ml.dataset_files import UPLOAD_PREFIX

logger = logging.getLogger("schema.uploads")  # the name these lines always had

UPLOAD_SUFFIX = ".partial"
# A temporary file untouched for this long belongs to no live upload (a live one grows
# as its body arrives): it was left by a server that was killed mid-upload.
STALE_UPLOAD_SECONDS = 3600.0


class UploadSpool:
    """The temporary files of one request's uploads, in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[tuple[BinaryIO, Path]] = []

    def new_file(self) -> BinaryIO:
        descriptor, name = tempfile.mkstemp(
            prefix=UPLOAD_PREFIX, suffix=UPLOAD_SUFFIX, dir=self.folder
        )
        handle = os.fdopen(descriptor, "w+b")
        self.files.append((handle, Path(name)))
        return handle

    def path_of(self, handle: object) -> Path | None:
        return next((path for own, path in self.files if own is handle), None)

    def discard(self) -> None:
        """Close and remove every file still there (those renamed into place are not)."""
        for handle, path in self.files:
            handle.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        self.files.clear()


def spooled_path(upload: object, spool: UploadSpool | None) -> Path | None:
    """Where the bytes of `upload` are, if it is a file this request uploaded."""
    if not isinstance(upload, UploadFile) or spool is None:
        return None
    path = spool.path_of(upload.file)
    if path is not None:
        upload.file.flush()
    return path


class UploadSlots:
    """How many uploads one server process takes at once (MAX_CONCURRENT_UPLOADS): each
    one streams to disk, then is parsed in a thread, which costs a core and tens of MB
    of memory; beyond the bound a request is refused before its body is read."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    def take(self) -> bool:
        if self.in_use >= self.limit:
            return False
        self.in_use += 1
        return True

    def give_back(self) -> None:
        self.in_use -= 1


def remove_stale_uploads(folder: Path, older_than: float = STALE_UPLOAD_SECONDS) -> int:
    """Remove the temporary files of uploads that no process will finish: those left by a
    server killed mid-upload (a live upload's file was written to within `older_than`
    seconds, so another server process streaming one now keeps it). Returns how many."""
    removed = 0
    deadline = time.time() - older_than
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
        for entry in entries:
            if not (entry.name.startswith(UPLOAD_PREFIX) and entry.name.endswith(UPLOAD_SUFFIX)):
                continue
            try:
                if (
                    entry.is_file(follow_symlinks=False)
                    and entry.stat(follow_symlinks=False).st_mtime < deadline
                ):
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue  # removed meanwhile (by its own request, or another process)
            except OSError as exc:
                logger.warning("cannot remove stale upload file %s: %s", entry.name, exc)
    if removed:
        logger.info("removed %d stale upload temporary file(s) from %s", removed, folder.name)
    return removed
