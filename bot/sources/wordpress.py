"""WordPress through its REST API: read a post's comments, and hold/spam/trash one when asked.

Moderators paste whatever URL they have: the site, an article (`?p=ID`, `?page_id=ID` or a pretty
permalink). Discovery follows what WordPress itself advertises (the `Link` headers, or the same links
in the page's <head>) and only then probes `/wp-json/` and `?rest_route=/`, so sites installed in a
sub-directory or without pretty permalinks work too. Reads are anonymous (only approved comments are
public); writes use an application password over Basic auth.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from bs4 import BeautifulSoup

from bot.net.http import FetchError, HttpClient, Response
from bot.net.urlsafety import origin_of
from bot.sources.base import (
    Article,
    Comment,
    SourceError,
    SourceLifecycle,
    Thread,
    order_parents_first,
    parse_datetime,
    valid_text,
)
from bot.textsafety import html_to_markdown, html_to_text

log = logging.getLogger(__name__)

KIND = "wordpress"
API_REL = "https://api.w.org/"
PER_PAGE = 100
MAX_COMMENTS = 10_000
COMMENT_FIELDS = "id,post,parent,author_name,author_avatar_urls,date_gmt,content,link"
WRITE_STATUSES = frozenset({"hold", "approve", "spam", "trash"})


@dataclass(frozen=True)
class RestApi:
    """A site's REST root, in either of its two shapes: `/wp-json/` or `/index.php?rest_route=/`."""

    root: str

    def url(self, route: str, params: Mapping[str, str | int] | None = None) -> str:
        parts = urlsplit(self.root)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        extra = {k: str(v) for k, v in (params or {}).items()}
        if "rest_route" in query:
            query["rest_route"] = route
            return urlunsplit(parts._replace(query=urlencode({**query, **extra}, safe="/,")))
        path = parts.path.rstrip("/") + route
        return urlunsplit(parts._replace(path=path, query=urlencode({**query, **extra}, safe="/,")))


def _rest_error(exc: FetchError) -> str:
    """WordPress explains refusals in JSON ({"code", "message"}); prefer its words."""
    try:
        message = json.loads(exc.body).get("message")
    except (ValueError, AttributeError):
        message = None
    return f"{exc.reason}: {html_to_text(message)}" if message else exc.reason


def _advertised_links(response: Response) -> tuple[str | None, str | None]:
    """(REST root, this page's REST resource) from Link headers, else from the HTML <head>."""
    api = resource = None
    for link in response.links:
        rel, url = link.get("rel", ""), link.get("url")
        if rel == API_REL and url:
            api = url
        elif rel == "alternate" and link.get("type") == "application/json" and url:
            resource = url
    if api is None and response.content_type in ("text/html", "application/xhtml+xml"):
        soup = BeautifulSoup(response.text(), "html.parser")
        head = soup.find("head") or soup
        for tag in head.find_all("link", href=True):
            rel = " ".join(tag.get("rel") or [])
            if rel == API_REL:
                api = str(tag["href"])
            elif rel == "alternate" and tag.get("type") == "application/json" and resource is None:
                resource = str(tag["href"])
    return api, resource


def _is_site_root(url: str) -> bool:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return parts.path.strip("/") in ("", "index.php") and not (
        {"p", "page_id", "name", "pagename"} & set(query)
    )


async def discover_api(
    http: HttpClient, url: str, page: Response | None = None
) -> tuple[RestApi, str | None]:
    """Find the REST root for any URL on a site; also the page's own REST resource if advertised."""
    if page is None:
        try:
            page = await http.get(url)
        except FetchError as exc:
            if exc.status is None:  # unreachable, not merely an error page
                raise SourceError(f"cannot read {url}: {exc.reason}") from None
            log.debug("%s: %s; probing the REST paths", url, exc.reason)
    api, resource = _advertised_links(page) if page is not None else (None, None)
    if api:
        return RestApi(api), resource
    origin = origin_of(url)
    for candidate in (f"{origin}/wp-json/", f"{origin}/?rest_route=/"):
        try:
            probe = await http.get(candidate)
            index = probe.json()
        except FetchError:
            continue
        if isinstance(index, dict) and "wp/v2" in index.get("namespaces", []):
            root = probe.url if "rest_route" in probe.url else probe.url.split("?", 1)[0]
            return RestApi(root), resource
    raise SourceError(f"no WordPress REST API found for {url}")


def _decode(response: Response) -> Any:
    try:
        return _valid_strings(response.json())
    except FetchError as exc:
        raise SourceError(f"WordPress {response.url}: {exc.reason}") from None


def _valid_strings(data: Any) -> Any:
    """The decoded JSON with lone surrogates (`"\\ud800"`) in every string made U+FFFD, in place.

    The HTML converters and the database cannot encode them; iterative, so depth costs no stack.
    """
    if isinstance(data, str):
        return valid_text(data)
    stack = [data]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in list(items):
            if isinstance(value, str):
                node[key] = valid_text(value)
            elif isinstance(value, dict | list):
                stack.append(value)
    return data


def _comment_list(response: Response) -> list[Any]:
    items = _decode(response)
    if not isinstance(items, list):
        raise SourceError(f"WordPress {response.url}: expected a list of comments")
    return items


def _avatar(urls: Any) -> str | None:
    if not isinstance(urls, dict) or not urls:
        return None
    sizes = [k for k in urls if str(k).isdigit()]
    return urls[max(sizes, key=int)] if sizes else None


def _date(value: Any) -> datetime | None:
    """A site's date, or None when it is not one a UTC datetime holds: a bad date never loses the comment."""
    try:
        return parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        log.debug("ignoring unreadable date %r", value[:40])
        return None


def _comment(item: Mapping[str, Any]) -> Comment:
    parent = item.get("parent") or 0
    content = item.get("content") or {}
    return Comment(
        external_id=str(item["id"]),
        parent_id=str(parent) if parent else None,
        author=html_to_text(item.get("author_name") or "") or "Anonymous",
        posted_at=_date(item.get("date_gmt")),
        text=html_to_markdown(content.get("rendered", "") if isinstance(content, dict) else ""),
        url=item.get("link"),
        avatar_url=_avatar(item.get("author_avatar_urls")),
    )


def _comments(items: list[Any]) -> list[Comment]:
    """The REST items as comments, parents first; an item seen on two pages (the pages shift when comments
    come or go while paging) is kept once."""
    seen: set[str] = set()
    comments = []
    for item in items:
        if isinstance(item, dict) and "id" in item and str(item["id"]) not in seen:
            seen.add(str(item["id"]))
            comments.append(_comment(item))
    return order_parents_first(comments)


class WordPressSource(SourceLifecycle):
    """One WordPress post (or a whole site, for a site URL) read through the REST API.

    Held, spammed, trashed or deleted comments are simply absent from the list; the mirror engine
    notices them by absence.
    """

    kind = KIND

    def __init__(
        self,
        url: str,
        *,
        http: HttpClient,
        credentials: Mapping[str, tuple[str, str]] | None = None,
        max_comments: int = MAX_COMMENTS,
        page: Response | None = None,
    ) -> None:
        """`page`: a response already fetched from `url` (by `open_source`), to spare one request."""
        super().__init__()
        self.url = url
        self.http = http
        self._page = page
        self.max_comments = max_comments
        self.validators: dict[str, str] = {}
        self._api: RestApi | None = None
        self._resource: str | None = None  # the post's REST URL; None in site mode
        wanted = origin_of(url)
        found = {origin_of(o): pair for o, pair in (credentials or {}).items()}.get(wanted)
        self.writer = WordPressWriter(url, found[0], found[1], http=http) if found else None

    async def _locate(self) -> tuple[RestApi, str | None]:
        if self._api is None:
            api, resource = await discover_api(self.http, self.url, self._page)
            self._page = None
            if _is_site_root(self.url):
                resource = None
            elif resource is None:
                resource = await self._find_post(api)
            self._api, self._resource = api, resource
        return self._api, self._resource

    async def _find_post(self, api: RestApi) -> str:
        parts = urlsplit(self.url)
        query = parse_qs(parts.query)
        if query.get("p", [""])[0].isdigit():
            return api.url(f"/wp/v2/posts/{query['p'][0]}")
        if query.get("page_id", [""])[0].isdigit():
            return api.url(f"/wp/v2/pages/{query['page_id'][0]}")
        slug = (query.get("name") or query.get("pagename") or [""])[0]
        if not slug:
            segments = [s for s in parts.path.split("/") if s and s != "index.php"]
            slug = segments[-1] if segments else ""
        for collection in ("posts", "pages"):
            found = await self._get_json(api.url(f"/wp/v2/{collection}", {"slug": slug, "_fields": "id"}))
            if isinstance(found, list) and found:
                return api.url(f"/wp/v2/{collection}/{found[0]['id']}")
        raise SourceError(f"no WordPress post or page found for {self.url}")

    async def _get(self, url: str) -> Response:
        try:
            return await self.http.get(url)
        except FetchError as exc:
            raise SourceError(f"WordPress {url}: {_rest_error(exc)}") from None

    async def _get_json(self, url: str) -> Any:
        return _decode(await self._get(url))

    async def _article(self, api: RestApi, resource: str | None) -> tuple[Article, dict[str, str | int]]:
        if resource is None:
            index = await self._get_json(api.root)
            home = index.get("home") or index.get("url") or self.url
            article = Article(
                external_id=home,
                title=html_to_text(index.get("name") or ""),
                url=home,
                author=None,
                published_at=None,
                excerpt=html_to_text(index.get("description") or ""),
            )
            return article, {}
        post = await self._get_json(resource + ("&" if "?" in resource else "?") + "_embed=author")
        if not isinstance(post, dict) or "id" not in post:
            raise SourceError(f"WordPress {resource}: not a post")
        authors = (post.get("_embedded") or {}).get("author") or [{}]
        excerpt = post.get("excerpt") or {}
        article = Article(
            external_id=str(post["id"]),
            title=html_to_text((post.get("title") or {}).get("rendered", "")),
            url=post.get("link"),
            author=authors[0].get("name") if isinstance(authors[0], dict) else None,
            published_at=_date(post.get("date_gmt")),
            excerpt="" if excerpt.get("protected") else html_to_markdown(excerpt.get("rendered", "")),
        )
        return article, {"post": post["id"]}

    async def fetch(self, validators: dict[str, str] | None = None) -> Thread:
        """Read the article and every approved comment (all pages). REST has no validators."""
        api, resource = await self._locate()
        article, scope = await self._article(api, resource)
        params: dict[str, str | int] = {
            **scope,
            "per_page": PER_PAGE,
            "orderby": "id",
            "order": "asc",
            "_fields": COMMENT_FIELDS,
        }
        first = await self._get(api.url("/wp/v2/comments", {**params, "page": 1}))
        total = int(first.headers.get("X-WP-Total", "0") or 0)
        if total > self.max_comments:
            raise SourceError(
                f"{self.url} has {total} comments, more than the {self.max_comments} "
                "this bot mirrors; mirror a single article instead"
            )
        pages = int(first.headers.get("X-WP-TotalPages", "1") or 1)
        items = _comment_list(first)
        for page in range(2, pages + 1):
            try:
                response = await self.http.get(api.url("/wp/v2/comments", {**params, "page": page}))
            except FetchError as exc:
                if exc.status == 400:  # comments vanished while paging: the page no longer exists
                    break
                raise SourceError(f"WordPress comments page {page}: {_rest_error(exc)}") from None
            items.extend(_comment_list(response))
        # Off the event loop: converting the HTML of every comment (up to max_comments) is seconds of CPU.
        comments = await asyncio.to_thread(_comments, items)
        log.debug("%s: %d comments over %d pages", self.url, len(comments), pages)
        return Thread(article=article, comments=comments)


class WordPressWriter:
    """Changes a comment's status on the site with an application password (Basic auth)."""

    def __init__(self, site: str, user: str, app_password: str, *, http: HttpClient) -> None:
        self.site = site
        self.http = http
        self._auth = (user, app_password)
        self._api: RestApi | None = None

    def __repr__(self) -> str:  # never show the password, even in a debugger or a log line
        return f"WordPressWriter(site={self.site!r}, user={self._auth[0]!r})"

    async def set_comment_status(self, comment_id: str | int, status: str) -> str:
        """Set `status` ("hold", "approve", "spam" or "trash"); returns the status WordPress reports."""
        if status not in WRITE_STATUSES:
            raise ValueError(f"status must be one of {sorted(WRITE_STATUSES)}, not {status!r}")
        if self._api is None:
            self._api, _ = await discover_api(self.http, self.site)
        url = self._api.url(f"/wp/v2/comments/{int(comment_id)}")
        try:
            response = await self.http.post(url, data={"status": status}, auth=self._auth)
            result = response.json()
        except FetchError as exc:
            raise SourceError(
                f"WordPress refused to {status} comment {comment_id}: {_rest_error(exc)}"
            ) from None
        return str(result.get("status", "")) if isinstance(result, dict) else ""
