"""JSON thread files: the offline source for the CLI scan, demos and tests.

Files are hand-written or exported by other tools, so validation is strict and every error names the
exact field ("comments[3].id missing") instead of failing somewhere deep in the mirror engine.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.sources.base import (
    Article,
    Comment,
    SourceError,
    SourceLifecycle,
    Thread,
    order_parents_first,
    parse_datetime,
    unchanged_thread,
)

KIND = "file"
MAX_FILE_BYTES = 50 * 1024 * 1024

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


def _check_keys(obj: Any, where: str, fields: Mapping[str, bool]) -> Mapping[str, Any]:
    if not isinstance(obj, dict):
        raise SourceError(f"{where} must be an object")
    unknown = sorted(set(obj) - set(fields))
    if unknown:
        raise SourceError(f"{where}.{unknown[0]} is not a known field")
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
    text = str(value).strip()
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
    try:
        return parse_datetime(raw)
    except ValueError:
        raise SourceError(f"{where}.{key} is not an ISO 8601 date: {raw!r}") from None


def parse_thread(data: Any) -> Thread:
    """Validate a decoded thread document and build the Thread."""
    if not isinstance(data, dict):
        raise SourceError("thread file must be a JSON object with 'article' and 'comments'")
    unknown = sorted(set(data) - {"article", "comments"})
    if unknown:
        raise SourceError(f"{unknown[0]} is not a known top-level field")
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
    comments: list[Comment] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_comments):
        where = f"comments[{index}]"
        _check_keys(raw, where, _COMMENT_FIELDS)
        external_id = _ident(raw, "id", where) or ""
        if external_id in seen:
            raise SourceError(f"{where}.id {external_id!r} repeats comments[{seen[external_id]}].id")
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


def read_thread_file(path: str | Path) -> tuple[Thread, str]:
    """Read and validate a thread file; returns the Thread and a hash of the bytes (its ETag)."""
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SourceError(f"{file}: {size} bytes is over the {MAX_FILE_BYTES} byte limit")
        raw = file.read_bytes()
    except FileNotFoundError:
        raise SourceError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{file}: is a directory, not a thread file") from None
    except OSError as exc:
        raise SourceError(f"{file}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise SourceError(f"{file}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"{file}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
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
        self.path = Path(path)
        self.url = str(self.path)
        self.validators: dict[str, str] = {}

    async def fetch(self, validators: dict[str, str] | None = None) -> Thread:
        thread, digest = await asyncio.to_thread(read_thread_file, self.path)
        self.validators = {"etag": digest}
        if validators and validators.get("etag") == digest:
            return unchanged_thread(thread.article, self.url)
        return thread
