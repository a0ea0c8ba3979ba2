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


def test_checked_target_is_pinned_to_its_address():
    target = check_url("http://127.0.0.1:8123/hooks?x=1", ["127.0.0.0/8"])
    assert target.pinned_url() == "http://127.0.0.1:8123/hooks?x=1"
    assert target.host_header == "127.0.0.1:8123"
    from shared.netguard import Target

    named = Target("https://news.example.org/in", "https", "news.example.org", 443, ("93.184.216.34",))
    assert named.pinned_url() == "https://93.184.216.34:443/in"
    assert named.host_header == "news.example.org"
    v6 = Target("http://h.example:8080/", "http", "h.example", 8080, ("2606:2800:220:1::1",))
    assert v6.pinned_url() == "http://[2606:2800:220:1::1]:8080/"
    assert v6.host_header == "h.example:8080"
