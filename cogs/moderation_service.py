"""The Discord side of moderation shared by the watcher, the review buttons and the slash commands.

Every path that changes something on Discord (delete, timeout, ban, warn) goes through here, so each is
logged the same way: one case per action, a dedup key so a retry or a restart never logs twice, and the
bot's own actions recognisable when they come back through the audit log.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import discord

from bot.mirror.publisher import PublishError
from bot.mirror.writeback import hold_on_site
from bot.moderation import actions
from bot.moderation.cards import FlagCard, flag_embed
from bot.moderation.durations import describe
from bot.moderation.notices import Notice, render_notice
from bot.moderation.policy import Verdict, levels_for_model
from bot.moderation.warnings import escalation, expiry
from bot.scoring import TextScore
from bot.store import AUTO, Case, GuildSettings, Level, NewCase, StoreError
from cogs.moderation_buttons import card_view

if TYPE_CHECKING:
    from bot.factory import CommentWarden

log = logging.getLogger(__name__)

MIRROR_COG = "Mirror"


class ActionError(Exception):
    """A Discord action could not be done; the message is one line telling the moderator what to fix."""


def content_key(text: str) -> str:
    """A short hash of a text for dedup keys: an edited message is a new flag, a retried one is not."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class FlagTarget:
    """What was scored and where it lives, for a member message and a mirrored comment alike."""

    guild: discord.Guild
    kind: str  # "member" | "comment"
    target_id: str
    target_name: str
    text: str
    place: str  # what to name beside the channel mention: an article's title, or "" for a member's message
    link: str | None
    channel_id: int | None
    message_ids: list[int] = field(default_factory=list)
    dedup: str = ""

    @property
    def message_id(self) -> int | None:
        return self.message_ids[0] if self.message_ids else None


@dataclass(frozen=True)
class Warned:
    case: Case
    active_points: int
    escalated: Case | None = None
    problem: str | None = None  # why the escalation could not be carried out

    def describe(self) -> str:
        line = f"case #{self.case.case_number}; active points: {self.active_points}."
        if self.escalated is not None and self.escalated.shadow:
            line += (f" The limit was crossed; shadow mode is on, so nothing was done "
                     f"(`{self.escalated.action}` logged as case #{self.escalated.case_number}).")
        elif self.escalated is not None:
            line += f" The limit was crossed: `{self.escalated.action}` logged as case #{self.escalated.case_number}."
        if self.problem:
            line += f" Note: {self.problem}"
        return line


def member_target(message: discord.Message, content: str, guild: discord.Guild | None = None) -> FlagTarget:
    """What a flag of a member's message points at (`content`: the text as scored)."""
    guild = guild or message.guild
    if guild is None:
        raise ValueError("a member's message to flag must be in a guild")
    return FlagTarget(
        guild=guild, kind="member", target_id=str(message.author.id),
        target_name=f"{message.author} ({message.author.id})", text=content,
        place="", link=message.jump_url, channel_id=message.channel.id,
        message_ids=[message.id], dedup=f"{guild.id}:{message.id}:{content_key(content)}",
    )


def forbidden(what: str, permission: str) -> ActionError:
    return ActionError(f"I could not {what}: give my role the {permission} permission (and a role above the member's).")


class ModerationService:
    def __init__(self, bot: CommentWarden) -> None:
        self.bot = bot
        self._warned_no_channel: set[int] = set()
        # (guild, case) -> held while its flag is followed up: the live event, a retry and a recovery pass can
        # reach one flag together, and the second must find the first's card rather than post another.
        self._following: weakref.WeakValueDictionary[tuple[int, int], asyncio.Lock] = weakref.WeakValueDictionary()
        # Cards sent whose recording failed (the database refused): a retry records these instead of sending again.
        self._unrecorded: dict[tuple[int, int], discord.Message] = {}

    # Levels and settings

    async def settings(self, guild_id: int) -> GuildSettings:
        return await self.bot.store.guilds.get(guild_id)

    def levels(self, settings: GuildSettings, channel: discord.abc.Snowflake | None) -> dict[str, Level]:
        ids = [getattr(channel, "parent_id", None), channel.id] if channel is not None else []
        return levels_for_model(settings, ids, self.bot.settings.thresholds, self.bot.scorer.labels)

    # Flags

    @staticmethod
    def flag_case(target: FlagTarget, score: TextScore, verdict: Verdict, settings: GuildSettings) -> NewCase:
        """The flag's case, for callers that log it in a transaction of their own (the watcher's batches)."""
        strongest = verdict.strongest
        return NewCase(
            guild_id=target.guild.id, action=actions.FLAG, target_kind=target.kind, target_id=target.target_id,
            target_name=target.target_name, reason=verdict.reason(), scores=dict(score.scores),
            label=strongest.label if strongest else score.top_label,
            score=strongest.score if strongest else score.top_score, evidence=score.evidence or None,
            link=target.link, channel_id=target.channel_id, message_id=target.message_id,
            shadow=settings.shadow_mode, dedup_key=f"flag:{target.dedup}",
        )

    async def flag(self, target: FlagTarget, score: TextScore, verdict: Verdict, settings: GuildSettings,
                   *, act: bool) -> Case:
        """Log a flag, act on it when allowed, and post its review card (once, even if called again)."""
        case = await self.bot.store.cases.add(self.flag_case(target, score, verdict, settings))
        return await self.follow_up(target, case, score, verdict, settings, act=act)

    async def follow_up(self, target: FlagTarget, case: Case, score: TextScore, verdict: Verdict,
                        settings: GuildSettings, *, act: bool) -> Case:
        """What comes after a flag is logged: the act level, then the card. Also how a flag whose card a
        killed process never posted gets one after the restart; a flag already carded is left alone.

        In shadow mode a flag at an act level is not acted on; what would have been done is logged as such.
        """
        async with self._following.setdefault((target.guild.id, case.case_number), asyncio.Lock()):
            if await self.bot.store.cases.card(target.guild.id, case.case_number) is not None:
                return case  # a retry of a flag already carded
            acted, removed = await self.act_automatically(target, case, settings) if act else (None, False)
            if not act and verdict.act and settings.shadow_mode:
                acted = await self.log_would_act(target, case, settings)
            await self.post_card(target, case, score, verdict, settings, acted, settled=removed)
            return case

    async def log_would_act(self, target: FlagTarget, flag: Case, settings: GuildSettings) -> str:
        """Shadow mode at an act level: log the removal (and timeout) that would have happened, marked so."""
        would: list[tuple[str, int | None]] = [(actions.WOULD_REMOVE, None)]
        if target.kind == "member" and settings.act_timeout_minutes > 0:
            would.append((actions.WOULD_TIMEOUT, settings.act_timeout_minutes * 60))
        numbers = []
        for action, seconds in would:
            logged = await self.bot.store.cases.add(NewCase(
                guild_id=target.guild.id, action=action, target_kind=target.kind, target_id=target.target_id,
                target_name=target.target_name, reason=f"shadow mode, not done: {flag.reason}", scores=flag.scores,
                label=flag.label, score=flag.score, link=target.link, channel_id=target.channel_id,
                message_id=target.message_id, duration_seconds=seconds, ref_case=flag.case_number, shadow=True,
                dedup_key=f"{action}:{target.dedup}",
            ))
            numbers.append(f"#{logged.case_number}")
        what = "removed the message" if target.kind == "member" else "removed the comment"
        if len(would) > 1:
            what += " and timed the member out"
        return f"Shadow mode: would have {what} (logged as {', '.join(numbers)}); nothing was done."

    async def flag_by_hand(self, target: FlagTarget, score: TextScore, verdict: Verdict, settings: GuildSettings,
                           moderator: discord.abc.User) -> Case:
        """A moderator's "Flag for review": a flag whatever the scores, carded like any other, never acted on.

        It shares the automatic flag's dedup key, so a message already flagged finds that case and card.
        """
        reason = f"flagged by {moderator}" + (f": {verdict.reason()}" if verdict.flag else "")
        case = await self.bot.store.cases.add(replace(
            self.flag_case(target, score, verdict, settings), reason=reason, moderator_id=moderator.id,
            moderator_name=str(moderator)))
        return await self.follow_up(target, case, score, replace(verdict, acted=()), settings, act=False)

    async def target_of(self, guild: discord.Guild, message: discord.Message) -> FlagTarget | None:
        """What a message in Discord stands for: a mirrored comment (our webhook's post) or a member's words."""
        if message.webhook_id is not None:
            row = await self.bot.store.mirror.comment_by_message(message.id)
            if row is None:
                return None
            article = await self.bot.store.mirror.article(row["article_id"])
            return FlagTarget(
                guild=guild, kind="comment", target_id=str(row["id"]), target_name=row["author"], text=row["text"],
                place=article["title"] if article else "", link=message.jump_url, channel_id=message.channel.id,
                message_ids=[message.id], dedup=f"{guild.id}:comment:{row['id']}:{row['content_hash'][:16]}",
            )
        if message.author.bot or not message.content.strip():
            return None
        return member_target(message, message.content, guild)

    async def act_automatically(self, target: FlagTarget, flag: Case, settings: GuildSettings) -> tuple[str, bool]:
        """The act level: remove the message (or the comment), and time the member out if configured.

        Returns what was done, for the card, and whether the removal happened; if not, the card stays open.
        """
        done: list[str] = []
        removed = False
        guild = target.guild
        try:
            if target.kind == "comment":
                done.append(await self.remove_comment(guild, int(target.target_id), target.channel_id,
                                                      target.message_ids))
            else:
                await self.delete_messages(guild, target.channel_id, target.message_ids)
                done.append("Message deleted.")
        except ActionError as exc:
            done.append(str(exc))  # on the card for the moderators; no removal is logged that did not happen
        else:
            removed = True
            await self.bot.store.cases.add(NewCase(
                guild_id=guild.id, action=actions.REMOVE, target_kind=target.kind, target_id=target.target_id,
                target_name=target.target_name, reason=f"automatic: {flag.reason}", scores=flag.scores,
                label=flag.label, score=flag.score, link=target.link, channel_id=target.channel_id,
                message_id=target.message_id, ref_case=flag.case_number, dedup_key=f"auto-remove:{target.dedup}",
            ))
        if target.kind == "member" and settings.act_timeout_minutes > 0:
            seconds = settings.act_timeout_minutes * 60
            try:
                member = await self.member(guild, int(target.target_id))
                await self.timeout(member, seconds, f"automatic: case #{flag.case_number}")
                timed_out = await self.bot.store.cases.add(NewCase(
                    guild_id=guild.id, action=actions.TIMEOUT, target_kind="member", target_id=target.target_id,
                    target_name=target.target_name, reason=f"automatic: {flag.reason}", duration_seconds=seconds,
                    ref_case=flag.case_number, dedup_key=f"auto-timeout:{target.dedup}",
                ))
                await self.tell_case(guild, member, timed_out, settings)
                done.append(f"Member timed out for {describe(seconds)}.")
            except ActionError as exc:
                done.append(str(exc))
        return " ".join(done), removed

    async def post_card(self, target: FlagTarget, case: Case, score: TextScore, verdict: Verdict,
                        settings: GuildSettings, acted: str | None, *, settled: bool = False) -> None:
        """Post the card (or just queue the flag when no review channel is set); a `settled` card, one the bot
        already acted on, is shown decided with its buttons off."""
        store = self.bot.store.cases
        key = (target.guild.id, case.case_number)
        channel = target.guild.get_channel(settings.review_channel_id) if settings.review_channel_id else None
        message = self._unrecorded.pop(key, None)  # sent by an attempt whose recording failed: record that one
        if message is None and isinstance(channel, discord.abc.Messageable):
            embed = discord.Embed.from_dict(flag_embed(FlagCard(
                case_number=case.case_number, text=target.text, author=target.target_name, place=target.place,
                link=target.link, scores=score.scores, verdict=verdict, evidence=score.evidence,
                shadow=settings.shadow_mode, acted=acted, channel_id=target.channel_id, coverage=score.coverage,
            )))
            view = card_view(target.guild.id, case.case_number, target.kind, disabled=settled)
            try:
                message = await channel.send(embed=embed, view=view, allowed_mentions=discord.AllowedMentions.none())
            except discord.HTTPException as exc:
                log.warning("cannot post review card for case %d in guild %d: %s", case.case_number, target.guild.id, exc)
        elif message is None and target.guild.id not in self._warned_no_channel:
            self._warned_no_channel.add(target.guild.id)
            log.warning("guild %d has no review channel: flags are logged but no cards are posted "
                        "(set one with /config review-channel)", target.guild.id)
        try:
            await store.set_card(target.guild.id, case.case_number, message.channel.id if message else None,
                                 message.id if message else None)
        except StoreError:
            if message is not None:
                self._unrecorded[key] = message
            raise
        if settled:
            me = self.bot.user
            await store.decide(target.guild.id, case.case_number, actions.AUTO_DECISION, me.id if me else 0, AUTO)

    async def remove_comment(self, guild: discord.Guild, comment_id: int, channel_id: int | None,
                             message_ids: list[int]) -> str:
        """Take a mirrored comment out of Discord and hold it on its site where write-back is configured.

        Through the mirror engine when it runs, so the removal is recorded as a moderator's and a later
        poll never brings the comment back; the site's answer (held, or why not) is the returned line.
        """
        engine = getattr(self.bot.get_cog(MIRROR_COG), "engine", None)
        row = await self.bot.store.mirror.comment_row(comment_id)
        try:
            if engine is not None and row is not None:
                await engine.remove_comment(comment_id)
            else:
                await self.delete_messages(guild, channel_id, message_ids)
        except PublishError as exc:
            raise ActionError(f"I could not remove the comment in Discord: {exc.reason}") from None
        if row is None:
            return "Comment removed in Discord."
        result = await hold_on_site(self.bot.settings, self.bot.store, row)
        return f"Comment removed in Discord. {result.message}"

    # Discord actions; each raises ActionError with a line the moderator can act on.

    async def member(self, guild: discord.Guild, user_id: int) -> discord.Member:
        member = guild.get_member(user_id)
        if member is not None:
            return member
        try:
            return await guild.fetch_member(user_id)
        except discord.NotFound:
            raise ActionError(f"<@{user_id}> is no longer in this server.") from None

    async def delete_messages(self, guild: discord.Guild, channel_id: int | None, message_ids: list[int]) -> None:
        if channel_id is None or not message_ids:
            return
        channel = guild.get_channel_or_thread(channel_id)
        if channel is None:
            try:
                channel = await guild.fetch_channel(channel_id)
            except discord.NotFound:
                return  # the whole channel is gone, and the message with it
        for message_id in message_ids:
            try:
                await channel.get_partial_message(message_id).delete()  # type: ignore[union-attr]
            except discord.NotFound:
                continue  # already deleted, by someone or by AutoMod: the goal is reached
            except discord.Forbidden:
                raise forbidden(f"delete the message in <#{channel_id}>", "Manage Messages") from None

    async def timeout(self, member: discord.Member, seconds: int, reason: str) -> None:
        try:
            await member.timeout(timedelta(seconds=seconds), reason=reason)
        except discord.Forbidden:
            raise forbidden(f"time out {member}", "Moderate Members") from None

    async def ban(self, guild: discord.Guild, user_id: int, reason: str) -> None:
        try:
            await guild.ban(discord.Object(user_id), reason=reason, delete_message_seconds=0)
        except discord.Forbidden:
            raise forbidden(f"ban <@{user_id}>", "Ban Members") from None

    async def kick(self, member: discord.Member, reason: str) -> None:
        try:
            await member.kick(reason=reason)
        except discord.Forbidden:
            raise forbidden(f"kick {member}", "Kick Members") from None

    # Telling the member

    async def tell(self, guild: discord.Guild, user: discord.abc.User, notice: Notice,
                   settings: GuildSettings) -> str | None:
        """DM the member about a case, unless the guild turned DMs off; returns why it failed, else None.

        Never raises: a member with closed DMs (or one who left) is normal, and the action stands.
        Kicks and bans call this before acting, while the member still shares the server with the bot.
        """
        if not settings.dm_members:
            return None
        text = render_notice(notice, settings.dm_template, settings.appeal)
        try:
            await user.send(text, allowed_mentions=discord.AllowedMentions.none())
        except discord.Forbidden:
            return "their DMs are closed to the bot"
        except discord.HTTPException as exc:
            return f"Discord refused the DM ({exc.status})"
        return None

    async def note_untold(self, guild: discord.Guild, case: Case, why: str | None) -> None:
        """A DM that failed is noted in the log as a row referring to the case, never as an error."""
        if why is None:
            return
        await self.bot.store.cases.add(NewCase(
            guild_id=guild.id, action=actions.DM_FAILED, target_kind=case.target_kind, target_id=case.target_id,
            target_name=case.target_name, reason=f"member not told: {why}", ref_case=case.case_number,
            dedup_key=f"dm-failed:{guild.id}:{case.case_number}",
        ))

    async def tell_case(self, guild: discord.Guild, user: discord.abc.User, case: Case,
                        settings: GuildSettings | None = None) -> None:
        """Tell the member about a case already carried out and logged (warn, timeout)."""
        settings = settings or await self.settings(guild.id)
        notice = Notice(case.action, guild.name, case.reason, case.case_number, case.duration_seconds, case.points)
        await self.note_untold(guild, case, await self.tell(guild, user, notice, settings))

    # Warnings

    async def warn(self, guild: discord.Guild, member: discord.abc.User, moderator: discord.abc.User, reason: str,
                   points: int, *, ref_case: int | None = None, dedup: str | None = None) -> Warned:
        """Add points; crossing the guild's limit triggers its action, logged as a case of its own.

        The warning is logged even when the escalation fails (missing permission): it was given.
        """
        settings = await self.settings(guild.id)
        now = datetime.now(UTC)
        target_id = str(member.id)
        warn_case, before = await self.bot.store.cases.add_warning(NewCase(
            guild_id=guild.id, action=actions.WARN, target_kind="member", target_id=target_id,
            target_name=f"{member} ({member.id})", moderator_id=moderator.id, moderator_name=str(moderator),
            reason=reason, points=points, expires_at=expiry(now, settings.warn_expiry_days), ref_case=ref_case,
            dedup_key=dedup,
        ))
        await self.tell_case(guild, member, warn_case, settings)
        step = escalation(before, points, settings.warn_point_limit)
        if not step.crossed or settings.warn_action == "none":
            return Warned(warn_case, step.after)
        why = f"warning points {step.after}/{step.limit} (case #{warn_case.case_number})"
        action = settings.warn_action if settings.warn_action in (actions.BAN, actions.KICK) else actions.TIMEOUT
        duration = settings.warn_timeout_minutes * 60 if action == actions.TIMEOUT else None
        escalation_case = NewCase(
            guild_id=guild.id, action=action, target_kind="member", target_id=target_id,
            target_name=f"{member} ({member.id})", reason=why, duration_seconds=duration,
            ref_case=warn_case.case_number, dedup_key=f"escalate:{guild.id}:{warn_case.case_number}",
        )
        if settings.shadow_mode:  # logged as what it would have been, never as done
            return Warned(warn_case, step.after, await self.bot.store.cases.add(
                replace(escalation_case, action=actions.would(action), shadow=True)))
        untold = None
        try:
            if action != actions.TIMEOUT:  # told first: after a kick or a ban the DM may no longer reach them
                permission = "Ban Members" if action == actions.BAN else "Kick Members"
                if not getattr(guild.me.guild_permissions, permission.lower().replace(" ", "_")):
                    raise forbidden(f"{action} {member}", permission)
                untold = await self.tell(guild, member, Notice(action, guild.name, why, warn_case.case_number),
                                         settings)
            if action == actions.BAN:
                await self.ban(guild, member.id, why)
            elif action == actions.KICK:
                await self.kick(await self.member(guild, member.id), why)
            else:
                await self.timeout(await self.member(guild, member.id), duration or 0, why)
        except ActionError as exc:
            return Warned(warn_case, step.after, problem=f"the limit was crossed but {exc}")
        escalated = await self.bot.store.cases.add(escalation_case)
        if action == actions.TIMEOUT:
            await self.tell_case(guild, member, escalated, settings)
        else:
            await self.note_untold(guild, escalated, untold)
        return Warned(warn_case, step.after, escalated)
