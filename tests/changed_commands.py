"""A discord.py extension standing in for a new release that rewords a command: loaded after the bot's own
extensions (tests patch `bot.factory.EXTENSIONS`), it changes /toxicity's description before the sync."""

from __future__ import annotations

from discord.ext import commands

DESCRIPTION = "Score any text for toxicity (only you see the answer)"


async def setup(bot: commands.Bot) -> None:
    command = bot.tree.get_command("toxicity")
    if command is None:
        raise LookupError("/toxicity is not registered")
    command.description = DESCRIPTION
