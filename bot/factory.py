"""Builds the bot. Nothing connects at import time; tests pass client options (e.g. a short
`guild_ready_timeout`) straight through."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.errors import WardenError
from bot.mirror import MirrorEngine
from bot.model import open_scorer
from bot.scoring import Scorer
from bot.store import Store

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.toxicity", "cogs.mirror", "cogs.moderation")
# How long shutdown waits for event handlers already running (a card being posted, a sync step) to finish.
SHUTDOWN_GRACE_SECONDS = 10.0


def intents() -> discord.Intents:
    """Message content is privileged: enable it in the Developer Portal (see README)."""
    wanted = discord.Intents.default()
    wanted.message_content = True
    wanted.members = True
    return wanted


class CommentTree(app_commands.CommandTree):
    """Turns check failures and our own errors (`WardenError`) into one short ephemeral line instead of silence."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        original = getattr(error, "original", error)
        if isinstance(error, app_commands.CheckFailure):
            message = str(error) or "You cannot use this command here."
        elif isinstance(original, WardenError):
            message = original.for_moderator()  # the family's messages are written to be shown as they are
        elif isinstance(original, discord.Forbidden):
            message = (
                "I am missing a Discord permission for that; check my role's permissions in this channel."
            )
        else:
            log.exception(
                "command %s failed",
                interaction.command and interaction.command.qualified_name,
                exc_info=original,
            )
            message = "Something went wrong; the error is in the bot's log."
        if interaction.response.is_done():
            await interaction.followup.send(message, ephemeral=True)
        else:
            await interaction.response.send_message(message, ephemeral=True)


class CommentWarden(commands.Bot):
    store: Store
    scorer: Scorer
    # Set by the mirror extension's setup (EXTENSIONS loads it before moderation, which hands it to its service).
    mirror_engine: MirrorEngine | None = None

    def __init__(self, settings: Settings, **client_kwargs: Any) -> None:
        client_kwargs.setdefault("intents", intents())
        client_kwargs.setdefault("allowed_mentions", discord.AllowedMentions.none())
        super().__init__(
            command_prefix=commands.when_mentioned, tree_cls=CommentTree, help_command=None, **client_kwargs
        )
        self.settings = settings
        self._event_tasks: set[asyncio.Task[None]] = set()

    def _schedule_event(
        self, coro: Callable[..., Coroutine[Any, Any, Any]], event_name: str, *args: Any, **kwargs: Any
    ) -> asyncio.Task:
        """Track running event handlers so shutdown lets them finish before the store closes under them.

        This overrides a private method on purpose, checked against discord.py 2.7.1 (the version pinned in
        pyproject.toml): `Client.dispatch` (and `commands.Bot.dispatch`, for cog listeners) starts every
        handler through `_schedule_event(coro, event_name, *args, **kwargs) -> asyncio.Task`, and no public
        hook hands out those tasks (`dispatch` returns None; listing `asyncio.all_tasks()` by their
        'discord.py: <event>' names would lean on a private detail too). tests/test_discord_contract.py fails
        if an upgrade changes this method's signature or stops routing handlers through it.
        """
        task = super()._schedule_event(coro, event_name, *args, **kwargs)
        self._event_tasks.add(task)
        task.add_done_callback(self._event_tasks.discard)
        return task

    async def setup_hook(self) -> None:
        self.store = await Store.open(self.settings.database_path)
        self.scorer = await open_scorer(self.settings)
        for name in EXTENSIONS:
            await self.load_extension(name)
        synced = await self.tree.sync()
        log.info("synced %d application commands", len(synced))

    async def drain_events(self) -> set[asyncio.Task[None]]:
        """Wait for running event handlers (not the caller); returns those still running after the grace period."""
        running = self._event_tasks - {asyncio.current_task()}
        if not running:
            return set()
        _, late = await asyncio.wait(running, timeout=SHUTDOWN_GRACE_SECONDS)
        return late

    async def close(self) -> None:
        # Handlers first, then cogs (whose unload may emit a last event and drains again), then the store.
        late = await self.drain_events()
        for task in late:
            log.warning("shutdown: cancelling event handler %s still running", task.get_name())
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        await super().close()
        if scorer := getattr(self, "scorer", None):
            await scorer.close()
        if store := getattr(self, "store", None):
            await store.close()


def create_bot(settings: Settings, **client_kwargs: Any) -> CommentWarden:
    return CommentWarden(settings, **client_kwargs)
