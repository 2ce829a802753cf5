"""SSRF through `/mirror add`: with private URLs not allowed (the default), a moderator cannot make the bot
fetch from another scheme, from loopback, private, link-local or metadata addresses (literal or after DNS
resolution), or from such an address reached by a redirect: at add time or on a later poll. The refusal is
one line, and nothing is stored or fetched."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import bot.net.urlsafety as urlsafety
from bot.config import Settings
from tests.fakediscord import FakeDiscord
from tests.loopback import serving
from tests.test_hostile_input import settled
from tests.test_mirror_discord import make_bot
from tests.test_mirror_wordpress import wait_for

REFUSED_URLS = [
    ("ftp://files.example/feed.xml", "only http and https"),
    ("file:///etc/passwd", "only http and https"),
    ("gopher://127.0.0.1:70/_stats", "only http and https"),
    ("javascript:alert(1)", "Give an http(s) URL"),  # no "//": taken for a local path, refused as one
    ("http://127.0.0.1:8080/admin", "loopback"),
    ("http://localhost/feed", "loopback"),  # a name: refused after DNS resolution
    ("http://[::1]/feed", "loopback"),
    ("http://[::ffff:127.0.0.1]/feed", "loopback"),  # IPv4 inside IPv6
    ("http://2130706433/feed", "loopback"),  # 127.0.0.1 written as one number
    ("http://0.0.0.0/feed", "unspecified"),
    ("http://10.1.2.3/feed", "private"),
    ("http://192.168.1.1/feed", "private"),
    ("http://172.16.0.1/feed", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),  # cloud metadata
    ("http://[fe80::1]/feed", "link-local"),
    ("http://user:secret@news.example/feed", "user name or password"),
]


@pytest.fixture
def settings(tmp_path: Path, detoxify_checkpoint: Any) -> Settings:
    return Settings(
        database_path=tmp_path / "cw.db",
        allow_private_urls=False,
        poll_interval=3600,
        **detoxify_checkpoint.settings_kwargs(),
    )


async def test_mirror_add_refuses_unsafe_urls_and_local_files(
    fake_discord: FakeDiscord, discord_world: Any, bot_runner: Any, settings: Settings, tmp_path: Path
) -> None:
    w = discord_world
    local = tmp_path / "thread.json"
    local.write_text("{}")
    async with bot_runner(make_bot(settings)) as bot:
        requests_before = len(fake_discord.requests)
        for url, why in REFUSED_URLS:
            answer = await fake_discord.invoke_slash(
                "mirror add", {"url": url, "channel": w.general}, user=w.moderator, channel=w.general
            )
            text = answer.content or answer.followups[-1].content
            assert answer.ephemeral and why in text and "\n" not in text, (url, text)
        for path in (str(local), "/etc/passwd", "../../etc/passwd"):
            answer = await fake_discord.invoke_slash(
                "mirror add", {"url": path, "channel": w.general}, user=w.moderator, channel=w.general
            )
            assert "ALLOW_PRIVATE_URLS" in answer.content, (path, answer.content)
        assert await bot.store.mirror.sources(w.guild.id) == []
        # No webhook or thread was made for any of them (the answers are interaction follow-ups, which live
        # under /webhooks/<application id>/<token>: `/mirror add` defers before it resolves names).
        followups = f"/webhooks/{fake_discord.application_id}/"
        assert not any(
            r.method == "POST"
            for r in fake_discord.requests[requests_before:]
            if ("/webhooks" in r.path and not r.path.startswith(followups)) or "/threads" in r.path
        )


@pytest.fixture
def loopback_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend 127.0.0.1 is a public host, so a loopback server can play the public site that redirects
    inward; every other loopback, private or link-local address is still refused."""
    real = urlsafety.address_refusal
    test_host = ipaddress.ip_address("127.0.0.1")
    monkeypatch.setattr(urlsafety, "address_refusal", lambda ip: None if ip == test_host else real(ip))


REDIRECTS = {
    "metadata": ("http://169.254.169.254/latest/meta-data/", "link-local"),
    "lan": ("http://10.0.0.7/admin", "private"),
    "loopback": ("http://127.0.0.2:9/", "loopback"),
    "file": ("file:///etc/passwd", "only http and https"),
}


async def test_redirects_into_private_addresses_are_refused_at_add_and_on_later_polls(
    fake_discord: FakeDiscord,
    discord_world: Any,
    bot_runner: Any,
    settings: Settings,
    loopback_is_public: None,
) -> None:
    w = discord_world
    redirect_to: dict[str, str] = {}

    async def page(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name in redirect_to:
            raise web.HTTPFound(redirect_to[name])
        return web.Response(
            text="<html><head><title>plain page</title></head></html>", content_type="text/html"
        )

    async def feed(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(REDIRECTS[request.match_info["name"]][0])

    app = web.Application()
    app.router.add_get("/page/{name}", page)
    app.router.add_get("/{name}/feed", feed)
    async with serving(app) as base, bot_runner(make_bot(settings)) as bot:
        for name, (target, why) in REDIRECTS.items():
            redirect_to[name] = target
            answer = await fake_discord.invoke_slash(
                "mirror add",
                {"url": f"{base}/page/{name}", "channel": w.general},
                user=w.moderator,
                channel=w.general,
            )
            text = answer.followups[-1].content
            assert "redirect to" in text and "refused" in text and why in text, (name, text)
        assert await bot.store.mirror.sources(w.guild.id) == []

        # A feed URL is taken on its word at add time; its first poll meets the redirect and is refused.
        for name in REDIRECTS:
            added = await fake_discord.invoke_slash(
                "mirror add",
                {"url": f"{base}/{name}/feed", "channel": w.general},
                user=w.moderator,
                channel=w.general,
            )
            assert "Mirroring source #" in added.followups[-1].content
        await wait_for(lambda: settled(bot, w.guild.id))
        listing = await fake_discord.invoke_slash("mirror list", user=w.moderator, channel=w.general)
        for name, (_, why) in REDIRECTS.items():
            line = next(line for line in listing.content.splitlines() if f"/{name}/feed" in line)
            assert "failing" in line and "redirect to" in line and why in line, line
        assert fake_discord.state.threads_of(w.general.id) == []


@pytest.mark.parametrize(
    "address",
    [
        "192.0.0.8",
        "192.0.0.170",
        "192.0.0.255",  # IETF protocol assignments (192.0.0.0/24)
        "100.64.0.1",
        "100.127.255.254",  # carrier-grade NAT
        "198.18.0.1",
        "198.19.255.255",  # benchmarking
        "192.0.2.1",
        "198.51.100.7",
        "203.0.113.9",
        "2001:db8::1",  # documentation
        "192.88.99.1",
        "240.0.0.1",
        "255.255.255.255",
        "224.0.0.251",
        "100::1",
        "2001:2::1",
        "2001:10::1",
        "3fff::1",
        "5f00::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "64:ff9b::7f00:1",
        "64:ff9b::a00:1",
        "64:ff9b:1::1",  # NAT64 to loopback/private, local-use NAT64
        "2002:7f00:1::1",  # 6to4 around 127.0.0.1
    ],
)
def test_iana_special_purpose_addresses_are_not_public(address: str) -> None:
    assert urlsafety.address_refusal(ipaddress.ip_address(address)) is not None, address


@pytest.mark.parametrize(
    "address",
    [
        "93.184.215.14",
        "8.8.8.8",
        "1.1.1.1",
        "192.0.0.9",
        "192.0.0.10",
        "192.31.196.1",
        "192.175.48.1",
        "2606:4700:4700::1111",
        "2001:4860:4860::8888",
        "64:ff9b::808:808",
        "2620:4f:8000::1",
    ],
)
def test_globally_reachable_addresses_stay_allowed(address: str) -> None:
    assert urlsafety.address_refusal(ipaddress.ip_address(address)) is None, address


async def test_special_purpose_url_is_refused_in_one_line_naming_the_setting() -> None:
    with pytest.raises(urlsafety.UnsafeUrlError) as info:
        await urlsafety.validate_url("http://192.0.0.8/", allow_private=False)
    assert "non-public" in str(info.value) and "ALLOW_PRIVATE_URLS" in str(info.value)
