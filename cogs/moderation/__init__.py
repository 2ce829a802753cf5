"""The moderation extension (`cogs.moderation`): one entry point that builds and wires every moderation cog.

- `watch`: scores member messages (batched) and mirrored comments, records AutoMod and audit-log actions;
- `recovery`: after every READY, cards a killed process never posted, judges mirrored comments never judged
  and scores messages written while the bot was away (through the watcher it is handed);
- `review`: the persistent review-card buttons and their modals;
- `commands`: /flags, /case, /history, /modlog, /warn, /warnings, /unwarn, the context menus (Score message,
  Flag for review, Moderation history), and /mywarnings (in a cog of its own: it is for every member);
- `tuning`: /thresholds, /stats, /tune;
- `config`: /config.
All of them share one `ModerationService` (`_service`), the only code that acts on Discord and logs the
cases; it gets the mirror engine and the review cog's button class here, not by looking cogs up by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.moderation._buttons import CardButton
from cogs.moderation._service import ModerationService
from cogs.moderation.commands import MemberCommands, ModerationCommands
from cogs.moderation.config import Config
from cogs.moderation.recovery import Recovery
from cogs.moderation.review import Review
from cogs.moderation.tuning import Tuning
from cogs.moderation.watch import Watcher

if TYPE_CHECKING:
    from bot.factory import CommentWarden


async def setup(bot: CommentWarden) -> None:
    service = ModerationService(bot, bot.mirror_engine)
    watcher = Watcher(bot, service)
    review = Review(bot, service)
    service.card_buttons = CardButton.wired(review.button_pressed)
    for cog in (
        watcher,
        Recovery(bot, service, watcher),
        review,
        ModerationCommands(bot, service),
        MemberCommands(bot, service),
        Tuning(bot, service),
        Config(bot, service),
    ):
        await bot.add_cog(cog)
    # Cards posted before a restart keep working: the buttons are rebuilt from their custom_id.
    bot.add_dynamic_items(service.card_buttons)


async def teardown(bot: CommentWarden) -> None:
    # Dynamic items are registered by their template, which every wired class shares with CardButton.
    bot.remove_dynamic_items(CardButton)
