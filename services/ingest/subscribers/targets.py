"""Where a subscriber's stories go, checked before it is stored: a webhook URL (SSRF guard); an
SFTP, FTP or SMTP server (its host through the same guard; SSH keys parsed; credentials sealed);
or a folder below ``NEWSWIRE_FOLDER_CHANNEL_ROOT``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import asyncssh

from services.ingest.exceptions import Invalid
from services.ingest.subscribers.schemas import (
    AnyChannel,
    EmailChannel,
    FolderChannel,
    FtpChannel,
    SftpChannel,
    WebhookChannel,
)
from shared import credentials
from shared.config import Settings
from shared.netguard import check_url, checked_addresses

#: Fields of a channel that are credentials: write-only, stored sealed.
SECRET_FIELDS = ("password", "private_key")


@dataclass(frozen=True)
class Target:
    url: str  # what lists show: the webhook URL, sftp://user@host:port/path, folder:path
    channel: dict[str, Any] | None  # None: a webhook
    sealed: str | None


def checked(channel: AnyChannel, settings: Settings) -> Target:
    """The channel, checked; raises ``TargetRefused`` (a private host) or ``Invalid``."""
    if isinstance(channel, WebhookChannel):
        check_url(str(channel.url), settings.webhook_allowed_networks)
        return Target(str(channel.url), None, None)
    if isinstance(channel, SftpChannel):
        return _sftp(channel, settings)
    if isinstance(channel, FtpChannel | EmailChannel):
        checked_addresses(channel.host, channel.port, settings.webhook_allowed_networks)
        return _sealed(channel, _url(channel), settings)
    return _folder(channel)


def _url(channel: FtpChannel | EmailChannel) -> str:
    if isinstance(channel, FtpChannel):
        scheme = "ftps" if channel.tls else "ftp"
        return f"{scheme}://{channel.username}@{channel.host}:{channel.port}/{channel.path.lstrip('/')}"
    return f"mailto:{','.join(channel.to)}"


def _sealed(channel: SftpChannel | FtpChannel | EmailChannel, url: str, settings: Settings) -> Target:
    """The channel's settings without its credentials (``credentials`` names those set), and the
    credentials sealed."""
    secrets = {name: getattr(channel, name, None) for name in SECRET_FIELDS}
    config = channel.model_dump(exclude=set(SECRET_FIELDS), by_alias=True)
    config["credentials"] = sorted(name for name, value in secrets.items() if value)
    return Target(url, config, credentials.seal(secrets, settings))


def _sftp(channel: SftpChannel, settings: Settings) -> Target:
    checked_addresses(channel.host, channel.port, settings.webhook_allowed_networks)
    _parse(asyncssh.import_public_key, channel.host_key, "host_key", "a public key in OpenSSH form (ssh-ed25519 AAAA…)")
    if channel.private_key:
        _parse(asyncssh.import_private_key, channel.private_key, "private_key", "an unencrypted private key")
    if not (channel.password or channel.private_key):
        raise Invalid("invalid_channel", "an sftp channel needs a password or a private_key")
    url = f"sftp://{channel.username}@{channel.host}:{channel.port}/{channel.path.lstrip('/')}"
    return _sealed(channel, url, settings)


def _parse(reader, text: str, field: str, what: str) -> None:
    try:
        reader(text.strip())
    except (asyncssh.KeyImportError, ValueError):
        raise Invalid("invalid_channel", f"{field} is not {what}") from None


def _folder(channel: FolderChannel) -> Target:
    path = PurePosixPath(channel.path)
    if path.is_absolute() or ".." in path.parts:
        raise Invalid(
            "invalid_channel", "a folder channel's path is relative to NEWSWIRE_FOLDER_CHANNEL_ROOT, without '..'"
        )
    return Target(f"folder:{path}", {"type": "folder", "path": str(path)}, None)


def view(url: str, channel: dict[str, Any] | None) -> dict[str, Any]:
    """The channel as the API shows it: never a credential, only which ones are set."""
    return {"type": "webhook", "url": url} if channel is None else dict(channel)
