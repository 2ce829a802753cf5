"""Levels and evidence for choosing them: /thresholds, /stats, /tune."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.moderation import actions, tuning
from bot.moderation.cards import clip
from bot.moderation.charts import DayCounts, Stats, render_stats_png
from bot.textsafety import code_block, neutralise
from bot.timestamps import to_iso
from cogs.checks import MODERATOR_PERMISSIONS, ModeratorCog, command_guild
from cogs.moderation._service import ModerationService, channel_ids

if TYPE_CHECKING:
    from bot.factory import CommentWarden


def _level(value: float | None) -> str:
    return "off" if value is None else f"{value:.2f}"


class Tuning(ModeratorCog):
    thresholds = app_commands.Group(
        name="thresholds",
        description="Flag and act levels per label",
        guild_only=True,
        default_permissions=MODERATOR_PERMISSIONS,
    )

    def __init__(self, bot: CommentWarden, service: ModerationService) -> None:
        self.bot = bot
        self.service = service

    async def label_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=label, value=label)
            for label in self.bot.scorer.labels
            if current.lower() in label
        ][:25]

    # /thresholds show, /thresholds set

    @thresholds.command(name="show", description="The levels in force (for a channel, with its overrides)")
    @app_commands.describe(channel="Show the levels that apply in this channel")
    async def thresholds_show(
        self, interaction: discord.Interaction, channel: discord.TextChannel | discord.Thread | None = None
    ) -> None:
        settings = await self.service.settings(interaction.guild_id or 0)
        levels = self.service.judge.levels(settings, channel_ids(channel))
        guild_levels = settings.thresholds.get(0, {})
        own = settings.thresholds.get(channel.id, {}) if channel else {}
        lines = ["label             flag   act   set by"]
        for label in self.bot.scorer.labels:
            level = levels.get(label)
            if level is None:
                continue
            source = "channel" if label in own else ("guild" if label in guild_levels else "default")
            lines.append(f"{label:<16} {level.flag:5.2f} {_level(level.act):>5}   {source}")
        mode = (
            "**Shadow mode is on**: nothing is acted on automatically."
            if settings.shadow_mode
            else "Shadow mode is off: act levels are enforced."
        )
        where = f" in {channel.mention}" if channel else ""
        table = code_block("\n".join(lines))
        await interaction.response.send_message(f"Levels{where}:\n{table}\n{mode}", ephemeral=True)

    @thresholds.command(name="set", description="Set a label's flag level and (optionally) its act level")
    @app_commands.describe(
        label="A label of the loaded model",
        flag="Send to review at or above this (0-1)",
        act="Act automatically at or above this (0-1, at least flag); leave out for off",
        channel="Only in this channel (and its threads)",
    )
    @app_commands.autocomplete(label=label_autocomplete)
    async def thresholds_set(
        self,
        interaction: discord.Interaction,
        label: str,
        flag: app_commands.Range[float, 0.0, 1.0],
        act: app_commands.Range[float, 0.0, 1.0] | None = None,
        channel: discord.TextChannel | discord.ForumChannel | discord.Thread | None = None,
    ) -> None:
        labels = self.bot.scorer.labels
        if label not in labels:
            await interaction.response.send_message(
                f"The loaded model has no label {clip(neutralise(label), 40)!r}; use one of: {', '.join(labels)}.",
                ephemeral=True,
            )
            return
        if act is not None and act < flag:
            await interaction.response.send_message(
                "The act level must be at least the flag level.", ephemeral=True
            )
            return
        guild_id = interaction.guild_id or 0
        await self.bot.store.guilds.set_threshold(guild_id, label, flag, act, channel.id if channel else 0)
        settings = await self.service.settings(guild_id)
        where = channel.mention if channel else "this server"
        line = f"{label} in {where}: flag {flag:.2f}, act {_level(act)}."
        if act is not None and settings.shadow_mode:
            line += " Shadow mode is on, so nothing is acted on until `/config shadow off`."
        await interaction.response.send_message(line, ephemeral=True)

    @thresholds.command(
        name="reset", description="Drop a label's own level here, so the default applies again"
    )
    @app_commands.describe(
        label="A label of the loaded model",
        channel="Drop this channel's override (leave out: the server-wide level)",
    )
    @app_commands.autocomplete(label=label_autocomplete)
    async def thresholds_reset(
        self,
        interaction: discord.Interaction,
        label: str,
        channel: discord.TextChannel | discord.ForumChannel | discord.Thread | None = None,
    ) -> None:
        guild_id = interaction.guild_id or 0
        await self.bot.store.guilds.clear_threshold(guild_id, label, channel.id if channel else 0)
        settings = await self.service.settings(guild_id)
        level = self.service.judge.levels(settings, channel_ids(channel)).get(label)
        where = channel.mention if channel else "this server"
        now = f"flag {level.flag:.2f}, act {_level(level.act)}" if level else "no level (the model lacks it)"
        await interaction.response.send_message(
            f"{clip(neutralise(label), 40)} in {where} is back to {now}.", ephemeral=True
        )

    # /stats

    @app_commands.command(
        name="stats", description="A chart of messages scored, flagged and actioned per day"
    )
    @app_commands.describe(days="How many days back (default 14)")
    @app_commands.guild_only()
    @app_commands.default_permissions(MODERATOR_PERMISSIONS)
    async def stats(
        self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 90] = 14
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild = command_guild(interaction)
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=days - 1)
        since = to_iso(start)
        scored = await self.bot.store.scores.per_day(guild.id, since)
        flagged = await self.bot.store.cases.per_day(guild.id, since, [actions.FLAG])
        actioned = await self.bot.store.cases.per_day(guild.id, since, actions.ENFORCEMENT)
        day_keys = [(start + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(days)]
        counts = [DayCounts(d, scored.get(d, 0), flagged.get(d, 0), actioned.get(d, 0)) for d in day_keys]
        top = await self.bot.store.cases.top_flag_channels(guild.id, since)
        places = []
        for channel_id, count in top:
            channel = guild.get_channel_or_thread(channel_id)
            name = channel.name if channel is not None else str(channel_id)
            places.append((name, count))
        png = await render_stats_png(
            Stats(counts, await self.bot.store.cases.flag_labels(guild.id, since), places),
            f"{guild.name}: last {days} days",
        )
        summary = (
            f"Last {days} days: {sum(c.scored for c in counts)} scored, {sum(c.flagged for c in counts)} "
            f"flagged, {sum(c.actioned for c in counts)} actioned."
        )
        if places:
            summary += "\nMost flagged: " + ", ".join(f"{clip(neutralise(n), 60)} ({c})" for n, c in places)
        await interaction.followup.send(
            summary, file=discord.File(io.BytesIO(png), filename="stats.png"), ephemeral=True
        )

    # /tune

    @app_commands.command(
        name="tune", description="How each level would have done on your own review decisions"
    )
    @app_commands.describe(label="Only this label")
    @app_commands.autocomplete(label=label_autocomplete)
    @app_commands.guild_only()
    @app_commands.default_permissions(MODERATOR_PERMISSIONS)
    async def tune(self, interaction: discord.Interaction, label: str | None = None) -> None:
        guild_id = interaction.guild_id or 0
        labels = self.bot.scorer.labels
        if label is not None and label not in labels:
            await interaction.response.send_message(
                f"The loaded model has no such label; use one of: {', '.join(labels)}.", ephemeral=True
            )
            return
        decided = [
            tuning.Decided(scores, confirmed=decision != actions.APPROVE)
            for scores, decision in await self.bot.store.cases.decided_flags(guild_id, actions.CARD_DECISIONS)
        ]
        if not decided:
            await interaction.response.send_message(
                "No decided flags yet: decide some review cards (Approve or Remove…) and ask again.",
                ephemeral=True,
            )
            return
        settings = await self.service.settings(guild_id)
        levels = self.service.judge.levels(settings, channel_ids(None))
        confirmed = sum(d.confirmed for d in decided)
        embed = discord.Embed(
            title="Threshold tuning",
            description=(
                f"From {len(decided)} decided flags: {confirmed} confirmed (removed, warned, timed out or "
                f"banned), {len(decided) - confirmed} approved as false positives. For each level: how many "
                "of these would have been flagged, how many of those moderators confirmed, precision, and "
                "the share of confirmed flags still caught. ◀ marks the current flag level."
            ),
        )
        for name in [label] if label else [n for n in labels if n in levels]:
            current = levels[name].flag if name in levels else None
            candidates = sorted(set(tuning.CANDIDATES) | ({current} if current is not None else set()))
            rows = tuning.table(decided, name, candidates)
            embed.add_field(name=name, value=code_block(tuning.render(rows, current))[:1024], inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)
