"""Refuse URLs that would make the bot fetch from places a stranger should not reach through it.

Moderators paste source URLs into Discord; without these checks anyone with `/mirror add` could make
the bot probe the host's loopback services, the LAN or a cloud metadata endpoint (SSRF). The check is
made on the *resolved* addresses, repeated on every redirect hop by `HttpClient`, and enforced once
more at connect time by `GuardedResolver` so a DNS answer that changes between check and connect
(DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from bot.errors import WardenError

ALLOWED_SCHEMES = ("http", "https")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IANA's special-purpose address registries (RFC 6890 and successors), the blocks *not* marked
# "globally reachable": Python's `is_global` misses some (192.0.0.8, the rest of 192.0.0.0/24), so the
# table is kept here, checked after the named categories above it give their more precise reason.
_SPECIAL_PURPOSE = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "::1/128",
        "::ffff:0:0/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "2002::/16",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)
# Blocks inside those that IANA marks globally reachable (anycast services, AMT, ORCHIDv2, …).
_GLOBAL_EXCEPTIONS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "192.0.0.9/32",
        "192.0.0.10/32",
        "2001:1::1/128",
        "2001:1::2/128",
        "2001:3::/32",
        "2001:4:112::/48",
        "2001:20::/28",
        "2001:30::/28",
    )
)


def special_purpose(ip: IPAddress) -> bool:
    """True when `ip` is in an IANA special-purpose block that is not globally reachable."""
    if any(ip in net for net in _GLOBAL_EXCEPTIONS if net.version == ip.version):
        return False
    return any(ip in net for net in _SPECIAL_PURPOSE if net.version == ip.version)


class UnsafeUrlError(WardenError, ValueError):
    """The URL is malformed, uses a refused scheme, or points at a non-public address."""


def address_refusal(ip: IPAddress) -> str | None:
    """Why `ip` must not be fetched from (a short phrase), or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv6 wrapper around an IPv4 address reaches that IPv4 host: judge the inner address.
        embedded = ip.ipv4_mapped or ip.sixtofour or _nat64(ip)
        if embedded is not None:
            return address_refusal(embedded)
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private network address"
    if not ip.is_global or special_purpose(ip):
        return "a non-public address (IANA special-purpose)"
    return None


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _nat64(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 host a NAT64 address (RFC 6052 well-known prefix) reaches, judged like that host."""
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _split(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:  # bad port, bad IPv6 literal
        raise UnsafeUrlError(f"malformed URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = f"'{scheme}'" if scheme else "no scheme"
        raise UnsafeUrlError(f"URL has {shown}; only http and https are allowed")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrlError("URL must not contain a user name or password")
    host = parts.hostname
    if not host:
        raise UnsafeUrlError(f"URL {url!r} has no host")
    return scheme, host, port or (443 if scheme == "https" else 80)


async def resolve_addresses(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeUrlError(f"cannot resolve host '{host}': {exc}") from None
    # sockaddr[0] may carry an IPv6 zone ("fe80::1%eth0"); the zone does not change the verdict.
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise UnsafeUrlError(f"host '{host}' has no addresses")
    return addresses


async def validate_url(url: str, *, allow_private: bool) -> str:
    """Return `url` (stripped) if it is safe to fetch, else raise `UnsafeUrlError` saying why.

    Every resolved address must be public: one private answer among public ones is still refused,
    because the connection could use it.
    """
    url = url.strip()
    _, host, port = _split(url)
    if allow_private:
        return url
    for ip in await resolve_addresses(host, port):
        reason = address_refusal(ip)
        if reason is not None:
            shown = host if host == str(ip) else f"{host} ({ip})"
            raise UnsafeUrlError(f"refusing to fetch {shown}: {reason} (set ALLOW_PRIVATE_URLS to allow it)")
    return url


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that drops non-public answers at connect time (DNS-rebinding guard)."""

    def __init__(self, *, allow_private: bool) -> None:
        self._inner = ThreadedResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self._allow_private:
            return results
        safe = [r for r in results if address_refusal(ipaddress.ip_address(r["host"])) is None]
        if not safe:
            # OSError so aiohttp reports it as a connection failure like any other DNS failure.
            raise OSError(f"host '{host}' resolves only to non-public addresses")
        return safe

    async def close(self) -> None:
        await self._inner.close()


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, lower-cased; the key for per-site credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    port = "" if parts.port in (None, default) else f":{parts.port}"
    return f"{parts.scheme.lower()}://{host.lower()}{port}"
