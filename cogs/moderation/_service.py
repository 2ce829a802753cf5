"""The Discord side of moderation shared by the watcher, the review buttons and the slash commands.

Every path that changes something on Discord (delete, timeout, ban, warn) goes through here, so each is
logged the same way: one case per action, a dedup key so a retry or a restart never logs twice, and the
bot's own actions recognisable when they come back through the audit log.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import discord

from bot.errors import WardenError
from bot.mirror.publisher import PublishError
from bot.mirror.writeback import hold_on_site
from bot.moderation import actions
from bot.moderation.cards import FlagCard, decided_embed, flag_embed, site_edit_embed
from bot.moderation.durations import describe
from bot.moderation.judge import (
    COMMENT,
    MEMBER,
    Judge,
    Judgement,
    Subject,
    auto_remove_case,
    auto_timeout_case,
    comment_subject,
    flag_case,
    follow_up,
    hold_case,
    member_subject,
    would_act_cases,
)
from bot.moderation.notices import Notice, render_notice
from bot.moderation.warnings import escalation, expiry
from bot.scoring import TextScore
from bot.store import AUTO, Case, GuildSettings, NewCase, StoreError
from bot.textsafety import clip
from cogs.moderation._buttons import CardButton, card_view

if TYPE_CHECKING:
    from bot.factory import CommentWarden
    from bot.mirror import MirrorEngine

log = logging.getLogger(__name__)
AUDIT_REASON_LIMIT = 512  # Discord refuses a longer X-Audit-Log-Reason


def audit_reason(reason: str) -> str:
    """The reason as Discord's audit log takes it: a moderator's 500-character modal reason behind
    "case #1234: " is past the limit, and a refused header would undo the whole action."""
    return clip(reason, AUDIT_REASON_LIMIT)


class ActionError(WardenError):
    """A Discord action could not be done; the message is one line telling the moderator what to fix."""


def channel_ids(channel: discord.abc.Snowflake | None) -> list[int | None]:
    """Where a Discord channel sits, outermost first (a thread's parent, then the thread), for `Judge`."""
    return [getattr(channel, "parent_id", None), channel.id] if channel is not None else []


@dataclass(frozen=True)
class FlagTarget:
    """A judged subject with what its card shows: the guild it is in, the text as scored, and where it lives."""

    guild: discord.Guild
    subject: Subject
    text: str
    place: (
        str  # named beside the channel mention on the card: an article's title, or "" for a member's message
    )


@dataclass(frozen=True)
class Warned:
    case: Case
    active_points: int
    escalated: Case | None = None
    problem: str | None = None  # why the escalation could not be carried out

    def describe(self) -> str:
        line = f"case #{self.case.case_number}; active points: {self.active_points}."
        if self.escalated is not None and self.escalated.shadow:
            line += (
                f" The limit was crossed; shadow mode is on, so nothing was done "
                f"(`{self.escalated.action}` logged as case #{self.escalated.case_number})."
            )
        elif self.escalated is not None:
            line += f" The limit was crossed: `{self.escalated.action}` logged as case #{self.escalated.case_number}."
        if self.problem:
            line += f" Note: {self.problem}"
        return line


def member_target(guild: discord.Guild, message: discord.Message, content: str) -> FlagTarget:
    """What a flag of a member's message points at (`content`: the text as scored)."""
    subject = member_subject(
        guild.id,
        message.channel.id,
        message.id,
        message.author.id,
        str(message.author),
        content,
        message.jump_url,
    )
    return FlagTarget(guild, subject, text=content, place="")


def forbidden(what: str, permission: str) -> ActionError:
    return ActionError(
        f"I could not {what}: give my role the {permission} permission (and a role above the member's)."
    )


class ModerationService:
    # The bot's review-card button class, wired to the review cog by the extension's setup.
    card_buttons: type[CardButton]

    def __init__(self, bot: CommentWarden, engine: MirrorEngine | None) -> None:
        """`engine`: the mirror engine, so a mirrored comment is removed as a moderator's removal that a later
        poll never undoes; None without the mirror extension (then only its Discord messages are deleted)."""
        self.bot = bot
        self.engine = engine
        self._warned_no_channel: set[int] = set()
        # (guild, case) -> held while its flag is followed up: the live event, a retry and a recovery pass can
        # reach one flag together, and the second must find the first's card rather than post another.
        self._following: weakref.WeakValueDictionary[tuple[int, int], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        # Cards sent whose recording failed (the database refused): a retry records these instead of sending again.
        self._unrecorded: dict[tuple[int, int], discord.Message] = {}

    # Levels and settings

    async def settings(self, guild_id: int) -> GuildSettings:
        return await self.bot.store.guilds.get(guild_id)

    @property
    def judge(self) -> Judge:
        """The judging rule for the model this process loaded."""
        return Judge.of(self.bot.settings.thresholds, self.bot.scorer.labels)

    # Flags

    async def flag(self, target: FlagTarget, judgement: Judgement, settings: GuildSettings) -> Case:
        """Log a judgement's flag, act on it when allowed, and post its review card (once, even if called again)."""
        if judgement.flag is None:
            raise ValueError("only a judgement that flagged has a flag to log")
        case = await self.bot.store.cases.add(judgement.flag)
        return await self.follow_up(target, case, judgement, settings, act=judgement.act)

    async def follow_up(
        self, target: FlagTarget, case: Case, judgement: Judgement, settings: GuildSettings, *, act: bool
    ) -> Case:
        """What comes after a flag is logged: the act level, then the card. Also how a flag whose card a
        killed process never posted gets one after the restart; a flag already carded is left alone.

        In shadow mode a flag at an act level is not acted on; what would have been done is logged as such.
        """
        async with self._following.setdefault((target.guild.id, case.case_number), asyncio.Lock()):
            if await self.bot.store.cases.card(target.guild.id, case.case_number) is not None:
                return case  # a retry of a flag already carded
            acted, removed = await self.act_automatically(target, case, settings) if act else (None, False)
            if not act and judgement.verdict.act and settings.shadow_mode:
                acted = await self.log_would_act(target, case, settings)
            await self.post_card(target, case, judgement, settings, acted, settled=removed)
            return case

    async def log_would_act(self, target: FlagTarget, flag: Case, settings: GuildSettings) -> str:
        """Shadow mode at an act level: log what would have been done (never as done); the card's line."""
        logged = [
            await self.bot.store.cases.add(case) for case in would_act_cases(target.subject, flag, settings)
        ]
        what = "removed the message" if target.subject.kind == MEMBER else "removed the comment"
        if len(logged) > 1:
            what += " and timed the member out"
        numbers = ", ".join(f"#{case.case_number}" for case in logged)
        return f"Shadow mode: would have {what} (logged as {numbers}); nothing was done."

    async def flag_by_hand(
        self, target: FlagTarget, judgement: Judgement, settings: GuildSettings, moderator: discord.abc.User
    ) -> Case:
        """A moderator's "Flag for review": a flag whatever the scores, carded like any other, never acted on.

        It shares the automatic flag's dedup key, so a message already flagged finds that case and card.
        """
        verdict = judgement.verdict
        reason = f"flagged by {moderator}" + (f": {verdict.reason()}" if verdict.flag else "")
        flag = flag_case(target.subject, judgement.score, verdict, shadow=settings.shadow_mode)
        case = await self.bot.store.cases.add(
            replace(flag, reason=reason, moderator_id=moderator.id, moderator_name=str(moderator))
        )
        by_hand = replace(judgement, verdict=replace(verdict, acted=()))
        return await self.follow_up(target, case, by_hand, settings, act=False)

    async def target_of(self, guild: discord.Guild, message: discord.Message) -> FlagTarget | None:
        """What a message in Discord stands for: a mirrored comment (our webhook's post) or a member's words."""
        if message.webhook_id is not None:
            row = await self.bot.store.mirror.comment_by_message(message.id)
            if row is None:
                return None
            article = await self.bot.store.mirror.article(row.article_id)
            subject = comment_subject(
                guild.id,
                row.id,
                row.comment.author,
                row.comment.content_hash,
                message.channel.id,
                (message.id,),
                message.jump_url,
            )
            return FlagTarget(guild, subject, text=row.comment.text, place=article.title if article else "")
        if message.author.bot or not message.content.strip():
            return None
        return member_target(guild, message, message.content)

    async def flag_target(self, guild: discord.Guild, flag: Case) -> FlagTarget:
        """Rebuild what the flag points at; the text is read again from Discord or the mirrored comment."""
        text, place = flag.evidence or "", ""
        if flag.target_kind == "comment":
            row = await self.bot.store.mirror.comment_row(int(flag.target_id))
            article = await self.bot.store.mirror.article(row.article_id) if row is not None else None
            text = row.comment.text if row is not None else text
            if article is not None:
                place = article.title
        elif flag.channel_id and flag.message_id:
            channel = guild.get_channel_or_thread(flag.channel_id)
            if isinstance(channel, discord.abc.Messageable):
                try:
                    text = (await channel.fetch_message(flag.message_id)).content
                except discord.NotFound:
                    text = text or "*(the message was deleted before its card was posted)*"
        subject = Subject(
            guild_id=guild.id,
            kind=flag.target_kind,
            target_id=flag.target_id,
            target_name=flag.target_name or "",
            link=flag.link,
            channel_id=flag.channel_id,
            message_ids=(flag.message_id,) if flag.message_id else (),
            dedup=(flag.dedup_key or "").removeprefix("flag:"),
        )
        return FlagTarget(guild, subject, text=text, place=place)

    async def rejudge(
        self, guild: discord.Guild, flag: Case, settings: GuildSettings
    ) -> tuple[FlagTarget, Judgement]:
        """A logged flag's target and its judgement again from the stored scores, to card it later."""
        target = await self.flag_target(guild, flag)
        score = TextScore.stored(flag.scores, flag.label, flag.score, flag.evidence)
        where = channel_ids(guild.get_channel_or_thread(flag.channel_id or 0))
        return target, self.judge.judge(target.subject, score, settings, where)

    async def card_queued(self, guild: discord.Guild, flag: Case, settings: GuildSettings) -> bool:
        """Post the card of an open flag logged while there was no review channel; False when it has one
        already or is decided. Under the flag's lock, so two callers post one card."""
        async with self._following.setdefault((guild.id, flag.case_number), asyncio.Lock()):
            card = await self.bot.store.cases.card(guild.id, flag.case_number)
            if card is not None and (card.message_id is not None or card.decision is not None):
                return False
            target, judgement = await self.rejudge(guild, flag, settings)
            await self.post_card(target, flag, judgement, settings, None)
            card = await self.bot.store.cases.card(guild.id, flag.case_number)
            return card is not None and card.message_id is not None

    async def card_all_queued(self, guild: discord.Guild) -> int:
        """Every open flag without a card gets one, now that the guild has a review channel; how many did."""
        settings = await self.settings(guild.id)
        carded = 0
        for flag in await self.bot.store.cases.queued_flags(guild.id):
            carded += await self.card_queued(guild, flag, settings)
        return carded

    # Pre-moderation

    async def hold(self, target: FlagTarget, judgement: Judgement, settings: GuildSettings) -> Case:
        """The mirror withheld a comment at an act level (pre-moderation): log the flag and the hold, hold it on
        its site too where write-back is configured, and card it open for Approve or Remove."""
        if judgement.flag is None:
            raise ValueError("only a judgement that flagged has a flag to log")
        flag = await self.bot.store.cases.add(judgement.flag)
        subject = target.subject
        async with self._following.setdefault((target.guild.id, flag.case_number), asyncio.Lock()):
            if await self.bot.store.cases.card(target.guild.id, flag.case_number) is not None:
                return flag
            held = await self.bot.store.cases.add(hold_case(subject, flag))
            row = await self.bot.store.mirror.comment_row(int(subject.target_id))
            site = (
                (await hold_on_site(self.bot.settings, self.bot.store, row)).message
                if row is not None
                else ""
            )
            acted = (
                f"Held for review (case #{held.case_number}): not shown in Discord until approved. {site}"
            ).strip()
            await self.post_card(target, flag, judgement, settings, acted)
        return flag

    async def publish_held(self, comment_id: int) -> str:
        """Approve of a held comment: publish it in its place. The line for the moderator."""
        engine = self.engine
        if engine is None:
            raise ActionError(
                "The mirror is not running, so I cannot publish the comment now; try again later."
            )
        try:
            published = await engine.publish_held(comment_id)
        except PublishError as exc:
            raise ActionError(f"I could not publish the comment in Discord: {exc.reason}") from None
        return " The comment is now shown in its thread." if published else ""

    # Cards that follow the site

    async def card_message(self, flag: Case) -> discord.Message | None:
        """The review card of a flag as Discord has it now; None when it was never posted or is gone."""
        card = await self.bot.store.cases.card(flag.guild_id, flag.case_number)
        if card is None or card.channel_id is None or card.message_id is None:
            return None
        channel = self.bot.get_channel(card.channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            return None
        try:
            return await channel.fetch_message(card.message_id)
        except discord.HTTPException:
            return None

    async def site_edited(
        self, guild: discord.Guild, flag: Case, new_text: str, judgement: Judgement
    ) -> None:
        """The site edited a flagged comment: log the new version against the flag and show it on the card;
        a version under every flag level closes the card as resolved on the site."""
        score, verdict = judgement.score, judgement.verdict
        resolved = not judgement.flagged
        reason = (
            "edited on the site, now under every flag level"
            if resolved
            else f"edited on the site, still crosses {verdict.reason()}"
        )
        note = await self.bot.store.cases.add(
            follow_up(
                flag,
                actions.SITE_EDIT,
                reason=reason,
                scores=dict(score.scores),
                label=score.top_label,
                score=score.top_score,
                evidence=score.evidence or None,
                dedup_key=f"site-edit:{guild.id}:{flag.case_number}:{judgement.subject.dedup}",
            )
        )
        message = await self.card_message(flag)
        shown: dict[str, Any] | None = None
        if message is not None and message.embeds:
            card = dict(message.embeds[0].to_dict())
            old_text = str(card.get("description") or flag.evidence or "")
            shown = site_edit_embed(card, old_text, new_text, score.scores, verdict)
        await self._settle_on_site(
            guild, flag, note, message, shown, actions.RESOLVED_ON_SITE if resolved else None
        )

    async def site_removed(self, guild: discord.Guild, flag: Case) -> None:
        """The site removed a flagged comment: nothing is left to decide, so its card closes saying why."""
        note = await self.bot.store.cases.add(
            follow_up(
                flag,
                actions.SITE_REMOVE,
                message_id=None,  # the link names the thread; the comment's message is taken down or marked
                reason="removed on the site",
                dedup_key=f"site-remove:{guild.id}:{flag.case_number}",
            )
        )
        message = await self.card_message(flag)
        shown = dict(message.embeds[0].to_dict()) if message is not None and message.embeds else None
        await self._settle_on_site(guild, flag, note, message, shown, actions.REMOVED_ON_SITE)

    async def _settle_on_site(
        self,
        guild: discord.Guild,
        flag: Case,
        note: Case,
        message: discord.Message | None,
        embed: dict | None,
        decision: str | None,
    ) -> None:
        """Close the card with `decision` (or only show the new version when None), then edit it in Discord."""
        closed = False
        if decision is not None:
            me = self.bot.user
            closed = await self.bot.store.cases.decide(
                guild.id, flag.case_number, decision, me.id if me else 0, AUTO
            )
        if message is None or embed is None:
            return
        if closed and decision is not None:
            embed = decided_embed(embed, decision, "the site", datetime.now(UTC), note.case_number)
        view = card_view(self.card_buttons, guild.id, flag.case_number, flag.target_kind, disabled=closed)
        try:
            await message.edit(embed=discord.Embed.from_dict(embed), view=view)
        except discord.HTTPException as exc:
            log.warning("could not update the card of case %d after a site change: %s", flag.case_number, exc)

    async def act_automatically(
        self, target: FlagTarget, flag: Case, settings: GuildSettings
    ) -> tuple[str, bool]:
        """The act level: remove the message (or the comment), and time the member out if configured.

        Returns what was done, for the card, and whether the removal happened; if not, the card stays open.
        """
        done: list[str] = []
        removed = False
        guild, subject = target.guild, target.subject
        message_ids = list(subject.message_ids)
        try:
            if subject.kind == COMMENT:
                done.append(
                    await self.remove_comment(guild, int(subject.target_id), subject.channel_id, message_ids)
                )
            else:
                await self.delete_messages(guild, subject.channel_id, message_ids)
                done.append("Message deleted.")
        except ActionError as exc:
            done.append(str(exc))  # on the card for the moderators; no removal is logged that did not happen
        else:
            removed = True
            await self.bot.store.cases.add(auto_remove_case(subject, flag))
        if subject.kind == MEMBER and settings.act_timeout_minutes > 0:
            seconds = settings.act_timeout_minutes * 60
            try:
                member = await self.member(guild, int(subject.target_id))
                await self.timeout(member, seconds, f"automatic: case #{flag.case_number}")
                timed_out = await self.bot.store.cases.add(auto_timeout_case(subject, flag, seconds))
                await self.tell_case(guild, member, timed_out, settings)
                done.append(f"Member timed out for {describe(seconds)}.")
            except ActionError as exc:
                done.append(str(exc))
        return " ".join(done), removed

    async def post_card(
        self,
        target: FlagTarget,
        case: Case,
        judgement: Judgement,
        settings: GuildSettings,
        acted: str | None,
        *,
        settled: bool = False,
    ) -> None:
        """Post the card (or just queue the flag when no review channel is set); a `settled` card, one the bot
        already acted on, is shown decided with its buttons off."""
        store = self.bot.store.cases
        key = (target.guild.id, case.case_number)
        channel = target.guild.get_channel(settings.review_channel_id) if settings.review_channel_id else None
        message = self._unrecorded.pop(
            key, None
        )  # sent by an attempt whose recording failed: record that one
        if message is None and isinstance(channel, discord.abc.Messageable):
            subject, score = target.subject, judgement.score
            embed = discord.Embed.from_dict(
                flag_embed(
                    FlagCard(
                        case_number=case.case_number,
                        text=target.text,
                        author=subject.target_name,
                        place=target.place,
                        link=subject.link,
                        scores=score.scores,
                        verdict=judgement.verdict,
                        evidence=score.evidence,
                        shadow=settings.shadow_mode,
                        acted=acted,
                        channel_id=subject.channel_id,
                        coverage=score.coverage,
                        guild_id=target.guild.id,
                    )
                )
            )
            view = card_view(
                self.card_buttons, target.guild.id, case.case_number, subject.kind, disabled=settled
            )
            try:
                message = await channel.send(
                    embed=embed, view=view, allowed_mentions=discord.AllowedMentions.none()
                )
            except discord.HTTPException as exc:
                log.warning(
                    "cannot post review card for case %d in guild %d: %s",
                    case.case_number,
                    target.guild.id,
                    exc,
                )
        elif message is None and target.guild.id not in self._warned_no_channel:
            self._warned_no_channel.add(target.guild.id)
            log.warning(
                "guild %d has no review channel: flags are logged but no cards are posted "
                "(set one with /config review-channel)",
                target.guild.id,
            )
        try:
            await store.set_card(
                target.guild.id,
                case.case_number,
                message.channel.id if message else None,
                message.id if message else None,
            )
        except StoreError:
            if message is not None:
                self._unrecorded[key] = message
            raise
        if settled:
            me = self.bot.user
            await store.decide(
                target.guild.id, case.case_number, actions.AUTO_DECISION, me.id if me else 0, AUTO
            )

    async def remove_comment(
        self, guild: discord.Guild, comment_id: int, channel_id: int | None, message_ids: list[int]
    ) -> str:
        """Take a mirrored comment out of Discord and hold it on its site where write-back is configured.

        Through the mirror engine when it runs, so the removal is recorded as a moderator's and a later
        poll never brings the comment back; the site's answer (held, or why not) is the returned line.
        """
        row = await self.bot.store.mirror.comment_row(comment_id)
        try:
            if self.engine is not None and row is not None:
                await self.engine.remove_comment(comment_id)
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

    async def delete_messages(
        self, guild: discord.Guild, channel_id: int | None, message_ids: list[int]
    ) -> None:
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
            await member.timeout(timedelta(seconds=seconds), reason=audit_reason(reason))
        except discord.Forbidden:
            raise forbidden(f"time out {member}", "Moderate Members") from None

    async def ban(self, guild: discord.Guild, user_id: int, reason: str) -> None:
        try:
            await guild.ban(discord.Object(user_id), reason=audit_reason(reason), delete_message_seconds=0)
        except discord.Forbidden:
            raise forbidden(f"ban <@{user_id}>", "Ban Members") from None

    async def kick(self, member: discord.Member, reason: str) -> None:
        try:
            await member.kick(reason=audit_reason(reason))
        except discord.Forbidden:
            raise forbidden(f"kick {member}", "Kick Members") from None

    # Telling the member

    async def tell(
        self, guild: discord.Guild, user: discord.abc.User, notice: Notice, settings: GuildSettings
    ) -> str | None:
        """DM the member about a case, unless the guild turned DMs off; returns why it failed, else None.

        Never raises: a member with closed DMs (or one who left) is normal, and the action stands.
        Kicks and bans call this before acting, while the member still shares the server with the bot.
        """
        if not settings.dm_members:
            return None
        if not isinstance(user, discord.abc.Messageable):
            return "the bot cannot open a DM with them"
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
        await self.bot.store.cases.add(
            follow_up(
                case,
                actions.DM_FAILED,
                link=None,  # about the member, not a message
                channel_id=None,
                message_id=None,
                reason=f"member not told: {why}",
                dedup_key=f"dm-failed:{guild.id}:{case.case_number}",
            )
        )

    async def tell_case(
        self, guild: discord.Guild, user: discord.abc.User, case: Case, settings: GuildSettings | None = None
    ) -> None:
        """Tell the member about a case already carried out and logged (warn, timeout)."""
        settings = settings or await self.settings(guild.id)
        notice = Notice(
            case.action, guild.name, case.reason, case.case_number, case.duration_seconds, case.points
        )
        await self.note_untold(guild, case, await self.tell(guild, user, notice, settings))

    # Warnings

    async def warn(
        self,
        guild: discord.Guild,
        member: discord.abc.User,
        moderator: discord.abc.User,
        reason: str,
        points: int,
        *,
        ref_case: int | None = None,
        dedup: str | None = None,
    ) -> Warned:
        """Add points; crossing the guild's limit triggers its action, logged as a case of its own.

        The warning is logged even when the escalation fails (missing permission): it was given.
        """
        settings = await self.settings(guild.id)
        now = datetime.now(UTC)
        target_id = str(member.id)
        warn_case, before = await self.bot.store.cases.add_warning(
            NewCase(
                guild_id=guild.id,
                action=actions.WARN,
                target_kind="member",
                target_id=target_id,
                target_name=f"{member} ({member.id})",
                moderator_id=moderator.id,
                moderator_name=str(moderator),
                reason=reason,
                points=points,
                expires_at=expiry(now, settings.warn_expiry_days),
                ref_case=ref_case,
                dedup_key=dedup,
            )
        )
        await self.tell_case(guild, member, warn_case, settings)
        step = escalation(before, points, settings.warn_point_limit)
        if not step.crossed or settings.warn_action == "none":
            return Warned(warn_case, step.after)
        why = f"warning points {step.after}/{step.limit} (case #{warn_case.case_number})"
        action = (
            settings.warn_action if settings.warn_action in (actions.BAN, actions.KICK) else actions.TIMEOUT
        )
        duration = settings.warn_timeout_minutes * 60 if action == actions.TIMEOUT else None
        escalation_case = follow_up(
            warn_case,
            action,
            reason=why,
            duration_seconds=duration,
            dedup_key=f"escalate:{guild.id}:{warn_case.case_number}",
        )
        if settings.shadow_mode:  # logged as what it would have been, never as done
            return Warned(
                warn_case,
                step.after,
                await self.bot.store.cases.add(
                    replace(escalation_case, action=actions.would(action), shadow=True)
                ),
            )
        untold = None
        try:
            if action != actions.TIMEOUT:  # told first: after a kick or a ban the DM may no longer reach them
                permission = "Ban Members" if action == actions.BAN else "Kick Members"
                if not getattr(guild.me.guild_permissions, permission.lower().replace(" ", "_")):
                    raise forbidden(f"{action} {member}", permission)
                untold = await self.tell(
                    guild, member, Notice(action, guild.name, why, warn_case.case_number), settings
                )
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
