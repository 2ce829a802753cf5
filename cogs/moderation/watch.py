"""Watching the guild: member messages and edits, mirrored comments, AutoMod executions, the audit log.

Messages are gathered in short windows and scored in one call per batch, and their scores stored in one
commit, so a burst costs a handful of model calls rather than one each. The bot never scores its own or a
webhook's posts here (that would loop through the mirror); mirrored comments arrive already scored, as
`comment_scored` events from the mirror engine.

A write the database refuses (locked past the busy timeout, disk full) is tried again a few times with
backoff before a batch or a comment is given up: a brief outage must not lose a flag. What is given up is
not lost for good either: a member's message has no score, so the next READY's catch-up scores it; a
comment stays unjudged, so the recovery sweep flags it (cogs/moderation/recovery.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import discord
from discord.ext import commands

from bot.backoff import backoff_delay
from bot.mirror.engine import SITE
from bot.mirror.events import CommentRemoved, CommentScored
from bot.moderation import actions
from bot.moderation.batching import Batcher
from bot.moderation.judge import COMMENT, Judgement, comment_subject, content_key
from bot.scoring import TextScore
from bot.store import Case, GuildSettings, MessageScore, NewCase, StoreError
from cogs.checks import counts_as_moderator
from cogs.moderation._service import FlagTarget, ModerationService, channel_ids, member_target

if TYPE_CHECKING:
    from bot.factory import CommentWarden

log = logging.getLogger(__name__)
T = TypeVar("T")
# A member message to flag: (what its card shows, its guild's settings, the judgement that flagged it).
Flag = tuple[FlagTarget, GuildSettings, Judgement]
# A member message in a watched channel: (its guild, the message, content as scored, the guild's settings).
Watched = tuple[discord.Guild, discord.Message, str, GuildSettings]

SUBMITTED_MEMORY = 10_000  # message versions remembered to keep a restart's catch-up and live events apart

# Only what a member typed: joins, pins, boosts and AutoMod's alert posts are not the member's words.
SCORED_TYPES = (discord.MessageType.default, discord.MessageType.reply)

# A refused write is tried this many times in all; the waits between double from RETRY_BASE seconds (jittered).
# A lock has already been waited on for the busy timeout by then, so the waits themselves can stay short.
RETRY_ATTEMPTS = 4
RETRY_BASE = 0.25


async def retrying(step: Callable[[], Awaitable[T]], what: str) -> T:
    """Run a database-writing step again while the database refuses it, a bounded number of times.

    Only for steps that are safe to repeat (one transaction, or writes made idempotent by dedup keys); the
    last StoreError is raised when every attempt failed.
    """
    for attempt in range(1, RETRY_ATTEMPTS + 1):
        try:
            return await step()
        except StoreError as exc:
            if attempt == RETRY_ATTEMPTS:
                raise
            delay = backoff_delay(RETRY_BASE, attempt)
            log.warning(
                "%s failed (attempt %d of %d): %s; trying again in %.1f s",
                what,
                attempt,
                RETRY_ATTEMPTS,
                exc,
                delay,
            )
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


def scoreable(message: discord.Message) -> bool:
    return (
        message.guild is not None
        and not message.author.bot
        and message.webhook_id is None
        and message.type in SCORED_TYPES
        and bool(message.content.strip())
    )


def exempt(message: discord.Message, settings: GuildSettings) -> bool:
    """Moderators' own messages are not scored unless the guild opts in (`/config score-moderators`):
    quoting abuse to discuss it is their job, and flagging it only fills the queue."""
    author = message.author
    return (
        not settings.score_moderators
        and isinstance(author, discord.Member)
        and counts_as_moderator(author, settings)
    )


def watched(settings: GuildSettings, channel: object) -> bool:
    channel_id = getattr(channel, "id", 0)
    parent_id = getattr(channel, "parent_id", None)
    return settings.watches(channel_id) or (parent_id is not None and settings.watches(parent_id))


class Watcher(commands.Cog):
    def __init__(self, bot: CommentWarden, service: ModerationService) -> None:
        self.bot = bot
        self.service = service
        # (message, content at arrival): discord.py edits a cached Message in place, so an edit arriving
        # before the batch runs must not rewrite the text the earlier version is scored and logged with.
        self.batcher: Batcher[tuple[discord.Message, str]] = Batcher(self.handle_batch)
        # (message id, text) already handed to the batcher by this process: the catch-up after a restart and
        # the live events can both see a message, and it must be scored (and carded) once.
        self._submitted: OrderedDict[tuple[int, str], None] = OrderedDict()
        # Set once the previous batch is logged (or given up): batches run concurrently, and one waiting out a
        # locked database must not be overtaken, so cases keep the order the messages were written in.
        self._logged = asyncio.Event()
        self._logged.set()

    async def cog_unload(self) -> None:
        await self.batcher.drain()

    # Member messages

    def submit(self, message: discord.Message) -> bool:
        """Queue a message version for scoring unless this process already did; False when skipped."""
        key = (message.id, content_key(message.content))
        if key in self._submitted:
            return False
        self._submitted[key] = None
        if len(self._submitted) > SUBMITTED_MEMORY:
            self._submitted.popitem(last=False)
        self.batcher.submit((message, message.content))
        return True

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if scoreable(message):
            self.submit(message)

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        """Raw, so edits of messages older than the cache are re-scored too; embeds resolving are skipped."""
        message = payload.message
        before = payload.cached_message
        if before is not None and before.content == message.content:
            return
        if scoreable(message):
            self.submit(message)

    async def handle_batch(self, batch: list[tuple[discord.Message, str]]) -> None:
        try:
            await self.score_batch(batch)
        except StoreError as exc:
            # Given up: forgotten as submitted, so the catch-up after the next READY scores these messages again.
            for message, content in batch:
                self._submitted.pop((message.id, content_key(content)), None)
            log.warning(
                "a batch of %d messages was not logged: %s; the catch-up after the next READY scores "
                "them again",
                len(batch),
                exc,
            )

    async def score_batch(self, batch: list[tuple[discord.Message, str]]) -> None:
        previous, self._logged = self._logged, asyncio.Event()
        logged = self._logged
        try:
            todo = await retrying(
                lambda: self._watched(batch), f"reading the settings for {len(batch)} messages"
            )
            if not todo:
                return
            results = await self.bot.scorer.score([content for _, _, content, _ in todo])
            rows, flags = self._judge(todo, results)
            await previous.wait()
            cases = await retrying(lambda: self._log(rows, flags), f"logging a batch of {len(rows)} scores")
        finally:
            logged.set()
        for case, (target, guild_settings, judgement) in zip(cases, flags, strict=True):
            await retrying(
                functools.partial(
                    self.service.follow_up, target, case, judgement, guild_settings, act=judgement.act
                ),
                f"following up case #{case.case_number}",
            )

    async def _watched(self, batch: list[tuple[discord.Message, str]]) -> list[Watched]:
        settings: dict[int, GuildSettings] = {}
        todo: list[Watched] = []
        for message, content in batch:
            guild = message.guild
            if guild is None:  # scoreable() let only guild messages in; a DM has no levels to judge by
                continue
            if guild.id not in settings:
                settings[guild.id] = await self.service.settings(guild.id)
            if watched(settings[guild.id], message.channel) and not exempt(message, settings[guild.id]):
                todo.append((guild, message, content, settings[guild.id]))
        return todo

    def _judge(self, todo: list[Watched], results: list[TextScore]) -> tuple[list[MessageScore], list[Flag]]:
        rows: list[MessageScore] = []
        flags: list[Flag] = []
        judge = self.service.judge
        for (guild, message, content, guild_settings), score in zip(todo, results, strict=True):
            target = member_target(guild, message, content)
            judgement = judge.judge(target.subject, score, guild_settings, channel_ids(message.channel))
            rows.append(
                MessageScore(
                    guild_id=guild.id,
                    channel_id=message.channel.id,
                    message_id=message.id,
                    author_id=message.author.id,
                    scores=dict(score.scores),
                    top_label=score.top_label,
                    top_score=score.top_score,
                    flagged=judgement.flagged,
                )
            )
            if judgement.flag is not None:
                flags.append((target, guild_settings, judgement))
        return rows, flags

    async def _log(self, rows: list[MessageScore], flags: list[Flag]) -> list[Case]:
        # Scores and flag cases commit together: after a kill -9 a message is either fully logged (and only
        # its card may be missing, which the restart posts) or not at all (and the restart's catch-up scores it).
        # A refused commit wrote nothing, so it can simply be tried again.
        return await self.bot.store.scores.add_many(
            rows, [case for *_, j in flags if (case := j.flag) is not None]
        )

    # Mirrored comments

    @commands.Cog.listener()
    async def on_comment_scored(self, event: CommentScored) -> None:
        try:
            await retrying(lambda: self.judge_comment(event), f"judging mirrored comment {event.comment_id}")
        except StoreError as exc:
            log.warning(
                "mirrored comment %d was not judged: %s; the recovery sweep judges it later",
                event.comment_id,
                exc,
            )

    async def judge_comment(self, event: CommentScored) -> Case | None:
        """Flag a mirrored comment version that crosses the guild's levels, then mark the version judged.

        The one path for comments: the live event, and the recovery pass that replays the event of a version
        left unjudged (`bot.mirror.engine.announced`). Safe to repeat: the flag's dedup key and the card check
        make a second run find the first's case and card. Returns the flag, None when nothing crossed.
        """
        guild = self.bot.get_guild(event.guild_id)
        if guild is None:
            return None
        settings = await self.service.settings(guild.id)
        subject = comment_subject(
            event.guild_id,
            event.comment_id,
            event.comment.author,
            event.comment.content_hash,
            event.thread_id,
            (event.message_id,),
            event.jump_url,
        )
        judgement = self.service.judge.judge(
            subject, event.score, settings, [event.channel_id, event.thread_id]
        )
        case = None
        following = (
            await self.bot.store.cases.open_flags_of(guild.id, COMMENT, str(event.comment_id))
            if event.edited
            else []
        )
        for flag in following:  # the open card follows the site's edit instead of a second card being posted
            await self.service.site_edited(guild, flag, event.comment.text, judgement)
        if judgement.flagged and not following and event.held:
            case = await self.service.hold(
                FlagTarget(guild, judgement.subject, text=event.comment.text, place=event.article.title),
                judgement,
                settings,
            )
        elif judgement.flagged and not following:
            article = event.article
            target = FlagTarget(guild, judgement.subject, text=event.comment.text, place=article.title)
            case = await self.service.flag(target, judgement, settings)
        await self.bot.store.mirror.set_judged(event.comment_id, event.comment.content_hash)
        return case

    @commands.Cog.listener()
    async def on_comment_removed(self, event: CommentRemoved) -> None:
        """A comment its site removed: the cards still open for it close with that reason."""
        guild = self.bot.get_guild(event.guild_id)
        if guild is None or event.by != SITE:
            return
        try:
            for flag in await self.bot.store.cases.open_flags_of(guild.id, COMMENT, str(event.comment_id)):
                await retrying(
                    functools.partial(self.service.site_removed, guild, flag),
                    f"closing the card of case #{flag.case_number}",
                )
        except StoreError as exc:
            log.warning(
                "the cards of comment %d were not closed after its removal on the site: %s",
                event.comment_id,
                exc,
            )

    # Discord AutoMod

    @commands.Cog.listener()
    async def on_automod_action(self, execution: discord.AutoModAction) -> None:
        """AutoMod acted on its own: log it, since our log must tell the whole story of a member."""
        kind = execution.action.type
        seconds = None
        if kind is discord.AutoModRuleActionType.timeout and execution.action.duration is not None:
            seconds = int(execution.action.duration.total_seconds())
        anchor: int | str | None = execution.message_id or execution.alert_system_message_id
        if anchor is None:  # a blocked message never existed: the text and the minute identify it
            anchor = f"{content_key(execution.content)}:{datetime.now(UTC).strftime('%Y%m%d%H%M')}"
        reason = f"AutoMod rule {execution.rule_id}: {kind.name}"
        if execution.matched_keyword:
            reason += f" (matched {execution.matched_keyword!r})"
        member = execution.member
        await self.bot.store.cases.add(
            NewCase(
                guild_id=execution.guild_id,
                action=actions.AUTOMOD,
                target_kind="member",
                target_id=str(execution.user_id),
                target_name=f"{member} ({member.id})" if member else str(execution.user_id),
                moderator_name="AutoMod",
                reason=reason,
                evidence=execution.content[:1000] or None,
                channel_id=execution.channel_id,
                message_id=execution.message_id,
                duration_seconds=seconds,
                dedup_key=f"automod:{execution.guild_id}:{execution.rule_id}:{execution.user_id}:{kind.name}:{anchor}",
            )
        )

    # Actions taken outside the bot

    @commands.Cog.listener()
    async def on_audit_log_entry_create(self, entry: discord.AuditLogEntry) -> None:
        """Bans, kicks and timeouts by people (or other bots) become cases; the bot's own are logged already."""
        me = self.bot.user
        if me is not None and entry.user_id == me.id:
            return
        action, seconds = self._audit_action(entry)
        if action is None:
            return
        target = entry.target
        target_id = str(getattr(target, "id", "") or "")
        if not target_id:
            return
        ref: Case | None = None
        if action in (actions.UNBAN, actions.UNTIMEOUT):
            ref = await self.bot.store.cases.latest(
                entry.guild.id, target_id, actions.BAN if action == actions.UNBAN else actions.TIMEOUT
            )
        user = entry.user
        await self.bot.store.cases.add(
            NewCase(
                guild_id=entry.guild.id,
                action=action,
                target_kind="member",
                target_id=target_id,
                target_name=f"{target} ({target_id})" if isinstance(target, discord.abc.User) else target_id,
                moderator_id=entry.user_id,
                moderator_name=str(user) if user else str(entry.user_id),
                reason=entry.reason or "(outside the bot, no reason given)",
                duration_seconds=seconds,
                ref_case=ref.case_number if ref else None,
                dedup_key=f"audit:{entry.guild.id}:{entry.id}",
            )
        )

    @staticmethod
    def _audit_action(entry: discord.AuditLogEntry) -> tuple[str | None, int | None]:
        kinds = discord.AuditLogAction
        if entry.action is kinds.ban:
            return actions.BAN, None
        if entry.action is kinds.unban:
            return actions.UNBAN, None
        if entry.action is kinds.kick:
            return actions.KICK, None
        if entry.action is kinds.member_update:
            after = getattr(entry.after, "timed_out_until", discord.utils.MISSING)
            before = getattr(entry.before, "timed_out_until", discord.utils.MISSING)
            if after is discord.utils.MISSING or after == before:
                return None, None
            if after is None:
                return actions.UNTIMEOUT, None
            return actions.TIMEOUT, max(0, int((after - entry.created_at).total_seconds()))
        return None, None
