"""API models for subscribers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StrictBool,
    StrictInt,
    TypeAdapter,
    field_serializer,
    model_validator,
)

from services.ingest.common import Input
from shared.filters import SubscriberFilters

#: What a subscriber receives: the ninjs JSON event, a NewsML-G2 newsItem or a NITF document.
OutputFormat = Literal["ninjs", "newsml-g2", "nitf"]
FORMAT_DESCRIPTION = (
    "what it receives: `ninjs` (JSON event, application/json), `newsml-g2` (NewsML-G2 2.35 newsItem, "
    "application/vnd.iptc.g2.newsitem+xml) or `nitf` (NITF 3.6, application/nitf+xml); signed the same way"
)


#: A host name or address; a path without control characters.
HOST_PATTERN = r"^[A-Za-z0-9.\-:\[\]]+$"
PATH_PATTERN = r"^[^\x00-\x1f\x7f]+$"


class WebhookChannel(Input):
    type: Literal["webhook"]
    url: HttpUrl


class _FileServer(Input):
    """What the SFTP and FTP channels have in common: where the files go, and as whom."""

    host: str = Field(min_length=1, max_length=253, pattern=HOST_PATTERN, description="host name or address")
    username: str = Field(min_length=1, max_length=200)
    path: str = Field(default=".", min_length=1, max_length=1000, pattern=PATH_PATTERN, description="remote folder")


class SftpChannel(_FileServer):
    """Files written over SFTP. The server must present ``host_key`` (no trust on first use)."""

    type: Literal["sftp"]
    port: StrictInt = Field(default=22, ge=1, le=65535)
    password: str | None = Field(default=None, max_length=1000, description="write-only")
    private_key: str | None = Field(default=None, max_length=20000, description="OpenSSH private key; write-only")
    host_key: str = Field(
        min_length=1, max_length=5000, description="the server's public key in OpenSSH form (ssh-ed25519 AAAA…)"
    )


class FtpChannel(_FileServer):
    """Files written over FTP (``tls``: FTPS, explicit TLS, certificate checked against ``host``)."""

    type: Literal["ftp"]
    port: StrictInt = Field(default=21, ge=1, le=65535)
    password: str = Field(min_length=1, max_length=1000, description="write-only")
    tls: StrictBool = False


#: An e-mail address as SMTP takes it (no display name, no spaces or angle brackets).
ADDRESS = r"^[^@\s<>,;]+@[^@\s<>,;]+$"


class EmailChannel(Input):
    """Each version an e-mail with the rendering attached; its Message-ID is stable per delivery."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    type: Literal["email"]
    host: str = Field(min_length=1, max_length=253, pattern=HOST_PATTERN, description="SMTP server")
    port: StrictInt = Field(default=587, ge=1, le=65535)
    starttls: StrictBool = True
    username: str | None = Field(default=None, max_length=200)
    password: str | None = Field(default=None, max_length=1000, description="write-only")
    sender: str = Field(alias="from", max_length=320, pattern=ADDRESS)
    to: list[Annotated[str, Field(max_length=320, pattern=ADDRESS)]] = Field(min_length=1, max_length=50)


class FolderChannel(Input):
    """Files written into a folder on the delivery worker's machine, below NEWSWIRE_FOLDER_CHANNEL_ROOT."""

    type: Literal["folder"]
    path: str = Field(
        min_length=1, max_length=1000, pattern=PATH_PATTERN, description="relative to NEWSWIRE_FOLDER_CHANNEL_ROOT"
    )


AnyChannel = WebhookChannel | SftpChannel | FtpChannel | EmailChannel | FolderChannel
Channel = Annotated[AnyChannel, Field(discriminator="type")]
CHANNEL: TypeAdapter[AnyChannel] = TypeAdapter(Channel)


class SubscriberCreate(Input):
    name: str = Field(min_length=1, max_length=200)
    url: HttpUrl | None = Field(default=None, description="a webhook endpoint (the same as a webhook `channel`)")
    channel: Channel | None = Field(
        default=None,
        description="where its stories go: webhook, sftp, ftp, email or folder; credentials are write-only",
    )
    filters: SubscriberFilters | None = Field(default=None, description="what it wants; left out: everything")
    format: OutputFormat = Field(default="ninjs", description=FORMAT_DESCRIPTION)

    @model_validator(mode="after")
    def _one_target(self) -> SubscriberCreate:
        if (self.url is None) == (self.channel is None):
            raise ValueError("give either url (a webhook) or channel, not both and not neither")
        return self


class SubscriberUpdate(Input):
    """Only the fields given change; ``filters: null`` asks for everything again."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    url: HttpUrl | None = Field(default=None, description="a new webhook endpoint")
    channel: Channel | None = Field(default=None, description="a new channel (its credentials given again)")
    filters: SubscriberFilters | None = None
    format: OutputFormat | None = Field(default=None, description=FORMAT_DESCRIPTION)
    #: JSON true or false only (not 0, 1 or "yes").
    active: StrictBool | None = Field(
        default=None, description="false disables it (deliveries are held), true enables it"
    )


class SubscriberPublic(BaseModel):
    id: str
    name: str
    url: str = Field(description="where its stories go (sftp://user@host:port/path, folder:path for other channels)")
    channel: dict = Field(description="its channel without credentials (`credentials` names those that are set)")
    filters: SubscriberFilters | None
    format: OutputFormat
    active: bool
    disabled_reason: str | None
    failing_since: datetime | None = Field(description="since when every delivery has failed, if it does")
    previous_secret_expires_at: datetime | None = Field(
        description="during a secret rotation: until when deliveries also carry the old secret's signature"
    )
    created_at: datetime

    @field_serializer("filters")
    def _given_fields_only(self, filters: SubscriberFilters | None) -> dict | None:
        return None if filters is None else filters.model_dump(mode="json", exclude_none=True)


class SubscriberCreated(SubscriberPublic):
    secret: str = Field(description="Standard Webhooks signing secret (whsec_...); shown once")


class SecretRotation(Input):
    overlap_seconds: StrictInt = Field(
        default=86400, ge=0, le=7 * 86400, description="how long deliveries carry both signatures (default 24 h)"
    )


class SecretRotated(BaseModel):
    secret: str = Field(description="the new signing secret; shown once")
    previous_secret_expires_at: datetime | None = Field(description="until then, the old secret verifies too")
