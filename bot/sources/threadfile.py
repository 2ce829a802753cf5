"""JSON thread files: the offline source for the CLI scan, demos and tests.

Files are hand-written or exported by other tools, so validation is strict and every error names the
exact field ("comments[3].id missing") instead of failing somewhere deep in the mirror engine.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.sources.base import (
    Article,
    Comment,
    DateRangeError,
    SourceError,
    SourceLifecycle,
    Thread,
    order_parents_first,
    parse_datetime,
    unchanged_thread,
    valid_text,
)

KIND = "file"
# Bounds on what one thread file may make the program do (none is a setting: a real thread is far
# inside each). The size is counted while reading, never taken from st_size: /dev/zero says 0.
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_COMMENTS = 100_000
MAX_NUMBER_DIGITS = 40  # an id written as a JSON integer; Python refuses over 4,300 digits with a traceback

_ARTICLE_FIELDS = {"id": True, "title": True, "url": False, "author": False, "date": False, "body": False}
_COMMENT_FIELDS = {
    "id": True,
    "parent": False,
    "author": True,
    "date": False,
    "text": True,
    "url": False,
    "avatar_url": False,
}


def _clip(text: str, size: int = 40) -> str:
    """A stranger's key or value echoed in an error: short enough for one line."""
    return text if len(text) <= size else f"{text[:size]}…"


def _check_keys(obj: Any, where: str, fields: Mapping[str, bool]) -> Mapping[str, Any]:
    if not isinstance(obj, dict):
        raise SourceError(f"{where} must be an object")
    unknown = sorted(set(obj) - set(fields))
    if unknown:
        raise SourceError(f"{where}.{_clip(unknown[0])} is not a known field")
    for name, required in fields.items():
        if required and obj.get(name) is None:
            raise SourceError(f"{where}.{name} missing")
    return obj


def _ident(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    """Ids may be written as strings or integers; both become strings."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SourceError(f"{where}.{key} must be a string or an integer")
    text = valid_text(str(value).strip())  # before the repeat check: "\ud800" and "\udc00" both become U+FFFD
    if not text:
        raise SourceError(f"{where}.{key} is empty")
    return text


def _text(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise SourceError(f"{where}.{key} must be a string")
    return value


def _date(obj: Mapping[str, Any], key: str, where: str) -> Any:
    raw = _text(obj, key, where)
    shown = _clip(raw or "")
    try:
        return parse_datetime(raw)
    except DateRangeError:
        raise SourceError(f"{where}.{key} is out of the supported date range: {shown!r}") from None
    except ValueError:
        raise SourceError(f"{where}.{key} is not an ISO 8601 date: {shown!r}") from None


def parse_thread(data: Any) -> Thread:
    """Validate a decoded thread document and build the Thread."""
    if not isinstance(data, dict):
        raise SourceError("thread file must be a JSON object with 'article' and 'comments'")
    unknown = sorted(set(data) - {"article", "comments"})
    if unknown:
        raise SourceError(f"{_clip(unknown[0])} is not a known top-level field")
    if data.get("article") is None:
        raise SourceError("article missing")
    raw_article = _check_keys(data["article"], "article", _ARTICLE_FIELDS)
    article = Article(
        external_id=_ident(raw_article, "id", "article") or "",
        title=_text(raw_article, "title", "article") or "",
        url=_text(raw_article, "url", "article"),
        author=_text(raw_article, "author", "article"),
        published_at=_date(raw_article, "date", "article"),
        excerpt=_text(raw_article, "body", "article") or "",
    )
    raw_comments = data.get("comments")
    if raw_comments is None:
        raise SourceError("comments missing")
    if not isinstance(raw_comments, list):
        raise SourceError("comments must be a list")
    if len(raw_comments) > MAX_COMMENTS:
        raise SourceError(f"{len(raw_comments)} comments is over the limit of {MAX_COMMENTS} a thread file")
    comments: list[Comment] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_comments):
        where = f"comments[{index}]"
        _check_keys(raw, where, _COMMENT_FIELDS)
        external_id = _ident(raw, "id", where) or ""
        if external_id in seen:
            raise SourceError(f"{where}.id {_clip(external_id)!r} repeats comments[{seen[external_id]}].id")
        seen[external_id] = index
        comments.append(
            Comment(
                external_id=external_id,
                parent_id=_ident(raw, "parent", where),
                author=_text(raw, "author", where) or "",
                posted_at=_date(raw, "date", where),
                text=_text(raw, "text", where) or "",
                url=_text(raw, "url", where),
                avatar_url=_text(raw, "avatar_url", where),
            )
        )
    # A reply whose parent is not in the file (deleted on the site, its reply kept) is re-rooted by
    # order_parents_first, as for every source: one deleted comment must not make the whole file fail.
    for index, comment in enumerate(comments):
        if comment.parent_id == comment.external_id:
            raise SourceError(f"comments[{index}].parent is the comment itself")
    return Thread(article=article, comments=order_parents_first(comments))


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise SourceError(f"a {len(digits)}-digit number is over the limit of {MAX_NUMBER_DIGITS} digits")
    return int(digits)


def read_bounded(file: Path, limit: int) -> bytes:
    """The bytes of `file` if it is a regular file of at most `limit` bytes, else SourceError.

    Opened without blocking (a FIFO with no writer would wait forever) and checked with fstat on the
    open descriptor, so a path swapped between check and read changes nothing; read to one byte past
    the limit, because `st_size` lies for /proc files and devices.
    """
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise SourceError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{file}: is a directory, not a thread file") from None
    except OSError as exc:
        raise SourceError(f"{file}: cannot read: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise SourceError(f"{file}: is a directory, not a thread file")
        raise SourceError(f"{file}: not a regular file (a device, FIFO or socket); refused")
    with os.fdopen(fd, "rb") as handle:
        try:
            raw = handle.read(limit + 1)
        except OSError as exc:
            raise SourceError(f"{file}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise SourceError(f"{file}: over the {limit} byte limit for a thread file")
    return raw


def read_thread_file(path: str | Path) -> tuple[Thread, str]:
    """Read and validate a thread file; returns the Thread and a hash of the bytes (its ETag)."""
    file = Path(path)
    raw = read_bounded(file, MAX_FILE_BYTES)
    try:
        data = json.loads(raw, parse_int=_bounded_int)
    except UnicodeDecodeError:
        raise SourceError(f"{file}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"{file}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        # The C decoder stops at the interpreter's recursion limit before it can exhaust the stack;
        # a thread file nests four levels deep.
        raise SourceError(
            f"{file}: JSON nested over {sys.getrecursionlimit()} levels deep; refused"
        ) from None
    except SourceError as exc:
        raise SourceError(f"{file}: {exc.reason}") from None
    try:
        thread = parse_thread(data)
    except SourceError as exc:
        raise SourceError(f"{file}: {exc.reason}") from None
    return thread, hashlib.sha256(raw).hexdigest()


class ThreadFileSource(SourceLifecycle):
    """A thread file on disk; re-read on every fetch, 'not modified' when its bytes did not change."""

    kind = KIND

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        # Keyed by the resolved real path: `t.json`, `./t.json`, `/abs/t.json` and a symlink to it are
        # one source, not three with three copies of every flag.
        self.path = Path(os.path.realpath(Path(path).expanduser()))
        self.url = str(self.path)
        self.validators: dict[str, str] = {}

    async def fetch(self, validators: dict[str, str] | None = None) -> Thread:
        thread, digest = await asyncio.to_thread(read_thread_file, self.path)
        self.validators = {"etag": digest}
        if validators and validators.get("etag") == digest:
            return unchanged_thread(thread.article, self.url)
        return thread
