"""Output channels: how a rendered version reaches a subscriber. Every channel gets the same
guarantees from the delivery code around it (claims, retries with back-off, the attempt log,
per-story order, dead letters, replay); ``deliver`` is the one call it answers.

* ``webhook`` (``webhook.py``): a signed POST — the default, and a subscriber with no channel;
* ``sftp`` (``sftp.py``): a file on an SFTP server, host key pinned;
* ``folder`` (``folder.py``): a file in a folder on the delivery worker's machine.
"""

from __future__ import annotations

import time

from cryptography.fernet import InvalidToken

from services.publish.channels import folder, sftp
from services.publish.channels.files import failed, file_name
from services.publish.channels.webhook import SendResult
from shared import credentials
from shared.config import Settings


async def deliver_file(outgoing, settings: Settings) -> SendResult:
    """A version to a file channel (``outgoing.channel`` says which)."""
    name = file_name(outgoing.story_id, outgoing.version, outgoing.format)
    if outgoing.channel["type"] == "sftp":
        try:
            secrets = credentials.unseal(outgoing.credentials, settings)
        except (credentials.KeyMissing, InvalidToken) as exc:
            error = str(exc) or "the credentials do not open with this NEWSWIRE_CREDENTIALS_KEY"
            return failed(time.perf_counter(), error)
        return await sftp.send(outgoing.channel, secrets, name, outgoing.body, settings)
    return await folder.send(outgoing.channel, name, outgoing.body, settings)
