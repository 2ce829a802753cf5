"""RSS 2.0 and Atom comment feeds (a site's `/comments/feed/`, a post's `?p=ID&feed=rss2`, …).

The bytes always come from our `HttpClient` (size cap, SSRF checks); feedparser only parses and is
never allowed to fetch. Before feedparser sees a document, defusedxml refuses any that declares XML
entities: real comment feeds never need them, and entity expansion ("billion laughs") is the classic
way to make a small document eat all memory.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import io
import logging
import re
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import feedparser
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

from bot.net.http import FetchError, HttpClient
from bot.sources.base import (
    Article,
    Comment,
    SourceError,
    SourceLifecycle,
    Thread,
    order_parents_first,
    unchanged_thread,
)
from bot.textsafety import html_to_markdown

log = logging.getLogger(__name__)

KIND = "feed"
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
_ATOM = "{http://www.w3.org/2005/Atom}"
_THREAD = "{http://purl.org/syndication/thread/1.0}"
_HTML_SNIFF = (b"<!doctype html", b"<html")
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']""")
_CHARSET = re.compile(r"charset=[\"']?([A-Za-z0-9._-]+)", re.IGNORECASE)


def _repair_utf8(body: bytes, content_type: str | None, url: str) -> bytes:
    """Replace invalid bytes in a UTF-8 feed instead of letting feedparser re-read it all as cp1252.

    One stray Latin-1 byte would otherwise turn every accented name in the feed into mojibake.
    """
    try:
        body.decode("utf-8")
        return body
    except UnicodeDecodeError:
        pass
    declared = _XML_ENCODING.search(body[:200])
    charset = _CHARSET.search(content_type or "")
    names = set()
    if declared:
        names.add(declared.group(1).decode("ascii").lower())
    if charset:
        names.add(charset.group(1).lower())
    if names - {"utf-8", "utf8"}:
        return body  # declared as something else: feedparser's encoding detection handles it
    log.warning("feed %s has invalid UTF-8 bytes; replacing them", url)
    return body.decode("utf-8", errors="replace").encode("utf-8")


def _xml_tree(body: bytes) -> Element | None:
    """Parse with defusedxml to refuse entity declarations; None when the XML is not well-formed."""
    try:
        return defused_fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise SourceError(
            f"feed refused: it declares XML entities or external references ({type(exc).__name__})"
        ) from None
    except (ParseError, ValueError):
        return None  # malformed: feedparser's lenient parser gets to decide


def _atom_parents(tree: Element | None) -> dict[str, str]:
    """Atom threading (RFC 4685): entry id -> the id it replies to; feedparser drops this element."""
    if tree is None or tree.tag != f"{_ATOM}feed":
        return {}
    parents: dict[str, str] = {}
    for entry in tree.iter(f"{_ATOM}entry"):
        entry_id = (entry.findtext(f"{_ATOM}id") or "").strip()
        reply = entry.find(f"{_THREAD}in-reply-to")
        if entry_id and reply is not None and reply.get("ref"):
            parents[entry_id] = reply.get("ref", "").strip()
    return parents


def _looks_like_html(body: bytes, content_type: str | None) -> bool:
    head = body[:2048].lstrip().lower()
    return (content_type or "").lower().startswith("text/html") or head.startswith(_HTML_SNIFF)


def _entry_text(entry: Any) -> str:
    for detail in [*entry.get("content", []), entry.get("summary_detail")]:
        if detail and detail.get("value"):
            if "html" in (detail.get("type") or ""):
                return html_to_markdown(detail["value"])
            return detail["value"].strip()
    return ""


def _entry_time(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC)


def parse_feed(body: bytes, *, url: str, content_type: str | None = None) -> Thread:
    """Turn feed bytes into a Thread (CPU work: call it off the event loop for big feeds)."""
    body = _repair_utf8(body, content_type, url)
    tree = _xml_tree(body)
    parsed = feedparser.parse(
        io.BytesIO(body),  # a stream, never a string: feedparser would fetch a URL-looking string
        response_headers={"content-type": content_type or "application/xml", "content-location": url},
    )
    if not parsed.get("version"):
        if _looks_like_html(body, content_type):
            raise SourceError(f"not a feed: {url} returned an HTML page")
        problem = parsed.get("bozo_exception")
        detail = f" ({str(problem).splitlines()[0][:120]})" if problem else ""
        raise SourceError(f"not a feed: {url} is neither RSS nor Atom{detail}")
    if parsed.get("bozo"):
        log.warning("feed %s is malformed but readable: %s", url, parsed.get("bozo_exception"))

    channel = parsed.get("feed", {})
    article = Article(
        external_id=channel.get("id") or channel.get("link") or url,
        title=channel.get("title") or "",
        url=channel.get("link") or url,
        author=channel.get("author"),
        published_at=_entry_time(channel),
        excerpt=channel.get("subtitle") or "",
    )
    parents = _atom_parents(tree)
    comments: list[Comment] = []
    seen: set[str] = set()
    for entry in parsed.get("entries", []):
        text = _entry_text(entry)
        posted = _entry_time(entry)
        external_id = (
            entry.get("id")
            or entry.get("link")
            or hashlib.sha256(f"{entry.get('author', '')}\x00{posted}\x00{text}".encode()).hexdigest()[:32]
        )
        if external_id in seen:
            continue
        seen.add(external_id)
        comments.append(
            Comment(
                external_id=external_id,
                parent_id=parents.get(external_id),
                author=entry.get("author") or "Anonymous",
                posted_at=posted,
                text=text,
                url=entry.get("link"),
                avatar_url=None,
            )
        )
    # Feeds list newest first; the mirror wants posting order.
    if all(c.posted_at is not None for c in comments):
        comments.sort(key=lambda c: c.posted_at or datetime.min.replace(tzinfo=UTC))
    else:
        comments.reverse()
    return Thread(article=article, comments=order_parents_first(comments), complete=False)


class FeedSource(SourceLifecycle):
    """A comment feed polled with conditional GET; only the feed's window of comments is visible."""

    kind = KIND

    def __init__(self, url: str, *, http: HttpClient) -> None:
        super().__init__()
        self.url = url
        self.http = http
        self.validators: dict[str, str] = {}
        self._article: Article | None = None

    async def fetch(self, validators: dict[str, str] | None = None) -> Thread:
        try:
            response = await self.http.get(self.url, validators=validators, headers={"Accept": ACCEPT})
        except FetchError as exc:
            raise SourceError(f"feed {self.url}: {exc.reason}") from None
        if response.not_modified:
            self.validators = dict(validators or {})
            return unchanged_thread(self._article, self.url)
        thread = await asyncio.to_thread(
            parse_feed, response.body, url=response.url, content_type=response.headers.get("Content-Type")
        )
        self.validators = response.validators
        self._article = thread.article
        return thread
