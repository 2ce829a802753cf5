"""Previous/Next paging for long answers (/flags, /history, /modlog).

Pages are fetched from the database on each click rather than held in memory, so a page always shows the
log as it is now; only the person who asked can turn the pages of their (ephemeral) answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord

PAGE_SIZE = 8

# page index -> the embed for that page
Render = Callable[[int], Awaitable[discord.Embed]]


def page_count(total: int, size: int = PAGE_SIZE) -> int:
    return max(1, -(-total // size))


class Pager(discord.ui.View):
    def __init__(
        self, owner_id: int, pages: int, render: Render, open_pagers: set[Pager], *, timeout: float = 600
    ) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self.pages = pages
        self.render = render
        self.page = 0
        # The cog stops the pagers still open when it unloads, so no timer outlives the bot.
        self.open_pagers = open_pagers
        open_pagers.add(self)
        self._sync()

    async def on_timeout(self) -> None:
        self.open_pagers.discard(self)

    def _sync(self) -> None:
        self.previous.disabled = self.page <= 0
        self.next.disabled = self.page >= self.pages - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message(
                "Only the moderator who asked can turn these pages.", ephemeral=True
            )
            return False
        return True

    async def _turn(self, interaction: discord.Interaction, step: int) -> None:
        self.page = min(max(self.page + step, 0), self.pages - 1)
        self._sync()
        await interaction.response.edit_message(embed=await self.render(self.page), view=self)

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button[Pager]) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button[Pager]) -> None:
        await self._turn(interaction, 1)


def stop_all(open_pagers: set[Pager]) -> None:
    for pager in list(open_pagers):
        pager.stop()
    open_pagers.clear()


async def send_paged(
    interaction: discord.Interaction, total: int, render: Render, open_pagers: set[Pager]
) -> None:
    """Send page one as a follow-up (the command has deferred); buttons only when there is a page two."""
    pages = page_count(total)
    embed = await render(0)
    if pages > 1:
        view = Pager(interaction.user.id, pages, render, open_pagers)
        await interaction.followup.send(embed=embed, view=view, ephemeral=True)
    else:
        await interaction.followup.send(embed=embed, ephemeral=True)
