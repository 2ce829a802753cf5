"""Sites misbehaving, through the whole mirror: one loopback server plays a slow site, a 500ing one, an HTML
page posing as a feed, a WordPress whose REST answer is cut short, a redirect loop, 50 MB bodies (streamed and
declared), and a slowloris trickling bytes. Each source is marked failing with its reason (shown by
`/mirror list`) and backed off, while a healthy feed and a thread file are mirrored in full; a source that
recovers is picked up again by the scheduler on its own, later each time it fails."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.config import Settings
from tests.fakediscord import FakeDiscord
from tests.loopback import serving
from tests.test_hostile_input import settled
from tests.test_mirror_discord import make_bot, spec, thread_file, wait_mirrored
from tests.test_mirror_wordpress import wait_for

DATA = Path(__file__).parent / "data"
FEED = (DATA / "feeds" / "rss2-comments.xml").read_bytes()
TIMEOUT = 0.2  # HTTP_TIMEOUT_SECONDS: each wait for data; a whole attempt may take 6 times that
MAX_BYTES = 1_000_000
FIFTY_MB = 50 * 1024 * 1024

# path -> the reason `/mirror list` must show
EXPECTED = {
    "/slow/feed": "sent no data for 0.2 s",
    "/error/feed": "HTTP 500 after 2 tries",
    "/html/feed": "returned an HTML page",
    "/wp/?p=1": "invalid JSON",
    "/loop/feed": "redirect loop",
    "/huge/feed": "exceeded the 1000000 byte limit",
    "/huge-declared/feed": f"is {FIFTY_MB} bytes, over the 1000000 byte limit",
    "/slowloris/feed": "took longer than 1.2 s",
}


@pytest.fixture
def settings(tmp_path: Path, detoxify_checkpoint: Any) -> Settings:
    return Settings(
        database_path=tmp_path / "cw.db",
        allow_private_urls=True,
        poll_interval=3600,
        http_timeout=TIMEOUT,
        max_response_bytes=MAX_BYTES,
        **detoxify_checkpoint.settings_kwargs(),
    )


def misbehaving_site() -> web.Application:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(body=FEED)

    async def error(request: web.Request) -> web.Response:
        return web.Response(status=500, text="internal error")

    async def html(request: web.Request) -> web.Response:
        return web.Response(
            text="<!doctype html><html><body>Not a feed</body></html>", content_type="text/html"
        )

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop2/feed" if request.path == "/loop/feed" else "/loop/feed")

    async def stream(
        request: web.Request, *, declared: bool, chunk: bytes, pause: float
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        if declared:
            response.content_length = FIFTY_MB
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):  # the client hangs up: that is the point
            for _ in range(FIFTY_MB // len(chunk)):
                await response.write(chunk)
                await asyncio.sleep(pause)
        return response

    async def huge(request: web.Request) -> web.StreamResponse:
        return await stream(request, declared=False, chunk=b"x" * 65536, pause=0)

    async def huge_declared(request: web.Request) -> web.StreamResponse:
        return await stream(request, declared=True, chunk=b"x" * 65536, pause=0)

    async def slowloris(request: web.Request) -> web.StreamResponse:
        return await stream(request, declared=False, chunk=b" ", pause=TIMEOUT / 4)

    async def wordpress_page(request: web.Request) -> web.Response:
        root = f"{request.scheme}://{request.host}/wp-json/"
        return web.Response(
            text="<html><head></head><body>post</body></html>",
            content_type="text/html",
            headers={"Link": f'<{root}>; rel="https://api.w.org/"'},
        )

    async def wordpress_post(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "id": 1,
                "title": {"rendered": "A post"},
                "link": "https://wp.example/?p=1",
                "excerpt": {"rendered": ""},
                "date_gmt": "2026-01-02T10:00:00",
            }
        )

    async def wordpress_comments(request: web.Request) -> web.Response:
        whole = (
            '[{"id": 1, "post": 1, "parent": 0, "author_name": "A", "content": {"rendered": "<p>hi</p>"}}]'
        )
        return web.Response(
            text=whole[:40],
            content_type="application/json",  # cut off mid-object
            headers={"X-WP-Total": "1", "X-WP-TotalPages": "1"},
        )

    async def good(request: web.Request) -> web.Response:
        return web.Response(body=FEED, content_type="application/rss+xml")

    app = web.Application()
    for path, handler in (
        ("/slow/feed", slow),
        ("/error/feed", error),
        ("/html/feed", html),
        ("/loop/feed", loop),
        ("/loop2/feed", loop),
        ("/huge/feed", huge),
        ("/huge-declared/feed", huge_declared),
        ("/slowloris/feed", slowloris),
        ("/wp/", wordpress_page),
        ("/wp-json/wp/v2/posts/1", wordpress_post),
        ("/wp-json/wp/v2/comments", wordpress_comments),
        ("/good/feed", good),
    ):
        app.router.add_get(path, handler)
    return app


def fast_client_retries(bot: Any) -> None:
    """Two tries with a short pause instead of three with seconds between (the client's own retry behaviour
    is tested in test_net_http.py); what is tested here is what the mirror makes of the final failure."""
    http = bot.get_cog("Mirror").http
    http.attempts, http.backoff = 2, 0.01


async def test_each_misbehaving_site_fails_with_its_reason_and_the_others_are_mirrored(
    fake_discord: FakeDiscord, discord_world: Any, bot_runner: Any, settings: Settings, tmp_path: Path
) -> None:
    w = discord_world
    comments = [spec(n) for n in range(1, 6)]
    path = thread_file(tmp_path, comments)
    async with serving(misbehaving_site()) as base, bot_runner(make_bot(settings)) as bot:
        fast_client_retries(bot)
        for url in [*(base + p for p in EXPECTED), f"{base}/good/feed", str(path)]:
            added = await fake_discord.invoke_slash(
                "mirror add", {"url": url, "channel": w.general}, user=w.moderator, channel=w.general
            )
            answer = added.content or added.followups[-1].content
            assert "Mirroring source #" in answer, (url, answer)
        started = time.monotonic()
        await wait_for(lambda: settled(bot, w.guild.id), within=30)
        elapsed = time.monotonic() - started
        assert elapsed < 15, elapsed  # bounded: nothing hangs on a slow site, the slow ones run side by side

        listing = await fake_discord.invoke_slash("mirror list", user=w.moderator, channel=w.general)
        numbered = re.search(r"\(1/(\d+)\)$", listing.content)
        parts = int(numbered[1]) if numbered else 1
        followups = await listing.wait_followups(parts - 1) if parts > 1 else []
        lines = "\n".join(
            [listing.content, *(f.content for f in followups)]
        ).splitlines()  # a long list comes in parts
        for suffix, reason in EXPECTED.items():
            line = next(line for line in lines if f"{base}{suffix}>" in line)
            assert "failing (1×)" in line and reason in line, (suffix, line)
        assert all(f"→ <#{w.general.id}>" in line for line in lines if line.startswith("**#")), (
            lines
        )  # a link
        for healthy in (f"{base}/good/feed", str(path)):
            assert "✅ ok" in next(line for line in lines if f"{healthy}>" in line)
        now = datetime.now(UTC)
        for row in await bot.store.mirror.sources(w.guild.id):
            if row.status == "failing":  # backed off: not retried before the interval has passed
                assert row.failures == 1 and datetime.fromisoformat(row.next_poll_at) > now
                assert (
                    datetime.fromisoformat(row.next_poll_at) - now
                ).total_seconds() > settings.poll_interval / 2
        threads = fake_discord.state.threads_of(w.general.id)
        assert len(threads) == 2  # only the healthy feed and the thread file were mirrored
        await wait_mirrored(fake_discord, len(comments), w.general)


async def test_a_failing_source_is_retried_with_growing_backoff_until_it_recovers(
    fake_discord: FakeDiscord, discord_world: Any, bot_runner: Any, settings: Settings
) -> None:
    w = discord_world
    calls: list[float] = []

    async def flaky(request: web.Request) -> web.Response:
        calls.append(time.monotonic())
        if len(calls) <= 2:
            return web.Response(status=503, text="down for maintenance")
        return web.Response(body=FEED, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/flaky/feed", flaky)
    quick = Settings(**{**settings.__dict__, "poll_interval": 0.5})
    async with serving(app) as base, bot_runner(make_bot(quick)) as bot:
        bot.get_cog("Mirror").http.attempts = 1  # one request per poll, so the server sees each poll
        added = await fake_discord.invoke_slash(
            "mirror add",
            {"url": f"{base}/flaky/feed", "channel": w.general},
            user=w.moderator,
            channel=w.general,
        )
        assert "Mirroring source #1" in added.followups[-1].content

        async def recovered() -> bool:
            row = await bot.store.mirror.source(1)
            return row is not None and row.status == "ok"

        await wait_for(recovered, within=15)
        await wait_mirrored(fake_discord, 2, w.general)
        first_gap, second_gap = calls[1] - calls[0], calls[2] - calls[1]
        # backoff_delay: after 1 failure 0.5-1.0 s, after 2 failures 1.0-2.0 s (with jitter)
        assert 0.45 <= first_gap and 0.95 <= second_gap, (first_gap, second_gap)
        row = await bot.store.mirror.source(1)
        assert row.failures == 0 and row.last_error is None
