"""Who counts as a moderator, checked server-side on every command and every button press.

Discord's own command permissions can be changed by any server admin and do not cover buttons, so the
bot checks again itself: Manage Messages, or a role the guild named with `/config modrole`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

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


async def require_moderator(interaction: discord.Interaction) -> bool:
    """The check itself, for commands built without decorators (context menus)."""
    if await is_moderator(interaction):
        return True
    raise NotModerator(NOT_A_MODERATOR)


def moderator_only():
    """An app-command check; apply to every moderator command (the tests call each as a non-moderator)."""
    return app_commands.check(require_moderator)
