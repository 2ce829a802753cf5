"""The moderation extension: one entry point that loads every moderation cog.

- `moderation_watch`: scores member messages (batched) and mirrored comments, records AutoMod and
  audit-log actions;
- `moderation_recovery`: after every READY, cards a killed process never posted and messages written while
  the bot was away;
- `moderation_review`: the persistent review-card buttons and their modals;
- `moderation_commands`: /flags, /case, /history, /modlog, /warn, /warnings, /unwarn, /mywarnings and the
  context menus (Score message, Flag for review, Moderation history);
- `moderation_tuning`: /thresholds, /stats, /tune;
- `moderation_config`: /config.
All of them share one `ModerationService`, the only code that acts on Discord and logs the cases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.moderation._buttons import CardButton
from cogs.moderation._service import ModerationService
from cogs.moderation.commands import ModerationCommands
from cogs.moderation.config import Config
from cogs.moderation.recovery import Recovery
from cogs.moderation.review import Review
from cogs.moderation.tuning import Tuning
from cogs.moderation.watch import Watcher

if TYPE_CHECKING:
    from bot.factory import CommentWarden


async def setup(bot: CommentWarden) -> None:
    service = ModerationService(bot)
    for cog in (Watcher, Recovery, Review, ModerationCommands, Tuning, Config):
        await bot.add_cog(cog(bot, service))
    # Cards posted before a restart keep working: the buttons are rebuilt from their custom_id.
    bot.add_dynamic_items(CardButton)


async def teardown(bot: CommentWarden) -> None:
    bot.remove_dynamic_items(CardButton)
