"""URL safety: schemes, resolved-address classes and the allow flag."""

import ipaddress

import pytest

from bot.net.urlsafety import GuardedResolver, UnsafeUrlError, address_refusal, origin_of, validate_url


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("ftp://example.com/x", "'ftp'"),
        ("file:///etc/passwd", "'file'"),
        ("javascript:alert(1)", "'javascript'"),
        ("example.com/path", "no scheme"),
        ("http://", "no host"),
        ("http://user:pw@8.8.8.8/", "user name or password"),
        ("http://8.8.8.8:99999/", "malformed"),
    ],
)
async def test_refuses_bad_shapes_even_when_private_allowed(url: str, fragment: str) -> None:
    with pytest.raises(UnsafeUrlError, match=fragment):
        await validate_url(url, allow_private=True)


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://127.0.0.1:8080/", "loopback"),
        ("http://127.5.6.7/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://10.1.2.3/", "private"),
        ("http://192.168.0.10/", "private"),
        ("http://172.16.5.4/", "private"),
        ("http://[fd00::1]/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://240.0.0.1/", "reserved"),
        ("http://100.64.0.1/", "non-public"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        ("http://[2002:a00:1::]/", "private"),  # 6to4 wrapping 10.0.0.1
        ("http://localhost:9/", "loopback"),
    ],
)
async def test_refuses_non_public_addresses(url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrlError, match=reason):
        await validate_url(url, allow_private=False)


async def test_allow_flag_lets_private_addresses_through() -> None:
    assert await validate_url(" http://127.0.0.1:8080/x ", allow_private=True) == "http://127.0.0.1:8080/x"
    assert await validate_url("http://[::1]/", allow_private=True) == "http://[::1]/"


async def test_public_literals_pass() -> None:
    assert (
        await validate_url("https://93.184.215.14/a?b=1", allow_private=False)
        == "https://93.184.215.14/a?b=1"
    )
    assert await validate_url("http://[2606:4700::1111]/", allow_private=False) == "http://[2606:4700::1111]/"


async def test_unresolvable_host_is_a_clear_error() -> None:
    with pytest.raises(UnsafeUrlError, match="cannot resolve host 'no-such-host.invalid'"):
        await validate_url("http://no-such-host.invalid/", allow_private=False)


def test_address_refusal_accepts_public() -> None:
    assert address_refusal(ipaddress.ip_address("1.1.1.1")) is None
    assert address_refusal(ipaddress.ip_address("2a00:1450:4001::200e")) is None


def test_origin_normalises_case_and_default_ports() -> None:
    assert origin_of("HTTP://Example.COM:80/a") == "http://example.com"
    assert origin_of("https://example.com:8443/x?y") == "https://example.com:8443"
    assert origin_of("http://[::1]:8080/") == "http://[::1]:8080"


async def test_guarded_resolver_drops_non_public_answers() -> None:
    """The connect-time check: a name that resolves to loopback is refused unless allowed."""
    guarded = GuardedResolver(allow_private=False)
    try:
        with pytest.raises(OSError, match="resolves only to non-public addresses"):
            await guarded.resolve("localhost", 80)
    finally:
        await guarded.close()
    permissive = GuardedResolver(allow_private=True)
    try:
        answers = await permissive.resolve("localhost", 80)
    finally:
        await permissive.close()
    assert answers and all(ipaddress.ip_address(a["host"]).is_loopback for a in answers)
