"""`/toxicity text:` — score a text on demand, privately, and say what this server's levels would do."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.moderation.cards import score_report
from bot.moderation.judge import Judge
from cogs.checks import MODERATOR_PERMISSIONS, ModeratorCog

if TYPE_CHECKING:
    from bot.factory import CommentWarden


class Toxicity(ModeratorCog):
    def __init__(self, bot: CommentWarden) -> None:
        self.bot = bot

    @app_commands.command(name="toxicity", description="Score a text for toxicity (only you see the answer)")
    @app_commands.describe(text="The text to score")
    @app_commands.guild_only()
    @app_commands.default_permissions(MODERATOR_PERMISSIONS)
    async def toxicity(
        self, interaction: discord.Interaction, text: app_commands.Range[str, 1, 4000]
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.bot.scorer.score_one(text)
        if result.top_label is None:
            await interaction.followup.send("That text is empty once whitespace is removed.", ephemeral=True)
            return
        settings = await self.bot.store.guilds.get(interaction.guild_id or 0)
        channels = [getattr(interaction.channel, "parent_id", None), interaction.channel_id]
        verdict = Judge.of(self.bot.settings.thresholds, self.bot.scorer.labels).verdict(
            result, settings, channels
        )
        report = score_report(result, text, verdict, shadow=settings.shadow_mode)
        await interaction.followup.send(
            report, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )


async def setup(bot: CommentWarden) -> None:
    await bot.add_cog(Toxicity(bot))
