"""Standard Webhooks delivery over aiohttp, for the delivery engine and the API's test event:
sign at send time, POST without following redirects, hold every attempt to one total deadline,
classify the answer.

* **One deadline per attempt.** Connect, send and the start of the answer together get
  ``deadline`` seconds (aiohttp's ``total`` timeout, and an ``asyncio.timeout`` around the
  whole attempt as well): a receiver that drips one byte a second cannot hold a send longer.
  httpx's timeouts apply to each read separately (encode/httpx#1450), so a dripping receiver
  could hold an httpx send for as long as it liked; ``bench.isolation`` measures both.
* **SSRF guard at connect time.** The connector's resolver (``CheckedResolver``) looks the
  host up once per connection and refuses it unless every address passes
  ``shared.netguard.check_addresses``; the connection then goes to those addresses, in the
  resolver's order, trying the next when one refuses (a dual-stack host reached over IPv6
  or IPv4). There is no second lookup for a rebinding DNS server to answer differently, and
  the URL keeps its host name, so TLS checks the certificate against it.
* **Bounded answers.** Only the first bytes of the answer are read; the excerpt is stored as
  text without NUL or other control characters (PostgreSQL cannot store NUL, and any gzip
  body holds some), and ``Accept-Encoding: identity`` asks receivers not to compress.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from standardwebhooks.webhooks import Webhook

from shared.netguard import TargetRefused, check_addresses
from shared.timeutil import as_utc

#: Bytes of a receiver's answer that are read and kept.
RESPONSE_EXCERPT = 500
#: Statuses whose Retry-After header is honoured.
RETRY_AFTER_STATUSES = {429, 502, 503, 504}
#: The longest Retry-After honoured; a receiver cannot park a delivery for longer.
MAX_RETRY_AFTER = 86400.0
USER_AGENT = "Newswire-Webhooks/1"


@dataclass
class SendResult:
    status_code: int | None
    latency_ms: float
    error: str | None
    response_excerpt: str | None
    retry_after_seconds: float | None
    #: A channel without HTTP statuses (SFTP, folder) that stored the file.
    done: bool = False

    @property
    def ok(self) -> bool:
        return self.done or (self.status_code is not None and 200 <= self.status_code < 300)

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def event_body(event_type: str, timestamp: str, data: dict) -> bytes:
    return json.dumps({"type": event_type, "timestamp": timestamp, "data": data}, separators=(",", ":")).encode()


@lru_cache(maxsize=4096)
def _signer(secret: str) -> Webhook:
    return Webhook(secret)  # decodes the secret once, not once per send


def signed_headers(
    secret: str | Iterable[str],
    message_id: str,
    body: bytes,
    now: datetime | None = None,
    *,
    content_type: str = "application/json",
    event_type: str | None = None,
) -> dict:
    """Standard Webhooks headers: the signature covers the body whatever its format. With
    several secrets (rotation) every signature is sent. ``event_type`` (``story.corrected``, …)
    goes out as ``newswire-event-type``, so a receiver of XML knows the event without parsing."""
    now = now or datetime.now(UTC)
    secrets = [secret] if isinstance(secret, str) else list(secret)
    text = body.decode()
    signatures = " ".join(_signer(s).sign(message_id, now, text) for s in secrets)
    return {
        "content-type": content_type,
        **({"newswire-event-type": event_type} if event_type else {}),
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
        "user-agent": USER_AGENT,
        "accept-encoding": "identity",
    }


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date), capped at a
    day; None for anything else. Never raises: the header is the receiver's, not ours."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit() alone accepts "²" and "１２"
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


_CONTROL = {c: "\ufffd" for c in range(32) if chr(c) not in "\t\n\r"} | {127: "\ufffd"}


def safe_excerpt(data: bytes) -> str:
    """The start of an answer as storable text: UTF-8 (bad bytes replaced), control characters
    (NUL above all) replaced, at most ``RESPONSE_EXCERPT`` characters."""
    return data.decode("utf-8", errors="replace").translate(_CONTROL)[:RESPONSE_EXCERPT]


Lookup = Callable[[str, int, int], "asyncio.Future[list[str]]"]


class CheckedResolver(AbstractResolver):
    """aiohttp resolver that refuses hosts resolving to internal addresses (unless allowed)
    and hands the connector the checked addresses in the resolver's order."""

    def __init__(self, allowed_networks: Iterable[str], lookup: Lookup | None = None):
        self.allowed = list(allowed_networks)
        self.lookup = lookup or self._getaddrinfo

    @staticmethod
    async def _getaddrinfo(host: str, port: int, family: int) -> list[str]:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(info[4][0] for info in infos))

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_UNSPEC) -> list[ResolveResult]:
        try:
            addresses = await self.lookup(host, port, family)
        except OSError as exc:
            raise OSError(f"cannot resolve webhook host {host!r}: {exc}") from None
        check_addresses(addresses, self.allowed)  # TargetRefused (a ValueError) ends the attempt
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                proto=0,
                flags=socket.AI_NUMERICHOST,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


def make_session(allowed_networks: Iterable[str], deadline: float, max_connections: int = 512) -> aiohttp.ClientSession:
    """One pooled client for a delivery process (create it inside the running event loop)."""
    connector = aiohttp.TCPConnector(
        resolver=CheckedResolver(allowed_networks),
        limit=max_connections,
        limit_per_host=0,
        ttl_dns_cache=30,
        enable_cleanup_closed=True,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=deadline),
        auto_decompress=False,
        skip_auto_headers=("Content-Type",),
        raise_for_status=False,
    )


async def send(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict, deadline: float) -> SendResult:
    """POST once; never raises for anything the receiver or the network does."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(deadline):
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                excerpt = await response.content.read(4 * RESPONSE_EXCERPT)
                status, retry_header = response.status, response.headers.get("retry-after")
    except TargetRefused as exc:
        return SendResult(None, _ms(started), str(exc), None, None)
    except TimeoutError:
        return SendResult(None, _ms(started), f"no complete answer within the {deadline:g} s deadline", None, None)
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return SendResult(None, _ms(started), f"{exc.__class__.__name__}: {exc}"[:1000], None, None)
    retry_after = parse_retry_after(retry_header) if status in RETRY_AFTER_STATUSES else None
    error = None if 200 <= status < 300 else f"HTTP {status}"
    return SendResult(status, _ms(started), error, safe_excerpt(excerpt), retry_after)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def signing_secrets(subscriber: Any, now: datetime) -> tuple[str, ...]:
    """The secrets a delivery is signed with: the current one and, while a rotation overlaps,
    the previous one too (Standard Webhooks sends one signature per secret)."""
    expires = subscriber.previous_secret_expires_at
    if subscriber.previous_secret and expires and as_utc(expires) > now:
        return (subscriber.secret, subscriber.previous_secret)
    return (subscriber.secret,)
