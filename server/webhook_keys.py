"""Where the keys that encrypt webhook signing secrets come from (models/webhook_secrets.py).

WEBHOOK_SECRET_KEYS when it is set: what production does, with the same keys on every API
process. Unset, on the embedded default, one key is generated into a file of the
artifacts folder, readable by its owner only (0600), as a generated secret should be, and
found there at the next start-up; every process sharing the folder uses it. The file is
published with a hard link of a complete temporary file, so two processes starting at
once agree on one key and none ever reads half of it.

The key stays outside the database on purpose: a dump or a backup of the database alone
reveals no receiver's secret.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

from models.webhook_secrets import SecretBox, new_key, valid_key
from server.settings import Settings

__all__ = ["KEY_FILE", "secret_box"]

logger = logging.getLogger("server.webhook_keys")

KEY_FILE = "webhook-secret.key"


def secret_box(settings: Settings) -> SecretBox:
    if settings.webhook_secret_keys:
        return SecretBox(settings.webhook_secret_keys)
    return SecretBox(_file_keys(settings.artifacts.root / KEY_FILE))


def _file_keys(path: Path) -> list[str]:
    """The keys of the file (one a line, the first encrypts), generated if it is missing."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        text = _create(path)
    else:
        if path.stat().st_mode & 0o077:
            logger.warning("webhook secret key file %s is readable by others: chmod 600 it", path)
    keys = [line.strip() for line in text.splitlines() if line.strip()]
    if not keys or not all(valid_key(key) for key in keys):
        raise RuntimeError(
            f"{path} must hold Fernet keys, one a line (or set WEBHOOK_SECRET_KEYS); "
            "delete it to have one generated if no webhook was created with it"
        )
    return keys


def _create(path: Path) -> str:
    """Write a new key to `path` unless another process did first; the file's text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = new_key() + "\n"
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".webhook-key-")  # 0600
    try:
        with os.fdopen(fd, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return path.read_text()  # another process published its key first: use it
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    logger.warning(
        "WEBHOOK_SECRET_KEYS is not set: generated a key encrypting webhook secrets into %s "
        "(0600); in production set WEBHOOK_SECRET_KEYS on every API process",
        path,
    )
    return text
