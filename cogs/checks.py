"""Who counts as a moderator, checked server-side on every command and every button press.

Discord's own command permissions can be changed by any server admin and do not cover buttons, so the
bot checks again itself: Manage Messages, or a role the guild named with `/config modrole`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.store import GuildSettings

if TYPE_CHECKING:
    from bot.factory import CommentWarden

NOT_A_MODERATOR = "Only moderators can do that (Manage Messages, or a role set with /config modrole)."


class NotModerator(app_commands.CheckFailure):
    """Raised by the check; the tree's error handler turns it into one ephemeral line."""


# What Discord asks of a member before it even shows a moderator command (`default_member_permissions`).
# A server can change that per role or channel, so the bot's own check below still runs on every call.
MODERATOR_PERMISSIONS = discord.Permissions(manage_messages=True)


def counts_as_moderator(member: discord.Member, settings: GuildSettings) -> bool:
    """Manage Messages (or Administrator), or one of the roles the guild named with `/config modrole`."""
    if member.guild_permissions.manage_messages or member.guild_permissions.administrator:
        return True
    return any(role.id in settings.mod_role_ids for role in member.roles)


async def is_moderator(interaction: discord.Interaction) -> bool:
    member = interaction.user
    if interaction.guild is None or not isinstance(member, discord.Member):
        return False
    if member.guild_permissions.manage_messages or member.guild_permissions.administrator:
        return True
    bot: CommentWarden = interaction.client  # type: ignore[assignment]
    return counts_as_moderator(member, await bot.store.guilds.get(interaction.guild.id))


def command_guild(interaction: discord.Interaction) -> discord.Guild:
    """The guild a guild-only command runs in; in a DM, the same refusal discord.py's `guild_only` gives."""
    if interaction.guild is None:
        raise app_commands.NoPrivateMessage()
    return interaction.guild


async def require_moderator(interaction: discord.Interaction) -> bool:
    """True for a moderator; anyone else gets `NotModerator`, which the tree answers with one line."""
    if await is_moderator(interaction):
        return True
    raise NotModerator(NOT_A_MODERATOR)


class ModeratorCog(commands.Cog):
    """A cog whose every app command (and subcommand) is for moderators only, checked on every call.

    discord.py runs a cog's `interaction_check` before each of its app commands, so a command added later
    is safe by default (the tests call every synced command as a non-moderator).
    """

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await require_moderator(interaction)
