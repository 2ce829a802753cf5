"""Hostile input against what Discord checks, through the real bot and the fake Discord (which refuses what
Discord refuses, tests/fakediscord/limits.py): the neutralisation families (tests/data/hostile/
discord-corpus.json, with the shared corpus.json) mirrored from a real WordPress and shown on review cards;
URL fields, 2,100-character ids and blank authors (discord-fields.json) mirrored from a thread file; and
`/mirror add` answering in time and within one message.

Every test also checks that the fake refused nothing: a request Discord would refuse makes a source fail on
every poll, which is the bug these tests exist to catch.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.config import Settings
from bot.mirror import render
from bot.net import urlsafety
from bot.sources.registry import open_source
from tests import test_mirror_engine
from tests.fakediscord import FakeDiscord
from tests.fakediscord.models import Channel
from tests.loopback import serving
from tests.test_hostile_input import (
    BIDI,
    assert_harmless,
    case_html,
    check_case,
    rss,
    settled,
    shown_comments,
)
from tests.test_mirror_discord import make_bot, wait_mirrored
from tests.test_mirror_engine import Rig, comment
from tests.test_mirror_wordpress import wait_for

rig = test_mirror_engine.rig  # the engine tests' fixture: the real store and an in-memory publisher
HOSTILE = Path(__file__).parent / "data" / "hostile"
SHARED = json.loads((HOSTILE / "corpus.json").read_text(encoding="utf-8"))["cases"]
OURS = json.loads((HOSTILE / "discord-corpus.json").read_text(encoding="utf-8"))["cases"]
FIELDS = json.loads((HOSTILE / "discord-fields.json").read_text(encoding="utf-8"))
WP_AUTHOR_LIMIT = 245
# Anything shaped like a ping or a mention, in the broad form Discord's parser accepts.
PING = re.compile(r"[@\uff20\ufe6b](everyone|here)", re.IGNORECASE)
PLAIN_PING = re.compile(r"@(everyone|here)", re.IGNORECASE)
MENTION = re.compile(r"<(@[!&]?\d+|#\d+|/[^<>\n]+:\d+|id:\w+)>")


@pytest.fixture
def settings(tmp_path: Path, detoxify_checkpoint: Any) -> Settings:
    return Settings(
        database_path=tmp_path / "cw.db",
        allow_private_urls=True,
        poll_interval=3600,
        **detoxify_checkpoint.settings_kwargs(),
    )


def carded(index: int, case: dict[str, Any]) -> bool:
    """Which comments carry the toxic word: every third, and every blank or invisible author."""
    return index % 3 == 0 or not "".join(ch for ch in case["author"] if ch.isprintable()).strip()


def wordpress_author(name: str) -> str:
    """The name as WordPress can store it: its comment form refuses authors over 245 characters."""
    return name[:WP_AUTHOR_LIMIT]


def refusals(fake: FakeDiscord) -> list[str]:
    """Every request the fake answered with a 4xx other than a lookup of something gone (404)."""
    return [
        f"{r.method} {r.path} -> {r.status}"
        for r in fake.requests
        if 400 <= r.status < 500 and r.status != 404
    ]


def no_ping_anywhere(fake: FakeDiscord, channel: Channel) -> None:
    """Beyond assert_harmless: the broad ping and mention shapes in every text Discord parses for mentions
    (content, descriptions, field values); names and footers, which never ping, at least carry no plain
    `@everyone`/`@here` (a full-width ＠ is how a name shows an at sign)."""
    for message in fake.messages(channel):
        parsed = (
            [message.content or ""]
            + [e.get("description") or "" for e in message.embeds]
            + [f.get("value") or "" for e in message.embeds for f in e.get("fields") or []]
        )
        for text in parsed:
            assert not PING.search(text), text[:300]
            assert not MENTION.search(text), text[:300]
        rest = json.dumps([message.author.username, message.embeds, message.components], ensure_ascii=False)
        assert not PLAIN_PING.search(rest), rest[:300]
        assert not MENTION.search(rest), rest[:300]


def footers(fake: FakeDiscord, thread: Channel) -> list[str]:
    return [(e.get("footer") or {}).get("text", "") for m in fake.messages(thread) for e in m.embeds]


@pytest.mark.wordpress
async def test_hostile_corpus_mirrored_from_wordpress_and_carded(
    fake_discord: FakeDiscord,
    discord_world: Any,
    bot_runner: Any,
    wordpress_site: Any,
    settings: Settings,
    detoxify_checkpoint: Any,
) -> None:
    """Both corpora as real WordPress comments (HTML as the site stores it), a toxic word on every third so the
    mirrored comment gets a review card: everything mirrored exactly once, nobody pinged, nothing refused."""
    w, wp = discord_world, wordpress_site
    cases = [c for c in SHARED + OURS if not c.get("file_only")]
    index = {c["id"]: i for i, c in enumerate(cases)}
    specs = []
    for i, case in enumerate(cases):
        body = case_html(case, w)
        if carded(i, case):
            body += f"<p>{detoxify_checkpoint.toxic_word}</p>"
        spec: dict[str, Any] = {
            "content": body,
            "author": wordpress_author(case["author"]),
            "date_gmt": f"2026-01-02 11:{i:02d}:00",
        }
        if case.get("reply_to") in index:
            spec["parent_index"] = index[case["reply_to"]]
        specs.append(spec)
    post = await asyncio.to_thread(wp.create_post, "Hostile @everyone <@&1> \u202etitle", "<p>Body</p>")
    ids = await asyncio.to_thread(wp.create_comments, post["id"], specs)
    case_of = {str(wp_id): case for wp_id, case in zip(ids, cases, strict=True)}

    async with bot_runner(make_bot(settings), within=60) as bot:
        await bot.store.guilds.update(w.guild.id, review_channel_id=w.review.id)
        added = await fake_discord.invoke_slash(
            "mirror add", {"url": post["link"], "channel": w.forum}, user=w.moderator, channel=w.general
        )
        assert "Mirroring source #" in added.content, added.content
        thread = await wait_mirrored(fake_discord, len(cases), w.forum, within=60)
        await wait_for(lambda: settled(bot, w.guild.id))
        carded_count = sum(1 for i, case in enumerate(cases) if carded(i, case))
        await fake_discord.wait_until(
            lambda: len([m for m in fake_discord.messages(w.review) if m.embeds]) >= carded_count, within=30
        )

        literal = frozenset(wp_id for wp_id, case in case_of.items() if case.get("literal_markup"))
        assert_harmless(fake_discord, thread, literal)
        no_ping_anywhere(fake_discord, thread)
        assert not PING.search(thread.name or "") and not BIDI.search(thread.name or "")
        shown = shown_comments(fake_discord, thread)
        assert set(shown) == set(case_of)  # nothing lost
        firsts = [
            f for f in footers(fake_discord, thread) if f.startswith("comment ") and " · part " not in f
        ]
        assert len(firsts) == len(set(firsts))  # nothing twice
        for wp_id, case in case_of.items():
            check_case(case, shown[wp_id], threaded=True)

        cards = [m for m in fake_discord.messages(w.review) if m.embeds]
        assert len(cards) == carded_count
        assert_harmless(fake_discord, w.review)
        no_ping_anywhere(fake_discord, w.review)
        for card in cards:
            for field in card.embeds[0]["fields"]:
                assert field["value"].strip(), card.embeds[0]

        before = len(fake_discord.messages(thread))
        sync = await fake_discord.invoke_slash("mirror sync", {}, user=w.moderator, channel=w.general)
        assert "0 new" in sync.followups[-1].content or "no change" in sync.followups[-1].content.lower(), (
            sync.followups[-1].content
        )
        assert len(fake_discord.messages(thread)) == before  # a second poll duplicates nothing
        row = (await bot.store.mirror.sources(w.guild.id))[0]
        assert row.status == "ok", row.last_error
    assert refusals(fake_discord) == []


async def test_discord_corpus_mirrored_from_a_feed(
    fake_discord: FakeDiscord, discord_world: Any, bot_runner: Any, settings: Settings
) -> None:
    """The neutralisation families as an RSS comment feed (HTML bodies, names from dc:creator)."""
    w = discord_world
    body = rss(
        "Comments on: @everyone1 \u202ereversed", [(c["id"], c["author"], case_html(c, w)) for c in OURS]
    )

    async def feed(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/feed", feed)
    async with serving(app) as base, bot_runner(make_bot(settings), within=60) as bot:
        added = await fake_discord.invoke_slash(
            "mirror add", {"url": f"{base}/feed", "channel": w.general}, user=w.moderator, channel=w.general
        )
        assert "Mirroring source #" in added.followups[-1].content, added.followups[-1].content
        thread = await wait_mirrored(fake_discord, len(OURS), w.general, within=60)
        await wait_for(lambda: settled(bot, w.guild.id))
        assert_harmless(fake_discord, thread)
        no_ping_anywhere(fake_discord, thread)
        assert not PING.search(thread.name or "") and not BIDI.search(thread.name or "")
        shown = shown_comments(fake_discord, thread)
        assert set(shown) == {c["id"] for c in OURS}
        for case in OURS:
            check_case(case, shown[case["id"]], threaded=False)
    assert refusals(fake_discord) == []


async def test_url_fields_long_ids_and_blank_authors_are_accepted(
    fake_discord: FakeDiscord, discord_world: Any, bot_runner: Any, settings: Settings
) -> None:
    """discord-fields.json: a scheme-less article URL, relative/scheme-relative/bad URLs and avatars, two
    2,100-character ids one letter apart, ids Discord would trim or that break the marker, blank authors."""
    w = discord_world
    async with await open_source(str(HOSTILE / "discord-fields.json"), allow_private=True) as source:
        comments = (await source.fetch()).comments  # the ids as the source reads them
    async with bot_runner(make_bot(settings), within=60) as bot:
        added = await fake_discord.invoke_slash(
            "mirror add",
            {"url": str(HOSTILE / "discord-fields.json"), "channel": w.general},
            user=w.moderator,
            channel=w.general,
        )
        assert "Mirroring source #" in added.content, added.content
        thread = await wait_mirrored(fake_discord, len(comments), w.general, within=60)
        await wait_for(lambda: settled(bot, w.guild.id))
        row = (await bot.store.mirror.sources(w.guild.id))[0]
        assert row.status == "ok", row.last_error

        messages = fake_discord.messages(thread)
        card = messages[0].embeds[0]
        assert "url" not in card  # no absolute article URL: the title links nowhere rather than failing
        by_key = {render.marker_key(c.external_id): c for c in comments}
        seen: dict[str, dict[str, Any]] = {}
        for message in messages[1:]:
            for embed in message.embeds:
                marker = render.parse_marker(embed["footer"]["text"])
                assert marker is not None and marker.external_id in by_key, embed["footer"]
                assert marker.external_id not in seen  # each comment once
                seen[marker.external_id] = {"embed": embed, "message": message}
                assert len(embed["footer"]["text"]) <= 2048
                author = embed.get("author") or {}
                assert author.get("name", "x").strip()
                for key in ("url", "icon_url"):
                    assert author.get(key) is None or author[key].startswith(("http://", "https://")), author
        assert set(seen) == set(by_key)
        assert len(by_key) == len(comments) == len(FIELDS["comments"])
        # Scheme-relative URLs are kept (https); relative ones had no absolute article URL to resolve against.
        schemeless = seen[render.marker_key("schemeless")]
        assert (schemeless["embed"].get("author") or {}).get("url") == "https://news.example/e1#comment-2"
        assert schemeless["message"].avatar_url in (None, "https://img.example/1.png")
        for message in messages:
            assert message.avatar_url is None or message.avatar_url.startswith("https://"), message.avatar_url
            assert message.author.username.removesuffix(" (comment)").strip()
        no_ping_anywhere(fake_discord, thread)

        before = len(fake_discord.messages(thread))
        await fake_discord.invoke_slash("mirror sync", {}, user=w.moderator, channel=w.general)
        assert len(fake_discord.messages(thread)) == before
    assert refusals(fake_discord) == []


async def test_long_ids_are_adopted_after_a_crash_not_posted_twice(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The post with a hashed marker landed, the process died before the commit: resume matches it by hash."""
    from bot.store import StoreError

    comments = [comment(n) for n in range(1, 9)]
    comments = [
        c.__class__(**{**c.__dict__, "external_id": f"{n}-" + "z" * 2100}) for n, c in enumerate(comments, 1)
    ]
    rig.set_comments(comments)
    real = rig.store.mirror.record_mirrored
    calls = 0

    async def dies_on_the_fourth(*args: object, **kwargs: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise StoreError("the database disk is full")
        await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rig.store.mirror, "record_mirrored", dies_on_the_fourth)
    with pytest.raises(StoreError):
        await rig.engine().sync(rig.row)
    monkeypatch.setattr(rig.store.mirror, "record_mirrored", real)
    report = await rig.engine().sync(rig.row)
    assert report.adopted == 1
    shown = [e.footer for m in rig.publisher.messages if not m.deleted for e in m.embeds]
    assert all(len(f) <= 2048 for f in shown)
    assert sorted(shown) == sorted(render.marker(c.external_id) for c in comments)  # each exactly once


async def test_mirror_add_defers_before_dns_and_clips_its_echo(
    fake_discord: FakeDiscord,
    discord_world: Any,
    bot_runner: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Name resolution slower than Discord's answer deadline: the command has already deferred, so the answer
    still arrives; a 1,990-character URL echoed in a refusal is clipped to one 2,000-character message."""
    from dataclasses import replace

    w = discord_world
    fake_discord.interaction_ack_deadline = 0.5  # the fake's 3-second rule, shortened for the test
    slow_for: list[str] = []

    async def slow_resolution(host: str, port: int) -> list[Any]:
        slow_for.append(host)
        await asyncio.sleep(1.0)
        raise urlsafety.UnsafeUrlError(f"cannot resolve host '{host}': name unknown")

    monkeypatch.setattr(urlsafety, "resolve_addresses", slow_resolution)
    prefix = "https://news.example:99999/"  # a port out of range: the refusal quotes the whole URL
    long_url = prefix + "p" * (1990 - len(prefix))
    async with bot_runner(make_bot(replace(settings, allow_private_urls=False)), within=60):
        slow = await fake_discord.invoke_slash(
            "mirror add",
            {"url": "https://slow.example/feed", "channel": w.general},
            user=w.moderator,
            channel=w.general,
            within=10,
        )
        await slow.wait_followups(1, within=10)
        echoed = await fake_discord.invoke_slash(
            "mirror add",
            {"url": long_url, "channel": w.general},
            user=w.moderator,
            channel=w.general,
            within=10,
        )
        await echoed.wait_followups(1, within=10)
    assert slow_for == ["slow.example"]
    assert slow.followups[-1].content.startswith("That URL cannot be mirrored: cannot resolve host")
    text = echoed.followups[-1].content
    assert len(long_url) == 1990 and long_url[:200] in text
    assert text.startswith("That URL cannot be mirrored:") and len(text) <= 2000 and text.endswith("…"), text[
        -80:
    ]
    assert refusals(fake_discord) == []


async def test_discord_corpus_as_member_messages_on_review_cards(
    fake_discord: FakeDiscord,
    discord_world: Any,
    bot_runner: Any,
    settings: Settings,
    detoxify_checkpoint: Any,
) -> None:
    """The same families written by members (names included) and flagged: each card shows the text, keeps
    link targets visible, pings nobody and is accepted by the fake."""
    from dataclasses import replace

    w = discord_world
    async with bot_runner(make_bot(replace(settings, allow_private_urls=False)), within=60) as bot:
        await bot.store.guilds.update(w.guild.id, review_channel_id=w.review.id)
        sent = []
        for case in OURS:
            author = fake_discord.create_member(w.guild, case["author"][:32] or "x")
            sent.append(
                await fake_discord.send_message(
                    w.general, author, f"{case['text']} {detoxify_checkpoint.toxic_word}"
                )
            )
        cards = await fake_discord.wait_until(
            lambda: len(m := [x for x in fake_discord.messages(w.review) if x.embeds]) >= len(OURS) and m,
            within=30,
        )
        assert len(cards) == len(OURS)
        assert_harmless(fake_discord, w.review)
        no_ping_anywhere(fake_discord, w.review)
        bodies = "\n".join(card.embeds[0]["description"] for card in cards)
        for case in OURS:
            for visible in case.get("visible", []):
                assert visible in bodies, (case["id"], visible)
        for card in cards:
            assert all(field["value"].strip() for field in card.embeds[0]["fields"]), card.embeds[0]
    assert refusals(fake_discord) == []


async def test_audit_log_reasons_are_clipped_to_what_discord_takes(
    fake_discord: FakeDiscord, discord_world: Any, bot_runner: Any, settings: Settings
) -> None:
    """A moderator's longest reason behind the case prefix is past 512: the action still happens, with the
    reason clipped, instead of Discord refusing the whole request."""
    w = discord_world
    async with bot_runner(make_bot(settings), within=60) as bot:
        service = bot.get_cog("Review").service
        guild = bot.get_guild(w.guild.id)
        target = fake_discord.create_member(w.guild, "rude-member")
        await service.ban(guild, target.user.id, "case #12345: " + "r" * 500)
    entry = w.guild.audit_log[-1]
    assert entry.target_id == target.user.id and len(entry.reason) == 512 and entry.reason.endswith("…")
    assert refusals(fake_discord) == []
