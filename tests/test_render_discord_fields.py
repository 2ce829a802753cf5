"""What the mirror and the review cards put in fields Discord checks: URLs, markers, names, field values.

The fake Discord's own checks (tests/fakediscord/limits.py) are the oracle: whatever the renderers produce
from any input must pass them, so a rule that only fixed the issue's examples fails here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.mirror import render
from bot.moderation.cards import FlagCard, case_embed, flag_embed
from bot.moderation.policy import Verdict
from bot.sources.base import Article, Comment, Thread
from tests.fakediscord.errors import ApiError
from tests.fakediscord.limits import check_url
from tests.fakediscord.messages import validate_message_payload

PROPERTY = settings(max_examples=300, deadline=None)
ARTICLE = "https://news.example/2026/hostile-article"


def comment(
    external_id: str = "c1",
    *,
    author: str = "Ann",
    url: str | None = None,
    avatar: str | None = None,
    text: str = "hello",
) -> Comment:
    return Comment(
        external_id=external_id,
        parent_id=None,
        author=author,
        posted_at=datetime(2026, 1, 2, tzinfo=UTC),
        text=text,
        url=url,
        avatar_url=avatar,
    )


def article(url: str | None = ARTICLE, external_id: str = "a1", author: str | None = "Ed") -> Article:
    return Article(
        external_id=external_id,
        title="Title",
        url=url,
        author=author,
        published_at=datetime(2026, 1, 2, tzinfo=UTC),
        excerpt="An excerpt",
    )


def embed_payload(spec: render.EmbedSpec) -> dict[str, Any]:
    """The JSON discord.py sends for an EmbedSpec (as cogs/mirror.to_embed builds it)."""
    from cogs.mirror import to_embed

    return to_embed(spec).to_dict()  # type: ignore[return-value]


def discord_accepts(embeds: list[dict[str, Any]]) -> None:
    validate_message_payload({"embeds": embeds}, {}, creating=True)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("/e1#comment-1", "https://news.example/e1#comment-1"),
        ("//img.example/1.png", "https://img.example/1.png"),
        ("e1#comment-2", "https://news.example/2026/e1#comment-2"),
        ("#comment-3", "https://news.example/2026/hostile-article#comment-3"),
        ("https://ok.example/a_(b)", "https://ok.example/a_(b)"),
        ("  https://ok.example/x  ", "https://ok.example/x"),
        ("HTTP://OK.EXAMPLE/", "HTTP://OK.EXAMPLE/"),
        ("javascript:alert(1)", None),
        ("data:image/png;base64,AAAA", None),
        ("ftp://files.example/x", None),
        ("https://", None),
        ("https://a b.example/", None),
        ("https://ok.example:99999/", None),
        ("https://[::1/", None),
        ("https://ok.example/" + "x" * 2100, None),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_web_url_resolves_against_the_article_or_drops(value: str | None, expected: str | None) -> None:
    assert render.web_url(value, ARTICLE) == expected


def test_web_url_without_a_usable_base() -> None:
    assert render.web_url("/e1#comment-1", "news.example/a") is None  # a scheme-less article URL is no base
    assert render.web_url("//img.example/1.png", None) == "https://img.example/1.png"
    assert render.web_url("news.example/article") is None


@PROPERTY
@given(
    st.text(max_size=60), st.sampled_from([ARTICLE, "http://x.example", "news.example/a", "", "/rel", None])
)
@example("//img.example/1.png", None)
@example("/e1#comment-1", ARTICLE)
def test_web_url_output_is_always_accepted_by_discord(value: str, base: str | None) -> None:
    url = render.web_url(value, base)
    if url is not None:
        check_url("url", url, ("http", "https"))


def test_thread_urls_made_absolute_before_rendering() -> None:
    thread = Thread(
        article=article("news.example/no-scheme"),
        comments=[comment("c1", url="/e1#comment-1", avatar="//img.example/1.png")],
    )
    fixed = render.with_web_urls(thread)
    assert fixed.article.url is None
    assert fixed.comments[0].url is None  # no absolute article URL to resolve against
    assert fixed.comments[0].avatar_url == "https://img.example/1.png"
    fixed = render.with_web_urls(replace_article(thread, ARTICLE))
    assert fixed.comments[0].url == "https://news.example/e1#comment-1"
    assert fixed.comments[0].content_hash == thread.comments[0].content_hash  # URLs are not content


def replace_article(thread: Thread, url: str) -> Thread:
    from dataclasses import replace

    return replace(thread, article=replace(thread.article, url=url))


@pytest.mark.parametrize(
    "url, avatar",
    [("/e1#comment-1", "//img.example/1.png"), ("news.example/c", "img.png"), ("javascript:x", "data:,x")],
)
def test_rendered_comment_and_card_pass_discord_checks(url: str, avatar: str) -> None:
    """Even a comment rebuilt from a stored row that kept a relative URL renders to what Discord accepts."""
    c = comment(url=url, avatar=avatar, author="   ")
    embeds = render.comment_embeds(c) + [
        render.removed_embed(c, by="site"),
        render.article_card(3, article("x/y")),
    ]
    discord_accepts([embed_payload(e) for e in embeds])
    message = render.single_message(c, embeds[:1])
    assert message.avatar_url is None or message.avatar_url.startswith("https://")
    assert message.username.strip() and message.username != " (comment)"


ids = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8"), min_size=90, max_size=2200),
    st.sampled_from(
        [
            "c 1",
            "https://x/?c=9",
            "x · part 1/2",
            " padded ",
            "sha256:0123",
            "<@&1>",
            "@everyone",
            "line\nbreak",
            "\ud800lone",
            "a" * 2100,
        ]
    ),
)


@PROPERTY
@given(ids, st.integers(1, 99))
@example("a" * 2100, 3)
def test_markers_always_fit_and_parse_back(external_id: str, parts: int) -> None:
    for part in {1, parts}:
        footer = render.marker(external_id, part, parts)
        assert len(footer) <= 2048
        assert render.parse_marker(footer) == render.Marker(render.marker_key(external_id), part, parts)
    card = render.article_marker(7, external_id)
    assert len(card) <= 2048 and card.endswith(" · source 7")


def test_plain_ids_stay_readable_and_odd_ones_are_hashed_apart() -> None:
    assert render.marker("c 1", 2, 3) == "comment c 1 · part 2/3"
    assert render.marker("https://x/?c=9") == "comment https://x/?c=9"
    long_a, long_b = "a" * 2100, "a" * 2099 + "b"
    assert render.marker_key(long_a) != render.marker_key(long_b)
    assert render.marker_key(long_a).startswith(render.HASHED_ID)
    # An id that looks like a hash key is hashed itself, so it can never be taken for another comment's key.
    assert render.marker_key(render.marker_key(long_a)) != render.marker_key(long_a)
    # An id with the part separator would otherwise parse as another id's part.
    assert render.parse_marker(render.marker("x · part 1/2")).parts == 1  # type: ignore[union-attr]


def flag_card(**overrides: Any) -> FlagCard:
    values: dict[str, Any] = dict(
        case_number=4,
        text="text",
        author="   ",
        place="\n\t",
        link=None,
        scores={"toxicity": 0.9},
        verdict=Verdict((), ()),
        evidence="",
    )
    values.update(overrides)
    return FlagCard(**values)


def test_review_card_fields_never_blank() -> None:
    embed = flag_embed(flag_card())
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Author"] == "unknown" and fields["Where"] == "unknown"
    discord_accepts([embed])
    discord_accepts([flag_embed(flag_card(text="  \n ", author="\u3000"))])


def test_case_embed_fields_never_blank() -> None:
    from bot.store.cases import Case

    case = Case(
        guild_id=1,
        action="warn",
        target_kind="member",
        target_id="5",
        target_name="  ",
        moderator_name=" ",
        reason="   ",
        evidence="\n",
        case_number=1,
        created_at="2026-01-02T10:00:00Z",
    )
    discord_accepts([case_embed(case, [])])
    with pytest.raises(ApiError):  # the oracle itself refuses the blank value the old card sent
        discord_accepts([{"description": "d", "fields": [{"name": "By", "value": " "}]}])


@pytest.mark.parametrize("code", range(0x80))
def test_an_ascii_url_is_kept_unless_a_character_in_it_is_a_space_or_a_control(code: int) -> None:
    """The ASCII fast path refuses exactly what the per-character rule refuses."""
    char = chr(code)
    kept = render.web_url(f"https://site.example/a{char}b")
    assert (kept is None) == (char.isspace() or not char.isprintable())
