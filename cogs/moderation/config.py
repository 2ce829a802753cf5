"""`/config`: the guild's moderation settings. Needs Manage Server as well as moderator status.

`/config show` lists settings only; the process secrets (token, site passwords) are not guild settings
and never appear here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TypeVar

import discord
from discord import app_commands

from bot.moderation.notices import Notice, TemplateError, check_template, render_notice
from bot.store import GuildSettings
from cogs.checks import ModeratorCog
from cogs.moderation._service import ModerationService

if TYPE_CHECKING:
    from bot.factory import CommentWarden

T = TypeVar("T")

CARD_PERMISSIONS = ("view_channel", "send_messages", "embed_links")


def manage_guild_only() -> Callable[[T], T]:
    """Discord-side: /config needs Manage Server as well as being a moderator."""
    return app_commands.checks.has_permissions(manage_guild=True)


def describe(settings: GuildSettings) -> str:
    def channel(cid: int | None) -> str:
        return f"<#{cid}>" if cid else "not set (flags are logged, no cards: `/config review-channel`)"

    roles = ", ".join(f"<@&{r}>" for r in settings.mod_role_ids) or "none (Manage Messages only)"
    watched = ", ".join(f"<#{c}>" for c in settings.watched_channel_ids) or "every channel I can read"
    warn_action = settings.warn_action + (
        f" {settings.warn_timeout_minutes} min" if settings.warn_action == "timeout" else ""
    )
    return "\n".join(
        [
            f"**Review channel:** {channel(settings.review_channel_id)}",
            f"**Shadow mode:** {'on (flag only, never act)' if settings.shadow_mode else 'off (act levels enforced)'}",
            f"**Moderator roles:** {roles}",
            f"**Watched channels:** {watched}",
            f"**Automatic timeout on act:** {settings.act_timeout_minutes or 'off'}"
            + (" min" if settings.act_timeout_minutes else ""),
            f"**Warnings:** {settings.warn_point_limit} points within {settings.warn_expiry_days or '∞'} days → {warn_action}",
            f"**Comments removed on the site:** {'deleted' if settings.removed_comment_mode == 'delete' else 'marked'} in Discord",
            "**Levels:** `/thresholds show`",
            f"**DMs to members:** {'on' if settings.dm_members else 'off'}"
            + (" (own template)" if settings.dm_template else "")
            + (" (own appeal line)" if settings.appeal else ""),
            f"**Moderators' own messages:** {'scored' if settings.score_moderators else 'not scored'}",
            f"**Pre-moderation:** {'on' if settings.premod else 'off'}"
            + (" (inactive while shadow mode is on)" if settings.premod and settings.shadow_mode else ""),
        ]
    )


class Config(ModeratorCog):
    config = app_commands.Group(
        name="config",
        description="Moderation settings for this server",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )
    modrole = app_commands.Group(name="modrole", description="Roles that count as moderators", parent=config)
    watch = app_commands.Group(name="watch", description="Which channels' messages are scored", parent=config)

    def __init__(self, bot: CommentWarden, service: ModerationService) -> None:
        self.bot = bot
        self.service = service

    async def _update(self, interaction: discord.Interaction, line: str, **changes: object) -> None:
        await self.bot.store.guilds.update(interaction.guild_id or 0, **changes)
        await interaction.response.send_message(line, ephemeral=True)

    @config.command(name="show", description="This server's moderation settings")
    @manage_guild_only()
    async def show(self, interaction: discord.Interaction) -> None:
        settings = await self.service.settings(interaction.guild_id or 0)
        await interaction.response.send_message(describe(settings), ephemeral=True)

    @config.command(name="review-channel", description="Where review cards are posted")
    @app_commands.describe(channel="A text channel moderators read")
    @manage_guild_only()
    async def review_channel(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        mine = channel.permissions_for(channel.guild.me)
        missing = [p.replace("_", " ").title() for p in CARD_PERMISSIONS if not getattr(mine, p)]
        if missing:
            await interaction.response.send_message(
                f"I cannot post cards in {channel.mention}: give my role {', '.join(missing)} there, then retry.",
                ephemeral=True,
            )
            return
        await self.bot.store.guilds.update(channel.guild.id, review_channel_id=channel.id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        carded = await self.service.card_all_queued(channel.guild)
        line = f"Review cards go to {channel.mention}."
        if carded:
            line += f" {carded} open flag{'s' if carded != 1 else ''} logged before it got {'a card' if carded == 1 else 'cards'}."
        await interaction.followup.send(line, ephemeral=True)

    @config.command(name="shadow", description="Shadow mode: flag for review but never act automatically")
    @app_commands.describe(state="on or off")
    @manage_guild_only()
    async def shadow(self, interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        line = (
            "Shadow mode is on: flags go to review, nothing is acted on automatically."
            if state == "on"
            else "Shadow mode is off: messages at or above an act level are removed automatically."
        )
        await self._update(interaction, line, shadow_mode=state == "on")

    @modrole.command(name="add", description="Members with this role count as moderators")
    @manage_guild_only()
    async def modrole_add(self, interaction: discord.Interaction, role: discord.Role) -> None:
        settings = await self.service.settings(interaction.guild_id or 0)
        roles = tuple(dict.fromkeys((*settings.mod_role_ids, role.id)))
        await self._update(interaction, f"{role.mention} now counts as a moderator role.", mod_role_ids=roles)

    @modrole.command(name="remove", description="This role no longer counts as a moderator role")
    @manage_guild_only()
    async def modrole_remove(self, interaction: discord.Interaction, role: discord.Role) -> None:
        settings = await self.service.settings(interaction.guild_id or 0)
        if role.id not in settings.mod_role_ids:
            await interaction.response.send_message(
                f"{role.mention} is not a moderator role.", ephemeral=True
            )
            return
        roles = tuple(r for r in settings.mod_role_ids if r != role.id)
        await self._update(
            interaction, f"{role.mention} no longer counts as a moderator role.", mod_role_ids=roles
        )

    @watch.command(
        name="add", description="Score messages in this channel (by default every channel is scored)"
    )
    @manage_guild_only()
    async def watch_add(
        self, interaction: discord.Interaction, channel: discord.TextChannel | discord.ForumChannel
    ) -> None:
        settings = await self.service.settings(interaction.guild_id or 0)
        ids = tuple(dict.fromkeys((*settings.watched_channel_ids, channel.id)))
        await self._update(
            interaction, f"Watching: {', '.join(f'<#{c}>' for c in ids)}.", watched_channel_ids=ids
        )

    @watch.command(name="all", description="Score messages in every channel I can read")
    @manage_guild_only()
    async def watch_all(self, interaction: discord.Interaction) -> None:
        await self._update(interaction, "Watching every channel I can read.", watched_channel_ids=())

    @config.command(
        name="warnings", description="Warning points: limit, expiry and what crossing the limit does"
    )
    @app_commands.describe(
        limit="Points that trigger the action (0: never)",
        expiry_days="Days a warning counts (0: for ever)",
        action="What happens at the limit",
        timeout_minutes="Timeout length when the action is timeout",
    )
    @manage_guild_only()
    async def warnings(
        self,
        interaction: discord.Interaction,
        limit: app_commands.Range[int, 0, 100] | None = None,
        expiry_days: app_commands.Range[int, 0, 3650] | None = None,
        action: Literal["timeout", "kick", "ban", "none"] | None = None,
        timeout_minutes: app_commands.Range[int, 1, 40320] | None = None,
    ) -> None:
        changes = {
            k: v
            for k, v in (
                ("warn_point_limit", limit),
                ("warn_expiry_days", expiry_days),
                ("warn_action", action),
                ("warn_timeout_minutes", timeout_minutes),
            )
            if v is not None
        }
        if not changes:
            await interaction.response.send_message("Give at least one setting to change.", ephemeral=True)
            return
        settings = await self.bot.store.guilds.update(interaction.guild_id or 0, **changes)
        await interaction.response.send_message(describe(settings).splitlines()[5], ephemeral=True)

    @config.command(name="act-timeout", description="Also time members out when a message hits an act level")
    @app_commands.describe(minutes="Timeout length (0: only delete the message)")
    @manage_guild_only()
    async def act_timeout(
        self, interaction: discord.Interaction, minutes: app_commands.Range[int, 0, 40320]
    ) -> None:
        line = (
            f"Act level: delete the message and time the member out for {minutes} min."
            if minutes
            else "Act level: delete the message only."
        )
        await self._update(interaction, line, act_timeout_minutes=minutes)

    @config.command(
        name="removed-comments", description="What happens in Discord to a comment removed on its site"
    )
    @app_commands.describe(mode="mark: keep the message and mark it removed; delete: delete the message")
    @manage_guild_only()
    async def removed_comments(
        self, interaction: discord.Interaction, mode: Literal["mark", "delete"]
    ) -> None:
        line = (
            "Comments removed on their site will be deleted from Discord."
            if mode == "delete"
            else "Comments removed on their site will be marked as removed in Discord."
        )
        await self._update(interaction, line, removed_comment_mode=mode)

    @config.command(
        name="dm", description="Tell members by DM when they are warned, timed out, kicked or banned"
    )
    @app_commands.describe(
        state="on or off",
        template="Wording, with {action} {server} {reason} {duration} {points} {case}",
        appeal="How to appeal, added under every DM",
    )
    @manage_guild_only()
    async def dm(
        self,
        interaction: discord.Interaction,
        state: Literal["on", "off"],
        template: app_commands.Range[str, 1, 500] | None = None,
        appeal: app_commands.Range[str, 1, 300] | None = None,
    ) -> None:
        changes: dict[str, object] = {"dm_members": state == "on"}
        try:
            if template is not None:
                changes["dm_template"] = check_template(template)
        except TemplateError as exc:
            await interaction.response.send_message(f"{exc} Nothing was changed.", ephemeral=True)
            return
        if appeal is not None:
            changes["appeal"] = appeal.strip()
        settings = await self.bot.store.guilds.update(interaction.guild_id or 0, **changes)
        if not settings.dm_members:
            await interaction.response.send_message("Members are no longer told by DM.", ephemeral=True)
            return
        server = interaction.guild.name if interaction.guild else "this server"
        sample = render_notice(
            Notice("warn", server, "an example reason", 1, points=1), settings.dm_template, settings.appeal
        )
        await interaction.response.send_message(
            f"Members are told by DM. A warning reads:\n>>> {sample}",
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @config.command(name="score-moderators", description="Whether moderators' own messages are scored")
    @app_commands.describe(state="on: score them like anyone's; off (default): leave them alone")
    @manage_guild_only()
    async def score_moderators(self, interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        line = (
            "Moderators' messages are scored like everyone's."
            if state == "on"
            else "Moderators' own messages are not scored."
        )
        await self._update(interaction, line, score_moderators=state == "on")

    @config.command(
        name="premod", description="Hold mirrored comments at an act level for review before they appear"
    )
    @app_commands.describe(
        state="on: withheld until a moderator approves; off (default): published, then judged"
    )
    @manage_guild_only()
    async def premod(self, interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        settings = await self.bot.store.guilds.update(interaction.guild_id or 0, premod=state == "on")
        if not settings.premod:
            line = "Pre-moderation is off: mirrored comments are published, then judged."
        else:
            line = (
                "Pre-moderation is on: a mirrored comment at an act level is held for review, its place in the "
                "thread showing a notice, until a moderator approves it."
            )
            if settings.shadow_mode:
                line += " It starts working when shadow mode is off (`/config shadow off`)."
        await interaction.response.send_message(line, ephemeral=True)
