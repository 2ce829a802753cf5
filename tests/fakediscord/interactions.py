"""Interactions as the tests see them: build INTERACTION_CREATE payloads and watch the bot's answers.

A :class:`FakeInteraction` records every callback, the original response message, follow-ups and a
modal, and offers waits; the HTTP side lives in ``routes/interactions.py``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .messages import iter_components
from .models import Attachment, Channel, Member, Message, Role, User

if TYPE_CHECKING:
    from .server import FakeDiscord
    from .state import FakeState

APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

# callback types
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
MODAL = 9

ATTACHMENT_SIZE_LIMIT = 26214400

_OPT_SUBCOMMAND, _OPT_GROUP = 1, 2
_OPT_STRING, _OPT_INTEGER, _OPT_BOOLEAN, _OPT_USER, _OPT_CHANNEL, _OPT_ROLE, _OPT_MENTIONABLE = (
    3,
    4,
    5,
    6,
    7,
    8,
    9,
)
_OPT_NUMBER, _OPT_ATTACHMENT = 10, 11


@dataclass
class FakeInteraction:
    id: int
    token: str
    type: int
    payload: dict[str, Any] = field(repr=False)  # the INTERACTION_CREATE data as dispatched
    user: User
    guild_id: int | None
    channel_id: int
    state: FakeState = field(repr=False)
    created: float = field(default_factory=time.monotonic)
    source_message: Message | None = None  # the message a component lives on
    command_type: int | None = None  # 1 slash, 2 user, 3 message context menu
    callbacks: list[dict[str, Any]] = field(default_factory=list)  # every callback body, rejected ones too
    response_type: int | None = None
    original: Message | None = None
    followups: list[Message] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    choices: list[dict[str, Any]] | None = None  # autocomplete result

    # -- reading the answer --------------------------------------------------------------------
    @property
    def acknowledged(self) -> bool:
        return self.response_type is not None

    @property
    def deferred(self) -> bool:
        return self.response_type in (DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE)

    @property
    def message(self) -> Message | None:
        """The response message (the component's message for component interactions)."""
        return self.original

    @property
    def content(self) -> str | None:
        return self.original.content if self.original else None

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.original.embeds if self.original else []

    @property
    def attachments(self) -> list[Attachment]:
        return self.original.attachments if self.original else []

    @property
    def ephemeral(self) -> bool:
        return bool(self.original and self.original.ephemeral)

    @property
    def settled(self) -> bool:
        """Answered with something a user can see (a deferral counts once resolved or followed up)."""
        if self.response_type is None:
            return False
        if self.response_type == DEFERRED_CHANNEL_MESSAGE:
            return self.original is not None and not self.original.loading
        return True

    # -- waiting -------------------------------------------------------------------------------
    async def wait_response(self, within: float = 5.0) -> FakeInteraction:
        await self.state.wait_until(lambda: self.acknowledged, within, f"bot acknowledging {self.describe()}")
        return self

    async def wait_settled(self, within: float = 5.0) -> FakeInteraction:
        await self.state.wait_until(lambda: self.settled, within, f"bot answering {self.describe()}")
        return self

    async def wait_followups(self, count: int = 1, within: float = 5.0) -> list[Message]:
        await self.state.wait_until(
            lambda: len(self.followups) >= count, within, f"{count} follow-up(s) to {self.describe()}"
        )
        return self.followups

    def describe(self) -> str:
        data = self.payload.get("data") or {}
        name = data.get("name") or data.get("custom_id") or "?"
        return f"interaction {self.id} ({name}; callbacks so far: {[c.get('type') for c in self.callbacks]})"

    def interaction_metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "user": self.user.to_payload(),
            "authorizing_integration_owners": self.payload.get("authorizing_integration_owners", {}),
        }
        if self.source_message is not None:
            meta["interacted_message_id"] = str(self.source_message.id)
        return meta


def find_component(message: Message, custom_id: str) -> dict[str, Any]:
    for component in iter_components(message.components):
        if component.get("custom_id") == custom_id:
            if component.get("disabled"):
                raise ValueError(f"component {custom_id!r} on message {message.id} is disabled")
            return component
    raise LookupError(f"message {message.id} has no component with custom_id {custom_id!r}")


class InteractionBuilder:
    """Builds INTERACTION_CREATE payloads the way Discord does for a given user, guild and channel."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake

    def base(
        self, kind: int, user: Member | User, channel: Channel
    ) -> tuple[dict[str, Any], User, int | None]:
        fake = self.fake
        guild = fake.state.guild_of(channel)
        interaction_id = fake.state.ids.next()
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(fake.application_id),
            "type": kind,
            "token": f"itoken-{interaction_id}-{secrets.token_urlsafe(24)}",
            "version": 1,
            "channel_id": str(channel.id),
            "channel": channel.to_payload(),
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if guild is not None:
            member = user if isinstance(user, Member) else fake.state.member(guild, user.id)
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                member=member.to_payload(permissions=fake.member_permissions(member, channel)),
                app_permissions=str(fake.bot_permissions(guild, channel)),
                authorizing_integration_owners={"0": str(guild.id)},
                context=0,
            )
            author = member.user
        else:
            author = user.user if isinstance(user, Member) else user
            payload.update(
                user=author.to_payload(),
                authorizing_integration_owners={"0": "0"},
                context=1,
                app_permissions=str(0),
            )
        return payload, author, guild.id if guild else None

    def resolved_user(
        self, resolved: dict[str, Any], value: Any, guild_id: int | None, channel: Channel
    ) -> str:
        fake = self.fake
        user = (
            value.user
            if isinstance(value, Member)
            else value
            if isinstance(value, User)
            else fake.state.user(value)
        )
        resolved.setdefault("users", {})[str(user.id)] = user.to_payload()
        guild = fake.state.guilds.get(guild_id) if guild_id else None
        if guild is not None and user.id in guild.members:
            member = guild.members[user.id]
            resolved.setdefault("members", {})[str(user.id)] = member.to_payload(
                with_user=False, permissions=fake.member_permissions(member, channel)
            )
        return str(user.id)

    def resolve_option(
        self, kind: int, value: Any, resolved: dict[str, Any], guild_id: int | None, channel: Channel
    ) -> Any:
        fake = self.fake
        if kind == _OPT_STRING:
            return str(value)
        if kind == _OPT_INTEGER:
            return int(value)
        if kind == _OPT_NUMBER:
            return float(value)
        if kind == _OPT_BOOLEAN:
            return bool(value)
        if kind == _OPT_USER:
            return self.resolved_user(resolved, value, guild_id, channel)
        if kind == _OPT_CHANNEL:
            target = value if isinstance(value, Channel) else fake.state.channel(value)
            data = target.to_payload()
            entry = {k: data[k] for k in ("id", "name", "type", "parent_id", "thread_metadata") if k in data}
            entry["permissions"] = str(fake.bot_permissions(fake.state.guild(target.guild_id or 0), target))
            resolved.setdefault("channels", {})[str(target.id)] = entry
            return str(target.id)
        if kind == _OPT_ROLE or (kind == _OPT_MENTIONABLE and isinstance(value, Role)):
            role = value if isinstance(value, Role) else fake.state.guild(guild_id or 0).roles[int(value)]
            resolved.setdefault("roles", {})[str(role.id)] = role.to_payload()
            return str(role.id)
        if kind == _OPT_MENTIONABLE:
            return self.resolved_user(resolved, value, guild_id, channel)
        if kind == _OPT_ATTACHMENT:
            attachment = value if isinstance(value, Attachment) else fake.make_attachment(channel.id, *value)
            resolved.setdefault("attachments", {})[str(attachment.id)] = attachment.to_payload()
            return str(attachment.id)
        raise ValueError(f"unsupported option type {kind}")

    def command_options(
        self,
        schema: list[dict[str, Any]],
        given: dict[str, Any],
        resolved: dict[str, Any],
        guild_id: int | None,
        channel: Channel,
        focused: str | None,
    ) -> list[dict[str, Any]]:
        by_name = {o["name"]: o for o in schema}
        unknown = set(given) - set(by_name)
        if unknown:
            raise ValueError(f"options not in the synced command: {sorted(unknown)}")
        missing = [
            o["name"] for o in schema if o.get("required") and o["name"] not in given and o["name"] != focused
        ]
        if missing and focused is None:
            raise ValueError(f"required options missing: {missing}")
        result = []
        for name, value in given.items():
            option = by_name[name]
            kind = int(option["type"])
            if name == focused:
                result.append({"name": name, "type": kind, "value": str(value), "focused": True})
                continue
            converted = self.resolve_option(kind, value, resolved, guild_id, channel)
            choices = option.get("choices")
            if choices and converted not in [c["value"] for c in choices]:
                raise ValueError(f"{converted!r} is not a choice of option {name!r}")
            result.append({"name": name, "type": kind, "value": converted})
        return result
