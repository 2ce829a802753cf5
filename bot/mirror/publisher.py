"""The `Publisher` protocol: everything the mirror engine needs from Discord, and nothing else.

The engine renders comments to plain data (`bot.mirror.render`) and hands them to a publisher; the
Discord cog implements it with discord.py webhooks, the engine's unit tests with a list in memory.
Posting is one message per call on purpose: the engine records each message id in the database right
after the call returns, which keeps the window between "Discord has it" and "we know it" to one message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.errors import WardenError
from bot.mirror.render import EmbedSpec, OutgoingMessage
from bot.sources.base import Article
from bot.store.mirror import SourceRow


class PublishError(WardenError):
    """Discord refused in a way a retry will not fix soon (no permission, channel gone); one line."""


class ThreadGone(PublishError):
    """The article's thread was deleted in Discord; the engine starts the article over."""


class MessageGone(WardenError):
    """A mirrored message was deleted in Discord (by a moderator); there is nothing to edit."""

    def __init__(self, message_id: int) -> None:
        super().__init__(f"message {message_id} was deleted in Discord")
        self.message_id = message_id


@dataclass(frozen=True)
class ThreadRef:
    thread_id: int
    card_message_id: int | None


@dataclass(frozen=True)
class PostedMessage:
    """A recent message the publisher itself posted in a thread, with its embeds' footers."""

    message_id: int
    footers: tuple[str, ...]


class Publisher(Protocol):
    async def ensure_thread(
        self, source: SourceRow, article: Article, card: EmbedSpec, thread_id: int | None
    ) -> ThreadRef:
        """Return the article's thread (`thread_id` if it still exists) or create it with `card` first.

        Raises `ThreadGone` when `thread_id` no longer exists, `PublishError` when it cannot be made.
        """
        ...

    async def find_thread(self, source: SourceRow, article: Article, marker: str) -> ThreadRef | None:
        """A thread the publisher made for `article` in the source's channel whose card's footer is `marker`.

        Asked before creating a thread the database does not know: a process killed between Discord
        making the thread and the database recording it left one, to adopt instead of making a second.
        """
        ...

    async def post(self, source: SourceRow, thread_id: int, message: OutgoingMessage) -> int:
        """Post one message in the thread, without pinging anyone; return its id."""
        ...

    async def edit(
        self, source: SourceRow, thread_id: int, message_id: int, embeds: tuple[EmbedSpec, ...]
    ) -> None:
        """Replace a posted message's embeds; raises `MessageGone` if it was deleted."""
        ...

    async def delete(self, source: SourceRow, thread_id: int, message_id: int) -> None:
        """Delete a posted message; one already gone is not an error."""
        ...

    async def recent(self, source: SourceRow, thread_id: int, limit: int) -> list[PostedMessage]:
        """The publisher's own messages among the thread's last `limit`, for resuming after a crash."""
        ...
