"""After every READY (a start, a restart after a crash, a new gateway session): finish what a dead process left.

Three gaps can follow a `kill -9` or an outage, and each would silently lose a flag or its review card:

- a flag was logged but its card never recorded: the card is adopted if it did reach the review channel
  (its footer names the case), else posted now;
- a mirrored comment reached Discord but was never judged against the flag levels (the process died, or
  the database refused the flag, between the post and the case; the mirror will not announce that version
  again): its `comment_scored` event is rebuilt from the store and judged through the same path as a live
  one, so shadow mode, act levels and the card behave the same;
- members wrote while nobody listened (the bot was down, or its session was invalidated): the recent
  history of every channel already being watched is read back and whatever has no score yet is scored
  as if it had just arrived.

The first two also run on a timer (`SWEEP_EVERY`), for what failed inside a process that lives on. All are
bounded (a window of recent flags and comments, the last messages of each channel) so a pass stays cheap.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.mirror.engine import announced
from bot.store import GuildSettings, StoreError
from bot.timestamps import to_iso, utcnow_iso
from cogs.moderation._service import ModerationService
from cogs.moderation.watch import Watcher, scoreable, watched

if TYPE_CHECKING:
    from bot.factory import CommentWarden

log = logging.getLogger(__name__)

FLAG_WINDOW = timedelta(
    days=7
)  # flags older than this without a card, comments mirrored before it, are left be
COMMENTS_PER_PASS = (
    100  # per guild: the most unjudged comments one pass judges (the next pass takes the rest)
)
SWEEP_EVERY = 300.0  # seconds between the timed passes
CATCH_UP_MESSAGES = 100  # per channel: the most a restart reads back
CARD_LOOKBACK = 100  # review-channel messages searched for a card that landed before a crash
_CARD_FOOTER = re.compile(r"^case #(\d+)$")


class Recovery(commands.Cog):
    def __init__(self, bot: CommentWarden, service: ModerationService, watcher: Watcher) -> None:
        self.bot = bot
        self.service = service
        self.watcher = watcher  # judges the comments never judged, and scores the messages missed
        # Flags logged before this moment were logged by an earlier process (or session): any without a
        # card is orphaned. Later ones belong to batches of this process still on their way to a card.
        self._started = utcnow_iso()
        self._sweeper: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep(), name="moderation-recovery-sweep")

    async def cog_unload(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        for guild in self.bot.guilds:
            try:
                settings = await self.service.settings(guild.id)
                await self.recover_cards(guild, settings, self._started)
                await self.recover_comments(guild)
                await self.catch_up(guild, settings)
            except (discord.HTTPException, StoreError) as exc:
                log.warning("recovery in guild %d stopped: %s", guild.id, exc)

    async def _sweep(self) -> None:
        """The timed passes: flags and comments whose handling failed in this process (a database refusing
        writes for longer than the retries waited) are finished without waiting for a restart."""
        await self.bot.wait_until_ready()
        while True:
            # Flags logged before the previous pass had all that time to get their card from the path that
            # logged them; later ones may still be on their way (the follow-up lock keeps even those single).
            before = utcnow_iso()
            await asyncio.sleep(SWEEP_EVERY)
            for guild in self.bot.guilds:
                try:
                    settings = await self.service.settings(guild.id)
                    await self.recover_cards(guild, settings, before)
                    await self.recover_comments(guild)
                except (discord.HTTPException, StoreError) as exc:
                    log.warning("recovery sweep in guild %d stopped: %s", guild.id, exc)

    # Cards

    async def recover_cards(self, guild: discord.Guild, settings: GuildSettings, before: str) -> None:
        """Card the recent flags logged before `before` that have none."""
        since = to_iso(datetime.now(UTC) - FLAG_WINDOW)
        flags = [
            f for f in await self.bot.store.cases.uncarded_flags(guild.id, since) if f.created_at < before
        ]
        if not flags:
            return
        landed = await self._landed_cards(guild, settings)
        for flag in flags:
            card = landed.get(flag.case_number)
            if card is not None:
                await self.bot.store.cases.set_card(guild.id, flag.case_number, card.channel.id, card.id)
                continue
            target, judgement = await self.service.rejudge(guild, flag, settings)
            # A flag logged in shadow mode is never acted on later, even if shadow mode is off by now.
            await self.service.follow_up(
                target, flag, judgement, settings, act=judgement.act and not flag.shadow
            )
        log.info("guild %d: %d review cards recovered", guild.id, len(flags))

    async def _landed_cards(
        self, guild: discord.Guild, settings: GuildSettings
    ) -> dict[int, discord.Message]:
        """Cards this bot posted that the database may not know: case number -> message."""
        channel = guild.get_channel(settings.review_channel_id) if settings.review_channel_id else None
        if (
            not isinstance(channel, discord.TextChannel)
            or not channel.permissions_for(guild.me).read_message_history
        ):
            return {}
        found: dict[int, discord.Message] = {}
        async for message in channel.history(limit=CARD_LOOKBACK):
            if self.bot.user is not None and message.author.id == self.bot.user.id and message.embeds:
                match = _CARD_FOOTER.match(message.embeds[0].footer.text or "")
                if match:
                    found.setdefault(int(match[1]), message)
        return found

    # Mirrored comments never judged

    async def recover_comments(self, guild: discord.Guild) -> None:
        """Judge the recent mirrored comment versions whose `comment_scored` handling never finished.

        A version whose live event is still being handled may be picked up too; that is harmless, since
        judging is idempotent (dedup key, one follow-up at a time per flag).
        """
        since = to_iso(datetime.now(UTC) - FLAG_WINDOW)
        pending = await self.bot.store.mirror.unjudged(guild.id, since, limit=COMMENTS_PER_PASS)
        flagged = 0
        for comment in pending:
            try:
                flagged += await self.watcher.judge_comment(announced(comment)) is not None
            except (
                discord.HTTPException
            ) as exc:  # Discord refused an act-level removal: the next pass tries again
                log.warning("guild %d: judging mirrored comment %d failed: %s", guild.id, comment.row.id, exc)
        if pending:
            log.info(
                "guild %d: %d mirrored comments judged late, %d of them flagged",
                guild.id,
                len(pending),
                flagged,
            )

    # Messages written while nobody listened

    async def catch_up(self, guild: discord.Guild, settings: GuildSettings) -> None:
        channels: list[discord.TextChannel | discord.Thread] = [*guild.text_channels, *guild.threads]
        queued = 0
        for channel in channels:
            if not watched(settings, channel) or not channel.permissions_for(guild.me).read_message_history:
                continue
            newest = await self.bot.store.scores.newest_in_channel(guild.id, channel.id)
            if newest is None:
                continue  # never scored here: nothing was missed, and old history is not ours to score
            recent = [m async for m in channel.history(limit=CATCH_UP_MESSAGES)]
            scored = await self.bot.store.scores.scored_ids(m.id for m in recent)
            # Everything newer than the oldest scored message in view, or than the newest scored one at all.
            floor = min(scored) if scored else newest
            for message in reversed(recent):  # oldest first, as they were written
                if message.id > floor and message.id not in scored and scoreable(message):
                    queued += self.watcher.submit(message)
        if queued:
            log.info("guild %d: scoring %d messages written while the bot was away", guild.id, queued)
