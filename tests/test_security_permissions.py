"""Nobody without moderator rights changes anything: every synced command (found by walking the synced
command list, so a command added later is covered without editing this file), the review buttons of a
moderator who lost the role between click and submit, another server's sources, and the autocomplete
that would otherwise list a server's mirrored URLs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.store import CaseFilter, NewCase
from cogs.checks import NOT_A_MODERATOR
from tests.fakediscord import FakeDiscord, Perm
from tests.test_hostile_input import settled
from tests.test_mirror_discord import make_bot, spec, thread_file, wait_mirrored
from tests.test_mirror_wordpress import wait_for

SUBCOMMAND, GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 3, 4, 5, 6, 7, 8, 9, 10, 11
TEXT_CHANNEL, FORUM_CHANNEL = 0, 15


@pytest.fixture
def settings(tmp_path: Path, detoxify_checkpoint: Any) -> Settings:
    return Settings(
        database_path=tmp_path / "cw.db",
        allow_private_urls=True,
        poll_interval=3600,
        **detoxify_checkpoint.settings_kwargs(),
    )


def leaves(commands: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    """(invocation name, top-level command, leaf options) for every chat-input command and subcommand."""
    found = []

    def walk(path: str, top: dict[str, Any], options: list[dict[str, Any]]) -> None:
        nested = [o for o in options if o["type"] in (SUBCOMMAND, GROUP)]
        if not nested:
            found.append((path, top, options))
        for option in nested:
            walk(f"{path} {option['name']}", top, option.get("options") or [])

    for command in commands:
        if command["type"] == 1:
            walk(command["name"], command, command.get("options") or [])
    return found


def option_value(option: dict[str, Any], world: Any) -> Any:
    """A valid value of the option's type, aimed at something a moderator could change."""
    if option.get("choices"):
        return option["choices"][0]["value"]
    kind = option["type"]
    if kind == STRING:
        return "https://example.com/feed" if option["name"] == "url" else "1d"
    if kind == INTEGER:
        return max(int(option.get("min_value", 1)), 1)
    if kind == NUMBER:
        return float(option.get("min_value", 0.5))
    if kind == BOOLEAN:
        return True
    if kind in (USER, MENTIONABLE):
        return world.owner
    if kind == CHANNEL:
        types = option.get("channel_types") or [TEXT_CHANNEL]
        return world.general if TEXT_CHANNEL in types else world.forum
    if kind == ROLE:
        return world.moderator_role
    if kind == ATTACHMENT:
        return ("evidence.txt", b"x")
    raise AssertionError(f"no test value for option type {kind} ({option['name']})")


async def database_snapshot(bot: Any) -> dict[str, list[tuple[Any, ...]]]:
    tables = [
        r[0] for r in await bot.store.db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    ]
    return {
        t: [tuple(r) for r in await bot.store.db.fetchall(f'SELECT * FROM "{t}" ORDER BY rowid')]  # noqa: S608
        for t in tables
    }


def discord_snapshot(fake: FakeDiscord, world: Any) -> dict[str, Any]:
    guild = fake.state.guilds[world.guild.id]
    return {
        "messages": sorted(
            (m.id, m.content, json.dumps(m.embeds), m.deleted)
            for m in fake.state.message_index.values()
            if not m.ephemeral and m.interaction_metadata is None
        ),
        "bans": sorted(guild.bans),
        "timeouts": {uid: m.communication_disabled_until for uid, m in guild.members.items()},
        "members": sorted(guild.members),
        "roles": sorted((r.id, r.permissions) for r in guild.roles.values()),
        "channels": sorted(fake.state.channels),
        "webhooks": sorted(fake.state.webhooks),
    }


def shown_to_everyone(fake: FakeDiscord, name: str) -> None:
    """What a server admin's override in Server Settings → Integrations does: show a command to everyone."""
    for synced in [c for cs in fake.state.commands.values() for c in cs if c["name"] == name]:
        synced["default_member_permissions"] = None


async def test_every_synced_command_refuses_a_non_moderator_and_changes_nothing(
    fake_discord: FakeDiscord, discord_world: Any, bot_runner: Any, settings: Settings, tmp_path: Path
) -> None:
    w = discord_world
    path = thread_file(tmp_path, [spec(1), spec(2)])
    async with bot_runner(make_bot(settings)) as bot:
        added = await fake_discord.invoke_slash(
            "mirror add", {"url": str(path), "channel": w.forum}, user=w.moderator, channel=w.general
        )
        assert "Mirroring source #1" in added.content
        await wait_mirrored(fake_discord, 2, w.forum)
        await wait_for(lambda: settled(bot, w.guild.id))
        await bot.store.cases.add(
            NewCase(
                guild_id=w.guild.id,
                action="flag",
                target_kind="member",
                target_id=str(w.owner.user.id),
                reason="seed",
            )
        )
        commands = fake_discord.commands() + fake_discord.commands(w.guild)
        invocations = leaves(commands)
        names = {name for name, _, _ in invocations}
        assert {"mirror add", "mirror remove", "config shadow", "warn", "case reason", "toxicity"} <= names, (
            names
        )
        # A server manager who is no moderator: sees /config (Manage Server), must still be refused by the bot.
        managers = fake_discord.create_role(w.guild, "Managers", int(Perm.MANAGE_GUILD))
        manager = fake_discord.create_member(w.guild, "manager-not-mod", roles=[managers])
        db_before = await database_snapshot(bot)
        discord_before = discord_snapshot(fake_discord, w)
        required: dict[
            str, int
        ] = {}  # each top-level command's default_member_permissions, before any override
        for name, top, options in invocations:
            if name == "mywarnings":  # the one command for every member: their own warnings
                continue
            values = {o["name"]: option_value(o, w) for o in options}
            if top["name"] not in required:
                required[top["name"]] = int(top.get("default_member_permissions") or 0)
                with pytest.raises(
                    PermissionError
                ):  # Discord hides every moderator command from plain members
                    await fake_discord.invoke_slash(name, values, user=w.member, channel=w.general)
            if required[top["name"]] & int(Perm.MANAGE_MESSAGES):
                shown_to_everyone(
                    fake_discord, top["name"]
                )  # a server may override that; the bot checks anyway
                answer = await fake_discord.invoke_slash(name, values, user=w.member, channel=w.general)
            else:  # /config: a member holding exactly that permission (Manage Server) sees it
                answer = await fake_discord.invoke_slash(name, values, user=manager, channel=w.general)
            assert answer.ephemeral and answer.content == NOT_A_MODERATOR, (
                name,
                answer.content,
                answer.embeds,
            )
            assert not answer.followups and not answer.attachments and not answer.embeds, name
            assert await database_snapshot(bot) == db_before, f"/{name} changed the database"
            assert discord_snapshot(fake_discord, w) == discord_before, f"/{name} changed Discord"
        for command in commands:
            shown_to_everyone(fake_discord, command["name"])
            if command["type"] == 2:
                menu = await fake_discord.invoke_context_menu(
                    command["name"], w.owner, user=w.member, channel=w.general
                )
            elif command["type"] == 3:
                target = (
                    fake_discord.messages(w.general)[0]
                    if fake_discord.messages(w.general)
                    else await fake_discord.send_message(w.general, w.owner, "hello")
                )
                menu = await fake_discord.invoke_context_menu(
                    command["name"], target, user=w.member, channel=w.general
                )
            else:
                continue
            assert menu.ephemeral and menu.content == NOT_A_MODERATOR, command["name"]


async def test_a_moderator_demoted_between_click_and_submit_is_refused(
    fake_discord: FakeDiscord,
    discord_world: Any,
    bot_runner: Any,
    settings: Settings,
    detoxify_checkpoint: Any,
) -> None:
    w = discord_world
    helpers = fake_discord.create_role(w.guild, "Helpers", 0)
    helper = fake_discord.create_member(w.guild, "helper-hal", roles=[helpers])
    async with bot_runner(make_bot(settings)) as bot:
        await bot.store.guilds.update(w.guild.id, review_channel_id=w.review.id, mod_role_ids=[helpers.id])
        sent = await fake_discord.send_message(w.general, w.member, f"hello {detoxify_checkpoint.toxic_word}")
        card = await fake_discord.wait_until(lambda: [m for m in fake_discord.messages(w.review) if m.embeds])
        card = card[0]
        opened = await fake_discord.click_button(card, f"cw:card:{w.guild.id}:1:ban", user=helper)
        assert opened.modal is not None
        demoted = await fake_discord.invoke_slash(
            "config modrole remove", {"role": helpers}, user=w.owner, channel=w.general
        )
        assert "no longer" in demoted.content or "removed" in demoted.content.lower(), demoted.content
        refused = await fake_discord.submit_modal(opened, {"reason": "spam"}, user=helper)
        assert refused.ephemeral and refused.content == NOT_A_MODERATOR
        assert w.member.user.id not in fake_discord.state.guilds[w.guild.id].bans
        assert not fake_discord.state.message_index[sent.id].deleted
        assert (await bot.store.cases.card(w.guild.id, 1)).decision is None
        assert [c.action for c in await bot.store.cases.query(w.guild.id, CaseFilter())] == ["flag"]


async def test_another_servers_moderator_cannot_touch_our_sources_and_members_see_no_urls(
    fake_discord: FakeDiscord, discord_world: Any, bot_runner: Any, settings: Settings, tmp_path: Path
) -> None:
    w = discord_world
    path = thread_file(tmp_path, [spec(1)])
    other = fake_discord.create_guild("Other Guild")
    other_mods = fake_discord.create_role(other, "Mods", int(Perm.MANAGE_MESSAGES))
    other_mod = fake_discord.create_member(other, "other-mod", roles=[other_mods])
    other_channel = fake_discord.create_text_channel(other, "chat")
    async with bot_runner(make_bot(settings)) as bot:
        await fake_discord.invoke_slash(
            "mirror add", {"url": str(path), "channel": w.forum}, user=w.moderator, channel=w.general
        )
        for command in ("mirror remove", "mirror pause", "mirror sync", "mirror resume"):
            answer = await fake_discord.invoke_slash(
                command, {"source": 1}, user=other_mod, channel=other_channel
            )
            assert "no source #1" in answer.content, (command, answer.content)
        listing = await fake_discord.invoke_slash("mirror list", user=other_mod, channel=other_channel)
        assert str(path) not in listing.content
        row = await bot.store.mirror.source(1)
        assert row is not None and not row.paused
        with pytest.raises(PermissionError):  # hidden from plain members by default_member_permissions
            await fake_discord.autocomplete(
                "mirror remove", {"source": ""}, "source", user=w.member, channel=w.general
            )
        shown_to_everyone(fake_discord, "mirror")  # shown by a server override, it still offers them nothing
        choices = await fake_discord.autocomplete(
            "mirror remove", {"source": ""}, "source", user=w.member, channel=w.general
        )
        assert choices == []
        foreign = await fake_discord.autocomplete(
            "mirror remove", {"source": ""}, "source", user=other_mod, channel=other_channel
        )
        assert foreign == []
        mine = await fake_discord.autocomplete(
            "mirror remove", {"source": ""}, "source", user=w.moderator, channel=w.general
        )
        assert [c["value"] for c in mine] == [1]
