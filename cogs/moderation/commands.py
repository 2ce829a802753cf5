"""Moderator queries and manual actions: /flags, /case, /history, /modlog, /warn, /warnings.

Every command is for moderators (`ModeratorCog` checks each call); answers about people are ephemeral, since a moderation history
is not for the channel to read.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands

from bot.export import write_cases
from bot.moderation import actions
from bot.moderation.cards import case_embed, case_line, clip, timestamp
from bot.moderation.durations import DurationError, parse_since
from bot.moderation.warnings import MAX_POINTS
from bot.store import CaseFilter, NewCase
from bot.textsafety import neutralise
from bot.timestamps import to_iso
from cogs.checks import ModeratorCog, command_guild
from cogs.moderation._pages import PAGE_SIZE, Pager, page_count, send_paged, stop_all
from cogs.moderation._service import ModerationService

if TYPE_CHECKING:
    from bot.factory import CommentWarden

ACTION_CHOICES = [app_commands.Choice(name=a, value=a) for a in actions.ALL]


def list_embed(
    title: str, lines: list[str], page: int, pages: int, empty: str, header: str = ""
) -> discord.Embed:
    body = "\n\n".join(lines) if lines else empty
    embed = discord.Embed(title=title, description=(header + "\n\n" if header else "") + body)
    embed.set_footer(text=f"page {page + 1}/{pages}")
    return embed


class ModerationCommands(ModeratorCog):
    case = app_commands.Group(
        name="case", description="Look up or amend a case in the moderation log", guild_only=True
    )
    modlog = app_commands.Group(name="modlog", description="The moderation log", guild_only=True)

    def __init__(self, bot: CommentWarden, service: ModerationService) -> None:
        self.bot = bot
        self.service = service
        self.pagers: set[Pager] = set()

    async def cog_unload(self) -> None:
        stop_all(self.pagers)

    # /flags

    @app_commands.command(name="flags", description="The review queue: flags waiting for a decision")
    @app_commands.describe(status="open (default), decided or all")
    @app_commands.guild_only()
    async def flags(
        self, interaction: discord.Interaction, status: Literal["open", "decided", "all"] = "open"
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild_id = interaction.guild_id or 0
        store = self.bot.store.cases
        total = await store.count_cards(guild_id, status)
        pages = page_count(total)

        async def render(page: int) -> discord.Embed:
            cases = await store.cards(guild_id, status, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
            return list_embed(
                f"Flags ({status}): {total}",
                [case_line(c) for c in cases],
                page,
                pages,
                "Nothing here." if status != "open" else "The queue is empty.",
            )

        await send_paged(interaction, total, render, self.pagers)

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
    async def history(
        self, interaction: discord.Interaction, member: discord.User | None = None, author: str | None = None
    ) -> None:
        guild_id = interaction.guild_id or 0
        if member is not None and author is None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            flt = CaseFilter(target_id=str(member.id))
            scored = await self.bot.store.scores.for_author(guild_id, member.id, limit=5)
            points = await self.bot.store.cases.active_points(guild_id, str(member.id))
            who = f"{member} ({member.id})"
            header = f"Active warning points: **{points}**"
        elif author is not None and member is None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            flt = CaseFilter(target_name=author)
            scored = await self.bot.store.scores.for_comment_author(guild_id, author, limit=5)
            who = author
            header = "Mirrored comment author"
        else:
            await interaction.response.send_message(
                "Give either a member or a comment author's name.", ephemeral=True
            )
            return
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
    @app_commands.describe(
        member="Cases about this member",
        moderator="Cases by this moderator",
        action="Only this kind of case",
        since="A date (2026-01-31) or an age (7d, 12h)",
    )
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
    @app_commands.describe(
        member="Cases about this member",
        moderator="Cases by this moderator",
        action="Only this kind of case",
        since="A date (2026-01-31) or an age (7d, 12h)",
    )
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
    async def warnings(self, interaction: discord.Interaction, member: discord.User) -> None:
        guild_id = interaction.guild_id or 0
        now = to_iso(datetime.now(UTC))
        every = await self.bot.store.cases.warnings(guild_id, str(member.id), include_expired=True)
        settings = await self.service.settings(guild_id)
        active = sum(w.points or 0 for w in every if w.expires_at is None or w.expires_at > now)
        lines = []
        for w in every[:15]:
            state = (
                ("expires " + timestamp(w.expires_at) if w.expires_at > now else "expired")
                if w.expires_at
                else "never expires"
            )
            lines.append(
                f"**#{w.case_number}** {w.points or 0} pt · {state} · by {neutralise(w.moderator_name)}"
                + (f"\n> {clip(neutralise(w.reason), 150)}" if w.reason else "")
            )
        embed = discord.Embed(
            title=f"Warnings of {clip(neutralise(str(member)), 100)}",
            description=f"Active points: **{active}** / {settings.warn_point_limit}\n\n"
            + ("\n".join(lines) or "None."),
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)
