"""The hostile corpus (tests/data/hostile/) through the real bot: mirrored from a thread file and from an RSS
feed served on loopback, and shown on review cards for member messages. Every case must come out readable,
scored, pinging nobody and carrying no active content; feeds that attack the parser are refused with a
reason `/mirror list` shows, while the other sources keep mirroring."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from aiohttp import web

from bot.config import Settings
from bot.mirror import render
from bot.textsafety import safe_display_name
from tests.fakediscord import FakeDiscord
from tests.fakediscord.models import Channel, Message
from tests.loopback import serving
from tests.test_mirror_discord import make_bot, wait_mirrored
from tests.test_mirror_wordpress import wait_for

DATA = Path(__file__).parent / "data"
HOSTILE = DATA / "hostile"
CORPUS: list[dict[str, Any]] = json.loads((HOSTILE / "corpus.json").read_text(encoding="utf-8"))["cases"]

PING = re.compile(r"@(everyone|here)", re.IGNORECASE)
RAW_MENTION = re.compile(r"<(@[!&]?\d+|#\d+|/[\w\- ]+:\d+)>")
ACTIVE = re.compile(
    r"<\s*/?\s*(script|iframe|object|embed|svg|style|img)\b|javascript:|\bon[a-z]+\s*=", re.IGNORECASE
)
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
LITERAL = frozenset(c["id"] for c in CORPUS if c.get("literal_markup"))
PADDING = 10  # neutral comments added to the thread file so the backfill packs short comments together


@pytest.fixture
def settings(tmp_path: Path, detoxify_checkpoint: Any) -> Settings:
    return Settings(
        database_path=tmp_path / "cw.db",
        allow_private_urls=True,
        poll_interval=3600,
        **detoxify_checkpoint.settings_kwargs(),
    )


async def settled(bot: Any, guild_id: int) -> bool:
    """Every source has had its first sync (ok or failing)."""
    return all(r.status != "new" for r in await bot.store.mirror.sources(guild_id))


def placeholders(world: Any) -> dict[str, str]:
    return {
        "{member}": str(world.member.user.id),
        "{moderator}": str(world.moderator.user.id),
        "{moderator_role}": str(world.moderator_role.id),
        "{general}": str(world.general.id),
    }


def case_text(case: dict[str, Any], world: Any) -> str:
    if "repeat" in case:
        unit, times = case["repeat"]
        return unit * times
    text = case["text"]
    for key, value in placeholders(world).items():
        text = text.replace(key, value)
    return text


def case_html(case: dict[str, Any], world: Any) -> str:
    return case.get("html") or f"<p>{html.escape(case_text(case, world))}</p>"


def strings(value: Any) -> Iterator[str]:
    """Every string inside an embed or component tree."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def assert_harmless(
    fake: FakeDiscord, channel: Channel, literal: frozenset[str] = frozenset()
) -> list[Message]:
    """Nobody pinged, no mention syntax, no active content, no bidi controls in anything posted there.

    `literal`: comments whose text is markup the reader saw as text on the site (exempt from the markup check).
    """
    messages = fake.messages(channel)
    assert messages
    for message in messages:
        assert message.allowed_mentions is not None, message
        assert not message.allowed_mentions.get("parse"), message.allowed_mentions
        assert not message.allowed_mentions.get("users") and not message.allowed_mentions.get("roles")
        assert not (message.mention_everyone or message.mention_user_ids or message.mention_role_ids), message
        for embed in [None, *message.embeds]:
            texts = (
                [message.content, message.author.username, *strings(message.components)]
                if embed is None
                else list(strings(embed))
            )
            marker = render.parse_marker((embed or {}).get("footer", {}).get("text"))
            for text in texts:
                assert not PING.search(text), text[:300]
                assert not RAW_MENTION.search(text), text[:300]
                assert not BIDI.search(text), ascii(text[:300])
                if marker is None or marker.external_id not in literal:
                    assert not ACTIVE.search(text), text[:300]
    return messages


def shown_comments(fake: FakeDiscord, thread: Channel) -> dict[str, dict[str, Any]]:
    """comment id -> its shown name (webhook's, or the embed author's in a packed message) and its text."""
    out: dict[str, dict[str, Any]] = {}
    for message in fake.messages(thread):
        for embed in message.embeds:
            marker = render.parse_marker((embed.get("footer") or {}).get("text"))
            if marker is None:
                continue
            entry = out.setdefault(marker.external_id, {"name": None, "parts": {}, "raw": []})
            if marker.part == 1:
                packed = len(message.embeds) > 1
                entry["name"] = embed["author"]["name"] if packed else message.author.username
            entry["parts"][marker.part] = embed["description"]
            entry["raw"].append(json.dumps(embed, ensure_ascii=False) + message.author.username)
    for entry in out.values():
        entry["text"] = "\n".join(entry["parts"][n] for n in sorted(entry["parts"]))
    return out


def check_case(case: dict[str, Any], shown: dict[str, Any], *, threaded: bool) -> None:
    """What one case must look like once mirrored: its name marked, its text readable and complete.

    `threaded`: the source carries reply links (a thread file does, an RSS feed does not).
    """
    name = shown["name"]
    assert name == safe_display_name(case["author"]), (case["id"], name)
    assert name.endswith(" (comment)") and name not in ("CommentWarden", "mod-mia")  # never staff's own name
    assert not re.search(r"[\u0370-\u03ff\u0400-\u04ff]", name), name  # look-alikes folded to Latin
    text = shown["text"]
    for visible in case.get("visible", []):
        assert visible in text, (case["id"], visible, text[:500])
    for forbidden in case.get("forbidden", []):
        assert all(forbidden not in raw for raw in shown["raw"]), (case["id"], forbidden)
    if "repeat" in case:  # split over parts, never cut: every unit is there
        unit, times = case["repeat"]
        assert text.count(unit.split()[0]) == times, case["id"]
        assert len(shown["parts"]) > 1
    if case.get("reply_to") and threaded:
        header = shown["parts"][1].split("\n")
        assert header[0].startswith("↪ Replying to"), header[0]
        quote = [line for line in header[1:] if line.startswith(">")]
        assert quote and all("```" not in line for line in quote), header


def thread_document(world: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    cases = [c for c in CORPUS if not c.get("html_only")]
    comments = [
        {
            "id": c["id"],
            "parent": c.get("reply_to"),
            "author": c["author"],
            "date": f"2026-01-02T11:{i:02d}:00Z",
            "text": case_text(c, world),
            "url": None,
            "avatar_url": None,
        }
        for i, c in enumerate(cases)
    ]
    comments += [
        {
            "id": f"pad{i}",
            "parent": None,
            "author": f"Reader {i}",
            "date": f"2026-01-02T12:{i:02d}:00Z",
            "text": f"hello nice article {i}",
            "url": None,
            "avatar_url": None,
        }
        for i in range(PADDING)
    ]
    document = {
        "article": {
            "id": "hostile",
            "title": "Hostile @everyone <@&1> \u202etitle",
            "author": "@here",
            "url": "https://news.example/hostile",
            "body": "```\n@everyone\n```",
        },
        "comments": comments,
    }
    return document, cases


async def test_corpus_mirrored_from_a_thread_file_safely(
    fake_discord: FakeDiscord, discord_world: Any, bot_runner: Any, settings: Settings, tmp_path: Path
) -> None:
    w = discord_world
    document, cases = thread_document(w)
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    async with bot_runner(make_bot(settings)) as bot:
        added = await fake_discord.invoke_slash(
            "mirror add", {"url": str(path), "channel": w.forum}, user=w.moderator, channel=w.general
        )
        assert "Mirroring source #" in added.content, added.content
        thread = await wait_mirrored(fake_discord, len(document["comments"]), w.forum, within=60)
        await wait_for(lambda: settled(bot, w.guild.id))
        assert_harmless(fake_discord, thread)
        assert thread.name and not PING.search(thread.name) and not BIDI.search(thread.name)
        shown = shown_comments(fake_discord, thread)
        assert set(shown) == {c["id"] for c in document["comments"]}
        assert any(len(m.embeds) > 1 for m in fake_discord.messages(thread))  # the backfill packed some
        for case in cases:
            check_case(case, shown[case["id"]], threaded=True)
        rows = await bot.store.db.fetchall(
            "SELECT external_id, scores, scored_hash = content_hash AS fresh FROM comments"
        )
        assert len(rows) == len(document["comments"])
        assert all(r["scores"] and r["fresh"] for r in rows)  # every one scored, the 1 MB one included


def rss(title: str, items: list[tuple[str, str, str]]) -> bytes:
    """An RSS 2.0 comment feed; items are (guid, author, html), newest last."""
    entries = "".join(
        f"<item><title>By: {escape(author)}</title><link>https://news.example/feed-article#{guid}</link>"
        f"<dc:creator>{escape(author)}</dc:creator><pubDate>Tue, 10 Mar 2026 09:{i:02d}:00 +0000</pubDate>"
        f'<guid isPermaLink="false">{escape(guid)}</guid><description>{escape(body)}</description></item>\n'
        for i, (guid, author, body) in enumerate(items)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        f'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>{escape(title)}</title>'
        f"<link>https://news.example/feed-article</link><description>d</description>\n{entries}"
        "</channel></rss>\n"
    ).encode()


async def test_corpus_mirrored_from_a_feed_and_parser_attacks_refused(
    fake_discord: FakeDiscord, discord_world: Any, bot_runner: Any, settings: Settings
) -> None:
    w = discord_world
    cases = [c for c in CORPUS if not c.get("file_only")]
    bodies = {
        "hostile": rss(
            "Comments on: @everyone \u202ereversed", [(c["id"], c["author"], case_html(c, w)) for c in cases]
        ),
        "utf8": (HOSTILE / "invalid-utf8.xml").read_bytes(),
        "xxe": (HOSTILE / "xxe.xml").read_bytes(),
        "laughs": (DATA / "feeds" / "billion-laughs.xml").read_bytes(),
    }

    async def feed(request: web.Request) -> web.Response:
        return web.Response(body=bodies[request.match_info["name"]], content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/{name}/feed", feed)
    async with serving(app) as base, bot_runner(make_bot(settings)) as bot:
        for name in bodies:
            added = await fake_discord.invoke_slash(
                "mirror add",
                {"url": f"{base}/{name}/feed", "channel": w.general},
                user=w.moderator,
                channel=w.general,
            )
            assert "Mirroring source #" in added.followups[-1].content, added.followups[-1].content

        await wait_for(lambda: settled(bot, w.guild.id))
        await fake_discord.wait_until(
            lambda: len(fake_discord.state.threads_of(w.general.id)) == 2, within=30
        )
        threads = {t.name: t for t in fake_discord.state.threads_of(w.general.id)}
        hostile = next(t for name, t in threads.items() if "reversed" in name)
        await wait_mirrored(fake_discord, len(cases), w.general, within=30)
        assert_harmless(fake_discord, hostile, LITERAL)
        assert not BIDI.search(hostile.name) and not PING.search(hostile.name)
        shown = shown_comments(fake_discord, hostile)
        for case in cases:
            check_case(case, shown[case["id"]], threaded=False)

        cafe = next(t for name, t in threads.items() if "Caf" in name)
        await wait_mirrored(fake_discord, 3, w.general, within=30)
        assert_harmless(fake_discord, cafe)
        utf8 = shown_comments(fake_discord, cafe)
        assert len(utf8) == 3  # the broken bytes are replaced; no comment is lost
        assert any("A perfectly valid comment" in c["text"] for c in utf8.values())
        assert any("then fine" in c["text"] for c in utf8.values())

        listing = await fake_discord.invoke_slash("mirror list", user=w.moderator, channel=w.general)
        lines = {line.split("/")[-2]: line for line in listing.content.splitlines() if "/feed" in line}
        for name in ("xxe", "laughs"):
            assert "failing" in lines[name] and "XML entities" in lines[name], lines[name]
        assert "✅ ok" in lines["hostile"] and "✅ ok" in lines["utf8"]
        assert (
            len(fake_discord.state.threads_of(w.general.id)) == 2
        )  # nothing was posted for the refused feeds
        assert "root:" not in json.dumps(
            [m.embeds for t in threads.values() for m in fake_discord.messages(t)]
        )


async def test_review_cards_for_hostile_member_messages_ping_nobody(
    fake_discord: FakeDiscord,
    discord_world: Any,
    bot_runner: Any,
    settings: Settings,
    detoxify_checkpoint: Any,
) -> None:
    w = discord_world
    cases = [c for c in CORPUS if not c.get("html_only") and not c.get("file_only")]
    async with bot_runner(make_bot(replace(settings, allow_private_urls=False))) as bot:
        await bot.store.guilds.update(w.guild.id, review_channel_id=w.review.id)
        sent = []
        for case in cases:
            author = fake_discord.create_member(w.guild, (case["author"] or "x")[:32])
            text = case_text(case, w)[:1800] + f" {detoxify_checkpoint.toxic_word}"
            sent.append(await fake_discord.send_message(w.general, author, text))
        cards = await fake_discord.wait_until(
            lambda: len(m := [x for x in fake_discord.messages(w.review) if x.embeds]) >= len(cases) and m,
            within=30,
        )
        assert len(cards) == len(cases)
        assert_harmless(fake_discord, w.review)
        by_link = {}
        for card in cards:
            link = next(f["value"] for f in card.embeds[0]["fields"] if f["name"] == "Link")
            by_link[int(link.rsplit("/", 1)[-1].rstrip(")"))] = card
        for case, message in zip(cases, sent, strict=True):
            card = by_link[message.id]
            body = card.embeds[0]["description"]
            for visible in case.get("visible", []):
                assert visible in body, (case["id"], visible)
            for forbidden in case.get("forbidden", []):
                assert forbidden not in json.dumps(card.embeds, ensure_ascii=False), (case["id"], forbidden)
        scored = await bot.store.db.fetchall("SELECT message_id FROM message_scores WHERE flagged = 1")
        assert {r["message_id"] for r in scored} == {m.id for m in sent}
