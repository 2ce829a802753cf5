"""What every comment source produces, so the mirror engine and the scan job never care where from."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol, Self, runtime_checkable

from bot.errors import WardenError

log = logging.getLogger(__name__)


class SourceError(WardenError):
    """A source could not be read; `reason` is one line fit to show a moderator."""


@dataclass(frozen=True)
class Comment:
    external_id: str
    parent_id: str | None  # always the id of another comment in the same Thread, or None
    author: str
    posted_at: datetime | None  # timezone-aware UTC
    text: str  # Discord-safe markdown (already converted from HTML, not yet mention-neutralised)
    url: str | None = None
    avatar_url: str | None = None

    @property
    def content_hash(self) -> str:
        """Changes when what a reader sees changes (an edit, a rename), so the mirror can update."""
        return hashlib.sha256(f"{self.author}\x00{self.text}".encode()).hexdigest()


@dataclass(frozen=True)
class Article:
    external_id: str
    title: str
    url: str | None
    author: str | None
    published_at: datetime | None
    excerpt: str


@dataclass(frozen=True)
class Thread:
    article: Article
    comments: list[Comment]  # in posting order, parents before replies
    not_modified: bool = False  # conditional GET said nothing changed: comments is empty, ignore it
    # False when the source only shows a window of recent comments (feeds): a comment missing from
    # `comments` may simply have scrolled out, so absence must not be read as deletion.
    complete: bool = True


@runtime_checkable
class Source(Protocol):
    kind: str
    url: str
    validators: dict[str, str]  # the validators to pass to the next fetch (empty if none)

    async def fetch(self, validators: dict[str, str] | None = None) -> Thread:
        """Read the thread now; raises `SourceError(reason)`."""
        ...

    async def aclose(self) -> None:
        """Release what the source owns; also `async with source:`."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...


class Closable(Protocol):
    async def close(self) -> None: ...


class OwnedSource(Source, Protocol):
    """A source `open_source` can hand the HTTP client it made for it (every `SourceLifecycle` source)."""

    owned: Closable | None


class SourceLifecycle:
    """`async with source:` / `await source.aclose()` release what the source owns (its HTTP client
    when `open_source` created one for it); a client passed in by the caller stays the caller's."""

    def __init__(self) -> None:
        self.owned: Closable | None = None

    async def aclose(self) -> None:
        owned, self.owned = self.owned, None
        if owned is not None:
            await owned.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def unchanged_thread(article: Article | None, source_url: str) -> Thread:
    """The Thread returned for a 304: the last article seen (or a placeholder) and no comments."""
    placeholder = Article(
        external_id=source_url, title="", url=source_url, author=None, published_at=None, excerpt=""
    )
    return Thread(article=article or placeholder, comments=[], not_modified=True)


def parse_datetime(value: str | None) -> datetime | None:
    """ISO 8601 (with `Z` or an offset; naive means UTC) to an aware UTC datetime, None if blank."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def order_parents_first(comments: Iterable[Comment]) -> list[Comment]:
    """Keep posting order, except that a reply listed before its parent waits until just after it.

    A reply whose parent is not in the list (held, deleted, beyond a feed's window) becomes a
    top-level comment, so consumers can rely on `parent_id` naming a comment they have already seen.
    """
    items = list(comments)
    ids = {c.external_id for c in items}
    emitted: set[str] = set()
    waiting: dict[str, list[Comment]] = {}
    ordered: list[Comment] = []

    def emit(comment: Comment) -> None:
        stack = [comment]
        while stack:
            current = stack.pop()
            if current.external_id in emitted:  # a stale copy left waiting inside a broken cycle
                continue
            ordered.append(current)
            emitted.add(current.external_id)
            stack.extend(reversed(waiting.pop(current.external_id, [])))

    for comment in items:
        parent = comment.parent_id
        if parent is None or parent in emitted:
            emit(comment)
        elif parent in ids and parent != comment.external_id:
            waiting.setdefault(parent, []).append(comment)
        else:
            log.debug("comment %s: parent %s not in thread; shown top-level", comment.external_id, parent)
            emit(replace(comment, parent_id=None))
    # Whatever still waits sits in a parent cycle: break it and keep the text.
    for group in list(waiting.values()):
        for comment in group:
            if comment.external_id not in emitted:
                emit(replace(comment, parent_id=None))
    return ordered
