"""Webhook signing secrets encrypted at rest, with keys kept outside the database.

Signing needs the secret itself (an HMAC key, unlike a password that a hash can check),
so a dump or backup of the `webhook` table would otherwise hand every receiver's key to
whoever holds it. As MLflow does for its webhooks, the column holds a Fernet token
(AES-128-CBC with an HMAC-SHA256, from the `cryptography` package) made with a
key-encryption key that the database never sees: WEBHOOK_SECRET_KEYS (server/settings.py),
or on the embedded default a key file under the artifacts folder (server/webhook_keys.py).

Several keys make rotation possible: the first encrypts, every one decrypts, and the
dispatcher re-encrypts what an older key made with the first at start-up
(models/webhooks.encrypt_stored_secrets). A value still in plain text (`whsec_...`,
written before this existed) is read as is and encrypted at start-up or on first use.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["PLAIN_PREFIX", "SecretBox", "SecretKeyError", "is_plain", "new_key", "valid_key"]

# Standard Webhooks secrets begin so; a Fernet token never does (it is "gAAAAA...").
PLAIN_PREFIX = "whsec_"


class SecretKeyError(Exception):
    """A stored secret that no key of WEBHOOK_SECRET_KEYS opens: the key that encrypted
    it is missing (another process's key file, a key dropped from the list too soon)."""


def is_plain(stored: str) -> bool:
    return stored.startswith(PLAIN_PREFIX)


def new_key() -> str:
    return Fernet.generate_key().decode()


def valid_key(key: str) -> bool:
    """A Fernet key: 32 bytes, url-safe base64."""
    try:
        Fernet(key)
    except ValueError:
        return False
    return True


class SecretBox:
    """Encrypts with the first key, decrypts with any of them."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._primary = Fernet(keys[0])
        self._all = MultiFernet([Fernet(key) for key in keys])
        self.key_count = len(keys)

    def encrypt(self, secret: str) -> str:
        return self._primary.encrypt(secret.encode()).decode()

    def decrypt(self, stored: str) -> str:
        """The secret itself; a plain-text value (not yet encrypted) is returned as is."""
        if is_plain(stored):
            return stored
        try:
            return self._all.decrypt(stored.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "the webhook's signing secret cannot be decrypted: none of the "
                f"{self.key_count} key(s) in WEBHOOK_SECRET_KEYS is the key that "
                "encrypted it (set the same keys on every API process)"
            ) from None

    def is_current(self, stored: str) -> bool:
        """Encrypted with the first key: nothing to do at rotation."""
        if is_plain(stored):
            return False
        try:
            self._primary.decrypt(stored.encode())
        except InvalidToken:
            return False
        return True

    def rewrapped(self, stored: str) -> str:
        """`stored` encrypted with the first key (plain text encrypted, an older key's
        token re-encrypted); SecretKeyError if no key opens it."""
        return self.encrypt(self.decrypt(stored))
