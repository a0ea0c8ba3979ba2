"""Channel credentials (SFTP passwords and private keys) encrypted at rest.

The API takes them and never shows them again; the database keeps them as one Fernet token
(AES-128-CBC + HMAC-SHA256, ``cryptography``) per subscriber; only the delivery worker opens it,
just before it connects. The key is ``NEWSWIRE_CREDENTIALS_KEY``; without it, one is made in the
data directory the first time it is needed (``credentials.key``, readable by its owner only) —
every process that reads the same data directory shares it (``make run``, the tests). In
production (``NEWSWIRE_ENV=production``, compose) the key must be given: containers do not share
a data directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet

from shared.config import Settings, get_settings
from shared.files import private_file


class KeyMissing(RuntimeError):
    """Production without NEWSWIRE_CREDENTIALS_KEY: a key made in one container's data directory
    would not open in another's, so none is made."""


def _key(settings: Settings) -> bytes:
    if settings.credentials_key:
        return settings.credentials_key.encode()
    if settings.env == "production":
        raise KeyMissing(
            "NEWSWIRE_CREDENTIALS_KEY is not set: channel credentials cannot be stored or read (make one with "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        )
    path = Path(settings.data_dir) / "credentials.key"
    if not path.exists() or not path.read_bytes().strip():
        private_file(path)
        fresh = Fernet.generate_key()
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_TRUNC), "wb") as out:
            out.write(fresh)
    return path.read_bytes().strip()


def seal(secrets: dict[str, str], settings: Settings | None = None) -> str | None:
    """The credentials given (empty values left out) as one token; None when there are none."""
    given = {name: value for name, value in secrets.items() if value}
    if not given:
        return None
    return Fernet(_key(settings or get_settings())).encrypt(json.dumps(given).encode()).decode()


def unseal(token: str | None, settings: Settings | None = None) -> dict[str, str]:
    if not token:
        return {}
    return json.loads(Fernet(_key(settings or get_settings())).decrypt(token.encode()))
