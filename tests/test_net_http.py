"""HttpClient against small loopback servers that misbehave on purpose."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from bot.net import urlsafety
from bot.net.http import FetchError, HttpClient
from tests.loopback import LoopbackServers

Serve = Callable[[web.Application], Awaitable[str]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start aiohttp apps on free loopback ports; returns their base URL."""
    servers = LoopbackServers()
    yield servers.start
    await servers.close()


class Sleeps:
    """Records the delays the client asks for instead of waiting them out."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def respond(status: int = 200, text: str = "", headers: dict[str, str] | None = None) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, text=text or None, headers=headers)

    return handler


def redirect(location: str, status: int = 302) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": location})

    return handler


def client(**kwargs: object) -> tuple[HttpClient, Sleeps]:
    sleeps = Sleeps()
    options: dict = {"allow_private": True, "timeout": 2.0, "sleep": sleeps}
    options.update(kwargs)
    return HttpClient(**options), sleeps


async def test_retries_500_then_succeeds(serve: Serve) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            return web.Response(status=500, text="boom")
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/", handler)
    base = await serve(app)
    http, sleeps = client(backoff=1.0)
    async with http:
        response = await http.get(base + "/")
    assert response.json() == {"ok": True}
    assert calls == 3
    # exponential with jitter: attempt 1 in [0.5, 1], attempt 2 in [1, 2]
    assert len(sleeps.delays) == 2
    assert 0.5 <= sleeps.delays[0] <= 1.0
    assert 1.0 <= sleeps.delays[1] <= 2.0


async def test_gives_up_with_short_reason(serve: Serve) -> None:
    app = web.Application()
    app.router.add_get("/", respond(503, "down"))
    base = await serve(app)
    http, sleeps = client()
    async with http:
        with pytest.raises(FetchError) as info:
            await http.get(base + "/")
    assert info.value.reason == "HTTP 503 after 3 tries"
    assert info.value.status == 503
    assert len(sleeps.delays) == 2


async def test_4xx_is_not_retried(serve: Serve) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(status=404, text="nope")

    app = web.Application()
    app.router.add_get("/", handler)
    base = await serve(app)
    http, _ = client()
    async with http:
        with pytest.raises(FetchError, match="HTTP 404") as info:
            await http.get(base + "/")
    assert calls == 1
    assert info.value.body == b"nope"


async def test_429_honours_retry_after(serve: Serve) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return web.Response(status=429, headers={"Retry-After": "7"})
        return web.Response(text="fine")

    app = web.Application()
    app.router.add_get("/", handler)
    base = await serve(app)
    http, sleeps = client()
    async with http:
        response = await http.get(base + "/")
    assert response.text() == "fine"
    assert sleeps.delays == [7.0]


async def test_429_asking_too_long_fails_without_hammering(serve: Serve) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(status=429, headers={"Retry-After": "3600"})

    app = web.Application()
    app.router.add_get("/", handler)
    base = await serve(app)
    http, sleeps = client(max_retry_after=60)
    async with http:
        with pytest.raises(FetchError, match="asked to wait 3600 s") as info:
            await http.get(base + "/")
    assert info.value.retry_after == 3600
    assert calls == 1 and sleeps.delays == []


async def test_redirect_loop_is_reported(serve: Serve) -> None:
    app = web.Application()
    app.router.add_get("/a", redirect("/b"))
    app.router.add_get("/b", redirect("/a"))
    base = await serve(app)
    http, _ = client()
    async with http:
        with pytest.raises(FetchError, match="redirect loop at .*/a"):
            await http.get(base + "/a")


async def test_redirect_chain_has_a_hop_limit(serve: Serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": f"/r/{int(request.match_info['n']) + 1}"})

    app = web.Application()
    app.router.add_get("/r/{n}", handler)
    base = await serve(app)
    http, _ = client(max_redirects=4)
    async with http:
        with pytest.raises(FetchError, match=r"too many redirects \(more than 4\)"):
            await http.get(base + "/r/0")


async def test_redirects_are_followed_and_final_url_kept(serve: Serve) -> None:
    app = web.Application()
    app.router.add_get("/old", redirect("/new", 301))
    app.router.add_get("/new", respond(text="moved here"))
    base = await serve(app)
    http, _ = client()
    async with http:
        response = await http.get(base + "/old")
    assert response.url == base + "/new"
    assert response.text() == "moved here"


async def test_redirect_to_private_address_is_refused(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback stands in for a public site here; the real rules still judge the redirect target."""
    real = urlsafety.address_refusal
    test_host = ipaddress.ip_address("127.0.0.1")
    monkeypatch.setattr(urlsafety, "address_refusal", lambda ip: None if ip == test_host else real(ip))
    app = web.Application()
    app.router.add_get("/", redirect("http://169.254.169.254/latest/meta-data/"))
    app.router.add_get("/lan", redirect("http://127.0.0.2:9/admin"))
    base = await serve(app)
    http, sleeps = client(allow_private=False)
    async with http:
        with pytest.raises(FetchError, match="redirect to http://169.254.169.254/.* refused: .*link-local"):
            await http.get(base + "/")
        with pytest.raises(FetchError, match="redirect to http://127.0.0.2:9/admin refused: .*loopback"):
            await http.get(base + "/lan")
    assert sleeps.delays == []  # a refusal is final, not retried


async def test_private_url_refused_before_connecting() -> None:
    http, _ = client(allow_private=False)
    async with http:
        with pytest.raises(FetchError, match="loopback"):
            await http.get("http://127.0.0.1:9/")


async def test_basic_auth_not_forwarded_to_other_origin(serve: Serve) -> None:
    seen: dict[str, str | None] = {}

    async def other(request: web.Request) -> web.Response:
        seen["other"] = request.headers.get("Authorization")
        return web.Response(text="other")

    other_app = web.Application()
    other_app.router.add_get("/", other)
    other_base = await serve(other_app)

    async def first(request: web.Request) -> web.Response:
        seen["first"] = request.headers.get("Authorization")
        return web.Response(status=307, headers={"Location": other_base + "/"})

    app = web.Application()
    app.router.add_get("/", first)
    base = await serve(app)
    http, _ = client()
    async with http:
        await http.get(base + "/", auth=("admin", "secret pass"))
    assert seen["first"] is not None and seen["first"].startswith("Basic ")
    assert seen["other"] is None


async def test_huge_body_is_cut_off_at_the_cap(serve: Serve) -> None:
    sent = 0

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse()
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            for _ in range(800):  # 50 MB, chunked, no Content-Length
                await response.write(chunk)
                sent += len(chunk)
        except (ConnectionError, RuntimeError):
            pass
        return response

    app = web.Application()
    app.router.add_get("/", endless)
    base = await serve(app)
    http, _ = client(max_bytes=1024 * 1024)
    async with http:
        with pytest.raises(FetchError, match="exceeded the 1048576 byte limit"):
            await http.get(base + "/")
    await asyncio.sleep(0.1)
    assert sent < 50 * 1024 * 1024  # the client hung up long before the end


async def test_declared_oversize_body_is_refused_without_reading(serve: Serve) -> None:
    app = web.Application()
    app.router.add_get("/", respond(text="y" * 5000))
    base = await serve(app)
    http, _ = client(max_bytes=1000)
    async with http:
        with pytest.raises(FetchError, match="is 5000 bytes, over the 1000 byte limit"):
            await http.get(base + "/")


async def test_stalled_server_hits_read_timeout(serve: Serve) -> None:
    async def stall(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"<rss>")
        await asyncio.sleep(30)
        return response

    app = web.Application()
    app.router.add_get("/", stall)
    base = await serve(app)
    http, _ = client(timeout=0.3, attempts=2)
    async with http:
        with pytest.raises(FetchError, match=r"sent no data for 0.3 s after 2 tries"):
            await http.get(base + "/")


async def test_slowloris_hits_the_deadline(serve: Serve) -> None:
    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        try:
            for _ in range(300):
                await response.write(b".")
                await asyncio.sleep(0.05)
        except (ConnectionError, RuntimeError):
            pass
        return response

    app = web.Application()
    app.router.add_get("/", trickle)
    base = await serve(app)
    http, _ = client(timeout=0.5, deadline=0.6, attempts=1)
    async with http:
        with pytest.raises(FetchError, match=r"took longer than 0.6 s after 1 tries"):
            await http.get(base + "/")


async def test_connection_refused_is_retried_then_reported() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    http, sleeps = client()
    async with http:
        with pytest.raises(FetchError, match=r"connection to .* failed: .* after 3 tries"):
            await http.get(f"http://127.0.0.1:{port}/")
    assert len(sleeps.delays) == 2


async def test_conditional_get_sends_validators_and_reports_304(serve: Serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304)
        return web.Response(
            text="feed", headers={"ETag": '"v1"', "Last-Modified": "Mon, 02 Jan 2026 10:00:00 GMT"}
        )

    app = web.Application()
    app.router.add_get("/", handler)
    base = await serve(app)
    http, _ = client()
    async with http:
        first = await http.get(base + "/")
        assert not first.not_modified
        assert first.validators == {"etag": '"v1"', "last_modified": "Mon, 02 Jan 2026 10:00:00 GMT"}
        second = await http.get(base + "/", validators=first.validators)
    assert second.not_modified and second.body == b""


async def test_if_modified_since_is_sent(serve: Serve) -> None:
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("If-Modified-Since"))
        return web.Response(status=304)

    app = web.Application()
    app.router.add_get("/", handler)
    base = await serve(app)
    http, _ = client()
    async with http:
        response = await http.get(
            base + "/", validators={"etag": None, "last_modified": "Tue, 03 Jan 2026 00:00:00 GMT"}
        )
    assert response.not_modified
    assert seen == ["Tue, 03 Jan 2026 00:00:00 GMT"]


async def test_304_without_validators_is_an_error(serve: Serve) -> None:
    app = web.Application()
    app.router.add_get("/", respond(304))
    base = await serve(app)
    http, _ = client()
    async with http:
        with pytest.raises(FetchError, match="HTTP 304"):
            await http.get(base + "/")
