"""`/toxicity text:` — score a text on demand, privately."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.moderation.cards import score_lines
from cogs.checks import ModeratorCog

if TYPE_CHECKING:
    from bot.factory import CommentWarden


class Toxicity(ModeratorCog):
    def __init__(self, bot: CommentWarden) -> None:
        self.bot = bot

    @app_commands.command(name="toxicity", description="Score a text for toxicity (only you see the answer)")
    @app_commands.describe(text="The text to score")
    @app_commands.guild_only()
    async def toxicity(
        self, interaction: discord.Interaction, text: app_commands.Range[str, 1, 4000]
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.bot.scorer.score_one(text)
        if result.top_label is None:
            await interaction.followup.send("That text is empty once whitespace is removed.", ephemeral=True)
            return
        body = score_lines(result.scores)
        if result.evidence and result.evidence.strip() != text.strip():
            body += f"\nMost of it comes from: “{discord.utils.escape_mentions(result.evidence[:300])}”"
        await interaction.followup.send(
            f"**Top: {result.top_label} {result.top_score:.2f}**\n{body}",
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )


async def setup(bot: CommentWarden) -> None:
    await bot.add_cog(Toxicity(bot))
