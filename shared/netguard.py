"""Webhook target guard: refuse URLs that resolve to private, loopback or link-local
addresses (SSRF), unless the operator allowed those networks explicitly."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit


class TargetRefused(ValueError):
    """The URL may not receive webhooks; the message says why."""


def _is_internal(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Anything not globally routable: private, loopback, link-local, carrier-grade NAT
    (cloud metadata services live there too), reserved — also when wrapped in IPv6
    (IPv4-mapped, 6to4, Teredo)."""
    if isinstance(addr, ipaddress.IPv6Address):
        wrapped = addr.ipv4_mapped or addr.sixtofour or (addr.teredo[1] if addr.teredo else None)
        if wrapped is not None:
            addr = wrapped
    return not addr.is_global or addr.is_multicast


def check_addresses(addresses: Iterable[str], allowed_networks: Iterable[str]) -> None:
    """Raise TargetRefused if any address is internal and outside the allowed networks."""
    allowed = [ipaddress.ip_network(n, strict=False) for n in allowed_networks]
    for text in addresses:
        addr = ipaddress.ip_address(text.split("%", 1)[0])
        if _is_internal(addr) and not any(addr in net for net in allowed):
            raise TargetRefused(
                f"webhook target resolves to {addr}, a private/loopback/link-local address; "
                "allow its network in NEWSWIRE_WEBHOOK_ALLOWED_NETWORKS if that is intended"
            )


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise TargetRefused(f"cannot resolve webhook host {host!r}: {exc.strerror}") from None
    return sorted({info[4][0] for info in infos})


@dataclass(frozen=True)
class Target:
    """A checked webhook URL: where it may be connected to."""

    url: str
    scheme: str
    hostname: str
    port: int
    addresses: tuple[str, ...]  # every address the name resolved to; all passed the check

    def pinned_url(self) -> str:
        """The URL with its host replaced by the first checked address, so that the connection
        goes where the check looked (no second DNS lookup for a rebinding attacker to answer)."""
        parts = urlsplit(self.url)
        address = self.addresses[0]
        host = f"[{address}]" if ":" in address else address
        return urlunsplit((parts.scheme, f"{host}:{self.port}", parts.path or "/", parts.query, ""))

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return host if self.port == default else f"{host}:{self.port}"


def check_url(url: str, allowed_networks: Iterable[str]) -> Target:
    """Validate a webhook URL's form and where it resolves to."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("webhook URL must use http or https")
    if not parts.hostname:
        raise TargetRefused("webhook URL has no host")
    if parts.username or parts.password:
        raise TargetRefused("webhook URL must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TargetRefused("webhook URL has an invalid port") from None
    addresses = resolve(parts.hostname, port)
    check_addresses(addresses, allowed_networks)
    return Target(url, parts.scheme, parts.hostname, port, tuple(addresses))
