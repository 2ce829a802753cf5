"""Moderator queries and manual actions: /flags, /case, /history, /modlog, /warn, /warnings.

Every command is for moderators (`ModeratorCog` checks each call); answers about people are ephemeral, since a moderation history
is not for the channel to read.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.export import write_cases
from bot.moderation import actions
from bot.moderation.cards import case_embed, case_line, clip, score_report, timestamp
from bot.moderation.durations import DurationError, parse_since
from bot.moderation.warnings import MAX_POINTS
from bot.store import Case, CaseFilter, NewCase
from bot.textsafety import neutralise
from bot.timestamps import to_iso
from cogs.checks import MODERATOR_PERMISSIONS, ModeratorCog, command_guild, require_moderator
from cogs.moderation._pages import PAGE_SIZE, Pager, page_count, send_paged, stop_all
from cogs.moderation._service import ModerationService, channel_ids

if TYPE_CHECKING:
    from bot.factory import CommentWarden

ACTION_CHOICES = [app_commands.Choice(name=a, value=a) for a in actions.ALL]
# `/modlog show` and `/modlog export` take the same filter, described once.
_case_filter_options = app_commands.describe(
    member="Cases about this member",
    moderator="Cases by this moderator",
    action="Only this kind of case",
    since="A date (2026-01-31) or an age (7d, 12h)",
)


def moderator_menu(name: str, callback: Any) -> app_commands.ContextMenu:
    """A context-menu command with the same gate as the slash commands: hidden from members by default,
    and checked on every call."""
    menu = app_commands.ContextMenu(name=name, callback=callback)
    menu.guild_only = True
    menu.default_permissions = MODERATOR_PERMISSIONS
    menu.add_check(require_moderator)
    return menu


def message_text(message: discord.Message) -> str:
    """What a message says: its content, or a mirrored comment's embed text when it has none."""
    if message.content.strip():
        return message.content
    return "\n".join(e.description for e in message.embeds if e.description)


def list_embed(
    title: str, lines: list[str], page: int, pages: int, empty: str, header: str = ""
) -> discord.Embed:
    body = "\n\n".join(lines) if lines else empty
    embed = discord.Embed(title=title, description=(header + "\n\n" if header else "") + body)
    embed.set_footer(text=f"page {page + 1}/{pages}")
    return embed


class ModerationCommands(ModeratorCog):
    case = app_commands.Group(
        name="case",
        description="Look up or amend a case in the moderation log",
        guild_only=True,
        default_permissions=MODERATOR_PERMISSIONS,
    )
    modlog = app_commands.Group(
        name="modlog",
        description="The moderation log",
        guild_only=True,
        default_permissions=MODERATOR_PERMISSIONS,
    )

    def __init__(self, bot: CommentWarden, service: ModerationService) -> None:
        self.bot = bot
        self.service = service
        self.pagers: set[Pager] = set()
        self.menus = [
            moderator_menu("Score message", self.score_menu),
            moderator_menu("Flag for review", self.flag_menu),
            moderator_menu("Moderation history", self.history_menu),
        ]

    async def cog_load(self) -> None:
        for menu in self.menus:
            self.bot.tree.add_command(menu)

    async def cog_unload(self) -> None:
        stop_all(self.pagers)
        for menu in self.menus:
            self.bot.tree.remove_command(menu.name, type=menu.type)

    # Message context menus

    async def score_menu(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Score a message where it stands: its scores and what this server's levels would do with it."""
        text = message_text(message)
        if not text.strip():
            await interaction.response.send_message("That message has no text to score.", ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        score = await self.bot.scorer.score_one(text)
        settings = await self.service.settings(interaction.guild_id or 0)
        verdict = self.service.judge.verdict(score, settings, channel_ids(message.channel))
        await interaction.followup.send(
            score_report(score, text, verdict, shadow=settings.shadow_mode),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def flag_menu(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """A moderator sends a message to the review queue by hand, whatever its scores; one card per message."""
        if interaction.guild is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        target = await self.service.target_of(interaction.guild, message)
        if target is None:
            await interaction.followup.send(
                "That message is neither a member's nor a mirrored comment.", ephemeral=True
            )
            return
        settings = await self.service.settings(interaction.guild.id)
        score = await self.bot.scorer.score_one(target.text)
        judgement = self.service.judge.judge(target.subject, score, settings, channel_ids(message.channel))
        case = await self.service.flag_by_hand(target, judgement, settings, interaction.user)
        card = await self.bot.store.cases.card(interaction.guild.id, case.case_number)
        if card is not None and card.channel_id:
            where = f" in <#{card.channel_id}>"
        else:
            where = " (no review channel is set, so no card: `/config review-channel`)"
        await interaction.followup.send(f"Flagged as case #{case.case_number}{where}.", ephemeral=True)

    # /flags

    @app_commands.command(name="flags", description="The review queue: flags waiting for a decision")
    @app_commands.describe(
        status="open (default), decided or all",
        card="Open a review card for this flag (one logged without a card)",
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(MODERATOR_PERMISSIONS)
    async def flags(
        self,
        interaction: discord.Interaction,
        status: Literal["open", "decided", "all"] = "open",
        card: app_commands.Range[int, 1] | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild_id = interaction.guild_id or 0
        if card is not None and interaction.guild is not None:
            await interaction.followup.send(await self.open_card(interaction.guild, card), ephemeral=True)
            return
        store = self.bot.store.cases
        total = await store.count_cards(guild_id, status)
        pages = page_count(total)
        queued = len(await store.queued_flags(guild_id)) if status != "decided" else 0
        header = (
            f"{queued} open flag(s) have no card: set a review channel (`/config review-channel`) "
            "or open one with `/flags card:<number>`."
            if queued
            else ""
        )

        async def render(page: int) -> discord.Embed:
            cases = await store.cards(guild_id, status, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
            return list_embed(
                f"Flags ({status}): {total}",
                [case_line(c) for c in cases],
                page,
                pages,
                "Nothing here." if status != "open" else "The queue is empty.",
                header,
            )

        await send_paged(interaction, total, render, self.pagers)

    async def open_card(self, guild: discord.Guild, number: int) -> str:
        """`/flags card:`: post the review card of a flag that has none, or say where it is."""
        flag = await self.bot.store.cases.get(guild.id, number)
        if flag is None or flag.action != actions.FLAG:
            return f"Case #{number} is not a flag."
        settings = await self.service.settings(guild.id)
        existing = await self.bot.store.cases.card(guild.id, number)
        if existing is not None and existing.decision is not None:
            return f"Flag #{number} is already decided."
        if existing is not None and existing.message_id is not None and existing.channel_id is not None:
            return f"Flag #{number} has a card: https://discord.com/channels/{guild.id}/{existing.channel_id}/{existing.message_id}"
        if settings.review_channel_id is None:
            return "There is no review channel to post it in: set one with `/config review-channel`."
        if not await self.service.card_queued(guild, flag, settings):
            return f"I could not post the card of flag #{number}; check my permissions in <#{settings.review_channel_id}>."
        return f"The card of flag #{number} is in <#{settings.review_channel_id}>."

    # /case show, /case reason

    @case.command(name="show", description="Show one case and its corrections")
    @app_commands.describe(number="The case number")
    async def case_show(self, interaction: discord.Interaction, number: app_commands.Range[int, 1]) -> None:
        guild_id = interaction.guild_id or 0
        found = await self.bot.store.cases.get(guild_id, number)
        if found is None:
            await interaction.response.send_message(f"There is no case #{number}.", ephemeral=True)
            return
        amendments = await self.bot.store.cases.amendments(guild_id, number)
        await interaction.response.send_message(
            embed=discord.Embed.from_dict(case_embed(found, amendments)), ephemeral=True
        )

    @case.command(
        name="reason", description="Correct a case's reason (logged as a new case that refers to it)"
    )
    @app_commands.describe(number="The case number", reason="The corrected reason")
    async def case_reason(
        self,
        interaction: discord.Interaction,
        number: app_commands.Range[int, 1],
        reason: app_commands.Range[str, 1, 500],
    ) -> None:
        guild_id = interaction.guild_id or 0
        original = await self.bot.store.cases.get(guild_id, number)
        if original is None:
            await interaction.response.send_message(f"There is no case #{number}.", ephemeral=True)
            return
        fix = await self.bot.store.cases.add(
            NewCase(
                guild_id=guild_id,
                action=actions.REASON,
                target_kind="case",
                target_id=str(number),
                target_name=original.target_name,
                moderator_id=interaction.user.id,
                moderator_name=str(interaction.user),
                reason=reason,
                ref_case=number,
            )
        )
        await interaction.response.send_message(
            f"Case #{number}'s reason is amended (logged as case #{fix.case_number}).", ephemeral=True
        )

    # /history

    @app_commands.command(name="history", description="A member's (or a comment author's) cases and scores")
    @app_commands.describe(member="A server member", author="A mirrored comment author's name")
    @app_commands.guild_only()
    @app_commands.default_permissions(MODERATOR_PERMISSIONS)
    async def history(
        self, interaction: discord.Interaction, member: discord.User | None = None, author: str | None = None
    ) -> None:
        if (member is None) == (author is None):
            await interaction.response.send_message(
                "Give either a member or a comment author's name.", ephemeral=True
            )
            return
        await self.show_history(interaction, member, author)

    async def history_menu(self, interaction: discord.Interaction, member: discord.Member) -> None:
        """The "Moderation history" user menu: /history for the member right-clicked."""
        await self.show_history(interaction, member, None)

    async def show_history(
        self, interaction: discord.Interaction, member: discord.abc.User | None, author: str | None
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild_id = interaction.guild_id or 0
        if member is not None:
            flt = CaseFilter(target_id=str(member.id))
            scored = await self.bot.store.scores.for_author(guild_id, member.id, limit=5)
            points = await self.bot.store.cases.active_points(guild_id, str(member.id))
            who = f"{member} ({member.id})"
            header = f"Active warning points: **{points}**"
        else:
            author = author or ""
            flt = CaseFilter(target_name=author)
            scored = await self.bot.store.scores.for_comment_author(guild_id, author, limit=5)
            who = author
            header = "Mirrored comment author"
        if scored:
            header += "\nRecent scores: " + ", ".join(
                f"{s.top_label or '-'} {s.top_score:.2f}" for s in scored
            )
        total = await self.bot.store.cases.count(guild_id, flt)
        pages = page_count(total)

        async def render(page: int) -> discord.Embed:
            cases = await self.bot.store.cases.query(guild_id, flt, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
            return list_embed(
                f"History of {clip(neutralise(who), 200)}: {total} cases",
                [case_line(c) for c in cases],
                page,
                pages,
                "No cases.",
                header,
            )

        await send_paged(interaction, total, render, self.pagers)

    # /modlog show, /modlog export

    async def _filter(
        self,
        interaction: discord.Interaction,
        member: discord.User | None,
        moderator: discord.User | None,
        action: str | None,
        since: str | None,
    ) -> CaseFilter | None:
        try:
            start = parse_since(since, datetime.now(UTC)) if since else None
        except DurationError as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return None
        return CaseFilter(
            target_id=str(member.id) if member else None,
            moderator_id=moderator.id if moderator else None,
            action=action,
            since=to_iso(start) if start else None,
        )

    @modlog.command(name="show", description="The moderation log, newest first, filtered")
    @_case_filter_options
    @app_commands.choices(action=ACTION_CHOICES)
    async def modlog_show(
        self,
        interaction: discord.Interaction,
        member: discord.User | None = None,
        moderator: discord.User | None = None,
        action: str | None = None,
        since: str | None = None,
    ) -> None:
        flt = await self._filter(interaction, member, moderator, action, since)
        if flt is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild_id = interaction.guild_id or 0
        total = await self.bot.store.cases.count(guild_id, flt)
        pages = page_count(total)

        async def render(page: int) -> discord.Embed:
            cases = await self.bot.store.cases.query(guild_id, flt, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
            return list_embed(
                f"Moderation log: {total} cases",
                [case_line(c) for c in cases],
                page,
                pages,
                "No cases match.",
            )

        await send_paged(interaction, total, render, self.pagers)

    @modlog.command(name="export", description="The moderation log as a CSV file")
    @_case_filter_options
    @app_commands.choices(action=ACTION_CHOICES)
    async def modlog_export(
        self,
        interaction: discord.Interaction,
        member: discord.User | None = None,
        moderator: discord.User | None = None,
        action: str | None = None,
        since: str | None = None,
    ) -> None:
        flt = await self._filter(interaction, member, moderator, action, since)
        if flt is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild_id = interaction.guild_id or 0
        text = io.StringIO()
        count = await write_cases(self.bot.store.cases.iterate(guild_id, flt), text, "csv")
        data = io.BytesIO(text.getvalue().encode("utf-8"))
        name = f"modlog-{guild_id}-{datetime.now(UTC):%Y%m%d}.csv"
        await interaction.followup.send(
            f"{count} cases.", file=discord.File(data, filename=name), ephemeral=True
        )

    # /warn, /warnings

    @app_commands.command(
        name="warn", description="Warn a member; points expire, and too many trigger a timeout"
    )
    @app_commands.describe(member="Who", reason="Why (kept in the log)", points="Points (default 1)")
    @app_commands.guild_only()
    @app_commands.default_permissions(MODERATOR_PERMISSIONS)
    async def warn(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        reason: app_commands.Range[str, 1, 500],
        points: app_commands.Range[int, 1, MAX_POINTS] = 1,
    ) -> None:
        guild = command_guild(interaction)
        if member.bot:
            await interaction.response.send_message("Bots cannot be warned.", ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        warned = await self.service.warn(guild, member, interaction.user, reason, points)
        await interaction.followup.send(f"Warned {member}: {warned.describe()}", ephemeral=True)

    @app_commands.command(name="warnings", description="A member's warnings and when they expire")
    @app_commands.describe(member="Who")
    @app_commands.guild_only()
    @app_commands.default_permissions(MODERATOR_PERMISSIONS)
    async def warnings(self, interaction: discord.Interaction, member: discord.User) -> None:
        guild_id = interaction.guild_id or 0
        every = await self.bot.store.cases.warnings(guild_id, str(member.id), include_expired=True)
        withdrawn = await self.bot.store.cases.withdrawn(guild_id, str(member.id))
        settings = await self.service.settings(guild_id)
        active = await self.bot.store.cases.active_points(guild_id, str(member.id))
        lines = [warning_line(w, withdrawn, moderator=True) for w in every[:15]]
        embed = discord.Embed(
            title=f"Warnings of {clip(neutralise(str(member)), 100)}",
            description=f"Active points: **{active}** / {settings.warn_point_limit}\n\n"
            + ("\n".join(lines) or "None."),
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(
        name="unwarn", description="Withdraw a warning given in error: its points stop counting"
    )
    @app_commands.describe(case="The warning's case number", reason="Why it is withdrawn (kept in the log)")
    @app_commands.guild_only()
    @app_commands.default_permissions(MODERATOR_PERMISSIONS)
    async def unwarn(
        self,
        interaction: discord.Interaction,
        case: app_commands.Range[int, 1],
        reason: app_commands.Range[str, 1, 500] = "given in error",
    ) -> None:
        guild_id = interaction.guild_id or 0
        warning = await self.bot.store.cases.get(guild_id, case)
        if warning is None or warning.action != actions.WARN:
            await interaction.response.send_message(f"Case #{case} is not a warning.", ephemeral=True)
            return
        if case in await self.bot.store.cases.withdrawn(guild_id, warning.target_id):
            await interaction.response.send_message(f"Warning #{case} is already withdrawn.", ephemeral=True)
            return
        fix = await self.bot.store.cases.add(
            NewCase(
                guild_id=guild_id,
                action=actions.UNWARN,
                target_kind="member",
                target_id=warning.target_id,
                target_name=warning.target_name,
                moderator_id=interaction.user.id,
                moderator_name=str(interaction.user),
                reason=reason,
                points=warning.points,
                ref_case=case,
                dedup_key=f"unwarn:{guild_id}:{case}",
            )
        )
        active = await self.bot.store.cases.active_points(guild_id, warning.target_id)
        await interaction.response.send_message(
            f"Warning #{case} withdrawn (logged as case #{fix.case_number}); active points now: {active}.",
            ephemeral=True,
        )


def warning_line(warning: Case, withdrawn: set[int], *, moderator: bool) -> str:
    """One warning for /warnings (with who gave it) and /mywarnings (without)."""
    now = to_iso(datetime.now(UTC))
    if warning.case_number in withdrawn:
        state = "withdrawn"
    elif warning.expires_at is None:
        state = "never expires"
    else:
        state = "expires " + timestamp(warning.expires_at) if warning.expires_at > now else "expired"
    line = f"**#{warning.case_number}** {warning.points or 0} pt · {state}"
    if moderator:
        line += f" · by {neutralise(warning.moderator_name)}"
    return line + (f"\n> {clip(neutralise(warning.reason), 150)}" if warning.reason else "")


class MemberCommands(commands.Cog):
    """Commands for every member, kept out of the moderator-only cogs (whose check refuses members)."""

    def __init__(self, bot: CommentWarden, service: ModerationService) -> None:
        self.bot = bot
        self.service = service

    @app_commands.command(name="mywarnings", description="Your own warnings on this server that still count")
    @app_commands.guild_only()
    async def mywarnings(self, interaction: discord.Interaction) -> None:
        """For every member, not only moderators: what counts against them, and when it stops counting."""
        guild_id = interaction.guild_id or 0
        active = await self.bot.store.cases.warnings(guild_id, str(interaction.user.id))
        settings = await self.service.settings(guild_id)
        points = sum(w.points or 0 for w in active)
        lines = [warning_line(w, set(), moderator=False) for w in active[:15]]
        await interaction.response.send_message(
            f"Your active warning points: **{points}** / {settings.warn_point_limit}\n"
            + ("\n".join(lines) or "You have no active warnings."),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )
