"""The mirror end to end: the real bot (discord.py client, cog, engine, scorer with the tiny checkpoint)
against the loopback fake Discord, fed by thread files, a feed served on loopback, and (in
test_mirror_wordpress.py) a real WordPress."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.config import Settings
from bot.factory import create_bot
from bot.mirror import CommentScored, render
from bot.sources.feed import parse_feed
from bot.textsafety import safe_display_name
from tests.fakediscord import FakeDiscord
from tests.fakediscord.models import Channel, Message
from tests.loopback import serving

DATA = Path(__file__).parent / "data"


@pytest.fixture
def settings(tmp_path: Path, detoxify_checkpoint: Any) -> Settings:
    # A long interval: after the first sync on /mirror add, syncs happen when the test asks.
    return Settings(
        database_path=tmp_path / "cw.db",
        allow_private_urls=True,
        poll_interval=3600,
        **detoxify_checkpoint.settings_kwargs(),
    )


def make_bot(settings: Settings) -> Any:
    return create_bot(settings, guild_ready_timeout=0.05)


def thread_file(tmp_path: Path, comments: list[dict[str, Any]], name: str = "thread.json") -> Path:
    path = tmp_path / name
    path.write_text(
        json.dumps(
            {
                "article": {
                    "id": "a1",
                    "title": "Gardening @everyone news",
                    "url": "https://news.example/a1",
                    "author": "Editor",
                    "date": "2026-01-02T10:00:00Z",
                    "body": "Body of the article.",
                },
                "comments": comments,
            }
        )
    )
    return path


def spec(
    n: int, parent: int | None = None, text: str | None = None, author: str | None = None
) -> dict[str, Any]:
    return {
        "id": f"c{n}",
        "parent": f"c{parent}" if parent else None,
        "author": author or f"Reader {n % 5}",
        "date": f"2026-01-02T11:{n % 60:02d}:00Z",
        "text": text or f"comment {n}",
        "url": f"https://news.example/a1#c{n}",
        "avatar_url": f"https://img.example/{n % 5}.png",
    }


def mirrored(fake: FakeDiscord, thread: Channel) -> list[tuple[str, int, dict[str, Any], Message]]:
    """(comment id, part, embed, message) of every mirrored comment embed in the thread, in order."""
    out = []
    for message in fake.messages(thread):
        if message.webhook_id is None:
            continue
        for embed in message.embeds:
            marker = render.parse_marker((embed.get("footer") or {}).get("text"))
            assert marker is not None, embed
            out.append((marker.external_id, marker.part, embed, message))
    return out


def shown_author(embed: dict[str, Any], message: Message) -> str:
    """Under whose name a comment shows: the webhook's, or its embed's when several share a message."""
    if len(message.embeds) > 1:
        return embed["author"]["name"]
    return message.author.username


def assert_nobody_pinged(fake: FakeDiscord, *channels: Channel) -> None:
    for channel in channels:
        for message in fake.messages(channel):
            assert message.allowed_mentions is not None and message.allowed_mentions.get("parse") == [], (
                message
            )
            assert not (message.mention_everyone or message.mention_user_ids or message.mention_role_ids)
            texts = [message.content, message.author.username] + [
                e.get("description", "") + e.get("title", "") + (e.get("author") or {}).get("name", "")
                for e in message.embeds
            ]
            for text in texts:
                assert "@everyone" not in text and "@here" not in text
                assert "<@" not in text.replace("<\u200b@", "")


def assert_thread_shows(fake: FakeDiscord, thread: Channel, comments: list[dict[str, Any]]) -> None:
    """Each comment exactly once, in order, under its author, replies linking to their parent."""
    shown = mirrored(fake, thread)
    firsts = [(cid, embed, message) for cid, part, embed, message in shown if part == 1]
    assert [cid for cid, _, _ in firsts] == [c["id"] for c in comments]
    where = {cid: (embed, message) for cid, embed, message in firsts}
    for c in comments:
        embed, message = where[c["id"]]
        assert shown_author(embed, message) == safe_display_name(c["author"])
        if c["parent"] and embed["description"] not in (render.REMOVED_ON_SITE, render.REMOVED_BY_MODERATOR):
            parent_message = where[c["parent"]][1]
            description = embed["description"]
            assert f"/{parent_message.id})" in description or (
                "(above)" in description and parent_message is message
            ), description


async def wait_mirrored(fake: FakeDiscord, count: int, parent: Channel, within: float = 30.0) -> Channel:
    def ready() -> Channel | None:
        for thread in fake.state.threads_of(parent.id):
            if len([1 for _, part, _, _ in mirrored(fake, thread) if part == 1]) >= count:
                return thread
        return None

    return await fake.wait_until(ready, within)


async def test_thread_file_into_forum_with_commands(
    fake_discord: FakeDiscord, discord_world: Any, bot_runner: Any, settings: Settings, tmp_path: Path
) -> None:
    w = discord_world
    comments = [
        spec(1),
        spec(2, 1, "Reply @everyone <@123> [click](https://evil.example)"),
        spec(3, 2),
        spec(4, text="toxic? " * 2, author="@here Moderator"),
    ]
    path = thread_file(tmp_path, comments)
    scored: list[CommentScored] = []
    async with bot_runner(make_bot(settings)) as bot:

        async def heard(event: CommentScored) -> None:
            scored.append(event)

        bot.add_listener(heard, "on_comment_scored")
        # Not a moderator: hidden by default; shown by a server override, still refused, nothing added.
        with pytest.raises(PermissionError):
            await fake_discord.invoke_slash(
                "mirror add", {"url": str(path), "channel": w.forum}, user=w.member, channel=w.general
            )
        for synced in [c for cs in fake_discord.state.commands.values() for c in cs if c["name"] == "mirror"]:
            synced["default_member_permissions"] = None
        refused = await fake_discord.invoke_slash(
            "mirror add", {"url": str(path), "channel": w.forum}, user=w.member, channel=w.general
        )
        assert refused.ephemeral and "Only moderators" in refused.content
        assert await bot.store.mirror.sources(w.guild.id) == []

        added = await fake_discord.invoke_slash(
            "mirror add", {"url": str(path), "channel": w.forum}, user=w.moderator, channel=w.general
        )
        assert added.ephemeral and "Mirroring source #" in added.content, added.content
        thread = await wait_mirrored(fake_discord, 4, w.forum)
        first = fake_discord.messages(thread)[0]
        assert first.webhook_id is None and first.embeds[0]["title"] == "Gardening @\u200beveryone news"
        assert_thread_shows(fake_discord, thread, comments)
        assert_nobody_pinged(fake_discord, thread)
        reply = mirrored(fake_discord, thread)[1][2]
        assert "https://evil.example" in reply["description"] and "[click](" not in reply["description"]
        await fake_discord.wait_until(lambda: len(scored) == 4)
        assert {e.comment.external_id for e in scored} == {"c1", "c2", "c3", "c4"}
        assert all(e.thread_id == thread.id and e.channel_id == w.forum.id for e in scored)

        listing = await fake_discord.invoke_slash("mirror list", user=w.moderator, channel=w.general)
        assert "#1" in listing.content and "✅ ok" in listing.content and str(path) in listing.content

        # Non-moderators change nothing.
        for command, options in (
            ("mirror pause", {"source": 1}),
            ("mirror remove", {"source": 1}),
            ("mirror sync", {}),
            ("mirror list", {}),
        ):
            answer = await fake_discord.invoke_slash(command, options, user=w.member, channel=w.general)
            assert "Only moderators" in answer.content
        assert len(await bot.store.mirror.sources(w.guild.id)) == 1

        paused = await fake_discord.invoke_slash(
            "mirror pause", {"source": 1}, user=w.moderator, channel=w.general
        )
        assert "Paused #1" in paused.content
        listing = await fake_discord.invoke_slash("mirror list", user=w.moderator, channel=w.general)
        assert "paused" in listing.content
        path.write_text(path.read_text().replace('"comment 1"', '"comment one, edited"'))
        sync = await fake_discord.invoke_slash(
            "mirror sync", {"source": 1}, user=w.moderator, channel=w.general
        )
        assert "paused" in sync.followups[-1].content
        resumed = await fake_discord.invoke_slash(
            "mirror resume", {"source": 1}, user=w.moderator, channel=w.general
        )
        assert "Resumed #1" in resumed.content
        sync = await fake_discord.invoke_slash(
            "mirror sync", {"source": 1}, user=w.moderator, channel=w.general
        )
        assert "1 edited" in sync.followups[-1].content
        assert "comment one, edited" in mirrored(fake_discord, thread)[0][2]["description"]
        assert mirrored(fake_discord, thread)[0][3].edited_at is not None

        other = await fake_discord.invoke_slash(
            "mirror remove", {"source": 99}, user=w.moderator, channel=w.general
        )
        assert "no source #99" in other.content
        removed = await fake_discord.invoke_slash(
            "mirror remove", {"source": 1}, user=w.moderator, channel=w.general
        )
        assert "Stopped mirroring #1" in removed.followups[-1].content
        assert await bot.store.mirror.sources(w.guild.id) == []
        assert len(fake_discord.messages(thread)) == 5  # the thread stays


async def test_failing_source_shows_its_reason_and_does_not_stop_others(
    fake_discord: FakeDiscord, discord_world: Any, bot_runner: Any, settings: Settings, tmp_path: Path
) -> None:
    w = discord_world
    good = thread_file(tmp_path, [spec(1), spec(2)], "good.json")
    bad = thread_file(tmp_path, [spec(1)], "bad.json")
    async with bot_runner(make_bot(settings)) as bot:
        for path in (bad, good):
            answer = await fake_discord.invoke_slash(
                "mirror add", {"url": str(path), "channel": w.general}, user=w.moderator, channel=w.general
            )
            assert "Mirroring source" in answer.content
        await fake_discord.wait_until(lambda: len(fake_discord.state.threads_of(w.general.id)) == 2)
        await wait_mirrored(fake_discord, 2, w.general)
        bad.write_text("{not json")
        good.write_text(json.dumps(json.loads(good.read_text()) | {"comments": [spec(1), spec(2), spec(3)]}))
        sync = await fake_discord.invoke_slash("mirror sync", {}, user=w.moderator, channel=w.general)
        text = sync.followups[-1].content
        assert "#1: failed:" in text and "#2: 1 new" in text, text
        listing = await fake_discord.invoke_slash("mirror list", user=w.moderator, channel=w.general)
        line = next(line for line in listing.content.splitlines() if line.startswith("**#1**"))
        assert "failing" in line and "bad.json" in line and "JSON" in line, line
        row = await bot.store.mirror.source(1)
        assert row is not None and row.failures == 1 and row.next_poll_at is not None
        # Text channel: the thread's first message is the article card, then the comments.
        thread = await wait_mirrored(fake_discord, 3, w.general)
        assert fake_discord.messages(thread)[0].embeds[0]["footer"]["text"] == "article a1 · source 2"
        # Unsafe or unusable URLs get one clear line.
        answer = await fake_discord.invoke_slash(
            "mirror add",
            {"url": "ftp://x.example/feed", "channel": w.general},
            user=w.moderator,
            channel=w.general,
        )
        assert answer.content.startswith("That URL cannot be mirrored:") and "\n" not in answer.content


async def test_feed_source_mirrors_into_a_text_channel(
    fake_discord: FakeDiscord, discord_world: Any, bot_runner: Any, settings: Settings
) -> None:
    w = discord_world
    body = (DATA / "feeds" / "rss2-comments.xml").read_bytes()

    async def feed(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/comments/feed", feed)
    async with serving(app) as base, bot_runner(make_bot(settings)) as bot:
        answer = await fake_discord.invoke_slash(
            "mirror add",
            {"url": f"{base}/comments/feed", "channel": w.general},
            user=w.moderator,
            channel=w.general,
        )
        assert "(feed)" in answer.followups[-1].content, answer.followups[-1].content
        expected = parse_feed(body, url=f"{base}/comments/feed").comments
        assert len(expected) >= 2
        thread = await wait_mirrored(fake_discord, len(expected), w.general)
        assert [cid for cid, part, _, _ in mirrored(fake_discord, thread) if part == 1] == [
            c.external_id for c in expected
        ]
        assert [m.author.username for m in fake_discord.messages(thread)[1:]] == [
            safe_display_name(c.author) for c in expected
        ]
        assert fake_discord.messages(thread)[0].webhook_id is None  # the article card comes first
        assert_nobody_pinged(fake_discord, thread)
        assert (await bot.store.mirror.sources(w.guild.id))[0].kind == "feed"


@pytest.mark.fake_discord(ratelimits={"webhook_execute": (5, 0.5)})
async def test_backfill_paces_itself_under_discord_rate_limits(
    fake_discord: FakeDiscord, discord_world: Any, bot_runner: Any, settings: Settings, tmp_path: Path
) -> None:
    """Discord's buckets are honoured from the headers: a long backfill never draws a 429."""
    w = discord_world
    comments = [
        spec(n, n - 1 if n % 3 == 2 else None, "long " * 300 if n % 25 == 0 else None) for n in range(1, 181)
    ]
    path = thread_file(tmp_path, comments)
    async with bot_runner(make_bot(settings)):
        await fake_discord.invoke_slash(
            "mirror add", {"url": str(path), "channel": w.forum}, user=w.moderator, channel=w.general
        )
        thread = await wait_mirrored(fake_discord, len(comments), w.forum, within=60)
        assert_thread_shows(fake_discord, thread, comments)
        posts = [r for r in fake_discord.requests if r.method == "POST" and r.path.startswith("/webhooks/")]
        assert len(posts) > 10  # more than two windows' worth: pacing was needed
        assert fake_discord.ratelimits.served_429 == 0
