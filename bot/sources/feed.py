"""RSS 2.0 and Atom comment feeds (a site's `/comments/feed/`, a post's `?p=ID&feed=rss2`, …).

The bytes always come from our `HttpClient` (size cap, SSRF checks); feedparser only parses and is
never allowed to fetch. Before feedparser sees a document, defusedxml refuses any that declares XML
entities: real comment feeds never need them, and entity expansion ("billion laughs") is the classic
way to make a small document eat all memory. A linear pre-scan also caps the tags and the
attributes per tag: feedparser's cost grows with the square of an element's attributes, so a
2 MB feed with 200,000 of them on one element would otherwise burn minutes of CPU.
"""

from __future__ import annotations

import asyncio
import calendar
import codecs
import hashlib
import io
import logging
import re
import time
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
    valid_text,
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
_DECLARED_ENCODING = re.compile(rb"""^(\s*<\?xml[^>]*encoding=["'])([^"']*)""")
# Byte-order marks, UTF-32 first: the UTF-32-LE mark starts with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Structure bounds, checked by `prescan` before any XML parser runs. A real comment feed has a few
# hundred tags with at most a handful of attributes each; the response size is capped separately
# (MAX_RESPONSE_BYTES). Parsing costs about a millisecond an entry (feedparser, then HTML to markdown), so
# the tag bound (at least four tags an entry) also bounds the time; FEED_PARSE_SECONDS stops the entry loop.
MAX_FEED_TAGS = 20_000
FEED_PARSE_SECONDS = 30.0
MAX_FEED_ATTRIBUTES = 64
# A tag, its quoted attribute values allowed to hold `>` but not `<` (XML forbids it there), so the
# scan never runs past the next `<` and stays linear on any input; an unclosed tag (malformed input that
# feedparser's lenient parser would still read) ends at the next `<`, stray quote or the end.
_TAG = re.compile(rb"""<[^<>"']*(?:(?:"[^"<]*"|'[^'<]*')[^<>"']*)*(?:>|(?=[<"'])|\Z)""")
_QUOTED = re.compile(rb""""[^"<]*"|'[^'<]*'""")


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


def _transcode_bom(body: bytes) -> bytes | None:
    """UTF-16/32 with a byte-order mark, re-encoded as UTF-8 (declaration updated); None without a BOM.

    The UTF-8 repair below would otherwise shred a valid UTF-16 feed into replacement characters.
    """
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            try:
                text = body[len(bom) :].decode(encoding)
            except UnicodeDecodeError:
                raise SourceError(
                    f"feed refused: it starts with a {encoding} byte-order mark but is not {encoding}"
                ) from None
            return _DECLARED_ENCODING.sub(rb"\1utf-8", text.encode("utf-8", "surrogatepass"), count=1)
    return None


def _check_encodings(body: bytes, content_type: str | None) -> None:
    """An encoding name nobody knows is one line, not a LookupError from deep inside a parser."""
    names = []
    if declared := _XML_ENCODING.search(body[:200]):
        names.append(declared.group(1).decode("ascii"))
    if charset := _CHARSET.search(content_type or ""):
        names.append(charset.group(1))
    for name in names:
        try:
            codecs.lookup(name)
        except LookupError:
            raise SourceError(f"feed refused: unknown character encoding {name[:40]!r}") from None


_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,16})|([0-9]{1,20}));")


def _valid_char_refs(body: bytes) -> bytes:
    """Character references to no character (`&#xD800;`, `&#0;`, `&#x110000;`) become U+FFFD.

    feedparser decodes them itself and crashes encoding a lone surrogate; the comment is kept.
    """

    def fix(match: re.Match[bytes]) -> bytes:
        code = int(match.group(1), 16) if match.group(1) else int(match.group(2))
        if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            return b"&#xFFFD;"
        return match.group()

    return _CHAR_REF.sub(fix, body)


def prescan(body: bytes) -> None:
    """Refuse a document with more tags, or attributes on one tag, than a feed can need.

    One regular-expression pass over the bytes, linear whatever they hold, stopping at the first
    bound crossed; attributes are counted as the tokens of a tag outside its quoted values, so
    boolean HTML attributes (which feedparser's lenient parser accepts) count too.
    """
    for count, match in enumerate(_TAG.finditer(body), 1):
        if count > MAX_FEED_TAGS:
            raise SourceError(f"feed refused: over {MAX_FEED_TAGS} tags (the bound for one feed)")
        tag = match.group()
        if tag.count(b" ") + tag.count(b"\t") + tag.count(b"\n") < MAX_FEED_ATTRIBUTES:
            continue  # cheap: too few separators to hold that many attributes
        attributes = len(_QUOTED.sub(b'""', tag[1:].rstrip(b">")).split()) - 1
        if attributes > MAX_FEED_ATTRIBUTES:
            raise SourceError(
                f"feed refused: an element with {attributes} attributes (the bound is {MAX_FEED_ATTRIBUTES})"
            )


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


def _web_url(value: Any) -> str | None:
    """A link readers can open (http/https), else None: feedparser fills `link` from an Atom `urn:` id."""
    if isinstance(value, str) and value.lower().startswith(("http://", "https://")):
        return value
    return None


def _entry_time(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (ValueError, OverflowError, OSError):  # past year 9999, before year 1: no date rather than no feed
        return None


def _fallback_id(entry: Any, posted: datetime | None, text: str, occurrences: dict[str, int]) -> str:
    """An id for an entry without id or link, from what it shows, plus its place among identical ones.

    Two "+1" from Anonymous at the same minute are two comments: the first keeps the plain hash (the
    id earlier versions stored, so an upgrade duplicates nothing), the n-th identical one (counted from
    the oldest in the feed, which new comments do not shift) gets `-n`.
    """
    digest = hashlib.sha256(
        valid_text(f"{entry.get('author', '')}\x00{posted}\x00{text}").encode()
    ).hexdigest()[:32]
    occurrences[digest] = occurrences.get(digest, 0) + 1
    return digest if occurrences[digest] == 1 else f"{digest}-{occurrences[digest]}"


def parse_feed(body: bytes, *, url: str, content_type: str | None = None) -> Thread:
    """Turn feed bytes into a Thread (CPU work: call it off the event loop for big feeds)."""
    transcoded = _transcode_bom(body)
    if transcoded is not None:
        body = transcoded
        content_type = _CHARSET.sub("charset=utf-8", content_type) if content_type else None
    _check_encodings(body, content_type)
    prescan(body)
    body = _valid_char_refs(_repair_utf8(body, content_type, url))
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
        url=_web_url(channel.get("link")) or url,
        author=channel.get("author"),
        published_at=_entry_time(channel),
        excerpt=channel.get("subtitle") or "",
    )
    parents = _atom_parents(tree)
    # Feeds list newest first: walk oldest first, so fallback ids count identical comments from the
    # old end of the window, which new comments do not shift.
    deadline = time.monotonic() + FEED_PARSE_SECONDS
    entries = []
    for entry in reversed(parsed.get("entries", [])):
        if time.monotonic() > deadline:
            raise SourceError(f"feed refused: reading its entries took over {FEED_PARSE_SECONDS:.0f} s")
        entries.append((entry, _entry_text(entry), _entry_time(entry)))
    occurrences: dict[str, int] = {}
    comments: list[Comment] = []
    seen: set[str] = set()
    for entry, text, posted in entries:
        external_id = valid_text(
            entry.get("id") or entry.get("link") or _fallback_id(entry, posted, text, occurrences)
        )
        if external_id in seen:
            continue  # the same id twice is the same comment listed twice
        seen.add(external_id)
        comments.append(
            Comment(
                external_id=external_id,
                parent_id=parents.get(external_id),
                author=entry.get("author") or "Anonymous",
                posted_at=posted,
                text=text,
                url=_web_url(entry.get("link")),
                avatar_url=None,
            )
        )
    # The mirror wants posting order: by date where every comment has one (stable, so ties keep feed order).
    if all(c.posted_at is not None for c in comments):
        comments.sort(key=lambda c: c.posted_at or datetime.min.replace(tzinfo=UTC))
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
