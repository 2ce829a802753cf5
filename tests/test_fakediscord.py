"""The fake Discord itself, driven by the real discord.py client through the fixtures.

A tiny bot (an ephemeral slash command, a button, a modal, a deferred command, a member option) stands
in for commentwarden so the fake can be proved before the real bot exists.
"""

from __future__ import annotations

import asyncio
import io

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakediscord import FakeDiscord, Perm
from tests.fakediscord.gateway import GUILD_PRESENCES


class ApproveView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Approve", custom_id="demo:approve", style=discord.ButtonStyle.success)
    async def approve(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content=f"approved by {interaction.user.name}", view=None)


class ReportModal(discord.ui.Modal, title="Report a comment"):
    reason = discord.ui.TextInput(label="Reason", custom_id="demo:reason", max_length=200)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"reported: {self.reason.value}", ephemeral=True)


class DemoBot(commands.Bot):
    def __init__(self, *, message_content: bool = True, members: bool = True) -> None:
        intents = discord.Intents.default()
        intents.message_content = message_content
        intents.members = members
        super().__init__(command_prefix="!", intents=intents, guild_ready_timeout=0.05)
        self.seen: list[discord.Message] = []  # every MESSAGE_CREATE the bot received
        self.add_commands()

    async def setup_hook(self) -> None:
        self.add_view(ApproveView())
        await self.tree.sync()

    async def on_message(self, message: discord.Message) -> None:
        self.seen.append(message)

    def add_commands(self) -> None:
        @self.tree.command(name="echo", description="Echo text back privately")
        async def echo(interaction: discord.Interaction, text: str) -> None:
            await interaction.response.send_message(f"echo: {text}", ephemeral=True)

        @self.tree.command(name="card", description="Post a review card")
        async def card(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("needs review", view=ApproveView())

        @self.tree.command(name="report", description="Open the report form")
        async def report(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(ReportModal())

        @self.tree.command(name="slow", description="Defer then follow up")
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            report = discord.File(io.BytesIO(b"id,score\n1,0.9\n"), filename="r.csv")
            await interaction.followup.send("done slowly", file=report)

        @self.tree.command(name="whois", description="Describe a member")
        @app_commands.default_permissions(manage_messages=True)
        async def whois(interaction: discord.Interaction, member: discord.Member) -> None:
            perms = member.guild_permissions
            await interaction.response.send_message(
                f"{member.name} manage_messages={perms.manage_messages}", ephemeral=True
            )


async def test_login_ready_guild_and_sync(fake_discord: FakeDiscord, discord_world, bot_runner) -> None:
    async with bot_runner(DemoBot()) as bot:
        guild = bot.get_guild(discord_world.guild.id)
        assert guild is not None and guild.name == discord_world.guild.name
        assert {c.name for c in guild.channels} >= {"general", "article-comments", "mod-review"}
        assert guild.get_member(discord_world.moderator.id) is not None
        assert {c["name"] for c in fake_discord.commands()} == {"echo", "card", "report", "slow", "whois"}
        assert fake_discord.gateway.identifies == 1


async def test_slash_command_ephemeral_answer(fake_discord: FakeDiscord, discord_world, bot_runner) -> None:
    async with bot_runner(DemoBot()):
        answer = await fake_discord.invoke_slash(
            "echo", {"text": "hi there"}, user=discord_world.member, channel=discord_world.general
        )
    assert answer.content == "echo: hi there"
    assert answer.ephemeral
    assert fake_discord.messages(discord_world.general) == []  # ephemeral answers are not in the channel


async def test_member_option_resolves_and_default_permissions_hide_command(
    fake_discord: FakeDiscord, discord_world, bot_runner
) -> None:
    async with bot_runner(DemoBot()):
        answer = await fake_discord.invoke_slash(
            "whois",
            {"member": discord_world.moderator},
            user=discord_world.moderator,
            channel=discord_world.general,
        )
        with pytest.raises(PermissionError):
            await fake_discord.invoke_slash(
                "whois",
                {"member": discord_world.moderator},
                user=discord_world.member,
                channel=discord_world.general,
            )
    assert answer.content == "mod-mia manage_messages=True"


async def test_button_click_edits_the_card(fake_discord: FakeDiscord, discord_world, bot_runner) -> None:
    async with bot_runner(DemoBot()):
        posted = await fake_discord.invoke_slash(
            "card", user=discord_world.moderator, channel=discord_world.review
        )
        card = posted.message
        assert not posted.ephemeral and fake_discord.messages(discord_world.review) == [card]
        clicked = await fake_discord.click_button(card, "demo:approve", user=discord_world.moderator)
    assert clicked.response_type == 7
    assert card.content == "approved by mod-mia" and card.components == []


async def test_modal_round_trip(fake_discord: FakeDiscord, discord_world, bot_runner) -> None:
    async with bot_runner(DemoBot()):
        opened = await fake_discord.invoke_slash(
            "report", user=discord_world.member, channel=discord_world.general
        )
        assert opened.modal is not None and opened.modal["title"] == "Report a comment"
        submitted = await fake_discord.submit_modal(opened, {"demo:reason": "spam link"})
    assert submitted.content == "reported: spam link" and submitted.ephemeral


async def test_deferred_command_followup_replaces_thinking_and_keeps_file(
    fake_discord: FakeDiscord, discord_world, bot_runner
) -> None:
    async with bot_runner(DemoBot()):
        answer = await fake_discord.invoke_slash(
            "slow", user=discord_world.member, channel=discord_world.general
        )
    assert answer.deferred and answer.ephemeral and not answer.message.loading
    assert answer.content == "done slowly"
    assert [(a.filename, a.data) for a in answer.attachments] == [("r.csv", b"id,score\n1,0.9\n")]


def _seen(bot: DemoBot, content: str) -> bool:
    return any(m.content == content for m in bot.seen)


async def test_webhook_posts_into_thread_with_thread_id(
    fake_discord: FakeDiscord, discord_world, bot_runner
) -> None:
    async with bot_runner(DemoBot()) as bot:
        channel = bot.get_channel(discord_world.general.id)
        thread = await channel.create_thread(name="Article: hello", type=discord.ChannelType.public_thread)
        webhook = await channel.create_webhook(name="comment mirror")
        sent = await webhook.send(
            f"first! <@{discord_world.member.id}> @everyone",
            username="Alice Commenter",
            avatar_url="https://example.org/alice.png",
            thread=thread,
            wait=True,
            allowed_mentions=discord.AllowedMentions.none(),
            embeds=[discord.Embed(title="Original comment", url="https://example.org/c/1")],
        )
        await sent.edit(content="first! (edited)")
        await fake_discord.wait_until(
            lambda: (
                _seen(bot, "first! (edited)")
                or any(m.webhook_id and m.channel.id == thread.id for m in bot.seen)
            )
        )
    stored = fake_discord.messages(thread.id)
    assert fake_discord.messages(discord_world.general) == []
    assert [m.content for m in stored] == ["first! (edited)"]
    message = stored[0]
    assert message.webhook_id == webhook.id and message.author.bot
    assert (
        message.author.username == "Alice Commenter" and message.avatar_url == "https://example.org/alice.png"
    )
    assert message.allowed_mentions == {"parse": []}
    assert message.mention_user_ids == [] and not message.mention_everyone
    assert message.embeds[0]["title"] == "Original comment"
    gateway_copy = next(m for m in bot.seen if m.id == message.id)
    assert gateway_copy.webhook_id == webhook.id and gateway_copy.channel.id == thread.id


async def test_forum_post_and_webhook_reply(fake_discord: FakeDiscord, discord_world, bot_runner) -> None:
    async with bot_runner(DemoBot()) as bot:
        forum = bot.get_channel(discord_world.forum.id)
        tag = forum.available_tags[0]
        post = await forum.create_thread(name="Article title", content="excerpt", applied_tags=[tag])
        webhook = await forum.create_webhook(name="mirror")
        await webhook.send("a comment", username="Bob", thread=post.thread, wait=True)
    thread = fake_discord.state.channels[post.thread.id]
    assert (
        thread.type == 11 and thread.parent_id == discord_world.forum.id and thread.applied_tags == [tag.id]
    )
    assert post.message.id == thread.id
    assert [m.content for m in fake_discord.messages(thread)] == ["excerpt", "a comment"]


async def test_channel_message_with_file_and_mentions(
    fake_discord: FakeDiscord, discord_world, bot_runner
) -> None:
    png = b"\x89PNG\r\n\x1a\nfake"
    async with bot_runner(DemoBot()) as bot:
        channel = bot.get_channel(discord_world.review.id)
        await channel.send(
            f"quiet <@{discord_world.member.id}>",
            allowed_mentions=discord.AllowedMentions.none(),
            file=discord.File(io.BytesIO(png), filename="chart.png"),
        )
        await channel.send(f"loud <@{discord_world.member.id}>")
    quiet, loud = fake_discord.messages(discord_world.review)
    assert quiet.mention_user_ids == [] and loud.mention_user_ids == [discord_world.member.id]
    assert [(a.filename, a.data, a.content_type) for a in quiet.attachments] == [
        ("chart.png", png, "image/png")
    ]


async def test_moderation_routes_and_audit_log(fake_discord: FakeDiscord, discord_world, bot_runner) -> None:
    import datetime as dt

    async with bot_runner(DemoBot()) as bot:
        guild = bot.get_guild(discord_world.guild.id)
        target = guild.get_member(discord_world.member.id)
        await target.timeout(dt.timedelta(minutes=10), reason="toxic comment")
        await guild.ban(discord.Object(discord_world.member.id), reason="repeat offender")
        entries = [e async for e in guild.audit_logs(limit=10)]
        with pytest.raises(discord.Forbidden):
            await guild.get_member(discord_world.owner.id).timeout(dt.timedelta(minutes=1))
    assert discord_world.member.communication_disabled_until is not None
    assert discord_world.member.id in discord_world.guild.bans
    assert discord_world.member.id not in discord_world.guild.members
    assert [(e.action, e.reason) for e in entries] == [
        (discord.AuditLogAction.ban, "repeat offender"),
        (discord.AuditLogAction.member_update, "toxic comment"),
    ]


async def test_rate_limit_headers_and_429(fake_discord: FakeDiscord, discord_world, bot_runner) -> None:
    fake_discord.ratelimits.enable({"webhook_execute": (2, 0.5)})
    async with bot_runner(DemoBot()) as bot:
        webhook = await bot.get_channel(discord_world.general.id).create_webhook(name="raw")
    url = f"{fake_discord.api_base}/webhooks/{webhook.id}/{webhook.token}"
    async with aiohttp.ClientSession() as http:
        answers = []
        for n in range(3):
            async with http.post(url, json={"content": f"n{n}"}) as response:
                answers.append((response.status, dict(response.headers), await response.read()))
    assert [a[0] for a in answers] == [204, 204, 429]
    headers = answers[2][1]
    assert headers["X-RateLimit-Limit"] == "2" and headers["X-RateLimit-Remaining"] == "0"
    assert float(headers["X-RateLimit-Reset-After"]) <= 0.5 and headers["X-RateLimit-Scope"] == "user"
    assert headers["Content-Type"] == "application/json" and "Retry-After" in headers and "Via" in headers
    assert b'"global": false' in answers[2][2]
    assert fake_discord.ratelimits.served_429 == 1


async def test_client_paces_itself_from_headers(fake_discord: FakeDiscord, discord_world, bot_runner) -> None:
    fake_discord.ratelimits.enable({"webhook_execute": (2, 0.2)})
    async with bot_runner(DemoBot()) as bot:
        webhook = await bot.get_channel(discord_world.general.id).create_webhook(name="paced")
        for n in range(5):
            await webhook.send(f"paced {n}", wait=True)
    assert len(fake_discord.messages(discord_world.general)) == 5
    assert fake_discord.ratelimits.served_429 == 0


async def test_global_limit_429_is_retried_by_client(
    fake_discord: FakeDiscord, discord_world, bot_runner
) -> None:
    fake_discord.ratelimits.enable(global_limit=(3, 0.3))
    async with bot_runner(DemoBot()) as bot:
        channels = [bot.get_channel(c.id) for c in (discord_world.general, discord_world.review)]
        await asyncio.gather(*(channels[n % 2].send(f"burst {n}") for n in range(6)))
    assert fake_discord.ratelimits.served_429 >= 1
    sent = fake_discord.messages(discord_world.general) + fake_discord.messages(discord_world.review)
    assert sorted(m.content for m in sent) == [f"burst {n}" for n in range(6)]


async def test_injected_429_is_retried(fake_discord: FakeDiscord, discord_world, bot_runner) -> None:
    fake_discord.faults.fail_next("POST", "/channels/*/messages", status=429, retry_after=0.05)
    async with bot_runner(DemoBot()) as bot:
        await bot.get_channel(discord_world.general.id).send("after a 429")
    assert [m.content for m in fake_discord.messages(discord_world.general)] == ["after a 429"]
    assert [status for _, _, status in fake_discord.faults.injected] == [429]


async def test_resume_replays_missed_events(fake_discord: FakeDiscord, discord_world, bot_runner) -> None:
    async with bot_runner(DemoBot()) as bot:
        fake_discord.gateway.disconnect()
        await fake_discord.send_message(discord_world.general, discord_world.member, "sent while offline")
        await fake_discord.wait_until(lambda: fake_discord.gateway.resumes == 1)
        await fake_discord.wait_until(lambda: _seen(bot, "sent while offline"))
    assert fake_discord.gateway.identifies == 1 and fake_discord.gateway.replayed >= 1


class QuickReidentifyBot(DemoBot):
    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py sleeps 5 s before every non-initial IDENTIFY; not worth waiting for here."""


async def test_invalid_session_forces_identify(fake_discord: FakeDiscord, discord_world, bot_runner) -> None:
    async with bot_runner(QuickReidentifyBot()) as bot:
        await fake_discord.gateway.invalidate_sessions()
        await fake_discord.wait_until(
            lambda: fake_discord.gateway.identifies == 2 and fake_discord.gateway.connected_sessions
        )
        await fake_discord.send_message(discord_world.general, discord_world.member, "after re-identify")
        await fake_discord.wait_until(lambda: _seen(bot, "after re-identify"))
    assert fake_discord.gateway.resumes == 0


async def test_message_content_blanked_without_intent(
    fake_discord: FakeDiscord, discord_world, bot_runner
) -> None:
    async with bot_runner(DemoBot(message_content=False)) as bot:
        await fake_discord.send_message(discord_world.general, discord_world.member, "secret words")
        await fake_discord.send_message(discord_world.general, discord_world.member, f"<@{bot.user.id}> hey")
        await fake_discord.wait_until(lambda: len(bot.seen) == 2)
    assert [m.content for m in bot.seen] == ["", f"<@{fake_discord.bot_user.id}> hey"]


@pytest.mark.fake_discord(privileged_intents=GUILD_PRESENCES)
async def test_disallowed_intents_refused(fake_discord: FakeDiscord, bot_runner) -> None:
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with bot_runner(DemoBot(members=True)):
            pass


async def test_member_chunk_on_request(fake_discord: FakeDiscord, discord_world, bot_runner) -> None:
    async with bot_runner(DemoBot()) as bot:
        members = await bot.get_guild(discord_world.guild.id).chunk()
    assert {m.id for m in members} == set(discord_world.guild.members)
    assert fake_discord.gateway.member_requests


async def test_second_bot_after_restart_sees_same_state(
    fake_discord: FakeDiscord, discord_world, bot_runner
) -> None:
    async with bot_runner(DemoBot()) as first:
        await first.get_channel(discord_world.general.id).send("before restart")
    ids_before = {c["name"]: c["id"] for c in fake_discord.commands()}
    async with bot_runner(DemoBot()) as second:
        history = [m.content async for m in second.get_channel(discord_world.general.id).history(limit=10)]
        answer = await fake_discord.invoke_slash(
            "echo", {"text": "again"}, user=discord_world.member, channel=discord_world.general
        )
    assert history == ["before restart"] and answer.content == "echo: again"
    assert {c["name"]: c["id"] for c in fake_discord.commands()} == ids_before
    assert fake_discord.gateway.identifies == 2


async def test_double_acknowledgement_is_40060(fake_discord: FakeDiscord, discord_world, bot_runner) -> None:
    async with bot_runner(DemoBot()):
        answer = await fake_discord.invoke_slash(
            "echo", {"text": "x"}, user=discord_world.member, channel=discord_world.general
        )
    url = f"{fake_discord.api_base}/interactions/{answer.id}/{answer.token}/callback?with_response=1"
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, json={"type": 4, "data": {"content": "again"}}) as r,
    ):
        assert r.status == 400 and (await r.json())["code"] == 40060


async def test_unknown_route_and_bad_token_are_caught(fake_discord: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{fake_discord.api_base}/guilds/1/emojis", headers={"Authorization": f"Bot {fake_discord.token}"}
        ) as r:
            assert r.status == 404
        async with http.get(
            f"{fake_discord.api_base}/users/@me", headers={"Authorization": "Bot wrong"}
        ) as r:
            assert r.status == 401
    assert fake_discord.problems() == ["unknown route GET /api/v10/guilds/1/emojis"]
    fake_discord.unknown_routes.clear()  # seen and asserted; the fixture would fail the test otherwise


async def test_bot_permissions_enforced(fake_discord: FakeDiscord, discord_world, bot_runner) -> None:
    fake_discord.set_bot_permissions(discord_world.guild, Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
    async with bot_runner(DemoBot()) as bot:
        with pytest.raises(discord.Forbidden):
            await bot.get_channel(discord_world.general.id).create_webhook(name="nope")


async def test_thread_from_message_archive_and_unarchive_on_post(
    fake_discord: FakeDiscord, discord_world, bot_runner
) -> None:
    async with bot_runner(DemoBot()) as bot:
        channel = bot.get_channel(discord_world.general.id)
        starter = await channel.send("article posted")
        thread = await starter.create_thread(name="Discussion")
        await thread.edit(archived=True)
        assert fake_discord.state.channels[thread.id].archived
        await thread.send("new comment")
    stored = fake_discord.state.channels[thread.id]
    assert thread.id == starter.id and stored.parent_id == discord_world.general.id
    assert not stored.archived and [m.content for m in fake_discord.messages(stored)] == ["new comment"]


async def test_arbitrary_gateway_event_reaches_bot(
    fake_discord: FakeDiscord, discord_world, bot_runner
) -> None:
    executions: list[discord.AutoModAction] = []

    class AutomodBot(DemoBot):
        async def on_automod_action(self, execution: discord.AutoModAction) -> None:
            executions.append(execution)

    async with bot_runner(AutomodBot()):
        await fake_discord.dispatch(
            "AUTO_MODERATION_ACTION_EXECUTION",
            {
                "guild_id": str(discord_world.guild.id),
                "action": {"type": 1, "metadata": {}},
                "rule_id": "1",
                "rule_trigger_type": 1,
                "user_id": str(discord_world.member.id),
                "channel_id": str(discord_world.general.id),
                "content": "blocked words",
                "matched_keyword": "blocked",
                "matched_content": "blocked",
            },
        )
        await fake_discord.wait_until(lambda: executions)
    assert executions[0].user_id == discord_world.member.id and executions[0].content == "blocked words"
