import pytest

from shared.netguard import TargetRefused, check_addresses, check_url


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "192.168.1.1",
        "172.16.0.5",
        "127.0.0.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "fd00::1",
        "100.100.100.200",
        "2002:a9fe:a9fe::1",
        "224.0.0.1",
        # IPv4 inside IPv6 that routers translate back: NAT64, IPv4-compatible, IPv4-translated
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b::a00:1",
        "64:ff9b:1::a00:1",
        "64:ff9b:1:ffff::1",
        "::7f00:1",
        "::a9fe:a9fe",
        "::ffff:0:7f00:1",
        "::ffff:0:a00:1",
    ],
)
def test_internal_addresses_are_refused(address):
    with pytest.raises(TargetRefused):
        check_addresses([address], [])


def test_allowed_networks_let_internal_addresses_through():
    check_addresses(["127.0.0.1"], ["127.0.0.0/8"])
    with pytest.raises(TargetRefused):
        check_addresses(["10.0.0.1"], ["127.0.0.0/8"])


def test_public_addresses_pass():
    check_addresses(["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "64:ff9b::5db8:d822"], [])


@pytest.mark.parametrize(
    "url, reason",
    [
        ("ftp://example.com/x", "http or https"),
        ("http://user:pw@127.0.0.1/x", "credentials"),
        ("http://127.0.0.1:99999/x", "port"),
        ("http://127.0.0.1/x", "private/loopback"),
    ],
)
def test_bad_urls(url, reason):
    with pytest.raises(TargetRefused, match=reason):
        check_url(url, [])


def test_addresses_keep_the_resolver_order():
    target = check_url("http://localhost:8123/hooks", ["127.0.0.0/8", "::1/128"])
    assert set(target.addresses) <= {"127.0.0.1", "::1"}
    assert target.addresses == tuple(dict.fromkeys(target.addresses))  # each once
