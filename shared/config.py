"""One settings object for every service, read from ``NEWSWIRE_*`` environment variables."""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from limits import parse_many
from pydantic import field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _secrets_dir() -> str | None:
    """Compose ``secrets:`` arrive as files in /run/secrets (or ``NEWSWIRE_SECRETS_DIR``), one per
    setting: a file ``newswire_database_url`` sets ``database_url``. Environment variables win."""
    path = os.environ.get("NEWSWIRE_SECRETS_DIR", "/run/secrets")
    return path if Path(path).is_dir() else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSWIRE_", extra="ignore", secrets_dir=_secrets_dir())

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path(".newswire")
    database_url: str | None = None
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    receiver_port: int = 8001
    #: CIDRs that webhook targets may resolve to although they are private/loopback/link-local.
    webhook_allowed_networks: Annotated[list[str], NoDecode] = []
    #: Largest request body the API accepts (bytes); larger bodies get 413.
    max_request_bytes: int = 1_048_576
    #: Requests one API key may make to the API ("6000/minute", "100/second"; empty: no limit),
    #: counted by each API process on its own. Past it: 429 with Retry-After.
    rate_limit_per_key: str = "6000/minute"
    #: Requests from one client address that carry no key or fail authentication (401), per API
    #: process. Past it every request from that address gets 429 until the window moves on.
    rate_limit_per_ip: str = "600/minute"
    #: How long the API remembers an Idempotency-Key (24 hours); after that the key may be used again.
    idempotency_ttl_seconds: float = 86400.0
    #: Every webhook attempt ends within this: connect, send and the start of the answer.
    delivery_deadline_seconds: float = 15.0
    #: Sends in flight at once, per delivery worker process.
    delivery_concurrency: int = 256
    #: Sends in flight at once to one subscriber, per delivery worker process.
    delivery_concurrency_per_subscriber: int = 4
    #: Deliveries a worker process takes over from the queue before it stops taking more.
    delivery_backlog: int = 20000
    #: Attempts before a delivery is marked failed (spread over ~a day by the back-off schedule).
    delivery_max_attempts: int = 18
    #: How long a delivery worker holds a delivery; past it (a killed worker) another may send it.
    delivery_lease_seconds: float = 120.0
    #: A subscriber whose every delivery failed for this long is disabled (3 days).
    subscriber_disable_after_seconds: float = 259200.0
    #: First retry delay; it doubles per attempt up to 6 hours (with ±20 % jitter).
    delivery_retry_base_seconds: float = 5.0
    #: How often the scheduler sweeps the outbox, embargoes and due deliveries.
    scheduler_interval_seconds: float = 1.0
    #: A version that has not moved on this long after its last event was sent, while its stage's
    #: queue is empty, lost its message (Redis restart, worker killed): it is queued again.
    stuck_after_seconds: float = 150.0
    #: A version whose current step a worker took up this many times without finishing it (the
    #: worker died each time: a poison story) is marked failed; an editor can retry it.
    max_tries: int = 5
    #: Time one tagger may take on one story; past it the story goes on without that tagger's tags.
    tagger_budget_seconds: float = 10.0
    #: Versions tagged in one batch at most, when that many wait untried (1: each on its own), and
    #: their characters at most: the model reads a batch faster than its stories one by one.
    tagging_batch_versions: int = 8
    tagging_batch_chars: int = 20000
    #: Versions at most in one message to the publish workers, when several wait to be published
    #: at one urgency (a tagging batch, a sweep): each costs its own render, but one Celery hop
    #: and one delivery message serve them all (1: a message each).
    publish_group_versions: int = 8
    #: Versions at most in one message to the enrichment workers, when several are stored at one
    #: urgency together (a burst the API relays at once, a sweep): the worker's batch takes up
    #: whichever versions wait, so each message after the first of a burst mostly finds its
    #: versions tagged already; one message for a few of them saves those Celery hops. Kept below
    #: ``tagging_batch_versions`` so that a burst still reaches every enrichment process (1: a
    #: message each; flashes always go one to a message).
    enrichment_group_versions: int = 4
    #: Every Redis call (broker, API, scheduler) gives up after this: a Redis that accepts
    #: connections and never answers must not hang a request or a sweep.
    redis_socket_timeout_seconds: float = 1.0
    redis_connect_timeout_seconds: float = 1.0
    #: After a failed send to the broker, the API leaves sending to the scheduler's sweep this long.
    broker_backoff_seconds: float = 5.0
    #: An enrichment pool process that grew past this is replaced after its current story (MiB).
    enrichment_max_memory_mib: int = 800
    #: Workers and the scheduler touch a heartbeat file here; ``newswire health <name>`` reads it.
    heartbeat_dir: Path | None = None
    #: Key (Fernet: 32 url-safe base64 bytes) that encrypts channel credentials (SFTP passwords and
    #: keys) at rest. Unset: one is made in the data directory (``credentials.key``, 0600) and kept.
    credentials_key: str | None = None
    #: Folder channels write below this folder only (default: ``<data dir>/folders``).
    folder_channel_root: Path | None = None
    #: CA certificates (PEM) trusted for FTPS and SMTP STARTTLS besides the system's (a private CA).
    channel_ca_file: Path | None = None
    #: A signed-in browser of the desk or the portal is signed out after this many hours.
    web_session_hours: float = 8.0
    #: Send the session cookie only over HTTPS (default: in production, where TLS ends in front).
    web_cookie_secure: bool | None = None
    #: A heartbeat older than this means the component is not working.
    heartbeat_max_age_seconds: float = 30.0
    #: How long a scheduler holds its lease; a second scheduler refuses to start while it is held.
    scheduler_lease_seconds: float = 30.0
    #: Port on which a worker or the scheduler serves /metrics (on ``host``); 0: none. The API
    #: serves its own on its port. ``--metrics-port`` overrides it (several processes on one host).
    metrics_port: int = 0
    log_level: str = "INFO"
    #: ``console``: a readable line (the default); ``json``: one JSON object a line, with the
    #: story, version, delivery, subscriber and request ids wherever they apply (shared/logs.py).
    log_format: Literal["console", "json"] = "console"

    @field_validator("webhook_allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)  # raises ValueError with a clear message
        return value

    @field_validator("rate_limit_per_key", "rate_limit_per_ip")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        value = value.strip()
        if value:
            items = parse_many(value)  # raises ValueError naming the text it could not read
            if len(items) != 1 or items[0].amount < 1:
                raise ValueError(f"{value!r}: give one limit such as '6000/minute' (empty for none)")
        return value

    @field_validator("idempotency_ttl_seconds")
    @classmethod
    def _keys_outlive_retries(cls, value: float) -> float:
        if value < 86400:
            raise ValueError(
                "NEWSWIRE_IDEMPOTENCY_TTL_SECONDS must be 86400 (24 hours) or more: clients retry that long"
            )
        return value

    @model_validator(mode="after")
    def _lease_outlives_an_attempt(self) -> Settings:
        if self.delivery_lease_seconds < self.delivery_deadline_seconds + 1:
            raise ValueError(
                "NEWSWIRE_DELIVERY_LEASE_SECONDS must exceed NEWSWIRE_DELIVERY_DEADLINE_SECONDS by a second or more, "
                "or a delivery still being sent could be handed to another worker"
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env == "production":
            if not self.database_url or self.database_url.startswith("sqlite"):
                raise ValueError("NEWSWIRE_ENV=production needs NEWSWIRE_DATABASE_URL pointing at PostgreSQL")
            if not self.redis_url:
                raise ValueError("NEWSWIRE_ENV=production needs NEWSWIRE_REDIS_URL (no embedded Redis)")
        return self

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL with the driver SQLAlchemy should use (psycopg 3 for PostgreSQL)."""
        url = self.database_url or _sqlite_url(self.data_dir, os.getcwd())
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://") :]
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url

    @property
    def broker_url(self) -> str:
        if not self.redis_url:
            raise RuntimeError(
                "NEWSWIRE_REDIS_URL is not set: start the stack with `newswire run` "
                "(which starts an embedded Redis) or point it at a Redis server"
            )
        return self.redis_url


@lru_cache(maxsize=64)
def _sqlite_url(data_dir: Path, cwd: str) -> str:
    """The embedded database's URL (resolving the path costs more than a query: every session
    asks for the URL, so it is worked out once per data folder and working directory)."""
    return f"sqlite:///{(Path(cwd) / data_dir / 'newswire.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
