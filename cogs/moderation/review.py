"""Deciding a review card: button → reason modal → one atomic claim → the Discord action → a case.

The claim (`store.cases.decide`) comes first so two moderators clicking at once cannot both act; when the
Discord action then fails (a missing permission), the claim is released so the card can be decided again.
Moderator status is checked on the click and again on the modal, since a role can change in between.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.moderation import actions
from bot.moderation.cards import DECISION_WORDS, decided_embed
from bot.moderation.durations import DurationError, describe, parse_duration
from bot.moderation.judge import follow_up
from bot.moderation.notices import Notice
from bot.moderation.warnings import DEFAULT_POINTS, MAX_POINTS
from bot.store import Case, ReviewCard
from cogs.checks import NOT_A_MODERATOR, is_moderator
from cogs.moderation._buttons import card_view
from cogs.moderation._service import ActionError, ModerationService, forbidden

if TYPE_CHECKING:
    from bot.factory import CommentWarden

log = logging.getLogger(__name__)


def already_decided(card: ReviewCard | None) -> str:
    if card is None or card.decision is None or card.decided_at is None:
        return "That card is not in the review queue (the case is not an open flag)."
    word = DECISION_WORDS.get(card.decision, card.decision)
    when = datetime.fromisoformat(card.decided_at.replace("Z", "+00:00"))
    return f"Already done: {word} by {card.decided_name} <t:{int(when.timestamp())}:R>."


class DecisionModal(discord.ui.Modal):
    """Asks for the reason (and the duration or points where the decision needs one)."""

    def __init__(
        self, review: Review, guild_id: int, case_number: int, decision: str, default_timeout: str
    ) -> None:
        super().__init__(title=f"{DECISION_WORDS[decision].split(' (')[0]} — case #{case_number}"[:45])
        self.review = review
        self.guild_id = guild_id
        self.case_number = case_number
        self.decision = decision
        self.reason: discord.ui.TextInput[DecisionModal] = discord.ui.TextInput(
            label="Reason",
            custom_id="reason",
            style=discord.TextStyle.paragraph,
            max_length=500,
            required=decision != actions.APPROVE,
            placeholder="Why (kept in the moderation log)",
        )
        self.add_item(self.reason)
        self.duration: discord.ui.TextInput[DecisionModal] | None = None
        self.points: discord.ui.TextInput[DecisionModal] | None = None
        if decision == actions.TIMEOUT:
            self.duration = discord.ui.TextInput(
                label="Duration (e.g. 30, 10m, 2h, 1d)",
                custom_id="duration",
                default=default_timeout,
                max_length=20,
            )
            self.add_item(self.duration)
        elif decision == actions.WARN:
            self.points = discord.ui.TextInput(
                label=f"Points (1–{MAX_POINTS})",
                custom_id="points",
                default=str(DEFAULT_POINTS),
                max_length=2,
            )
            self.add_item(self.points)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.review.submit(interaction, self)


class Review(commands.Cog):
    def __init__(self, bot: CommentWarden, service: ModerationService) -> None:
        self.bot = bot
        self.service = service

    async def button_pressed(
        self, interaction: discord.Interaction, guild_id: int, case_number: int, decision: str
    ) -> None:
        if (
            interaction.guild is None
            or interaction.guild.id != guild_id
            or not await is_moderator(interaction)
        ):
            await interaction.response.send_message(NOT_A_MODERATOR, ephemeral=True)
            return
        card = await self.bot.store.cases.card(guild_id, case_number)
        if card is None or card.decision is not None:
            await interaction.response.send_message(already_decided(card), ephemeral=True)
            return
        settings = await self.service.settings(guild_id)
        default_timeout = describe(max(settings.warn_timeout_minutes, 1) * 60).replace(" ", "")
        await interaction.response.send_modal(
            DecisionModal(self, guild_id, case_number, decision, default_timeout)
        )

    async def submit(self, interaction: discord.Interaction, modal: DecisionModal) -> None:
        if (
            interaction.guild is None
            or interaction.guild.id != modal.guild_id
            or not await is_moderator(interaction)
        ):
            await interaction.response.send_message(NOT_A_MODERATOR, ephemeral=True)
            return
        try:
            seconds = parse_duration(modal.duration.value) if modal.duration is not None else None
            points = self._points(modal.points.value) if modal.points is not None else None
        except (DurationError, ValueError) as exc:
            await interaction.response.send_message(
                f"{exc}. Nothing was done; press the button again.", ephemeral=True
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild = interaction.guild
        store = self.bot.store.cases
        flag = await store.get(guild.id, modal.case_number)
        if flag is None:
            await interaction.followup.send(f"Case #{modal.case_number} does not exist.", ephemeral=True)
            return
        moderator = interaction.user
        if not await store.decide(guild.id, flag.case_number, modal.decision, moderator.id, str(moderator)):
            card = await store.card(guild.id, flag.case_number)
            await interaction.followup.send(already_decided(card), ephemeral=True)
            return
        reason = modal.reason.value.strip() or None
        try:
            case, note = await self._carry_out(
                guild, flag, modal.decision, moderator, reason, seconds, points
            )
        except ActionError as exc:
            await store.release(guild.id, flag.case_number, modal.decision, moderator.id)
            await interaction.followup.send(
                f"{exc} Nothing was logged; the card is still open.", ephemeral=True
            )
            return
        await self._mark_card(interaction, flag, modal.decision, str(moderator), case.case_number)
        await interaction.followup.send(f"{DECISION_WORDS[modal.decision]}: {note}", ephemeral=True)

    @staticmethod
    def _points(raw: str) -> int:
        value = int(raw.strip())
        if not 1 <= value <= MAX_POINTS:
            raise ValueError(f"points must be between 1 and {MAX_POINTS}")
        return value

    async def _carry_out(
        self,
        guild: discord.Guild,
        flag: Case,
        decision: str,
        moderator: discord.abc.User,
        reason: str | None,
        seconds: int | None,
        points: int | None,
    ) -> tuple[Case, str]:
        """Do the decision on Discord, then log it; raises ActionError before logging anything."""
        dedup = f"card:{guild.id}:{flag.case_number}"
        if decision == actions.WARN:
            warned_member = await self.service.member(guild, int(flag.target_id))
            warned = await self.service.warn(
                guild,
                warned_member,
                moderator,
                reason or "",
                points or DEFAULT_POINTS,
                ref_case=flag.case_number,
                dedup=dedup,
            )
            return warned.case, warned.describe()
        note = ""
        member: discord.Member | None = None
        untold: str | None = None
        if decision == actions.APPROVE and flag.target_kind == "comment":
            note = await self.service.publish_held(int(flag.target_id))
        if decision == actions.REMOVE:
            message_ids = [flag.message_id] if flag.message_id else []
            if flag.target_kind == "comment":
                note = " " + await self.service.remove_comment(
                    guild, int(flag.target_id), flag.channel_id, message_ids
                )
            else:
                await self.service.delete_messages(guild, flag.channel_id, message_ids)
        elif decision == actions.TIMEOUT:
            member = await self.service.member(guild, int(flag.target_id))
            await self.service.timeout(member, seconds or 3600, f"case #{flag.case_number}: {reason}")
        elif decision == actions.BAN:
            if not guild.me.guild_permissions.ban_members:
                raise forbidden(f"ban <@{flag.target_id}>", "Ban Members")
            banned = guild.get_member(int(flag.target_id))
            if banned is not None:  # told before the ban, while the bot can still reach them
                notice = Notice(actions.BAN, guild.name, reason, flag.case_number)
                untold = await self.service.tell(guild, banned, notice, await self.service.settings(guild.id))
            await self.service.ban(guild, int(flag.target_id), f"case #{flag.case_number}: {reason}")
        case = await self.bot.store.cases.add(
            follow_up(
                flag,
                decision,
                moderator_id=moderator.id,
                moderator_name=str(moderator),
                reason=reason or ("false positive" if decision == actions.APPROVE else None),
                scores=flag.scores,
                label=flag.label,
                score=flag.score,
                duration_seconds=seconds,
                dedup_key=dedup,
            )
        )
        if member is not None:
            await self.service.tell_case(guild, member, case)
        await self.service.note_untold(guild, case, untold)
        return case, f"case #{case.case_number} logged.{note}"

    async def _mark_card(
        self, interaction: discord.Interaction, flag: Case, decision: str, moderator: str, case_number: int
    ) -> None:
        """Show who decided what on the card itself and grey its buttons out."""
        message = interaction.message
        if message is None:
            card = await self.bot.store.cases.card(flag.guild_id, flag.case_number)
            channel = self.bot.get_channel(card.channel_id) if card and card.channel_id else None
            if card is None or card.message_id is None or not isinstance(channel, discord.abc.Messageable):
                return
            try:
                message = await channel.fetch_message(card.message_id)
            except discord.HTTPException:
                return
        embed = message.embeds[0].to_dict() if message.embeds else {"title": f"Flag #{flag.case_number}"}
        done = decided_embed(embed, decision, moderator, datetime.now(UTC), case_number)
        try:
            await message.edit(
                embed=discord.Embed.from_dict(done),
                view=card_view(
                    self.service.card_buttons,
                    flag.guild_id,
                    flag.case_number,
                    flag.target_kind,
                    disabled=True,
                ),
            )
        except discord.HTTPException as exc:
            log.warning("could not update the card of case %d: %s", flag.case_number, exc)
