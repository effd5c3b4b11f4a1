"""Where the bytes of an uploaded file are: the temporary files of one request's uploads.

The HTTP room (schema/http/uploads.py) writes each file part of a multipart request to
a file made here, in the datasets folder (an atomic os.replace into place needs the
same file system); uploadDataset asks which file an Upload is; the view removes every
file still there when the request ends, however it ends.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from starlette.datastructures import UploadFile

from trainer.ml.dataset_files import UPLOAD_PREFIX


class UploadSpool:
    """The temporary files of one request's uploads, in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[tuple[BinaryIO, Path]] = []

    def new_file(self) -> BinaryIO:
        descriptor, name = tempfile.mkstemp(
            prefix=UPLOAD_PREFIX, suffix=".partial", dir=self.folder
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
