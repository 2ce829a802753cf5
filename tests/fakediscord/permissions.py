"""Permission bits and Discord's permission computation (guild roles, then channel overwrites).

The fake enforces the bot's permissions on the routes where real Discord does, so a bot that forgets
to check (or to handle 403) fails here as it would in production.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Channel, Guild, Member


class Perm(enum.IntFlag):
    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38
    MODERATE_MEMBERS = 1 << 40


ALL_PERMISSIONS = (1 << 51) - 1

EVERYONE_DEFAULT = (
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.ADD_REACTIONS
    | Perm.USE_APPLICATION_COMMANDS
    | Perm.CREATE_PUBLIC_THREADS
    | Perm.SEND_MESSAGES_IN_THREADS
)

MODERATOR_DEFAULT = (
    Perm.MANAGE_MESSAGES | Perm.MODERATE_MEMBERS | Perm.KICK_MEMBERS | Perm.BAN_MEMBERS | Perm.VIEW_AUDIT_LOG
)

BOT_DEFAULT = (
    EVERYONE_DEFAULT
    | MODERATOR_DEFAULT
    | Perm.MANAGE_WEBHOOKS
    | Perm.MANAGE_THREADS
    | Perm.CREATE_PRIVATE_THREADS
)


def base_permissions(guild: Guild, member: Member) -> int:
    if member.user.id == guild.owner_id:
        return ALL_PERMISSIONS
    perms = guild.roles[guild.id].permissions
    for role_id in member.role_ids:
        role = guild.roles.get(role_id)
        if role is not None:
            perms |= role.permissions
    if perms & Perm.ADMINISTRATOR:
        return ALL_PERMISSIONS
    return perms


def channel_permissions(guild: Guild, member: Member, channel: Channel | None) -> int:
    """Discord's algorithm: base, then @everyone overwrite, role overwrites, member overwrite.

    Threads inherit their parent's overwrites.
    """
    perms = base_permissions(guild, member)
    if perms == ALL_PERMISSIONS or channel is None:
        return perms
    source = guild.channels.get(channel.parent_id) if channel.is_thread and channel.parent_id else channel
    overwrites = {int(o["id"]): o for o in (source.permission_overwrites if source else [])}

    def apply(overwrite: dict | None) -> None:
        nonlocal perms
        if overwrite is not None:
            perms &= ~int(overwrite.get("deny", 0))
            perms |= int(overwrite.get("allow", 0))

    apply(overwrites.get(guild.id))
    allow = deny = 0
    for role_id in member.role_ids:
        overwrite = overwrites.get(role_id)
        if overwrite is not None:
            allow |= int(overwrite.get("allow", 0))
            deny |= int(overwrite.get("deny", 0))
    perms = (perms & ~deny) | allow
    apply(overwrites.get(member.user.id))
    if not perms & Perm.VIEW_CHANNEL:
        return 0
    return perms
