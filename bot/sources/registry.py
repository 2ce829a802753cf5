"""Pick the right Source for whatever a moderator pasted: a file path, a WordPress URL or a feed URL.

Each kind is a small class in `KINDS` that can claim a spec from its text alone (a path, a URL with
`feed=`) or recognise it from one GET of the URL; adding a kind means adding one class here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from bot.net.http import FetchError, HttpClient, Response
from bot.net.urlsafety import UnsafeUrlError, validate_url
from bot.sources.base import OwnedSource, Source, SourceError
from bot.sources.feed import ACCEPT as FEED_ACCEPT
from bot.sources.feed import FeedSource
from bot.sources.threadfile import ThreadFileSource
from bot.sources.wordpress import API_REL, WordPressSource, discover_api

log = logging.getLogger(__name__)

_FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/xml",
    "text/xml",
    "application/rdf+xml",
)
_FEED_STARTS = (b"<?xml", b"<rss", b"<feed", b"<rdf:rdf")
PROBE_ACCEPT = "text/html, " + FEED_ACCEPT


@dataclass(frozen=True)
class OpenContext:
    http: HttpClient
    allow_private: bool
    credentials: Mapping[str, tuple[str, str]]
    probe: Response | None = None  # the one GET made to recognise the URL, for kinds to reuse


class SourceKind(Protocol):
    name: str

    def claims(self, spec: str) -> bool:
        """True when the spec's text alone says it is this kind (no network)."""
        ...

    def recognises(self, probe: Response) -> bool:
        """True when one GET of the URL shows it is this kind."""
        ...

    def create(self, spec: str, ctx: OpenContext) -> OwnedSource:
        """Build the source; an `OwnedSource` so `open_source` can hand it the client it made."""
        ...


def _is_url(spec: str) -> bool:
    return urlsplit(spec).scheme.lower() in ("http", "https")


class ThreadFileKind:
    name = "file"

    def claims(self, spec: str) -> bool:
        return not _is_url(spec)

    def recognises(self, probe: Response) -> bool:
        return False

    def create(self, spec: str, ctx: OpenContext) -> OwnedSource:
        parts = urlsplit(spec)
        path = unquote(parts.path) if parts.scheme.lower() == "file" else spec
        return ThreadFileSource(Path(path).expanduser())


class FeedKind:
    name = "feed"

    def claims(self, spec: str) -> bool:
        parts = urlsplit(spec)
        path = parts.path.lower().rstrip("/")
        return _is_url(spec) and (
            "feed" in parse_qs(parts.query)
            or path.endswith(("/feed", "/rss", "/atom", ".rss", ".atom", ".xml"))
        )

    def recognises(self, probe: Response) -> bool:
        head = probe.body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        return probe.content_type in _FEED_TYPES or head.startswith(_FEED_STARTS)

    def create(self, spec: str, ctx: OpenContext) -> OwnedSource:
        return FeedSource(spec, http=ctx.http)


class WordPressKind:
    name = "wordpress"

    def claims(self, spec: str) -> bool:
        return False  # any URL might be WordPress; only the site can say

    def recognises(self, probe: Response) -> bool:
        # WordPress advertises its REST root on every page (Link header and <head>).
        return (
            any(link.get("rel") == API_REL for link in probe.links) or API_REL.encode() in probe.body[:65536]
        )

    def create(self, spec: str, ctx: OpenContext) -> OwnedSource:
        return WordPressSource(spec, http=ctx.http, credentials=ctx.credentials, page=ctx.probe)


KINDS: list[SourceKind] = [ThreadFileKind(), FeedKind(), WordPressKind()]


def kind_named(name: str) -> SourceKind:
    for kind in KINDS:
        if kind.name == name:
            return kind
    raise SourceError(f"unknown source kind {name!r} (known: {', '.join(k.name for k in KINDS)})")


async def _choose(spec: str, ctx: OpenContext) -> OwnedSource:
    for kind in KINDS:
        if kind.claims(spec):
            return kind.create(spec, ctx)
    try:
        probe = await ctx.http.get(spec, headers={"Accept": PROBE_ACCEPT})
    except FetchError as exc:
        raise SourceError(f"cannot read {spec}: {exc.reason}") from None
    ctx = OpenContext(ctx.http, ctx.allow_private, ctx.credentials, probe)
    for kind in KINDS:
        if kind.recognises(probe):
            return kind.create(spec, ctx)
    # Some proxies strip WordPress's Link headers: the well-known REST paths are the last resort.
    try:
        await discover_api(ctx.http, spec, probe)
    except SourceError:
        raise SourceError(f"{spec} is neither a WordPress site nor an RSS/Atom feed") from None
    return WordPressKind().create(spec, ctx)


async def open_source(
    spec: str,
    *,
    http: HttpClient | None = None,
    allow_private: bool | None = None,
    credentials: Mapping[str, tuple[str, str]] | None = None,
    settings: Any = None,
    kind: str | None = None,
) -> Source:
    """Open `spec` (path or URL) as a Source; `kind` skips detection (e.g. the kind stored for it).

    Explicit arguments win over `settings` (anything with `allow_private_urls`, `http_timeout`,
    `max_response_bytes`, `wordpress_credentials`). Without `http`, the source gets its own client
    and closes it in `aclose()` / `async with`.
    """
    if allow_private is None:
        allow_private = bool(getattr(settings, "allow_private_urls", False))
    if credentials is None:
        credentials = getattr(settings, "wordpress_credentials", None) or {}
    spec = spec.strip()
    if _is_url(spec):
        try:
            spec = await validate_url(spec, allow_private=allow_private)
        except UnsafeUrlError as exc:
            raise SourceError(str(exc)) from None
    owned = None
    if http is None:
        owned = http = HttpClient(
            allow_private=allow_private,
            timeout=float(getattr(settings, "http_timeout", 10.0)),
            max_bytes=int(getattr(settings, "max_response_bytes", 10 * 1024 * 1024)),
        )
    ctx = OpenContext(http=http, allow_private=allow_private, credentials=credentials)
    try:
        source = kind_named(kind).create(spec, ctx) if kind else await _choose(spec, ctx)
    except BaseException:
        if owned is not None:
            await owned.close()
        raise
    source.owned = owned
    log.debug("opened %s as %s", spec, source.kind)
    return source
