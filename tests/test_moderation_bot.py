"""Moderation end to end: the real discord.py client against the loopback fake Discord, with the tiny
deterministic Detoxify checkpoint (its trigger words cross every default flag level)."""

from __future__ import annotations

import copy
import csv
import io
import json
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import PIL.Image
import pytest

from bot.config import Settings
from bot.factory import create_bot
from bot.moderation.charts import SIZE
from bot.store import CaseFilter, MessageScore, NewCase
from tests.fakediscord import BOT_DEFAULT, FakeDiscord, Perm
from tests.fakediscord.models import Message
from tests.fakediscord.routes.guilds import AUDIT_MEMBER_BAN_ADD

ALL = CaseFilter()


@pytest.fixture
def settings(tmp_path, detoxify_checkpoint) -> Settings:
    return Settings(database_path=tmp_path / "cw.db", **detoxify_checkpoint.settings_kwargs())


@pytest.fixture
def toxic(detoxify_checkpoint) -> str:
    return f"hello you are a {detoxify_checkpoint.toxic_word}"


def make_bot(settings: Settings):
    return create_bot(settings, guild_ready_timeout=0.05)


async def review_on(bot, world) -> None:
    await bot.store.guilds.update(world.guild.id, review_channel_id=world.review.id)


async def wait_card(fake: FakeDiscord, world, count: int = 1) -> Message:
    """The `count`-th review card, once posted."""
    cards = await fake.wait_until(
        lambda: [m for m in fake.messages(world.review) if m.embeds][count - 1 :] or None
    )
    return cards[0]


def case_of(card: Message) -> int:
    return int(card.embeds[0]["title"].split("#")[1].split()[0])


def field(card: Message, name: str) -> str:
    return next(f["value"] for f in card.embeds[0]["fields"] if f["name"] == name)


def custom_id(world, case_number: int, decision: str) -> str:
    return f"cw:card:{world.guild.id}:{case_number}:{decision}"


def button_states(card: Message) -> dict[str, bool]:
    return {
        b["custom_id"].rsplit(":", 1)[1]: b.get("disabled", False)
        for row in card.components
        for b in row["components"]
    }


async def decide(
    fake: FakeDiscord,
    world,
    card: Message,
    case_number: int,
    decision: str,
    fields: dict[str, str],
    user=None,
):
    clicked = await fake.click_button(
        card, custom_id(world, case_number, decision), user=user or world.moderator
    )
    assert clicked.modal is not None, clicked.content
    return await fake.submit_modal(clicked, fields, user=user or world.moderator)


def live_card(fake: FakeDiscord, world, card: Message) -> Message:
    return next(m for m in fake.messages(world.review) if m.id == card.id)


# Flags and review cards


async def test_flagged_message_gets_an_explained_card_and_remove_deletes_it(
    fake_discord, discord_world, bot_runner, settings, toxic
):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)
        sent = await fake_discord.send_message(w.general, w.member, f"{toxic} @everyone")
        card = await wait_card(fake_discord, w)
        embed = card.embeds[0]
        assert embed["title"].startswith("Flag #1") and "shadow" in embed["title"]
        assert "@everyone" not in embed["description"] and "hello you are a" in embed["description"]
        assert "member-max" in field(card, "Author")
        assert str(w.general.id) in field(card, "Where")
        assert str(sent.id) in field(card, "Link")
        assert "toxicity" in field(card, "Crossed") and "≥ 0.80" in field(card, "Crossed")
        assert "threshold" in field(card, "Why")
        assert "█" in field(card, "Scores")
        assert card.mention_everyone is False and not card.mention_user_ids
        assert button_states(card) == {
            "approve": False,
            "remove": False,
            "warn": False,
            "timeout": False,
            "ban": False,
        }

        stale = copy.deepcopy(card)  # what a second moderator's client still shows
        second = await fake_discord.click_button(card, custom_id(w, 1, "approve"), user=w.owner)
        answer = await decide(fake_discord, w, card, 1, "remove", {"reason": "rude to a member"})
        assert answer.ephemeral
        assert fake_discord.state.message_index[sent.id].deleted
        removal = (await bot.store.cases.query(w.guild.id, CaseFilter(action="remove")))[0]
        assert removal.moderator_id == w.moderator.user.id and removal.reason == "rude to a member"
        assert removal.ref_case == 1 and removal.target_id == str(w.member.user.id)
        updated = live_card(fake_discord, w, card)
        assert "Removed by mod-mia" in field(updated, "Decision")
        assert all(button_states(updated).values())

        late = await fake_discord.submit_modal(second, {}, user=w.owner)
        assert late.ephemeral and "Already done: Removed by mod-mia" in late.content
        again = await fake_discord.click_button(stale, custom_id(w, 1, "approve"), user=w.moderator)
        assert again.modal is None and again.ephemeral and "Already done" in again.content
        assert await bot.store.cases.count(w.guild.id, ALL) == 2  # the flag and the removal, nothing more


async def test_approve_logs_a_false_positive(fake_discord, discord_world, bot_runner, settings, toxic):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)
        sent = await fake_discord.send_message(w.general, w.member, toxic)
        card = await wait_card(fake_discord, w)
        await decide(fake_discord, w, card, 1, "approve", {})
        approval = (await bot.store.cases.query(w.guild.id, CaseFilter(action="approve")))[0]
        assert approval.reason == "false positive" and approval.ref_case == 1
        assert not fake_discord.state.message_index[sent.id].deleted
        assert await bot.store.cases.decided_flags(w.guild.id, ["approve"]) == [(approval.scores, "approve")]


async def test_timeout_button_times_the_member_out_for_the_given_duration(
    fake_discord, discord_world, bot_runner, settings, toxic
):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)
        await fake_discord.send_message(w.general, w.member, toxic)
        card = await wait_card(fake_discord, w)
        before = time.time()
        await decide(fake_discord, w, card, 1, "timeout", {"reason": "cool off", "duration": "10m"})
        until = fake_discord.state.guilds[w.guild.id].members[w.member.user.id].communication_disabled_until
        assert until is not None
        case = (await bot.store.cases.query(w.guild.id, CaseFilter(action="timeout")))[0]
        assert case.duration_seconds == 600 and case.moderator_id == w.moderator.user.id
        patch = next(r for r in fake_discord.requests if r.method == "PATCH" and "/members/" in r.path)
        assert patch.status < 300
        seconds = datetime.fromisoformat(until).timestamp() - before
        assert 590 < seconds < 620
        # The bot's own timeout comes back through the audit log and is not logged twice.
        await fake_discord.send_message(w.general, w.member, "hello")  # let the audit event arrive first
        await fake_discord.wait_until(lambda: fake_discord.state.guilds[w.guild.id].audit_log)
        assert await bot.store.cases.count(w.guild.id, CaseFilter(action="timeout")) == 1


async def test_bad_duration_is_refused_and_the_card_stays_open(
    fake_discord, discord_world, bot_runner, settings, toxic
):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)
        await fake_discord.send_message(w.general, w.member, toxic)
        card = await wait_card(fake_discord, w)
        answer = await decide(fake_discord, w, card, 1, "timeout", {"reason": "x", "duration": "forever"})
        assert answer.ephemeral and "not a duration" in answer.content
        assert (await bot.store.cases.card(w.guild.id, 1)).decision is None


async def test_ban_button_bans(fake_discord, discord_world, bot_runner, settings, toxic):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)
        await fake_discord.send_message(w.general, w.member, toxic)
        card = await wait_card(fake_discord, w)
        await decide(fake_discord, w, card, 1, "ban", {"reason": "spam account"})
        bans = fake_discord.state.guilds[w.guild.id].bans
        assert w.member.user.id in bans and "spam account" in bans[w.member.user.id]["reason"]
        assert await bot.store.cases.count(w.guild.id, CaseFilter(action="ban")) == 1


async def test_warn_adds_points_and_crossing_the_limit_times_out(
    fake_discord, discord_world, bot_runner, settings, toxic
):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)
        await bot.store.guilds.update(
            w.guild.id, warn_point_limit=3, warn_timeout_minutes=30, shadow_mode=False
        )
        answer = await fake_discord.invoke_slash(
            "warn", {"member": w.member, "reason": "first", "points": 1}, user=w.moderator, channel=w.general
        )
        assert "active points: 1" in answer.content
        member = fake_discord.state.guilds[w.guild.id].members[w.member.user.id]
        assert member.communication_disabled_until is None

        await fake_discord.send_message(w.general, w.member, toxic)
        card = await wait_card(fake_discord, w)
        answer = await decide(
            fake_discord, w, card, case_of(card), "warn", {"reason": "second", "points": "2"}
        )
        assert "limit was crossed" in answer.content
        assert member.communication_disabled_until is not None
        warns = await bot.store.cases.warnings(w.guild.id, str(w.member.user.id))
        assert [c.points for c in warns] == [2, 1] and warns[0].expires_at is not None
        timeout = (await bot.store.cases.query(w.guild.id, CaseFilter(action="timeout")))[0]
        assert timeout.moderator_name == "auto" and timeout.ref_case == warns[0].case_number
        assert timeout.duration_seconds == 1800

        listed = await fake_discord.invoke_slash(
            "warnings", {"member": w.member}, user=w.moderator, channel=w.general
        )
        assert "Active points: **3** / 3" in listed.embeds[0]["description"]
        assert "expires <t:" in listed.embeds[0]["description"]


async def test_non_moderator_cannot_use_card_buttons_or_submit_the_modal(
    fake_discord, discord_world, bot_runner, settings, toxic
):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)
        sent = await fake_discord.send_message(w.general, w.member, toxic)
        card = await wait_card(fake_discord, w)
        for decision in ("approve", "remove", "warn", "timeout", "ban"):
            refused = await fake_discord.click_button(card, custom_id(w, 1, decision), user=w.member)
            assert refused.modal is None and refused.ephemeral and "Only moderators" in refused.content
        opened = await fake_discord.click_button(card, custom_id(w, 1, "remove"), user=w.moderator)
        refused = await fake_discord.submit_modal(opened, {"reason": "x"}, user=w.member)
        assert refused.ephemeral and "Only moderators" in refused.content
        assert not fake_discord.state.message_index[sent.id].deleted
        assert await bot.store.cases.count(w.guild.id, ALL) == 1  # only the flag


async def test_old_card_buttons_work_after_a_restart(
    fake_discord, discord_world, bot_runner, settings, toxic
):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)
        sent = await fake_discord.send_message(w.general, w.member, toxic)
        card = await wait_card(fake_discord, w)
    async with bot_runner(make_bot(settings)) as bot:
        await decide(fake_discord, w, card, 1, "remove", {"reason": "after restart"})
        assert fake_discord.state.message_index[sent.id].deleted
        assert "Removed by" in field(live_card(fake_discord, w, card), "Decision")
        assert await bot.store.cases.count(w.guild.id, CaseFilter(action="remove")) == 1


# Thresholds, shadow mode and automatic action


async def test_thresholds_set_by_command_apply_to_the_next_message(
    fake_discord, discord_world, bot_runner, settings
):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)
        await fake_discord.send_message(w.general, w.member, "hello nice article")
        await _wait_scores(bot, 1)
        bad = await fake_discord.invoke_slash(
            "thresholds set", {"label": "no_such_label", "flag": 0.5}, user=w.moderator, channel=w.general
        )
        assert "no label" in bad.content
        worse = await fake_discord.invoke_slash(
            "thresholds set",
            {"label": "threat", "flag": 0.5, "act": 0.4},
            user=w.moderator,
            channel=w.general,
        )
        assert "at least the flag level" in worse.content
        ok = await fake_discord.invoke_slash(
            "thresholds set",
            {"label": "threat", "flag": 0.0, "channel": w.general},
            user=w.moderator,
            channel=w.general,
        )
        assert ok.ephemeral and "flag 0.00" in ok.content
        shown = await fake_discord.invoke_slash(
            "thresholds show", {"channel": w.general}, user=w.moderator, channel=w.general
        )
        assert "threat            0.00   off   channel" in shown.content
        assert not [m for m in fake_discord.messages(w.review) if m.embeds]  # the first message was clean
        await fake_discord.send_message(w.general, w.member, "hello nice article")
        card = await wait_card(fake_discord, w)
        assert "threat" in field(card, "Crossed")
        # The override is for #general only.
        await fake_discord.send_message(w.review, w.member, "hello nice article")
        await fake_discord.send_message(w.general, w.member, "thanks good read")
        await wait_card(fake_discord, w, 2)
        flagged = await bot.store.cases.query(w.guild.id, CaseFilter(action="flag"))
        assert {c.channel_id for c in flagged} == {w.general.id}

        reset = await fake_discord.invoke_slash(
            "thresholds reset", {"label": "threat", "channel": w.general}, user=w.moderator, channel=w.general
        )
        assert "back to flag 0.60" in reset.content
        await fake_discord.send_message(w.general, w.member, "thanks good read")
        await _wait_scores(bot, 5)
        assert len(await bot.store.cases.query(w.guild.id, CaseFilter(action="flag"))) == 2


async def test_shadow_mode_never_acts_and_act_level_removes_once_shadow_is_off(
    fake_discord, discord_world, bot_runner, settings, toxic
):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)
        await fake_discord.invoke_slash(
            "thresholds set",
            {"label": "toxicity", "flag": 0.5, "act": 0.6},
            user=w.moderator,
            channel=w.general,
        )
        kept = await fake_discord.send_message(w.general, w.member, toxic)
        card = await wait_card(fake_discord, w)
        assert "shadow" in card.embeds[0]["title"]
        assert not fake_discord.state.message_index[kept.id].deleted
        assert await bot.store.cases.count(w.guild.id, CaseFilter(action="remove")) == 0

        turned = await fake_discord.invoke_slash(
            "config shadow", {"state": "off"}, user=w.owner, channel=w.general
        )
        assert "Shadow mode is off" in turned.content
        await fake_discord.invoke_slash("config act-timeout", {"minutes": 5}, user=w.owner, channel=w.general)
        removed = await fake_discord.send_message(w.general, w.member, toxic + " again")
        card = await wait_card(fake_discord, w, 2)
        assert fake_discord.state.message_index[removed.id].deleted
        assert "Message deleted" in field(card, "Automatic action") and "timed out" in field(
            card, "Automatic action"
        )
        assert all(button_states(card).values())
        auto = (await bot.store.cases.query(w.guild.id, CaseFilter(action="remove")))[0]
        assert (
            auto.moderator_name == "auto" and auto.ref_case == case_of(card) and auto.message_id == removed.id
        )
        assert fake_discord.state.guilds[w.guild.id].members[w.member.user.id].communication_disabled_until
        assert await bot.store.cases.count(w.guild.id, CaseFilter(action="timeout")) == 1


async def test_edited_message_is_rescored(fake_discord, discord_world, bot_runner, settings, toxic):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)
        sent = await fake_discord.send_message(w.general, w.member, "hello nice article")
        await _wait_scores(bot, 1)
        await fake_discord.edit_message(sent, toxic)
        card = await wait_card(fake_discord, w)
        assert "toxicword" in card.embeds[0]["description"]
        rows = await bot.store.db.fetchall(
            "SELECT flagged FROM message_scores WHERE message_id = ?", (sent.id,)
        )
        assert sorted(r[0] for r in rows) == [0, 1]


async def test_a_burst_is_scored_in_batches(fake_discord, discord_world, bot_runner, settings):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        watcher = bot.get_cog("Watcher")
        watcher.batcher.window = 0.5  # generous, so the burst lands in one window on a slow machine
        calls: list[int] = []
        score = bot.scorer.score

        async def counting(texts):
            calls.append(len(texts))
            return await score(texts)

        bot.scorer.score = counting
        for i in range(8):
            await fake_discord.send_message(w.general, w.member, f"hello comment {i}")
        assert len(await _wait_scores(bot, 8)) == 8
        assert sum(calls) == 8 and len(calls) < 8


async def test_bot_and_webhook_messages_and_automod_alerts_are_not_scored(
    fake_discord, discord_world, bot_runner, settings, toxic
):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)
        other_bot = fake_discord.create_member(w.guild, "other-bot", bot=True)
        await fake_discord.send_message(w.general, other_bot, toxic)
        alert = Message(
            id=fake_discord.state.ids.next(),
            channel_id=w.general.id,
            guild_id=w.guild.id,
            author=w.member.user,
            author_member=w.member,
            content=toxic,
            type=24,
            embeds=[{"type": "auto_moderation_message", "description": toxic, "fields": []}],
        )
        fake_discord.publish(alert)
        marker = await fake_discord.send_message(w.general, w.member, "hello nice article")
        scored = await _wait_scores(bot, 1)
        assert [r["message_id"] for r in scored] == [marker.id]
        assert await bot.store.cases.count(w.guild.id, ALL) == 0


async def _wait_scores(bot, count: int) -> list:
    import asyncio

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        rows = await bot.store.db.fetchall("SELECT message_id FROM message_scores ORDER BY id")
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.02)
    raise TimeoutError(f"fewer than {count} scores stored")


# AutoMod and actions outside the bot


async def test_automod_execution_becomes_a_case(fake_discord, discord_world, bot_runner, settings):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        data = {
            "guild_id": str(w.guild.id),
            "action": {"type": 1, "metadata": {}},
            "rule_id": "4242",
            "rule_trigger_type": 1,
            "user_id": str(w.member.user.id),
            "channel_id": str(w.general.id),
            "content": "buy cheap stuff",
            "matched_keyword": "cheap",
            "matched_content": "cheap",
        }
        await fake_discord.dispatch("AUTO_MODERATION_ACTION_EXECUTION", data)
        await fake_discord.dispatch("AUTO_MODERATION_ACTION_EXECUTION", data)  # a replay after a resume
        case = await _wait_case(bot, w.guild.id, "automod")
        assert case.target_id == str(w.member.user.id) and case.moderator_name == "AutoMod"
        assert "4242" in case.reason and "block_message" in case.reason and "cheap" in case.reason
        assert await bot.store.cases.count(w.guild.id, CaseFilter(action="automod")) == 1


async def test_ban_by_a_human_in_the_audit_log_becomes_a_case(
    fake_discord, discord_world, bot_runner, settings
):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        fake_discord.state.guilds[w.guild.id].bans[w.member.user.id] = {
            "reason": "raid",
            "delete_message_seconds": 0,
        }
        fake_discord.audit(
            w.guild, AUDIT_MEMBER_BAN_ADD, w.member.user.id, "raid", user_id=w.moderator.user.id
        )
        case = await _wait_case(bot, w.guild.id, "ban")
        assert case.moderator_id == w.moderator.user.id and case.reason == "raid"
        assert case.target_id == str(w.member.user.id)
        # One by the bot itself is not logged again (it logged its own case when it acted).
        fake_discord.audit(w.guild, AUDIT_MEMBER_BAN_ADD, w.owner.user.id, "by the bot")
        fake_discord.audit(
            w.guild, AUDIT_MEMBER_BAN_ADD, w.owner.user.id, "marker", user_id=w.moderator.user.id
        )
        await _wait_count(bot, w.guild.id, CaseFilter(action="ban"), 2)
        reasons = [c.reason for c in await bot.store.cases.query(w.guild.id, CaseFilter(action="ban"))]
        assert reasons == ["marker", "raid"]


async def _wait_case(bot, guild_id: int, action: str):
    await _wait_count(bot, guild_id, CaseFilter(action=action), 1)
    return (await bot.store.cases.query(guild_id, CaseFilter(action=action)))[0]


async def _wait_count(bot, guild_id: int, flt: CaseFilter, count: int) -> None:
    import asyncio

    deadline = time.monotonic() + 5
    while await bot.store.cases.count(guild_id, flt) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} cases matching {flt}")
        await asyncio.sleep(0.02)


# Mirrored comments


def thread_file(tmp_path, comments: list[tuple[str, str, str]]):
    path = tmp_path / "thread.json"
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
                "comments": [
                    {
                        "id": cid,
                        "parent": None,
                        "author": author,
                        "date": "2026-01-02T11:00:00Z",
                        "text": text,
                        "url": f"https://news.example/a1#{cid}",
                        "avatar_url": None,
                    }
                    for cid, author, text in comments
                ],
            }
        )
    )
    return path


async def test_flagged_mirrored_comment_gets_a_card_and_remove_takes_it_out_of_discord(
    fake_discord, discord_world, bot_runner, settings, toxic, tmp_path
):
    w = discord_world
    path = thread_file(tmp_path, [("c1", "Kind Reader", "hello nice article"), ("c2", "Rude Reader", toxic)])
    async with bot_runner(make_bot(replace(settings, poll_interval=3600, allow_private_urls=True))) as bot:
        await review_on(bot, w)
        added = await fake_discord.invoke_slash(
            "mirror add", {"url": str(path), "channel": w.forum}, user=w.moderator, channel=w.general
        )
        assert "Mirroring source #" in added.content, added.content
        card = await wait_card(fake_discord, w)
        assert field(card, "Author") == "Rude Reader"
        assert "Garden news" in field(card, "Where")
        assert set(button_states(card)) == {"approve", "remove"}  # a site author is not a member
        flag = await bot.store.cases.get(w.guild.id, case_of(card))
        assert flag.target_kind == "comment" and flag.target_name == "Rude Reader"
        mirrored_message = fake_discord.state.message_index[flag.message_id]
        assert mirrored_message.webhook_id is not None

        answer = await decide(fake_discord, w, card, flag.case_number, "remove", {"reason": "insult"})
        assert "can only act in Discord" in answer.content  # a thread file has no write-back
        row = await bot.store.mirror.comment_row(int(flag.target_id))
        assert row.status == "removed" and row.removed_by == "moderator"
        shown = json.dumps(fake_discord.state.message_index[flag.message_id].embeds)
        assert "toxicword" not in shown and "removed by a moderator" in shown  # the guild's "mark" mode
        history = await fake_discord.invoke_slash(
            "history", {"author": "Rude Reader"}, user=w.moderator, channel=w.general
        )
        text = history.embeds[0]["description"]
        assert "`flag`" in text and "`remove`" in text and "Recent scores: toxicity" in text


# Commands: refusal for non-moderators, one test per command


COMMANDS: list[tuple[str, object]] = [
    ("flags", lambda w: {}),
    ("case show", lambda w: {"number": 1}),
    ("case reason", lambda w: {"number": 1, "reason": "sneaky"}),
    ("history", lambda w: {"member": w.member}),
    ("modlog show", lambda w: {}),
    ("modlog export", lambda w: {}),
    ("warn", lambda w: {"member": w.owner, "reason": "nope"}),
    ("warnings", lambda w: {"member": w.member}),
    ("thresholds show", lambda w: {}),
    ("thresholds set", lambda w: {"label": "insult", "flag": 0.1}),
    ("thresholds reset", lambda w: {"label": "insult"}),
    ("stats", lambda w: {}),
    ("tune", lambda w: {}),
    ("toxicity", lambda w: {"text": "hello"}),
]
CONFIG_COMMANDS: list[tuple[str, object]] = [
    ("config show", lambda w: {}),
    ("config review-channel", lambda w: {"channel": w.general}),
    ("config shadow", lambda w: {"state": "off"}),
    ("config modrole add", lambda w: {"role": w.bot_role}),
    ("config modrole remove", lambda w: {"role": w.moderator_role}),
    ("config watch add", lambda w: {"channel": w.general}),
    ("config watch all", lambda w: {}),
    ("config warnings", lambda w: {"limit": 1}),
    ("config act-timeout", lambda w: {"minutes": 5}),
    ("config removed-comments", lambda w: {"mode": "delete"}),
]


def allow_everyone(fake: FakeDiscord, command: str) -> None:
    """What a server admin's override in Server Settings → Integrations does: show a command to everyone."""
    top = command.split()[0]
    for commands in fake.state.commands.values():
        for synced in commands:
            if synced["name"] == top:
                synced["default_member_permissions"] = None


async def _state(bot, guild_id: int) -> tuple:
    settings = await bot.store.guilds.get(guild_id)
    return await bot.store.cases.count(guild_id, ALL), settings


@pytest.mark.parametrize(("command", "options"), COMMANDS, ids=[c for c, _ in COMMANDS])
async def test_non_moderator_is_refused(fake_discord, discord_world, bot_runner, settings, command, options):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await bot.store.cases.add(
            NewCase(
                guild_id=w.guild.id,
                action="flag",
                target_kind="member",
                target_id=str(w.member.user.id),
                reason="seed",
            )
        )
        before = await _state(bot, w.guild.id)
        with pytest.raises(PermissionError):  # default_member_permissions hides it from members
            await fake_discord.invoke_slash(command, options(w), user=w.member, channel=w.general)
        allow_everyone(fake_discord, command)  # a server admin may show it to everyone; the bot checks anyway
        answer = await fake_discord.invoke_slash(command, options(w), user=w.member, channel=w.general)
        assert answer.ephemeral and "Only moderators" in answer.content
        assert not answer.attachments and not answer.followups
        assert await _state(bot, w.guild.id) == before
        assert (
            fake_discord.state.guilds[w.guild.id].members[w.owner.user.id].communication_disabled_until
            is None
        )


@pytest.mark.parametrize(("command", "options"), CONFIG_COMMANDS, ids=[c for c, _ in CONFIG_COMMANDS])
async def test_config_is_refused_to_non_moderators_even_with_manage_server(
    fake_discord, discord_world, bot_runner, settings, command, options
):
    w = discord_world
    admin_role = fake_discord.create_role(w.guild, "Server managers", int(Perm.MANAGE_GUILD))
    manager = fake_discord.create_member(w.guild, "manager-no-mod", roles=[admin_role])
    async with bot_runner(make_bot(settings)) as bot:
        before = await _state(bot, w.guild.id)
        with pytest.raises(PermissionError):  # Discord hides /config from members without Manage Server
            await fake_discord.invoke_slash(command, options(w), user=w.member, channel=w.general)
        answer = await fake_discord.invoke_slash(command, options(w), user=manager, channel=w.general)
        assert answer.ephemeral and "Only moderators" in answer.content
        with pytest.raises(PermissionError):  # a moderator without Manage Server does not see it either
            await fake_discord.invoke_slash(command, options(w), user=w.moderator, channel=w.general)
        assert await _state(bot, w.guild.id) == before


# Commands answering from seeded data

JIGSAW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "jigsaw-sample" / "train.csv"


def jigsaw_decisions() -> list[tuple[dict[str, float], str]]:
    """Moderator decisions seeded from real labels: a human-labelled toxic comment was removed, the rest
    approved. Scores are synthetic but follow the label, as a useful model's would."""
    rows = list(csv.DictReader(JIGSAW.open(encoding="utf-8")))
    out = []
    for i, row in enumerate(rows):
        toxic = row["toxic"] == "1"
        score = 0.55 + (i % 40) / 100 if toxic else 0.3 + (i % 50) / 100
        out.append(({"insult": score, "toxicity": score / 2}, "remove" if toxic else "approve"))
    return out


async def seed_decisions(bot, guild_id: int, moderator_id: int) -> list[tuple[dict[str, float], str]]:
    decisions = jigsaw_decisions()
    flags = await bot.store.cases.add_many(
        [
            NewCase(
                guild_id=guild_id,
                action="flag",
                target_kind="member",
                target_id=str(1000 + i),
                scores=scores,
                label="insult",
                score=scores["insult"],
                channel_id=4242,
            )
            for i, (scores, _) in enumerate(decisions)
        ]
    )
    for flag, (_, decision) in zip(flags, decisions, strict=True):
        await bot.store.cases.set_card(guild_id, flag.case_number, None, None)
        assert await bot.store.cases.decide(guild_id, flag.case_number, decision, moderator_id, "mod-mia")
    return decisions


async def test_tune_shows_per_level_counts_from_moderator_decisions(
    fake_discord, discord_world, bot_runner, settings
):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        empty = await fake_discord.invoke_slash("tune", user=w.moderator, channel=w.general)
        assert "No decided flags yet" in empty.content
        decisions = await seed_decisions(bot, w.guild.id, w.moderator.user.id)
        answer = await fake_discord.invoke_slash("tune", user=w.moderator, channel=w.general)
        embed = answer.embeds[0]
        confirmed = sum(d == "remove" for _, d in decisions)
        assert f"From {len(decisions)} decided flags: {confirmed} confirmed" in embed["description"]
        table = next(f["value"] for f in embed["fields"] if f["name"] == "insult")
        line = next(ln for ln in table.splitlines() if ln.startswith(" 0.70"))
        flags = [d for s, d in decisions if s["insult"] >= 0.70]
        removed = sum(d == "remove" for d in flags)
        assert line.split()[:3] == ["0.70", str(len(flags)), str(removed)]
        assert f"{removed / len(flags):5.2f}".strip() in line.split()
        assert "◀" in next(
            ln for ln in table.splitlines() if ln.startswith(" 0.60")
        )  # the default insult level
        one = await fake_discord.invoke_slash(
            "tune", {"label": "insult"}, user=w.moderator, channel=w.general
        )
        assert [f["name"] for f in one.embeds[0]["fields"]] == ["insult"]


async def test_stats_sends_a_real_png_chart(fake_discord, discord_world, bot_runner, settings, toxic):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)
        await fake_discord.send_message(w.general, w.member, "hello nice article")
        await fake_discord.send_message(w.general, w.member, toxic)
        card = await wait_card(fake_discord, w)
        await decide(fake_discord, w, card, case_of(card), "remove", {"reason": "rude"})
        answer = await fake_discord.invoke_slash("stats", {"days": 7}, user=w.moderator, channel=w.general)
        assert answer.ephemeral
        assert "2 scored, 1 flagged, 1 actioned" in answer.content
        assert "general (1)" in answer.content
        png = answer.attachments[0].data
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        image = PIL.Image.open(io.BytesIO(png))
        image.load()  # decodes every pixel: a truncated or corrupt file fails here
        assert image.size == SIZE


async def test_history_modlog_and_case_answer_from_the_log(fake_discord, discord_world, bot_runner, settings):
    w = discord_world
    member_id = str(w.member.user.id)
    async with bot_runner(make_bot(settings)) as bot:
        for i in range(10):
            await bot.store.cases.add(
                NewCase(
                    guild_id=w.guild.id,
                    action="warn" if i % 2 else "flag",
                    target_kind="member",
                    target_id=member_id,
                    target_name="member-max",
                    moderator_id=w.moderator.user.id if i % 2 else None,
                    moderator_name="mod-mia" if i % 2 else "auto",
                    reason=f"reason {i}",
                    points=1 if i % 2 else None,
                )
            )
        await bot.store.cases.add(
            NewCase(
                guild_id=w.guild.id,
                action="ban",
                target_kind="member",
                target_id="77",
                target_name="someone-else",
                moderator_id=w.owner.user.id,
                moderator_name="owner",
                reason="raid",
            )
        )
        await bot.store.scores.add_many(
            [MessageScore(w.guild.id, w.general.id, 5, w.member.user.id, {"insult": 0.42}, "insult", 0.42)]
        )

        history = await fake_discord.invoke_slash(
            "history", {"member": w.member}, user=w.moderator, channel=w.general
        )
        page1 = history.embeds[0]
        assert "10 cases" in page1["title"] and "page 1/2" in page1["footer"]["text"]
        assert (
            "Active warning points: **5**" in page1["description"] and "insult 0.42" in page1["description"]
        )
        assert "reason 9" in page1["description"] and "someone-else" not in page1["description"]
        nxt = next(
            b["custom_id"]
            for row in history.message.components
            for b in row["components"]
            if b.get("label") == "Next"
        )
        turned = await fake_discord.click_button(history.message, nxt, user=w.moderator)
        page2 = turned.message.embeds[0]
        assert "page 2/2" in page2["footer"]["text"] and "reason 0" in page2["description"]
        prev = next(
            b["custom_id"]
            for row in history.message.components
            for b in row["components"]
            if b.get("label") == "Previous"
        )
        other = await fake_discord.click_button(history.message, prev, user=w.owner)
        assert other.ephemeral and "Only the moderator who asked" in other.content

        log = await fake_discord.invoke_slash(
            "modlog show", {"action": "ban"}, user=w.moderator, channel=w.general
        )
        assert "1 cases" in log.embeds[0]["title"] and "someone-else" in log.embeds[0]["description"]
        by = await fake_discord.invoke_slash(
            "modlog show", {"moderator": w.moderator, "since": "7d"}, user=w.moderator, channel=w.general
        )
        assert "5 cases" in by.embeds[0]["title"]
        bad = await fake_discord.invoke_slash(
            "modlog show", {"since": "last tuesday"}, user=w.moderator, channel=w.general
        )
        assert "not a date or an age" in bad.content

        exported = await fake_discord.invoke_slash(
            "modlog export", {"member": w.member}, user=w.moderator, channel=w.general
        )
        rows = list(csv.DictReader(io.StringIO(exported.attachments[0].data.decode("utf-8"))))
        assert len(rows) == 10 and {r["target_id"] for r in rows} == {member_id}

        amended = await fake_discord.invoke_slash(
            "case reason", {"number": 11, "reason": "raid, confirmed"}, user=w.moderator, channel=w.general
        )
        assert "logged as case #12" in amended.content
        shown = await fake_discord.invoke_slash(
            "case show", {"number": 11}, user=w.moderator, channel=w.general
        )
        fields = {f["name"]: f["value"] for f in shown.embeds[0]["fields"]}
        assert fields["Action"] == "ban" and fields["Reason"] == "raid"  # the original row is never changed
        assert "raid, confirmed" in fields["Corrections"] and "#12" in fields["Corrections"]
        missing = await fake_discord.invoke_slash(
            "case show", {"number": 99}, user=w.moderator, channel=w.general
        )
        assert "no case #99" in missing.content


async def test_flags_queue_lists_open_cards(fake_discord, discord_world, bot_runner, settings, toxic):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)
        await fake_discord.send_message(w.general, w.member, toxic)
        await fake_discord.send_message(w.general, w.member, toxic + " again")
        first = await wait_card(fake_discord, w)
        await wait_card(fake_discord, w, 2)
        await decide(fake_discord, w, first, case_of(first), "approve", {})
        queue = await fake_discord.invoke_slash("flags", user=w.moderator, channel=w.general)
        assert "Flags (open): 1" in queue.embeds[0]["title"]
        done = await fake_discord.invoke_slash(
            "flags", {"status": "decided"}, user=w.moderator, channel=w.general
        )
        assert f"#{case_of(first)}" in done.embeds[0]["description"]


async def test_config_commands(fake_discord, discord_world, bot_runner, settings, toxic):
    w = discord_world
    hidden = fake_discord.create_text_channel(
        w.guild,
        "no-bot",
        overwrites=[
            {"id": str(w.bot_role.id), "type": 0, "allow": "0", "deny": str(int(Perm.SEND_MESSAGES))}
        ],
    )
    helpers = fake_discord.create_role(w.guild, "Helpers", 0)
    helper = fake_discord.create_member(w.guild, "helper-hal", roles=[helpers])
    async with bot_runner(make_bot(settings)) as bot:
        shown = await fake_discord.invoke_slash("config show", user=w.owner, channel=w.general)
        assert "not set" in shown.content and "Shadow mode:** on" in shown.content
        assert fake_discord.token not in shown.content
        refused = await fake_discord.invoke_slash(
            "config review-channel", {"channel": hidden}, user=w.owner, channel=w.general
        )
        assert "I cannot post cards" in refused.content and "Send Messages" in refused.content
        ok = await fake_discord.invoke_slash(
            "config review-channel", {"channel": w.review}, user=w.owner, channel=w.general
        )
        assert "Review cards go to" in ok.content
        assert (await bot.store.guilds.get(w.guild.id)).review_channel_id == w.review.id

        with pytest.raises(PermissionError):  # hidden by default from members without Manage Messages
            await fake_discord.invoke_slash("flags", user=helper, channel=w.general)
        allow_everyone(fake_discord, "flags")  # the server shows it to the helpers' role (here: to everyone)
        before = await fake_discord.invoke_slash("flags", user=helper, channel=w.general)
        assert "Only moderators" in before.content
        await fake_discord.invoke_slash(
            "config modrole add", {"role": helpers}, user=w.owner, channel=w.general
        )
        after = await fake_discord.invoke_slash("flags", user=helper, channel=w.general)
        assert "Flags (open)" in after.embeds[0]["title"]
        await fake_discord.send_message(w.general, w.member, toxic)
        card = await wait_card(fake_discord, w)
        await decide(fake_discord, w, card, case_of(card), "approve", {}, user=helper)
        assert "Approved" in field(live_card(fake_discord, w, card), "Decision")
        await fake_discord.invoke_slash(
            "config modrole remove", {"role": helpers}, user=w.owner, channel=w.general
        )
        again = await fake_discord.invoke_slash("flags", user=helper, channel=w.general)
        assert "Only moderators" in again.content

        limits = await fake_discord.invoke_slash(
            "config warnings",
            {"limit": 5, "expiry_days": 10, "action": "kick"},
            user=w.owner,
            channel=w.general,
        )
        assert "5 points within 10 days → kick" in limits.content
        stored = await bot.store.guilds.get(w.guild.id)
        assert (stored.warn_point_limit, stored.warn_expiry_days, stored.warn_action) == (5, 10, "kick")

        removed = await fake_discord.invoke_slash(
            "config removed-comments", {"mode": "delete"}, user=w.owner, channel=w.general
        )
        assert "deleted" in removed.content
        assert (await bot.store.guilds.get(w.guild.id)).removed_comment_mode == "delete"
        shown = await fake_discord.invoke_slash("config show", user=w.owner, channel=w.general)
        assert "removed on the site:** deleted" in shown.content


async def test_missing_bot_permission_is_one_actionable_line_and_the_card_stays_open(
    fake_discord, discord_world, bot_runner, settings, toxic
):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)
        await fake_discord.send_message(w.general, w.member, toxic)
        card = await wait_card(fake_discord, w)
        fake_discord.set_bot_permissions(w.guild, int(BOT_DEFAULT & ~Perm.BAN_MEMBERS))
        await fake_discord.wait_until(lambda: not bot.get_guild(w.guild.id).me.guild_permissions.ban_members)
        answer = await decide(fake_discord, w, card, 1, "ban", {"reason": "spam"})
        assert answer.ephemeral and "Ban Members" in answer.content and "still open" in answer.content
        assert "\n" not in answer.content
        assert w.member.user.id not in fake_discord.state.guilds[w.guild.id].bans
        assert await bot.store.cases.count(w.guild.id, CaseFilter(action="ban")) == 0
        assert (await bot.store.cases.card(w.guild.id, 1)).decision is None
        fake_discord.set_bot_permissions(w.guild, int(BOT_DEFAULT))
        await fake_discord.wait_until(lambda: bot.get_guild(w.guild.id).me.guild_permissions.ban_members)
        await decide(fake_discord, w, card, 1, "ban", {"reason": "spam"})
        assert w.member.user.id in fake_discord.state.guilds[w.guild.id].bans


async def test_act_level_without_permission_leaves_the_card_open_and_logs_no_removal(
    fake_discord, discord_world, bot_runner, settings, toxic
):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)
        await bot.store.guilds.update(w.guild.id, shadow_mode=False)
        await bot.store.guilds.set_threshold(w.guild.id, "toxicity", 0.5, 0.6)
        fake_discord.set_bot_permissions(w.guild, int(BOT_DEFAULT & ~Perm.MANAGE_MESSAGES))
        await fake_discord.wait_until(
            lambda: not bot.get_guild(w.guild.id).me.guild_permissions.manage_messages
        )
        sent = await fake_discord.send_message(w.general, w.member, toxic)
        card = await wait_card(fake_discord, w)
        assert "Manage Messages" in field(card, "Automatic action")
        assert not fake_discord.state.message_index[sent.id].deleted
        assert not any(button_states(card).values())
        assert await bot.store.cases.count(w.guild.id, CaseFilter(action="remove")) == 0
