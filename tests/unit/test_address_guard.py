"""The address guard behind webhooks, input downloads and models' internet access: what counts
as public, whatever this Python's own table of special addresses says."""

import ipaddress

import pytest

from playground import webhooks

NEVER = [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "192.0.2.1", "198.18.0.1", "203.0.113.80", "224.0.0.1", "255.255.255.255",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "2001:db8::1",
    # What Python 3.12.1's table calls global:
    "::127.0.0.1", "::a00:1", "::ffff:0:7f00:1", "64:ff9b:1::a00:1", "fec0::1",
    # IPv4 inside IPv6: mapped, NAT64 and 6to4 carrying a private address.
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1", "2002:a00:1::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8",
          "64:ff9b::808:808", "2002:808:808::1"]


@pytest.mark.parametrize("address", NEVER)
def test_never_public(address):
    assert not webhooks._is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public(address):
    assert webhooks._is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("host", ["[::127.0.0.1]", "[::ffff:0:7f00:1]", "0x7f000001", "2130706433", "[fec0::1]"])
def test_a_url_naming_one_is_refused_before_any_connection(host):
    with pytest.raises(webhooks.UnsafeDestination, match="private, loopback, link-local or reserved"):
        webhooks.public_addresses(webhooks.httpx.URL(f"http://{host}/"))
