"""Members told and forgiven, Discord-native surfaces, and what the bot shows it knows (issue 12, items 5–7).

The real bot against the loopback fake Discord, with the tiny deterministic Detoxify checkpoint.
"""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.moderation import actions
from bot.moderation.notices import Notice, TemplateError, check_template, render_notice
from bot.store import CaseFilter
from tests.fakediscord import FakeDiscord
from tests.test_moderation_bot import (
    _wait_count,
    _wait_scores,
    case_of,
    decide,
    field,
    make_bot,
    review_on,
    wait_card,
)


@pytest.fixture
def settings(tmp_path, detoxify_checkpoint) -> Settings:
    return Settings(database_path=tmp_path / "cw.db", **detoxify_checkpoint.settings_kwargs())


@pytest.fixture
def toxic(detoxify_checkpoint) -> str:
    return f"hello you are a {detoxify_checkpoint.toxic_word}"


def dms_of(fake: FakeDiscord, member) -> list:
    channel = fake.state.dm_channel(member.user.id)
    return fake.messages(channel) if channel is not None else []


# DMs


async def test_a_warned_member_gets_one_dm_with_reason_server_and_appeal(
    fake_discord, discord_world, bot_runner, settings
):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await fake_discord.invoke_slash(
            "config dm",
            {"state": "on", "appeal": "Appeal at https://example.org/appeal"},
            user=w.owner,
            channel=w.general,
        )
        answer = await fake_discord.invoke_slash(
            "warn",
            {"member": w.member, "reason": "spam links @everyone"},
            user=w.moderator,
            channel=w.general,
        )
        assert "active points: 1" in answer.content
        await fake_discord.wait_until(lambda: dms_of(fake_discord, w.member) or None)
        dms = dms_of(fake_discord, w.member)
        assert len(dms) == 1
        text = dms[0].content
        assert "warned" in text and w.guild.name in text and "spam links" in text
        assert "Appeal at https://example.org/appeal" in text
        assert "@everyone" not in text.replace("@\u200beveryone", "")  # neutralised: never pings
        assert not dms[0].mention_everyone
        assert await bot.store.cases.count(w.guild.id, CaseFilter(action=actions.DM_FAILED)) == 0


async def test_closed_dms_are_noted_on_the_case_and_the_warning_stands(
    fake_discord, discord_world, bot_runner, settings
):
    w = discord_world
    w.member.user.dms_open = False
    async with bot_runner(make_bot(settings)) as bot:
        answer = await fake_discord.invoke_slash(
            "warn", {"member": w.member, "reason": "rude"}, user=w.moderator, channel=w.general
        )
        assert "active points: 1" in answer.content and "wrong" not in answer.content
        note = (await bot.store.cases.query(w.guild.id, CaseFilter(action=actions.DM_FAILED)))[0]
        warn = (await bot.store.cases.query(w.guild.id, CaseFilter(action=actions.WARN)))[0]
        assert note.ref_case == warn.case_number and "DMs are closed" in note.reason


async def test_dm_off_switch_and_template(fake_discord, discord_world, bot_runner, settings):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        bad = await fake_discord.invoke_slash(
            "config dm", {"state": "on", "template": "Hi {name}"}, user=w.owner, channel=w.general
        )
        assert "Unknown placeholder {name}" in bad.content
        ok = await fake_discord.invoke_slash(
            "config dm",
            {"state": "on", "template": "{server}: {action} ({case})"},
            user=w.owner,
            channel=w.general,
        )
        assert "A warning reads" in ok.content
        await fake_discord.invoke_slash(
            "warn", {"member": w.member, "reason": "x"}, user=w.moderator, channel=w.general
        )
        await fake_discord.wait_until(lambda: dms_of(fake_discord, w.member) or None)
        assert dms_of(fake_discord, w.member)[0].content.startswith(f"{w.guild.name}: warned (#1)")
        await fake_discord.invoke_slash("config dm", {"state": "off"}, user=w.owner, channel=w.general)
        await fake_discord.invoke_slash(
            "warn", {"member": w.member, "reason": "y"}, user=w.moderator, channel=w.general
        )
        assert len(dms_of(fake_discord, w.member)) == 1
        assert await bot.store.cases.count(w.guild.id, CaseFilter(action=actions.WARN)) == 2


async def test_timeout_and_ban_from_a_card_tell_the_member(
    fake_discord, discord_world, bot_runner, settings, toxic
):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)
        await fake_discord.send_message(w.general, w.member, toxic)
        card = await wait_card(fake_discord, w)
        await decide(
            fake_discord, w, card, case_of(card), "timeout", {"reason": "cool off", "duration": "10m"}
        )
        await fake_discord.send_message(w.general, w.member, toxic + " again")
        card = await wait_card(fake_discord, w, 2)
        await decide(fake_discord, w, card, case_of(card), "ban", {"reason": "repeat"})
        dms = [m.content for m in dms_of(fake_discord, w.member)]
        assert len(dms) == 2
        assert "timed out for 10m" in dms[0] and "cool off" in dms[0]
        assert "banned" in dms[1] and "repeat" in dms[1]
        assert w.member.user.id in fake_discord.state.guilds[w.guild.id].bans


def test_notice_text_and_template_checks():
    text = render_notice(Notice(actions.TIMEOUT, "Garden <@&1>", "rude", 4, duration_seconds=3600))
    assert "timed out for 1h" in text and "rude" in text and "<@&1>" not in text
    assert "(2 points)" in render_notice(Notice(actions.WARN, "S", None, 1, points=2))
    for broken in ("{", "{0}", "{reason!r:>{x}}", "", "x" * 600):
        with pytest.raises(TemplateError):
            check_template(broken)
    assert check_template("  {server} {reason}  ") == "{server} {reason}"


# /unwarn, /mywarnings


async def test_unwarn_stops_the_points_counting_and_mywarnings_shows_the_rest(
    fake_discord, discord_world, bot_runner, settings
):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await bot.store.guilds.update(w.guild.id, warn_point_limit=3, shadow_mode=False)
        await fake_discord.invoke_slash(
            "warn",
            {"member": w.member, "reason": "in error", "points": 2},
            user=w.moderator,
            channel=w.general,
        )
        await fake_discord.invoke_slash(
            "warn",
            {"member": w.member, "reason": "deserved", "points": 1},
            user=w.moderator,
            channel=w.general,
        )
        member_id = str(w.member.user.id)
        assert await bot.store.cases.active_points(w.guild.id, member_id) == 3
        assert fake_discord.state.guilds[w.guild.id].members[w.member.user.id].communication_disabled_until
        undone = await fake_discord.invoke_slash(
            "unwarn", {"case": 1, "reason": "wrong member"}, user=w.moderator, channel=w.general
        )
        assert "Warning #1 withdrawn" in undone.content and "active points now: 1" in undone.content
        assert await bot.store.cases.active_points(w.guild.id, member_id) == 1
        fix = (await bot.store.cases.query(w.guild.id, CaseFilter(action=actions.UNWARN)))[0]
        assert fix.ref_case == 1 and fix.moderator_id == w.moderator.user.id
        again = await fake_discord.invoke_slash("unwarn", {"case": 1}, user=w.moderator, channel=w.general)
        assert "already withdrawn" in again.content
        not_warn = await fake_discord.invoke_slash("unwarn", {"case": 3}, user=w.moderator, channel=w.general)
        assert "is not a warning" in not_warn.content  # case 3 is the automatic timeout

        # One more point now reaches 2, not 4: the withdrawn warning no longer counts toward the limit.
        answer = await fake_discord.invoke_slash(
            "warn", {"member": w.member, "reason": "third"}, user=w.moderator, channel=w.general
        )
        assert "active points: 2" in answer.content and "limit was crossed" not in answer.content
        listed = await fake_discord.invoke_slash(
            "warnings", {"member": w.member}, user=w.moderator, channel=w.general
        )
        assert "#1** 2 pt · withdrawn" in listed.embeds[0]["description"]

        mine = await fake_discord.invoke_slash("mywarnings", user=w.member, channel=w.general)
        assert mine.ephemeral and "Your active warning points: **2** / 3" in mine.content
        assert "#1**" not in mine.content and "deserved" in mine.content and "mod-mia" not in mine.content


# Shadow mode never logs an automatic action as done


async def test_shadow_mode_logs_what_it_would_have_done(
    fake_discord, discord_world, bot_runner, settings, toxic
):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)  # a new guild is in shadow mode
        await bot.store.guilds.update(w.guild.id, warn_point_limit=1, act_timeout_minutes=5)
        await bot.store.guilds.set_threshold(w.guild.id, "toxicity", 0.5, 0.6)
        answer = await fake_discord.invoke_slash(
            "warn", {"member": w.member, "reason": "over the limit"}, user=w.moderator, channel=w.general
        )
        assert "shadow mode is on, so nothing was done" in answer.content
        sent = await fake_discord.send_message(w.general, w.member, toxic)
        card = await wait_card(fake_discord, w)
        assert "would have removed the message and timed the member out" in field(card, "Automatic action")
        assert not fake_discord.state.message_index[sent.id].deleted
        assert (
            fake_discord.state.guilds[w.guild.id].members[w.member.user.id].communication_disabled_until
            is None
        )
        for done in (actions.TIMEOUT, actions.REMOVE, actions.BAN, actions.KICK):
            assert await bot.store.cases.count(w.guild.id, CaseFilter(action=done)) == 0
        would = {
            c.action: c
            for c in await bot.store.cases.query(w.guild.id, CaseFilter(), limit=20)
            if c.action.startswith("would-")
        }
        assert set(would) == {actions.WOULD_TIMEOUT, actions.WOULD_REMOVE}
        assert all(c.shadow for c in would.values())
        assert would[actions.WOULD_REMOVE].ref_case == case_of(card)
        # Only the warning's DM: nothing that was not done is announced.
        assert len(dms_of(fake_discord, w.member)) == 1


# Discord-native surfaces


async def test_every_moderator_command_is_hidden_by_default(
    fake_discord, discord_world, bot_runner, settings
):
    w = discord_world
    async with bot_runner(make_bot(settings)):
        synced = [c for cs in fake_discord.state.commands.values() for c in cs]
        names = {c["name"] for c in synced}
        assert {
            "flags",
            "warn",
            "unwarn",
            "mirror",
            "config",
            "Score message",
            "Flag for review",
            "Moderation history",
        } <= names
        for command in synced:
            if command["name"] == "mywarnings":  # the one command for every member
                assert command.get("default_member_permissions") is None
                continue
            assert command.get("default_member_permissions") not in (None, "0"), command["name"]
        with pytest.raises(PermissionError):
            await fake_discord.invoke_context_menu(
                "Moderation history", w.moderator, user=w.member, channel=w.general
            )


async def test_context_menus_score_flag_and_show_history(
    fake_discord, discord_world, bot_runner, settings, toxic
):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)
        clean = await fake_discord.send_message(w.general, w.member, "hello nice article")
        await _wait_scores(bot, 1)
        scored = await fake_discord.invoke_context_menu(
            "Score message", clean, user=w.moderator, channel=w.general
        )
        assert scored.ephemeral and "**Top:" in scored.content and "no level crossed" in scored.content

        flagged = await fake_discord.invoke_context_menu(
            "Flag for review", clean, user=w.moderator, channel=w.general
        )
        assert "Flagged as case #1" in flagged.content and str(w.review.id) in flagged.content
        card = await wait_card(fake_discord, w)
        assert "hello nice article" in card.embeds[0]["description"]
        flag = await bot.store.cases.get(w.guild.id, 1)
        assert flag.moderator_id == w.moderator.user.id and "flagged by mod-mia" in flag.reason
        again = await fake_discord.invoke_context_menu(
            "Flag for review", clean, user=w.moderator, channel=w.general
        )
        assert "case #1" in again.content
        assert len([m for m in fake_discord.messages(w.review) if m.embeds]) == 1

        rude = await fake_discord.send_message(w.general, w.member, toxic)
        await wait_card(fake_discord, w, 2)
        verdict = await fake_discord.invoke_context_menu(
            "Score message", rude, user=w.moderator, channel=w.general
        )
        assert "flagged for review" in verdict.content and "toxicity" in verdict.content

        history = await fake_discord.invoke_context_menu(
            "Moderation history", w.member, user=w.moderator, channel=w.general
        )
        assert "member-max" in history.embeds[0]["title"] and "2 cases" in history.embeds[0]["title"]


async def test_moderators_messages_are_not_scored_unless_the_guild_opts_in(
    fake_discord, discord_world, bot_runner, settings, toxic
):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)
        await fake_discord.send_message(w.general, w.moderator, toxic)
        marker = await fake_discord.send_message(w.general, w.member, "hello nice article")
        rows = await _wait_scores(bot, 1)
        assert [r["message_id"] for r in rows] == [marker.id]
        turned = await fake_discord.invoke_slash(
            "config score-moderators", {"state": "on"}, user=w.owner, channel=w.general
        )
        assert "scored like everyone's" in turned.content
        await fake_discord.send_message(w.general, w.moderator, toxic)
        card = await wait_card(fake_discord, w)
        assert "mod-mia" in field(card, "Author")


# Show what is known


async def test_card_where_is_a_channel_mention_and_toxicity_gives_the_servers_verdict(
    fake_discord, discord_world, bot_runner, settings, toxic
):
    w = discord_world
    async with bot_runner(make_bot(settings)) as bot:
        await review_on(bot, w)
        await fake_discord.send_message(w.general, w.member, toxic)
        card = await wait_card(fake_discord, w)
        assert field(card, "Where") == f"https://discord.com/channels/{w.guild.id}/{w.general.id}"
        answer = await fake_discord.invoke_slash(
            "toxicity", {"text": toxic}, user=w.moderator, channel=w.general
        )
        assert "At this server's levels: **flagged for review**" in answer.content
        await bot.store.guilds.set_threshold(w.guild.id, "toxicity", 0.5, 0.6)
        answer = await fake_discord.invoke_slash(
            "toxicity", {"text": toxic}, user=w.moderator, channel=w.general
        )
        assert "shadow mode is on" in answer.content
        await bot.store.guilds.update(w.guild.id, shadow_mode=False)
        answer = await fake_discord.invoke_slash(
            "toxicity", {"text": toxic}, user=w.moderator, channel=w.general
        )
        assert "**removed automatically**" in answer.content
        await _wait_count(bot, w.guild.id, CaseFilter(action="flag"), 1)
