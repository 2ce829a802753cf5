"""The WordPress source and writer against a real WordPress (tests/fixtures/wordpress.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.net.http import HttpClient
from bot.sources import open_source
from bot.sources.base import SourceError
from bot.sources.wordpress import RestApi, WordPressSource, WordPressWriter
from bot.textsafety import neutralise

pytestmark = pytest.mark.wordpress

START = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)


def test_rest_api_urls_in_both_shapes() -> None:
    plain = RestApi("http://h.example/index.php?rest_route=/")
    assert plain.url("/wp/v2/comments", {"post": 4, "page": 2}) == (
        "http://h.example/index.php?rest_route=/wp/v2/comments&post=4&page=2"
    )
    pretty = RestApi("https://h.example/blog/wp-json/")
    assert pretty.url("/wp/v2/posts/7") == "https://h.example/blog/wp-json/wp/v2/posts/7"
    assert pretty.url("/wp/v2/comments", {"_fields": "id,parent"}) == (
        "https://h.example/blog/wp-json/wp/v2/comments?_fields=id,parent"
    )


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    async with HttpClient(allow_private=True, timeout=15) as client:
        yield client


def big_thread_specs() -> list[dict]:
    """265 comments: nested replies up to 4 deep, HTML, unicode, one @everyone, some held or spam."""
    specs: list[dict] = []
    for i in range(265):
        spec: dict = {
            "content": f"<p>Comment number {i} with plain words.</p>",
            "author": f"Reader {i}",
            "email": f"reader{i}@example.test",
            "date_gmt": (START + timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S"),
        }
        if i % 5 in (1, 2, 3) and i > 0:
            spec["parent_index"] = i - 1  # chains: i-1 <- i <- i+1 <- i+2
        specs.append(spec)
    specs[10]["content"] = (
        '<p>Verse line one<br />\nline two</p><script>alert("x")</script>'
        '<iframe src="https://evil.example"></iframe><img src=x onerror="steal()">'
    )
    specs[11]["content"] = "Ελληνικά, 日本語, emoji 🎉 and RTL עברית"
    specs[11]["author"] = "Zoë Ångström"
    specs[20]["content"] = "@everyone look at this <@&123456> [free nitro](https://phish.example/)"
    specs[30]["approved"] = 0  # held: not public
    specs[40]["approved"] = "spam"
    return specs


@pytest.fixture(scope="module")
def big_post(wordpress_site) -> dict:
    post = wordpress_site.create_post("A post with a long thread", "<p>Lots of readers.</p>")
    ids = wordpress_site.create_comments(post["id"], big_thread_specs())
    return {**post, "comment_ids": ids}


async def test_reads_every_comment_across_pages(wordpress_site, big_post, http) -> None:
    source = await open_source(big_post["link"], http=http, allow_private=True)
    assert source.kind == "wordpress"
    thread = await source.fetch()
    ids = big_post["comment_ids"]
    hidden = {str(ids[30]), str(ids[40])}
    got = [c.external_id for c in thread.comments]
    assert len(got) == 263 and len(set(got)) == 263  # 3 pages of 100, nothing twice
    assert set(got) == {str(i) for i in ids} - hidden

    assert thread.article.external_id == str(big_post["id"])
    assert thread.article.title == "A post with a long thread"
    assert thread.article.author == "admin"
    assert thread.article.url == big_post["link"]
    assert thread.complete

    specs = big_thread_specs()
    by_id = {c.external_id: c for c in thread.comments}
    seen: set[str] = set()
    for comment in thread.comments:  # parents before replies
        assert comment.parent_id is None or comment.parent_id in seen
        seen.add(comment.external_id)
    for index, spec in enumerate(specs):
        if str(ids[index]) in hidden:
            continue
        comment = by_id[str(ids[index])]
        parent_index = spec.get("parent_index")
        if parent_index is not None and str(ids[parent_index]) not in hidden:
            assert comment.parent_id == str(ids[parent_index])
        assert comment.posted_at == START + timedelta(minutes=index)
    # a reply to the held comment cannot point at it: it is shown top level
    assert by_id[str(ids[31])].parent_id is None
    deep = by_id[str(ids[4 + 5 * 10 - 1])]  # the third reply in a chain
    assert deep.parent_id == str(ids[4 + 5 * 10 - 2])

    verse = by_id[str(ids[10])]
    assert verse.text.startswith("Verse line one\nline two")
    assert "alert" not in verse.text and "evil" not in verse.text and "steal" not in verse.text
    unicode = by_id[str(ids[11])]
    assert unicode.author == "Zoë Ångström"
    assert unicode.text == "Ελληνικά, 日本語, emoji 🎉 and RTL עברית"
    ping = by_id[str(ids[20])]
    assert ping.text.startswith("@everyone")  # sources keep text; neutralising is the publisher's job
    safe = neutralise(ping.text)
    assert "@\u200beveryone" in safe and "<\u200b@&123456>" in safe and "(https://phish.example/)" in safe
    first = by_id[str(ids[0])]
    assert first.author == "Reader 0"
    assert first.url == f"{wordpress_site.url}/?p={big_post['id']}#comment-{ids[0]}"
    assert first.avatar_url and "gravatar.com/avatar/" in first.avatar_url and "s=96" in first.avatar_url


async def test_refuses_threads_beyond_the_comment_limit(big_post, http) -> None:
    source = WordPressSource(big_post["link"], http=http, max_comments=100)
    with pytest.raises(SourceError, match="has 263 comments, more than the 100 this bot mirrors"):
        await source.fetch()


async def test_changes_on_the_site_show_up_on_the_next_fetch(wordpress_site, http) -> None:
    post = wordpress_site.create_post("Changing thread")
    a, b, c, d = wordpress_site.create_comments(
        post["id"],
        [
            {"content": "original text", "author": "A"},
            {"content": "to be held", "author": "B"},
            {"content": "to be deleted", "author": "C"},
            {"content": "to be spammed", "author": "D"},
        ],
    )
    source = WordPressSource(f"{wordpress_site.url}/?p={post['id']}", http=http)
    before = {x.external_id: x for x in (await source.fetch()).comments}
    assert set(before) == {str(a), str(b), str(c), str(d)}
    wordpress_site.edit_comment(a, "edited <strong>text</strong>")
    wordpress_site.set_comment_status(b, "hold")
    wordpress_site.delete_comment(c)
    wordpress_site.set_comment_status(d, "spam")
    after = {x.external_id: x for x in (await source.fetch()).comments}
    assert set(after) == {str(a)}
    assert after[str(a)].text == "edited **text**"
    assert after[str(a)].content_hash != before[str(a)].content_hash


async def test_finds_pages_by_page_id_and_the_whole_site(wordpress_site, http) -> None:
    page = wordpress_site.create_post("About us", "<p>Who we are</p>", post_type="page")
    wordpress_site.add_comment(page["id"], "Comment on a page", author="Pat")
    source = await open_source(f"{wordpress_site.url}/?page_id={page['id']}", http=http, allow_private=True)
    thread = await source.fetch()
    assert thread.article.title == "About us"
    assert [c.text for c in thread.comments] == ["Comment on a page"]

    site = await open_source(wordpress_site.url + "/", http=http, allow_private=True)
    assert site.kind == "wordpress"
    whole = await site.fetch()
    assert whole.article.title == "Commentwarden test site"
    assert "Comment on a page" in {c.text for c in whole.comments}


async def test_pretty_permalinks_and_wp_json(wordpress_site, http) -> None:
    post = wordpress_site.create_post("Pretty permalink post", slug="pretty-permalink-post")
    comment = wordpress_site.add_comment(post["id"], "Found through the slug", author="Sly")
    with wordpress_site.permalinks("/%year%/%monthnum%/%postname%/"):
        link = wordpress_site.php("return get_permalink($args['id']);", {"id": post["id"]})
        assert link.endswith("/pretty-permalink-post/")
        source = await open_source(link, http=http, allow_private=True)
        thread = await source.fetch()
        assert source._api is not None and source._api.root == f"{wordpress_site.url}/wp-json/"
        assert [c.external_id for c in thread.comments] == [str(comment)]
        # the slug alone, on a page that does not advertise the post's REST resource
        bare = WordPressSource(f"{wordpress_site.url}/no-such-archive/pretty-permalink-post/", http=http)
        assert [c.text for c in (await bare.fetch()).comments] == ["Found through the slug"]


async def test_missing_post_and_non_wordpress_urls(wordpress_site, http) -> None:
    with pytest.raises(SourceError, match=r"HTTP 404 .*Invalid post ID"):
        await WordPressSource(f"{wordpress_site.url}/?p=987654", http=http).fetch()
    with pytest.raises(SourceError, match="no WordPress post or page found"):
        await WordPressSource(f"{wordpress_site.url}/?name=never-written", http=http).fetch()


async def test_write_back_changes_status_on_the_site(wordpress_site, http, caplog) -> None:
    post = wordpress_site.create_post("Moderated thread")
    target = wordpress_site.add_comment(post["id"], "this one gets moderated", author="Troll")
    source = await open_source(
        f"{wordpress_site.url}/?p={post['id']}",
        http=http,
        allow_private=True,
        credentials=wordpress_site.credentials,
    )
    writer = source.writer
    assert isinstance(writer, WordPressWriter)
    assert wordpress_site.app_password not in repr(writer)
    with caplog.at_level(logging.DEBUG):
        assert await writer.set_comment_status(target, "hold") == "hold"
        assert wordpress_site.comment_status(target) == "unapproved"
        assert (await source.fetch()).comments == []  # held: gone from the public thread
        assert await writer.set_comment_status(target, "approve") == "approved"
        assert wordpress_site.comment_status(target) == "approved"
        assert await writer.set_comment_status(str(target), "spam") == "spam"
        assert wordpress_site.comment_status(target) == "spam"
        assert await writer.set_comment_status(target, "trash") == "trash"
        assert wordpress_site.comment_status(target) == "trash"
    assert wordpress_site.app_password not in caplog.text


async def test_write_back_errors_are_clear(wordpress_site, http) -> None:
    post = wordpress_site.create_post("Refusals")
    target = wordpress_site.add_comment(post["id"], "stays put")
    wrong = WordPressWriter(
        wordpress_site.url, wordpress_site.admin_user, "abcd efgh ijkl mnop qrst uvwx", http=http
    )
    with pytest.raises(SourceError, match=r"WordPress refused to hold comment \d+: HTTP 401"):
        await wrong.set_comment_status(target, "hold")
    assert wordpress_site.comment_status(target) == "approved"
    right = WordPressWriter(
        wordpress_site.url, wordpress_site.admin_user, wordpress_site.app_password, http=http
    )
    with pytest.raises(SourceError, match=r"HTTP 404 .*Invalid comment ID"):
        await right.set_comment_status(99999999, "hold")
    with pytest.raises(ValueError, match="status must be one of"):
        await right.set_comment_status(target, "delete")


async def test_no_writer_without_matching_credentials(wordpress_site, http) -> None:
    source = await open_source(
        wordpress_site.url, http=http, allow_private=True, credentials={"http://other.example": ("u", "p")}
    )
    assert source.writer is None


def test_fixture_fails_loudly_without_the_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing package must fail the WordPress tests, never skip them."""
    from tests.fixtures import wordpress as fixture

    monkeypatch.setattr(fixture, "_find", lambda name: None if name == "mariadbd" else f"/usr/bin/{name}")
    with pytest.raises(
        pytest.fail.Exception,
        match="needs the Debian packages wordpress mariadb-server php-cli php-mysql; missing: mariadbd",
    ):
        fixture._check_prerequisites()
