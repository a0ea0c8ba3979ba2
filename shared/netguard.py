"""Webhook target guard: refuse URLs that resolve to private, loopback or link-local
addresses (SSRF), unless the operator allowed those networks explicitly."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit


class TargetRefused(ValueError):
    """The URL may not receive webhooks; the message says why."""


#: IPv6 ranges whose last 32 bits are an IPv4 address that the network translates back to:
#: NAT64's well-known prefix (RFC 6052), IPv4-compatible (deprecated, RFC 4291) and
#: IPv4-translated (RFC 2765) addresses.
_EMBEDDING_IPV4 = [ipaddress.ip_network(n) for n in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96")]
#: NAT64 for local use (RFC 8215): translated by the operator's own gateway, never global.
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if addr.ipv4_mapped or addr.sixtofour:
        return addr.ipv4_mapped or addr.sixtofour
    if addr.teredo:
        return addr.teredo[1]
    if any(addr in net for net in _EMBEDDING_IPV4) and int(addr) > 1:  # :: and ::1 are themselves
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def _is_internal(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Anything not globally routable: private, loopback, link-local, carrier-grade NAT
    (cloud metadata services live there too), reserved — also when wrapped in IPv6
    (IPv4-mapped, 6to4, Teredo, NAT64, IPv4-compatible, IPv4-translated)."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr in _LOCAL_NAT64:
            return True
        wrapped = _embedded_ipv4(addr)
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
                f"the target host resolves to {addr}, a private/loopback/link-local address; "
                "allow its network in NEWSWIRE_WEBHOOK_ALLOWED_NETWORKS if that is intended"
            )


def resolve(host: str, port: int) -> list[str]:
    """The host's addresses in the resolver's order (which already prefers what the system can
    reach), each once."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise TargetRefused(f"cannot resolve webhook host {host!r}: {exc.strerror}") from None
    except UnicodeError:
        raise TargetRefused(f"cannot resolve webhook host {host[:80]!r}: not a valid host name") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


def checked_addresses(host: str, port: int, allowed_networks: Iterable[str]) -> list[str]:
    """The host's addresses, every one of them checked: connect to one of these, never look the
    name up again (a rebinding DNS server could answer differently)."""
    addresses = resolve(host, port)
    check_addresses(addresses, allowed_networks)
    return addresses


@dataclass(frozen=True)
class Target:
    """A checked webhook URL: where it may be connected to."""

    url: str
    scheme: str
    hostname: str
    port: int
    addresses: tuple[str, ...]  # every address the name resolved to, in resolver order; all passed


def _check_host_name(host: str) -> None:
    """A name the resolver can look up at all: IDNA (what ``getaddrinfo`` encodes names with)
    refuses an empty label and one longer than 63 characters."""
    try:
        host.encode("idna")
    except UnicodeError:
        shown = host if len(host) <= 80 else host[:77] + "..."
        raise TargetRefused(
            f"webhook URL has an invalid host name {shown!r}: each part between dots must have 1 to 63 characters"
        ) from None


def check_form(url: str) -> tuple[str, str, int]:
    """The URL's scheme, host and port, if it may be a webhook target at all (no DNS)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("webhook URL must use http or https")
    if not parts.hostname:
        raise TargetRefused("webhook URL has no host")
    if parts.username or parts.password:
        raise TargetRefused("webhook URL must not carry credentials")
    _check_host_name(parts.hostname)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TargetRefused("webhook URL has an invalid port") from None
    return parts.scheme, parts.hostname, port


def check_url(url: str, allowed_networks: Iterable[str]) -> Target:
    """Validate a webhook URL's form and where it resolves to."""
    scheme, hostname, port = check_form(url)
    addresses = checked_addresses(hostname, port, allowed_networks)
    return Target(url, scheme, hostname, port, tuple(addresses))
