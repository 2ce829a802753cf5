"""The fake's world: every guild, channel, message and webhook, with lookups that fail like Discord.

Lookups raise :class:`ApiError` with Discord's own codes, so route handlers stay short and a bot that
talks about an object Discord would not know gets the same 404 it would get in production.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from . import errors
from .models import DM, Channel, Guild, Member, Message, User, Webhook
from .snowflakes import SnowflakeGenerator

_POLL_S = 0.01


class FakeState:
    def __init__(self) -> None:
        self.ids = SnowflakeGenerator()
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}  # every channel and thread of every guild, plus DMs
        self.messages: dict[int, list[Message]] = {}  # channel id -> live messages, oldest first
        self.message_index: dict[int, Message] = {}  # every message ever made, deleted or ephemeral too
        self.webhooks: dict[int, Webhook] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}  # guild id (None = global) -> commands
        self.command_syncs = 0
        self._changed = asyncio.Event()

    # -- change notification -------------------------------------------------------------------
    def notify(self) -> None:
        """Wake every :meth:`wait_until`; called after each mutation the tests might wait for."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(
        self, predicate: Callable[[], Any], within: float = 5.0, what: str | None = None
    ) -> Any:
        """Wait until ``predicate()`` is truthy and return its value; ``TimeoutError`` says ``what`` failed."""
        deadline = time.monotonic() + within
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{what or predicate} not met within {within}s")
            try:
                # Wake on every change, and poll too: predicates may read the bot's own state.
                await asyncio.wait_for(self._changed.wait(), min(remaining, _POLL_S))
            except TimeoutError:
                continue

    # -- lookups -------------------------------------------------------------------------------
    def guild(self, guild_id: int) -> Guild:
        try:
            return self.guilds[int(guild_id)]
        except (KeyError, ValueError):
            raise errors.unknown("Guild", errors.UNKNOWN_GUILD) from None

    def channel(self, channel_id: int) -> Channel:
        try:
            return self.channels[int(channel_id)]
        except (KeyError, ValueError):
            raise errors.unknown("Channel", errors.UNKNOWN_CHANNEL) from None

    def user(self, user_id: int) -> User:
        try:
            return self.users[int(user_id)]
        except (KeyError, ValueError):
            raise errors.unknown("User", errors.UNKNOWN_USER) from None

    def member(self, guild: Guild, user_id: int) -> Member:
        try:
            return guild.members[int(user_id)]
        except (KeyError, ValueError):
            raise errors.unknown("Member", errors.UNKNOWN_MEMBER) from None

    def message(self, channel_id: int, message_id: int) -> Message:
        message = self.message_index.get(int(message_id))
        if message is None or message.deleted or message.channel_id != int(channel_id):
            raise errors.unknown("Message", errors.UNKNOWN_MESSAGE)
        return message

    def webhook(self, webhook_id: int, token: str | None = None) -> Webhook:
        webhook = self.webhooks.get(int(webhook_id))
        if webhook is None or (token is not None and webhook.token != token):
            raise errors.unknown("Webhook", errors.UNKNOWN_WEBHOOK)
        return webhook

    def guild_of(self, channel: Channel) -> Guild | None:
        return self.guilds.get(channel.guild_id) if channel.guild_id else None

    # -- queries tests use ---------------------------------------------------------------------
    def channel_messages(self, channel_id: int) -> list[Message]:
        """Live (not deleted, not ephemeral) messages of a channel or thread, oldest first."""
        return list(self.messages.get(int(channel_id), []))

    def threads_of(self, channel_id: int) -> list[Channel]:
        return [c for c in self.channels.values() if c.is_thread and c.parent_id == int(channel_id)]

    def dm_channel(self, user_id: int) -> Channel | None:
        for channel in self.channels.values():
            if channel.type == DM and channel.recipients and channel.recipients[0].id == int(user_id):
                return channel
        return None

    # -- mutations shared by routes and the driver ---------------------------------------------
    def store_message(self, message: Message) -> None:
        self.message_index[message.id] = message
        if message.ephemeral:
            self.notify()
            return
        self.messages.setdefault(message.channel_id, []).append(message)
        channel = self.channels.get(message.channel_id)
        if channel is not None:
            channel.last_message_id = message.id
            if channel.is_thread:
                channel.message_count += 1
        self.notify()

    def remove_message(self, message: Message) -> None:
        message.deleted = True
        live = self.messages.get(message.channel_id, [])
        if message in live:
            live.remove(message)
        self.notify()
