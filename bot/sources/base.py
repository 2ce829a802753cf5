"""What every comment source produces, so the mirror engine and the scan job never care where from."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Protocol, Self, runtime_checkable

from bot.errors import WardenError

log = logging.getLogger(__name__)


class SourceError(WardenError):
    """A source could not be read; `reason` is one line fit to show a moderator."""


_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(value: str) -> str:
    """`value` with lone surrogates (from `"\\ud800"` in JSON, `&#xD800;` in a feed) replaced by U+FFFD.

    Python strings may hold them but UTF-8 cannot: left in, they crash the first encode — the
    database write after a whole thread was scored, or the terminal.
    """
    return _SURROGATE.sub("\ufffd", value)


class _ValidText:
    """Every str field of a source dataclass is encodable text, whichever source built it."""

    def __post_init__(self) -> None:
        for item in fields(self):  # type: ignore[arg-type]
            value = getattr(self, item.name)
            if isinstance(value, str) and _SURROGATE.search(value):
                object.__setattr__(self, item.name, valid_text(value))


@dataclass(frozen=True)
class Comment(_ValidText):
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
class Article(_ValidText):
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


class DateRangeError(ValueError):
    """A well-formed date that no timezone-aware UTC datetime can hold (year 1 east of UTC, 9999 west)."""


def parse_datetime(value: str | None) -> datetime | None:
    """ISO 8601 (with `Z` or an offset; naive means UTC) to an aware UTC datetime, None if blank."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 or 9999-12-31T23:59-01:00: outside datetime in UTC
        raise DateRangeError(f"{value!r} is out of range") from None


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
