"""open_source: kind selection, settings, ownership of the HTTP client, and adding a kind."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp import web

from bot.net.http import HttpClient, Response
from bot.sources import KINDS, open_source
from bot.sources.base import SourceError, SourceLifecycle, Thread
from bot.sources.feed import FeedSource
from bot.sources.registry import OpenContext, kind_named
from tests.loopback import serving

DATA = Path(__file__).parent / "data"


def test_unknown_kind_is_named() -> None:
    with pytest.raises(SourceError, match="unknown source kind 'gopher' \\(known: file, feed, wordpress\\)"):
        kind_named("gopher")


async def test_explicit_kind_skips_detection() -> None:
    async with HttpClient(allow_private=True) as http:
        source = await open_source("http://127.0.0.1:9/anything", kind="feed", http=http, allow_private=True)
    assert isinstance(source, FeedSource)
    assert source.owned is None  # the caller's client stays the caller's


async def test_settings_shape_and_owned_client_closed() -> None:
    settings = SimpleNamespace(
        allow_private_urls=True, http_timeout=3.0, max_response_bytes=1000, wordpress_credentials={}
    )
    source = await open_source("http://127.0.0.1:9/comments/feed/", settings=settings)
    assert isinstance(source, FeedSource)
    assert source.http.max_bytes == 1000 and source.http.timeout == 3.0 and source.http.allow_private
    assert source.owned is source.http
    async with source:
        pass
    assert source.owned is None


async def test_owned_client_closed_when_opening_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[HttpClient] = []

    class Spy(HttpClient):
        async def close(self) -> None:
            closed.append(self)
            await super().close()

    monkeypatch.setattr("bot.sources.registry.HttpClient", Spy)

    async def nothing(request: web.Request) -> web.Response:
        return web.Response(status=500)

    app = web.Application()
    app.router.add_get("/", nothing)
    async with serving(app) as base:
        with pytest.raises(SourceError, match="cannot read .*: HTTP 500 after 3 tries"):
            await open_source(base + "/", settings=SimpleNamespace(allow_private_urls=True))
    assert len(closed) == 1


async def test_unreachable_url_is_a_source_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with HttpClient(allow_private=True, attempts=1) as http:
        with pytest.raises(SourceError, match=f"cannot read http://127.0.0.1:{port}/x: connection to"):
            await open_source(f"http://127.0.0.1:{port}/x", http=http, allow_private=True)


async def test_missing_file_fails_on_fetch_with_the_path() -> None:
    source = await open_source(str(DATA / "nope.json"))
    with pytest.raises(SourceError, match="nope.json: no such file"):
        await source.fetch()


class JsonThreadKind:
    """A kind added by a test: URLs serving a thread file as JSON."""

    name = "json-thread"

    def claims(self, spec: str) -> bool:
        return False

    def recognises(self, probe: Response) -> bool:
        return probe.content_type == "application/json"

    def create(self, spec: str, ctx: OpenContext) -> SourceLifecycle:
        class Remote(SourceLifecycle):
            kind = "json-thread"
            url = spec
            validators: dict[str, str] = {}

            async def fetch(self, validators: dict[str, str] | None = None) -> Thread:
                from bot.sources.threadfile import parse_thread

                return parse_thread((await ctx.http.get(spec)).json())

        return Remote()


async def test_a_new_kind_is_one_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.sources.registry.KINDS", [*KINDS, JsonThreadKind()])

    async def thread(request: web.Request) -> web.Response:
        return web.Response(body=(DATA / "thread-basic.json").read_bytes(), content_type="application/json")

    app = web.Application()
    app.router.add_get("/thread", thread)
    async with serving(app) as base:
        async with await open_source(base + "/thread", allow_private=True) as source:
            assert source.kind == "json-thread"
            assert len((await source.fetch()).comments) == 4
