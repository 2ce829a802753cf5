"""RSS/Atom comment feeds: samples, hostile documents, conditional GET, and WordPress's own feeds."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from bot.net.http import HttpClient
from bot.sources import open_source
from bot.sources.base import SourceError
from bot.sources.feed import FeedSource, parse_feed
from bot.textsafety import neutralise
from tests.loopback import serving

FEEDS = Path(__file__).parent / "data" / "feeds"


def read(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


def test_rss2_comment_feed() -> None:
    thread = parse_feed(read("rss2-comments.xml"), url="https://gardens.example/feed")
    assert thread.article.title == "Comments on: Allotment waiting list hits 400"
    assert thread.article.url == "https://gardens.example/2026/03/allotments/"
    assert thread.complete is False  # a feed is a window: absence is not deletion
    # oldest first, although the feed lists newest first
    assert [c.author for c in thread.comments] == ["Ünal Yılmaz", "Gerald", "Bea Okafor"]
    first, second, third = thread.comments
    assert first.external_id == "https://gardens.example/?p=12#comment-29"
    assert first.posted_at == datetime(2026, 3, 9, 18, 0, tzinfo=UTC)
    assert first.text == "Eight years on the list. Sekiz yıl! 🌱"  # description when no content:encoded
    assert (
        third.text == "Half plots would **halve** the list overnight.\nJust saying."
    )  # content:encoded, no script
    assert third.url == "https://gardens.example/2026/03/allotments/#comment-31"
    assert "[here](https://petition.example/p/9)" in second.text
    assert neutralise(second.text).startswith("@\u200beveryone")


def test_atom_feed_with_threading() -> None:
    thread = parse_feed(read("atom-comments.xml"), url="https://blog.example/comments.atom")
    assert thread.article.external_id == "tag:blog.example,2026:post-7/comments"
    assert thread.article.excerpt == "Readers discuss the route"
    by_author = {c.author: c for c in thread.comments}
    assert [c.author for c in thread.comments] == ["Mirela", "Ros", "Chidi"]
    assert by_author["Chidi"].parent_id == "tag:blog.example,2026:comment-1"  # thr:in-reply-to kept
    assert by_author["Ros"].parent_id is None  # replies to the post itself are top level
    assert by_author["Ros"].text == "Plain text comment\nwith a second line"
    assert by_author["Mirela"].text == "Why does it skip *Elm Street*?"


def test_malformed_but_readable_feed_is_accepted_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.sources.feed"):
        thread = parse_feed(read("malformed-but-readable.xml"), url="https://food.example/feed")
    assert [c.text for c in thread.comments] == ["Best batter in town & cheap too"]
    assert thread.comments[0].author == "Anonymous"
    assert "malformed but readable" in caplog.text


def test_html_page_is_not_a_feed() -> None:
    with pytest.raises(SourceError, match="not a feed: https://x.example/ returned an HTML page"):
        parse_feed(read("html-page.html"), url="https://x.example/", content_type="text/html; charset=UTF-8")


def test_garbage_is_not_a_feed() -> None:
    with pytest.raises(SourceError, match="not a feed: .* is neither RSS nor Atom"):
        parse_feed(read("garbage.xml"), url="https://x.example/feed")
    with pytest.raises(SourceError, match="neither RSS nor Atom"):
        parse_feed(b"", url="https://x.example/feed")
    with pytest.raises(SourceError, match="neither RSS nor Atom"):
        parse_feed(b'{"json": true}', url="https://x.example/feed", content_type="application/json")


def test_billion_laughs_is_refused() -> None:
    with pytest.raises(SourceError, match="declares XML entities"):
        parse_feed(read("billion-laughs.xml"), url="https://x.example/feed")


def test_external_entity_is_refused() -> None:
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<rss version="2.0"><channel><title>&x;</title></channel></rss>'
    )
    with pytest.raises(SourceError, match="declares XML entities or external references"):
        parse_feed(xxe, url="https://x.example/feed")


def test_invalid_utf8_keeps_the_good_text(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.sources.feed"):
        thread = parse_feed(read("invalid-utf8.xml"), url="https://x.example/feed")
    by_author = {c.author: c for c in thread.comments}
    assert "Ünal Yılmaz" in by_author  # not re-read as cp1252 mojibake
    assert by_author["Ünal Yılmaz"].text.startswith("Eight years on the list \ufffd\ufffd caf\ufffd.")
    assert "invalid UTF-8" in caplog.text


def test_feed_declared_in_another_charset_is_decoded() -> None:
    latin = (
        '<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"><channel><title>T</title>'
        "<item><guid>1</guid><title>By: Zoé</title><description>Café crème</description></item>"
        "</channel></rss>"
    ).encode("latin-1")
    thread = parse_feed(latin, url="https://x.example/feed")
    assert thread.comments[0].text == "Café crème"


async def test_feed_source_conditional_get_over_http() -> None:
    hits: list[str | None] = []

    async def feed(request: web.Request) -> web.Response:
        hits.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == '"abc"':
            return web.Response(status=304)
        return web.Response(
            body=read("rss2-comments.xml"),
            content_type="application/rss+xml",
            headers={"ETag": '"abc"', "Last-Modified": "Tue, 10 Mar 2026 09:30:00 GMT"},
        )

    app = web.Application()
    app.router.add_get("/comments/feed/", feed)
    async with serving(app) as base, HttpClient(allow_private=True, timeout=2) as http:
        source = FeedSource(base + "/comments/feed/", http=http)
        first = await source.fetch()
        assert len(first.comments) == 3
        assert source.validators == {"etag": '"abc"', "last_modified": "Tue, 10 Mar 2026 09:30:00 GMT"}
        second = await source.fetch(source.validators)
        assert second.not_modified and second.comments == []
        assert second.article == first.article  # the last article seen, not a placeholder
        assert source.validators["etag"] == '"abc"'
    assert hits == [None, '"abc"']


async def test_feed_source_reports_fetch_failures_as_source_errors() -> None:
    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/feed", broken)
    async with serving(app) as base, HttpClient(allow_private=True, timeout=2) as http:
        with pytest.raises(SourceError, match=r"feed .*/feed: HTTP 404"):
            await FeedSource(base + "/feed", http=http).fetch()


async def test_open_source_detects_feeds_by_content() -> None:
    async def feed(request: web.Request) -> web.Response:
        return web.Response(body=read("atom-comments.xml"), content_type="application/atom+xml")

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=read("html-page.html"), content_type="text/html")

    app = web.Application()
    app.router.add_get("/stream", feed)
    app.router.add_get("/page", page)
    async with serving(app) as base:
        async with await open_source(base + "/stream", allow_private=True) as source:
            assert source.kind == "feed"
            assert len((await source.fetch()).comments) == 3
        with pytest.raises(SourceError, match="neither a WordPress site nor an RSS/Atom feed"):
            await open_source(base + "/page", allow_private=True)


async def test_open_source_refuses_private_urls_by_default() -> None:
    with pytest.raises(SourceError, match="loopback"):
        await open_source("http://127.0.0.1:9/comments/feed/")


@pytest.mark.wordpress
async def test_wordpress_comment_feeds(wordpress_site) -> None:
    post = wordpress_site.create_post("Feed post", "<p>About feeds</p>")
    wordpress_site.create_comments(
        post["id"],
        [
            {
                "content": "<p>First <em>feed</em> comment<br />\nsecond line</p>",
                "author": "Feedy",
                "date_gmt": "2026-02-01 10:00:00",
            },
            {
                "content": "Reply in the feed",
                "author": "Ürsula",
                "parent_index": 0,
                "date_gmt": "2026-02-01 10:05:00",
            },
        ],
    )
    async with HttpClient(allow_private=True, timeout=10) as http:
        source = await open_source(
            f"{wordpress_site.url}/?p={post['id']}&feed=rss2", http=http, allow_private=True
        )
        assert source.kind == "feed"
        thread = await source.fetch()
        assert [c.author for c in thread.comments] == ["Feedy", "Ürsula"]
        assert thread.comments[0].text == "First *feed* comment\nsecond line"
        assert thread.comments[0].url.startswith(f"{wordpress_site.url}/?p={post['id']}#comment-")
        assert thread.article.url == f"{wordpress_site.url}/?p={post['id']}"
        # The site-wide feed is a window of the newest comments, and the WordPress is shared by the whole session:
        # comments of tests that ran earlier are newer than the two above (dated 2026-02-01), so look for one
        # written now.
        wordpress_site.create_comments(post["id"], [{"content": "Newest on the site", "author": "Latecomer"}])
        site_feed = await open_source(
            f"{wordpress_site.url}/?feed=comments-rss2", http=http, allow_private=True
        )
        site_thread = await site_feed.fetch()
        assert "Latecomer" in {c.author for c in site_thread.comments}
        assert site_thread.complete is False
