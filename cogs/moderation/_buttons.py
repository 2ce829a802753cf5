"""The review card's buttons: persistent, because a card may wait for days and the bot will restart.

Each button's custom_id encodes the guild, the case number and the decision, so discord.py rebuilds the
button from the id alone (`DynamicItem`), with no view kept in memory. A click goes to the handler the
extension's setup wired in (`CardButton.wired(review.button_pressed)`), so this module depends on nothing
but discord.py, and a missing handler is a mistake mypy sees, not an AttributeError at click time.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import discord

from bot.moderation import actions

TEMPLATE = r"cw:card:(?P<guild>\d+):(?P<case>\d+):(?P<decision>[a-z]+)"
# (interaction, guild id, case number, decision): what a click asks for.
Pressed = Callable[[discord.Interaction, int, int, str], Awaitable[None]]

_BUTTONS = {
    actions.APPROVE: ("Approve", discord.ButtonStyle.success),
    actions.REMOVE: ("Remove", discord.ButtonStyle.danger),
    actions.WARN: ("Warn", discord.ButtonStyle.secondary),
    actions.TIMEOUT: ("Timeout", discord.ButtonStyle.secondary),
    actions.BAN: ("Ban", discord.ButtonStyle.danger),
}
# A mirrored comment's author is not a member: only Approve and Remove make sense.
COMMENT_DECISIONS = (actions.APPROVE, actions.REMOVE)


class CardButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    """A card's button; use a class made by `wired`, whose clicks reach a handler."""

    pressed: ClassVar[Pressed]

    @classmethod
    def wired(cls, pressed: Pressed) -> type[CardButton]:
        """The button class of one bot, whose clicks go to `pressed` (the review cog's handler).

        A class, not an instance: discord.py rebuilds a button from its custom_id with the class that is
        registered (`bot.add_dynamic_items`) or that the last card sent was made of, so both must be this one.
        """
        return type("WiredCardButton", (cls,), {"pressed": staticmethod(pressed)}, template=TEMPLATE)

    def __init__(self, guild_id: int, case_number: int, decision: str, *, disabled: bool = False) -> None:
        label, style = _BUTTONS[decision]
        super().__init__(
            discord.ui.Button(
                label=label,
                style=style,
                disabled=disabled,
                custom_id=f"cw:card:{guild_id}:{case_number}:{decision}",
            )
        )
        self.guild_id = guild_id
        self.case_number = case_number
        self.decision = decision

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> CardButton:
        decision = match["decision"]
        if decision not in _BUTTONS:
            raise ValueError(f"unknown card decision {decision!r}")
        return cls(int(match["guild"]), int(match["case"]), decision)

    async def callback(self, interaction: discord.Interaction) -> None:
        await type(self).pressed(interaction, self.guild_id, self.case_number, self.decision)


def card_view(
    buttons: type[CardButton], guild_id: int, case_number: int, target_kind: str, *, disabled: bool = False
) -> discord.ui.View:
    """A card's buttons, made of the bot's wired button class (`buttons`)."""
    view = discord.ui.View(timeout=None)
    decisions = COMMENT_DECISIONS if target_kind == "comment" else actions.CARD_DECISIONS
    for decision in decisions:
        view.add_item(buttons(guild_id, case_number, decision, disabled=disabled))
    return view
