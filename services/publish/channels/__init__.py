"""Output channels: how a rendered version reaches a subscriber. Every channel gets the same
guarantees from the delivery code around it (claims, retries with back-off, the attempt log,
per-story order, dead letters, replay); the engine signs and POSTs webhooks itself and hands every
other channel to ``deliver_file``.

* ``webhook`` (``webhook.py``): a signed POST — the default, and a subscriber with no channel;
* ``sftp`` (``sftp.py``): a file on an SFTP server, host key pinned;
* ``ftp`` (``ftp.py``): a file on an FTP server, FTPS with ``tls``;
* ``email`` (``mail.py``): a message with the rendering attached, its Message-ID stable per delivery;
* ``folder`` (``folder.py``): a file in a folder on the delivery worker's machine.
"""

from __future__ import annotations

import time

from cryptography.fernet import InvalidToken

from services.publish.channels import folder, ftp, mail, sftp
from services.publish.channels.files import failed, file_name
from shared import credentials
from shared.config import Settings
from shared.webhook_client import SendResult


async def deliver_file(outgoing, settings: Settings) -> SendResult:
    """A version to a channel other than a webhook (``outgoing.channel`` says which)."""
    config, name = outgoing.channel, file_name(outgoing.story_id, outgoing.version, outgoing.format)
    if config["type"] == "folder":
        return await folder.send(config, name, outgoing.body, settings)
    try:
        secrets = credentials.unseal(outgoing.credentials, settings)
    except (credentials.KeyMissing, InvalidToken) as exc:
        return failed(time.perf_counter(), str(exc) or "the credentials do not open with this NEWSWIRE_CREDENTIALS_KEY")
    if config["type"] == "sftp":
        return await sftp.send(config, secrets, name, outgoing.body, settings)
    if config["type"] == "ftp":
        return await ftp.send(config, secrets, name, outgoing.body, settings)
    return await mail.send(config, secrets, outgoing, name, settings)
