"""`CommentScored`: the hook between the mirror and moderation.

The engine emits one event per comment version that reaches Discord (new, edited, restored, or adopted
after a crash), after its score is stored and its message id recorded, so a subscriber can flag it and
link straight to the message. Subscribers are plain callables; the cog forwards events to discord.py's
dispatcher as `comment_scored`. A failing subscriber is logged and never stops the mirror; the version is
not announced again, so moderation marks what it judged (`comments.judged_hash`) and replays the rest from
the store (`engine.announced`).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.mirror.render import jump_url
from bot.scoring import TextScore
from bot.sources.base import Article, Comment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommentScored:
    guild_id: int
    source_id: int
    article: Article
    comment: Comment
    comment_id: int  # the row id in `comments`: the stable handle for moderation and write-back
    channel_id: int  # the parent text or forum channel
    thread_id: int
    message_id: int  # the (first) Discord message showing the comment
    score: TextScore
    edited: bool = False  # True when this is a changed version of a comment already mirrored
    held: bool = (
        False  # pre-moderation withheld it: the message shows a notice; moderation cards it for review
    )

    @property
    def jump_url(self) -> str:
        return jump_url(self.guild_id, self.thread_id, self.message_id)


@dataclass(frozen=True)
class CommentRemoved:
    """A mirrored comment left Discord: gone from its site (`by` "site") or taken down by a moderator."""

    guild_id: int
    source_id: int
    comment_id: int
    by: str  # "site" | "moderator"


Event = CommentScored | CommentRemoved
Subscriber = Callable[[Event], Awaitable[None] | None]


class EventHub:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def emit(self, event: Event) -> None:
        for subscriber in list(self._subscribers):
            try:
                result = subscriber(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception(
                    "mirror event subscriber %r failed for comment %s", subscriber, event.comment_id
                )
