"""Building the fake's world: users, guilds, roles, members, channels, forums and threads.

Everything made after a bot connected is announced on the gateway (GUILD_CREATE, CHANNEL_CREATE,
GUILD_MEMBER_ADD, …) exactly as Discord would, so tests can grow the world mid-run.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .gateway import GUILD_MEMBERS
from .models import CATEGORY, FORUM, PUBLIC_THREAD, TEXT, Channel, Guild, Member, Message, Role, User
from .permissions import BOT_DEFAULT, EVERYONE_DEFAULT, MODERATOR_DEFAULT

if TYPE_CHECKING:
    from .server import FakeDiscord

    _Base = FakeDiscord
else:
    _Base = object


@dataclass
class DefaultWorld:
    """The guild most tests need; built by the ``fake_discord`` fixture."""

    guild: Guild
    owner: Member
    general: Channel  # text channel members chat in
    forum: Channel  # forum channel for mirrored articles
    review: Channel  # text channel for moderator review cards
    moderator_role: Role
    moderator: Member  # Manage Messages, Moderate/Kick/Ban Members, View Audit Log
    member: Member  # no special permissions
    bot_role: Role


class WorldMixin(_Base):
    def create_user(self, username: str, *, bot: bool = False) -> User:
        return self._register(User(id=self.state.ids.next(), username=username, bot=bot))

    def create_guild(
        self,
        name: str = "Test Guild",
        *,
        owner: User | None = None,
        bot_permissions: int = BOT_DEFAULT,
        shard: tuple[int, int] | None = None,
    ) -> Guild:
        """`shard=(shard_id, num_shards)` picks an id that Discord would route to that shard."""
        owner = owner or self.create_user(f"{name.lower().replace(' ', '-')}-owner")
        guild_id = self.state.ids.next_on_shard(*shard) if shard else self.state.ids.next()
        guild = Guild(id=guild_id, name=name, owner_id=owner.id)
        guild.roles[guild.id] = Role(
            id=guild.id, guild_id=guild.id, name="@everyone", permissions=int(EVERYONE_DEFAULT)
        )
        self.state.guilds[guild.id] = guild
        self._add_member(guild, owner, [], announce=False)
        bot_role = self.create_role(
            guild, self.bot_user.username, bot_permissions, managed=True, announce=False
        )
        self._add_member(guild, self.bot_user, [bot_role.id], announce=False)
        self.gateway.dispatch(
            "GUILD_CREATE",
            lambda session: guild.to_payload(
                members=list(guild.members.values())
                if session.intents & GUILD_MEMBERS
                else [self.bot_member(guild)]
            ),
        )
        return guild

    def bot_role(self, guild: Guild) -> Role:
        return next(r for r in guild.roles.values() if r.managed and r.id in self.bot_member(guild).role_ids)

    def set_bot_permissions(self, guild: Guild, permissions: int) -> None:
        """Change what the bot may do in ``guild`` (its managed role), announced as GUILD_ROLE_UPDATE."""
        role = self.bot_role(guild)
        role.permissions = int(permissions)
        self.gateway.dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(guild.id), "role": role.to_payload()})

    def create_role(
        self, guild: Guild, name: str, permissions: int = 0, *, managed: bool = False, announce: bool = True
    ) -> Role:
        role = Role(
            id=self.state.ids.next(),
            guild_id=guild.id,
            name=name,
            permissions=int(permissions),
            position=len(guild.roles),
            managed=managed,
        )
        guild.roles[role.id] = role
        if announce:
            self.gateway.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.to_payload()})
        return role

    def create_member(
        self, guild: Guild, username: str, *, roles: Iterable[Role] = (), bot: bool = False
    ) -> Member:
        return self._add_member(
            guild, self.create_user(username, bot=bot), [r.id for r in roles], announce=True
        )

    def add_member(self, guild: Guild, user: User, *, roles: Iterable[Role] = ()) -> Member:
        """An existing user (re)joins ``guild``."""
        return self._add_member(guild, user, [r.id for r in roles], announce=True)

    def _add_member(self, guild: Guild, user: User, role_ids: list[int], *, announce: bool) -> Member:
        member = Member(user=user, guild_id=guild.id, role_ids=role_ids, joined_at=time.time())
        guild.members[user.id] = member
        if announce:
            payload = member.to_payload()
            payload["guild_id"] = str(guild.id)
            self.gateway.dispatch("GUILD_MEMBER_ADD", payload)
        self.state.notify()
        return member

    def create_category(self, guild: Guild, name: str) -> Channel:
        return self.add_channel(
            Channel(
                id=self.state.ids.next(),
                type=CATEGORY,
                guild_id=guild.id,
                name=name,
                position=len(guild.channels),
            )
        )

    def create_text_channel(
        self,
        guild: Guild,
        name: str,
        *,
        category: Channel | None = None,
        topic: str | None = None,
        overwrites: Sequence[dict[str, Any]] = (),
    ) -> Channel:
        return self.add_channel(
            Channel(
                id=self.state.ids.next(),
                type=TEXT,
                guild_id=guild.id,
                name=name,
                parent_id=category.id if category else None,
                topic=topic,
                position=len(guild.channels),
                permission_overwrites=list(overwrites),
            )
        )

    def create_forum_channel(
        self, guild: Guild, name: str, *, tags: Sequence[str] = (), category: Channel | None = None
    ) -> Channel:
        available = [
            {
                "id": str(self.state.ids.next()),
                "name": tag,
                "moderated": False,
                "emoji_id": None,
                "emoji_name": None,
            }
            for tag in tags
        ]
        return self.add_channel(
            Channel(
                id=self.state.ids.next(),
                type=FORUM,
                guild_id=guild.id,
                name=name,
                parent_id=category.id if category else None,
                position=len(guild.channels),
                available_tags=available,
            )
        )

    def create_thread(
        self,
        parent: Channel,
        name: str,
        *,
        owner: User | Member | None = None,
        kind: int = PUBLIC_THREAD,
        archived: bool = False,
    ) -> Channel:
        """A thread someone else started (the bot's own threads go through REST)."""
        owner_user = owner.user if isinstance(owner, Member) else owner or self.bot_user
        thread = Channel(
            id=self.state.ids.next(),
            type=kind,
            guild_id=parent.guild_id,
            name=name,
            parent_id=parent.id,
            owner_id=owner_user.id,
            archived=archived,
        )
        self.add_channel(thread, event=None)
        payload = thread.to_payload()
        payload["newly_created"] = True
        self.gateway.dispatch("THREAD_CREATE", payload)
        return thread

    async def create_forum_post(
        self, forum: Channel, name: str, *, author: Member, content: str
    ) -> tuple[Channel, Message]:
        """A member opens a forum post: thread plus starter message (same id, as on Discord)."""
        thread = Channel(
            id=self.state.ids.next(),
            type=PUBLIC_THREAD,
            guild_id=forum.guild_id,
            name=name,
            parent_id=forum.id,
            owner_id=author.user.id,
        )
        self.add_channel(thread, event=None)
        payload = thread.to_payload()
        payload["newly_created"] = True
        self.gateway.dispatch("THREAD_CREATE", payload)
        message = await self.send_message(thread, author, content, message_id=thread.id)
        return thread, message

    def create_default_world(self) -> DefaultWorld:
        guild = self.create_guild("Commentwarden Test Guild")
        moderator_role = self.create_role(guild, "Moderators", int(MODERATOR_DEFAULT))
        return DefaultWorld(
            guild=guild,
            owner=guild.members[guild.owner_id],
            general=self.create_text_channel(guild, "general"),
            forum=self.create_forum_channel(guild, "article-comments", tags=("article", "flagged")),
            review=self.create_text_channel(guild, "mod-review"),
            moderator_role=moderator_role,
            moderator=self.create_member(guild, "mod-mia", roles=[moderator_role]),
            member=self.create_member(guild, "member-max"),
            bot_role=self.bot_role(guild),
        )
