"""The moderation loop around mirrored comments (issue 12): removals remove, cards follow the site, every flag
gets a card, and pre-moderation. The real bot against the loopback fake Discord, with thread files as the
site and the tiny deterministic Detoxify checkpoint.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.factory import create_bot
from bot.mirror.render import REPLY_TO_REMOVED
from bot.store import CaseFilter
from tests.fakediscord import FakeDiscord
from tests.fakediscord.models import Message


@pytest.fixture
def settings(tmp_path, detoxify_checkpoint) -> Settings:
    return replace(
        Settings(database_path=tmp_path / "cw.db", **detoxify_checkpoint.settings_kwargs()),
        poll_interval=3600,
        allow_private_urls=True,
    )


@pytest.fixture
def toxic(detoxify_checkpoint) -> str:
    return f"you are a {detoxify_checkpoint.toxic_word} zebra"


def write_thread(path: Path, comments: list[dict[str, Any]]) -> Path:
    path.write_text(
        json.dumps(
            {
                "article": {
                    "id": "a1",
                    "title": "Garden news",
                    "url": "https://news.example/a1",
                    "author": "Editor",
                    "date": "2026-01-02T10:00:00Z",
                    "body": "Body.",
                },
                "comments": comments,
            }
        )
    )
    return path


def comment(cid: str, text: str, parent: str | None = None, author: str | None = None) -> dict[str, Any]:
    return {
        "id": cid,
        "parent": parent,
        "author": author or f"Reader {cid}",
        "date": "2026-01-02T11:00:00Z",
        "text": text,
        "url": f"https://news.example/a1#{cid}",
        "avatar_url": None,
    }


def thread_messages(fake: FakeDiscord, world) -> list[Message]:
    threads = fake.state.threads_of(world.forum.id)
    assert len(threads) == 1
    return fake.messages(threads[0])


def shown(messages: list[Message]) -> str:
    return json.dumps([m.embeds for m in messages], ensure_ascii=False)


async def start_mirror(fake: FakeDiscord, world, path: Path, posts: int) -> None:
    """Add the source and wait until its first sync posted the article card and `posts` comment messages."""
    added = await fake.invoke_slash(
        "mirror add", {"url": str(path), "channel": world.forum}, user=world.moderator, channel=world.general
    )
    assert "Mirroring source #" in added.content, added.content

    def landed() -> bool:
        threads = fake.state.threads_of(world.forum.id)
        return len(threads) == 1 and len(fake.messages(threads[0])) >= posts + 1

    await fake.wait_until(landed)


async def sync(fake: FakeDiscord, world) -> None:
    answer = await fake.invoke_slash(
        "mirror sync", {"source": 1}, user=world.moderator, channel=world.general
    )
    assert answer.content and "failed" not in answer.content.lower(), answer.content


def card_for(fake: FakeDiscord, world, count: int = 1):
    return fake.wait_until(lambda: [m for m in fake.messages(world.review) if m.embeds][count - 1 :] or None)


async def decide(fake: FakeDiscord, world, card: Message, decision: str, fields: dict[str, str]):
    case_number = int(card.embeds[0]["title"].split("#")[1].split()[0])
    clicked = await fake.click_button(
        card, f"cw:card:{world.guild.id}:{case_number}:{decision}", user=world.moderator
    )
    assert clicked.modal is not None, clicked.content
    return await fake.submit_modal(clicked, fields, user=world.moderator)


# Removals remove


async def test_no_live_message_keeps_a_removed_comments_text(
    fake_discord, discord_world, bot_runner, settings, toxic, tmp_path
):
    w = discord_world
    path = write_thread(
        tmp_path / "t.json",
        [
            comment("c1", toxic, author="Rude Reader"),
            comment("c2", "I disagree with that", parent="c1"),
            comment("c3", "me too", parent="c1"),
        ],
    )
    async with bot_runner(create_bot(settings, guild_ready_timeout=0.05)) as bot:
        await bot.store.guilds.update(w.guild.id, review_channel_id=w.review.id)
        await start_mirror(fake_discord, w, path, 3)
        card = (await card_for(fake_discord, w))[0]
        assert "zebra" in shown(thread_messages(fake_discord, w))  # quoted by both replies, and shown itself
        await decide(fake_discord, w, card, "remove", {"reason": "insult"})
        messages = thread_messages(fake_discord, w)
        assert "zebra" not in shown(messages) and "toxicword" not in shown(messages)
        replies = [m for m in messages if "I disagree" in shown([m]) or "me too" in shown([m])]
        assert len(replies) == 2 and all(REPLY_TO_REMOVED in shown([m]) for m in replies)
        assert all("jump to it" in shown([m]) for m in replies)  # "mark" mode keeps the removed one's place

        # A reply posted later says what it answers without quoting it.
        write_thread(
            path,
            [
                comment("c1", toxic, author="Rude Reader"),
                comment("c2", "I disagree with that", parent="c1"),
                comment("c3", "me too", parent="c1"),
                comment("c4", "what did they say?", parent="c1"),
            ],
        )
        await sync(fake_discord, w)
        messages = thread_messages(fake_discord, w)
        late = next(m for m in messages if "what did they say" in shown([m]))
        assert REPLY_TO_REMOVED in shown([late]) and "zebra" not in shown(messages)


async def test_an_edit_of_a_parent_updates_its_quotes(
    fake_discord, discord_world, bot_runner, settings, tmp_path
):
    w = discord_world
    path = write_thread(
        tmp_path / "t.json",
        [
            comment("c1", "the first version of the parent"),
            comment("c2", "a reply", parent="c1"),
        ],
    )
    async with bot_runner(create_bot(settings, guild_ready_timeout=0.05)):
        await start_mirror(fake_discord, w, path, 2)
        assert "first version" in shown(thread_messages(fake_discord, w))
        write_thread(path, [comment("c1", "the corrected parent"), comment("c2", "a reply", parent="c1")])
        await sync(fake_discord, w)
        messages = thread_messages(fake_discord, w)
        assert "first version" not in shown(messages)
        reply = next(m for m in messages if "a reply" in shown([m]))
        assert "the corrected parent" in shown([reply])


# Every flag gets a card


async def test_a_flag_from_before_the_review_channel_gets_exactly_one_card(
    fake_discord, discord_world, bot_runner, settings, toxic
):
    w = discord_world
    async with bot_runner(create_bot(settings, guild_ready_timeout=0.05)) as bot:
        await fake_discord.send_message(w.general, w.member, toxic)
        for _ in range(250):
            if await bot.store.cases.queued_flags(w.guild.id):
                break
            await asyncio.sleep(0.02)
        queue = await fake_discord.invoke_slash("flags", user=w.moderator, channel=w.general)
        assert "1 open flag(s) have no card" in queue.embeds[0]["description"]
        answer = await fake_discord.invoke_slash(
            "config review-channel", {"channel": w.review}, user=w.owner, channel=w.general
        )
        assert "1 open flag logged before it got a card" in answer.content
        cards = await card_for(fake_discord, w)
        assert "toxicword" in cards[0].embeds[0]["description"]
        again = await fake_discord.invoke_slash(
            "config review-channel", {"channel": w.review}, user=w.owner, channel=w.general
        )
        assert "before it got" not in again.content
        shown = await fake_discord.invoke_slash("flags", {"card": 1}, user=w.moderator, channel=w.general)
        assert "has a card" in shown.content
        assert len([m for m in fake_discord.messages(w.review) if m.embeds]) == 1
    async with bot_runner(create_bot(settings, guild_ready_timeout=0.05)) as bot:  # the recovery pass too
        await fake_discord.send_message(w.general, w.member, "hello nice article")
        await asyncio.sleep(0.3)
        assert len([m for m in fake_discord.messages(w.review) if m.embeds]) == 1
        assert (await bot.store.cases.card(w.guild.id, 1)).message_id == cards[0].id


# Cards follow the site


def card_field(card: Message, name: str) -> str:
    return next(f["value"] for f in card.embeds[0]["fields"] if f["name"] == name)


def live(fake: FakeDiscord, world, card: Message) -> Message:
    return next(m for m in fake.messages(world.review) if m.id == card.id)


def buttons_disabled(card: Message) -> list[bool]:
    return [b.get("disabled", False) for row in card.components for b in row["components"]]


async def test_a_card_follows_site_edits_and_closes_when_the_site_fixes_the_comment(
    fake_discord, discord_world, bot_runner, settings, toxic, tmp_path
):
    w = discord_world
    path = write_thread(tmp_path / "t.json", [comment("c1", toxic, author="Rude Reader")])
    async with bot_runner(create_bot(settings, guild_ready_timeout=0.05)) as bot:
        await bot.store.guilds.update(w.guild.id, review_channel_id=w.review.id)
        await start_mirror(fake_discord, w, path, 1)
        card = (await card_for(fake_discord, w))[0]

        # Still toxic after the edit: the same card shows the new text and scores, and stays open.
        write_thread(path, [comment("c1", toxic + " and worse", author="Rude Reader")])
        await sync(fake_discord, w)
        await fake_discord.wait_until(
            lambda: "and worse" in (live(fake_discord, w, card).embeds[0]["description"])
        )
        updated = live(fake_discord, w, card)
        assert "Before:" in card_field(updated, "Edited on the site") and not any(buttons_disabled(updated))
        assert len([m for m in fake_discord.messages(w.review) if m.embeds]) == 1  # no second card

        # Fixed on the site: closed as resolved on the site, the old text kept on the card.
        write_thread(path, [comment("c1", "sorry, I take that back", author="Rude Reader")])
        await sync(fake_discord, w)
        await fake_discord.wait_until(lambda: all(buttons_disabled(live(fake_discord, w, card))) or None)
        closed = live(fake_discord, w, card)
        assert "sorry, I take that back" in closed.embeds[0]["description"]
        assert "Resolved on the site" in card_field(closed, "Decision")
        assert "zebra" in card_field(closed, "Edited on the site")
        assert "under every flag level" in card_field(closed, "Edited on the site")
        edits = [c for c in await bot.store.cases.query(w.guild.id, CaseFilter(action="site-edit"))]
        assert len(edits) == 2 and all(c.ref_case == 1 for c in edits)
        assert (await bot.store.cases.card(w.guild.id, 1)).decision == "resolved-site"
        assert await bot.store.cases.count(w.guild.id, CaseFilter(action="flag")) == 1


async def test_a_card_closes_when_the_site_removes_the_comment(
    fake_discord, discord_world, bot_runner, settings, toxic, tmp_path
):
    w = discord_world
    path = write_thread(tmp_path / "t.json", [comment("c1", toxic), comment("c2", "fine")])
    async with bot_runner(create_bot(settings, guild_ready_timeout=0.05)) as bot:
        await bot.store.guilds.update(w.guild.id, review_channel_id=w.review.id)
        await start_mirror(fake_discord, w, path, 2)
        card = (await card_for(fake_discord, w))[0]
        write_thread(path, [comment("c2", "fine")])
        await sync(fake_discord, w)
        await fake_discord.wait_until(lambda: all(buttons_disabled(live(fake_discord, w, card))) or None)
        assert "Removed on the site" in card_field(live(fake_discord, w, card), "Decision")
        removal = (await bot.store.cases.query(w.guild.id, CaseFilter(action="site-remove")))[0]
        assert removal.ref_case == 1 and removal.reason == "removed on the site"


# Judge before publishing


class Watch:
    """Every text the thread ever showed, caught at each change of the fake's state (posts and edits alike)."""

    def __init__(self, fake: FakeDiscord, world) -> None:
        self.seen: list[str] = []
        self.fake, self.world = fake, world
        original = fake.state.notify

        def notify() -> None:
            for thread in fake.state.threads_of(world.forum.id):
                self.seen.append(shown(fake.messages(thread)))
            original()

        fake.state.notify = notify

    def ever(self, text: str) -> bool:
        return any(text in snapshot for snapshot in self.seen)


async def test_premod_withholds_an_act_level_comment_until_approve_publishes_it_in_place(
    fake_discord, discord_world, bot_runner, settings, toxic, tmp_path
):
    w = discord_world
    path = write_thread(
        tmp_path / "t.json",
        [
            comment("c1", "a kind first comment"),
            comment("c2", toxic, author="Rude Reader"),
            comment("c3", "what a reply", parent="c2"),
        ],
    )
    watch = Watch(fake_discord, w)
    async with bot_runner(create_bot(settings, guild_ready_timeout=0.05)) as bot:
        await bot.store.guilds.update(w.guild.id, review_channel_id=w.review.id, shadow_mode=False)
        await bot.store.guilds.set_threshold(w.guild.id, "toxicity", 0.5, 0.6)
        turned = await fake_discord.invoke_slash(
            "config premod", {"state": "on"}, user=w.owner, channel=w.general
        )
        assert "Pre-moderation is on" in turned.content
        await start_mirror(fake_discord, w, path, 3)
        card = (await card_for(fake_discord, w))[0]
        assert "Held for review" in card_field(card, "Automatic action")
        assert not any(buttons_disabled(card)) and "zebra" in card.embeds[0]["description"]
        messages = thread_messages(fake_discord, w)
        order = [m.id for m in messages]
        assert "held for review" in shown([messages[2]]) and "Rude Reader" in shown([messages[2]])
        assert "Reply to a comment held for review" in shown([messages[3]])
        assert not watch.ever("zebra")  # never visible in the thread, not even for a moment
        assert await bot.store.cases.count(w.guild.id, CaseFilter(action="remove")) == 0
        assert await bot.store.cases.count(w.guild.id, CaseFilter(action="hold")) == 1

        answer = await decide(fake_discord, w, card, "approve", {})
        assert "now shown in its thread" in answer.content
        messages = thread_messages(fake_discord, w)
        assert [m.id for m in messages] == order  # in its place: the notice's message now shows it
        assert "zebra" in shown([messages[2]]) and "held for review" not in shown(messages)
        assert "Replying to **Rude Reader" in shown([messages[3]]) and "zebra" in shown([messages[3]])


async def test_remove_keeps_a_held_comment_withheld_and_shadow_mode_still_publishes(
    fake_discord, discord_world, bot_runner, settings, toxic, tmp_path
):
    w = discord_world
    path = write_thread(tmp_path / "t.json", [comment("c1", toxic)])
    watch = Watch(fake_discord, w)
    async with bot_runner(create_bot(settings, guild_ready_timeout=0.05)) as bot:
        await bot.store.guilds.update(
            w.guild.id, review_channel_id=w.review.id, shadow_mode=False, premod=True
        )
        await bot.store.guilds.set_threshold(w.guild.id, "toxicity", 0.5, 0.6)
        await start_mirror(fake_discord, w, path, 1)
        card = (await card_for(fake_discord, w))[0]
        await decide(fake_discord, w, card, "remove", {"reason": "abuse"})
        assert "removed by a moderator" in shown(thread_messages(fake_discord, w))
        assert not watch.ever("zebra")

        # In shadow mode pre-moderation is off: the comment is posted and carded (the act level is not enforced).
        await bot.store.guilds.update(w.guild.id, shadow_mode=True)
        write_thread(path, [comment("c1", toxic), comment("c2", toxic + " again")])
        await sync(fake_discord, w)
        await card_for(fake_discord, w, 2)
        assert "again" in shown(thread_messages(fake_discord, w))


async def test_without_premod_the_act_level_removes_as_it_publishes_and_never_waits_for_the_pass(
    fake_discord, discord_world, bot_runner, settings, toxic, tmp_path
):
    w = discord_world
    path = write_thread(
        tmp_path / "t.json",
        [comment(f"c{i}", f"kind words {i}") for i in range(1, 30)]
        + [comment("c30", toxic, author="Rude Reader"), comment("c31", "a reply", parent="c30")],
    )
    watch = Watch(fake_discord, w)
    async with bot_runner(create_bot(settings, guild_ready_timeout=0.05)) as bot:
        await bot.store.guilds.update(w.guild.id, review_channel_id=w.review.id, shadow_mode=False)
        await bot.store.guilds.set_threshold(w.guild.id, "toxicity", 0.5, 0.6)
        await start_mirror(fake_discord, w, path, 2)  # a backfill: short comments packed together
        card = (await card_for(fake_discord, w))[0]
        await fake_discord.wait_until(lambda: all(buttons_disabled(live(fake_discord, w, card))) or None)
        assert "Comment removed in Discord" in card_field(live(fake_discord, w, card), "Automatic action")
        flag = (await bot.store.cases.query(w.guild.id, CaseFilter(action="flag")))[0]
        for _ in range(250):  # the card is recorded settled just after it is posted
            if (await bot.store.cases.card(w.guild.id, flag.case_number)).decision == "auto-remove":
                break
            await asyncio.sleep(0.02)
        assert (await bot.store.cases.card(w.guild.id, flag.case_number)).decision == "auto-remove"
        assert not watch.ever("zebra")
        removal = (await bot.store.cases.query(w.guild.id, CaseFilter(action="remove")))[0]
        assert removal.moderator_name == "auto" and removal.ref_case == flag.case_number
        assert REPLY_TO_REMOVED in shown(thread_messages(fake_discord, w))
