"""What the channels other than webhooks share (SFTP, FTP, folder, e-mail): the file's name, the
outcome of an attempt, and the TLS context.

A version is one file named ``<story id>-v<version>.<ext>`` (``json`` for ninjs, ``xml`` for
NewsML-G2 and NITF). It is written under a temporary name first and renamed over the final one, so
a reader never sees half a file and a retry replaces the file instead of adding another.
"""

from __future__ import annotations

import ssl
import time
from functools import lru_cache

from shared.config import Settings
from shared.webhook_client import SendResult

EXTENSIONS = {"ninjs": "json", "newsml-g2": "xml", "nitf": "xml"}


def file_name(story_id: str, version: int, format_name: str) -> str:
    return f"{story_id}-v{version}.{EXTENSIONS[format_name]}"


def temporary_name(name: str) -> str:
    """Hidden, so a reader that lists the folder for ``*.xml`` never picks it up."""
    return f".{name}.part"


def stored(started: float, where: str) -> SendResult:
    return SendResult(None, _ms(started), None, f"stored {where}", None, done=True)


def failed(started: float, error: str) -> SendResult:
    return SendResult(None, _ms(started), error[:1000], None, None)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def tls_context(settings: Settings) -> ssl.SSLContext:
    """Certificates checked against the system's CAs, and ``NEWSWIRE_CHANNEL_CA_FILE``'s if set."""
    return _tls_context(str(settings.channel_ca_file) if settings.channel_ca_file else None)


@lru_cache(maxsize=4)
def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Built once per process: reading the system's CA store costs more than a send."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context
