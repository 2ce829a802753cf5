"""Builds the bot. Nothing connects at import time; tests pass client options (e.g. a short
`guild_ready_timeout`) straight through."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.command_sync import sync_if_changed
from bot.config import Settings
from bot.connect import run_client
from bot.errors import WardenError
from bot.health import BEAT_SECONDS, beat, heartbeat_path
from bot.mirror import MirrorEngine
from bot.model import open_scorer
from bot.scoring import TextScorer
from bot.sharding import IdentifyGate, owns_guild, syncs_commands
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


class CommentWarden(commands.AutoShardedBot):
    """One process of the bot; with SHARD_COUNT/SHARD_IDS, one of several splitting the shards (README
    "Scaling out"). Unsharded, discord.py asks Discord how many shards to run and runs them all."""

    store: Store
    scorer: TextScorer
    # Set by the mirror extension's setup (EXTENSIONS loads it before moderation, which hands it to its service).
    mirror_engine: MirrorEngine | None = None

    def __init__(self, settings: Settings, *, force_command_sync: bool = False, **client_kwargs: Any) -> None:
        """`force_command_sync`: sync application commands even if unchanged (`commentwarden sync-commands`)."""
        if settings.shard_count is not None:
            client_kwargs.setdefault("shard_count", settings.shard_count)
        if settings.shard_ids is not None:
            client_kwargs.setdefault("shard_ids", list(settings.shard_ids))
        client_kwargs.setdefault("intents", intents())
        client_kwargs.setdefault("allowed_mentions", discord.AllowedMentions.none())
        super().__init__(
            command_prefix=commands.when_mentioned, tree_cls=CommentTree, help_command=None, **client_kwargs
        )
        self.settings = settings
        self.force_command_sync = force_command_sync
        self.heartbeat_file = heartbeat_path(settings.database_path)
        self._event_tasks: set[asyncio.Task[None]] = set()
        self._heartbeat_task: asyncio.Task[None] | None = None
        self.identify_gate: IdentifyGate | None = None

    def owns_guild(self, guild_id: int) -> bool:
        """Whether this process runs the guild's shard, so its sources are this process's to poll."""
        return owns_guild(guild_id, self.shard_count, self.shard_ids)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """With REDIS_URL, every process of the bot queues its IDENTIFYs in one gate (Discord counts them per
        bot); without it, discord.py's own 5-second wait, which only spaces this process's shards."""
        if self.identify_gate is not None:
            await self.identify_gate.wait(shard_id or 0)
        else:
            await super().before_identify_hook(shard_id, initial=initial)

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
        self.store = await Store.open(self.settings.database_target)
        self.scorer = await open_scorer(self.settings)
        if self.settings.redis_url:
            limits = await self.fetch_session_start_limits()
            self.identify_gate = await IdentifyGate.connect(
                self.settings.redis_url,
                max_concurrency=limits.max_concurrency,
                namespace=str(self.application_id),
            )
        for name in EXTENSIONS:
            await self.load_extension(name)
        if self.application_id is None:  # login() fetched it before calling setup_hook
            raise discord.ClientException("the application id is unknown after login")
        if syncs_commands(self.shard_ids):
            await sync_if_changed(
                self.tree, self.store.commands, self.application_id, force=self.force_command_sync
            )
        else:
            log.info("application commands are synced by the process running shard 0")
        self._heartbeat_task = asyncio.create_task(self._heartbeat(), name="heartbeat")

    def connected(self) -> bool:
        """Ready and every shard of this process holding an open gateway connection: what the heartbeat file
        vouches for."""
        shards = self.shards.values()
        return (
            self.is_ready()
            and not self.is_closed()
            and bool(shards)
            and not any(s.is_closed() for s in shards)
        )

    async def _heartbeat(self) -> None:
        """Refresh the heartbeat file while connected, for `commentwarden health` (see bot/health.py)."""
        await self.wait_until_ready()
        while not self.is_closed():
            if self.connected():
                await asyncio.to_thread(beat, self.heartbeat_file)
            await asyncio.sleep(BEAT_SECONDS)

    async def drain_events(self) -> set[asyncio.Task[None]]:
        """Wait for running event handlers (not the caller); returns those still running after the grace period."""
        running = self._event_tasks - {asyncio.current_task()}
        if not running:
            return set()
        _, late = await asyncio.wait(running, timeout=SHUTDOWN_GRACE_SECONDS)
        return late

    async def close(self) -> None:
        # The heartbeat goes first: a bot shutting down is no longer healthy.
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            await asyncio.gather(self._heartbeat_task, return_exceptions=True)
            self._heartbeat_task = None
            self.heartbeat_file.unlink(missing_ok=True)
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
        if self.identify_gate is not None:
            await self.identify_gate.close()


def create_bot(settings: Settings, **client_kwargs: Any) -> CommentWarden:
    return CommentWarden(settings, **client_kwargs)


async def serve(bot: CommentWarden, token: str) -> None:
    """Run the bot (`run_client`: login retried while Discord is unreachable) until it stops or SIGTERM/SIGINT
    arrives, then shut down gracefully.

    `systemctl stop` and `docker stop` send SIGTERM, Ctrl-C sends SIGINT: both take the same path. Polling
    stops, a post already sent is recorded, running handlers get SHUTDOWN_GRACE_SECONDS, then the store
    closes, which merges the WAL into the database file. The process then returns normally (exit 0); the
    deployment files allow 30 s before a hard kill.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # Python delivers signals to the main thread only; run from another thread (embedded), the caller stops
    # the bot with `bot.close()`.
    in_main_thread = threading.current_thread() is threading.main_thread()
    signals = (signal.SIGTERM, signal.SIGINT) if in_main_thread else ()

    def request_stop(signum: signal.Signals) -> None:
        if not stop.is_set():
            log.info("received %s: shutting down gracefully", signum.name)
        stop.set()

    for signum in signals:
        loop.add_signal_handler(signum, request_stop, signum)
    try:
        async with bot:
            runner = asyncio.create_task(run_client(bot, token), name="bot.run")
            stopper = asyncio.create_task(stop.wait(), name="stop-signal")
            await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not runner.done():
                await bot.close()
            await runner
            log.info("shut down cleanly")
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
