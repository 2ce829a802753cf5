"""Thread files: the documented JSON format, strict one-line errors, and the shared base helpers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.scoring.demo_checkpoint import DEMO_SPEC
from bot.sources import open_source
from bot.sources.base import Comment, SourceError, order_parents_first
from bot.sources.threadfile import ThreadFileSource, parse_thread, read_thread_file

DATA = Path(__file__).parent / "data"
SAMPLE = Path(__file__).parent.parent / "bot" / "data" / "sample-thread.json"


async def test_basic_file_reads_into_a_thread() -> None:
    source = ThreadFileSource(DATA / "thread-basic.json")
    thread = await source.fetch()
    assert thread.article.external_id == "a1"
    assert thread.article.title == "A small test article"
    assert thread.article.excerpt == "Short body."
    assert thread.article.published_at == datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
    assert thread.complete and not thread.not_modified
    ids = [c.external_id for c in thread.comments]
    assert ids == ["c1", "c2", "c3", "4"]  # c3 was listed before its parent c2
    by_id = {c.external_id: c for c in thread.comments}
    assert by_id["c2"].parent_id == "c1" and by_id["c3"].parent_id == "c2"
    assert by_id["c3"].posted_at == datetime(2026, 1, 2, 9, 20, tzinfo=UTC)  # +02:00 converted to UTC
    assert by_id["c1"].text == "First!\nSecond line."
    assert by_id["c1"].avatar_url == "https://img.example/alice.png"
    assert by_id["4"].posted_at is None and by_id["4"].parent_id is None and by_id["4"].author == "Zoë"


async def test_unchanged_file_is_not_modified() -> None:
    source = ThreadFileSource(DATA / "thread-basic.json")
    await source.fetch()
    validators = dict(source.validators)
    again = await source.fetch(validators)
    assert again.not_modified and again.comments == []
    assert again.article.external_id == "a1"


async def test_malformed_file_names_the_field() -> None:
    with pytest.raises(SourceError) as info:
        await ThreadFileSource(DATA / "thread-malformed.json").fetch()
    assert info.value.reason.endswith("thread-malformed.json: comments[3].id missing")


def base_doc() -> dict:
    return {
        "article": {"id": "a", "title": "t"},
        "comments": [{"id": "c1", "author": "x", "text": "hi"}, {"id": "c2", "author": "y", "text": "yo"}],
    }


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("article"), "article missing"),
        (lambda d: d.pop("comments"), "comments missing"),
        (lambda d: d.update(comments={}), "comments must be a list"),
        (lambda d: d["article"].pop("title"), "article.title missing"),
        (
            lambda d: d["article"].update(date="yesterday"),
            "article.date is not an ISO 8601 date: 'yesterday'",
        ),
        (lambda d: d["comments"][1].update(id="c1"), "comments[1].id 'c1' repeats comments[0].id"),
        (lambda d: d["comments"][0].update(parent="c1"), "comments[0].parent is the comment itself"),
        (lambda d: d["comments"][1].update(txt="typo"), "comments[1].txt is not a known field"),
        (lambda d: d["comments"][0].update(text=5), "comments[0].text must be a string"),
        (lambda d: d["comments"][0].update(id=True), "comments[0].id must be a string or an integer"),
        (lambda d: d["comments"][0].update(id=" "), "comments[0].id is empty"),
        (lambda d: d["comments"].append("oops"), "comments[2] must be an object"),
        (lambda d: d.update(extra=1), "extra is not a known top-level field"),
    ],
)
def test_validation_errors_are_one_line_and_precise(mutate, message: str) -> None:
    doc = base_doc()
    mutate(doc)
    with pytest.raises(SourceError) as info:
        parse_thread(doc)
    assert info.value.reason == message


def test_non_object_document() -> None:
    with pytest.raises(SourceError, match="must be a JSON object"):
        parse_thread([1, 2])


def test_invalid_json_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"article": {,}')
    with pytest.raises(SourceError, match=r"broken.json: invalid JSON at line 1 column 14"):
        read_thread_file(broken)
    with pytest.raises(SourceError, match=r"nothing.json: no such file"):
        read_thread_file(tmp_path / "nothing.json")
    with pytest.raises(SourceError, match="is a directory"):
        read_thread_file(tmp_path)


def test_sample_thread_is_valid_and_realistic() -> None:
    thread, _ = read_thread_file(SAMPLE)
    assert 20 <= len(thread.comments) <= 40
    replies = [c for c in thread.comments if c.parent_id]
    assert len(replies) >= 8
    assert any(
        c.parent_id and any(p.external_id == c.parent_id and p.parent_id for p in thread.comments)
        for c in replies
    )  # at least one reply to a reply
    texts = " ".join(c.text for c in thread.comments)
    # A few comments use words the demo model flags, so the embedded default shows flags; most do not.
    demo_words = DEMO_SPEC.triggers
    flagged = sum(any(w in c.text.lower().split() for w in demo_words) for c in thread.comments)
    assert 2 <= flagged <= 6
    assert "@everyone" in texts and "<script>" in texts
    assert any(ord(ch) > 0x2000 for ch in texts)
    seen: set[str] = set()
    for comment in thread.comments:  # parents always before replies
        assert comment.parent_id is None or comment.parent_id in seen
        seen.add(comment.external_id)


async def test_open_source_picks_file_kind_for_paths() -> None:
    async with await open_source(str(DATA / "thread-basic.json")) as source:
        assert source.kind == "file"
        assert len((await source.fetch()).comments) == 4
    async with await open_source((DATA / "thread-basic.json").as_uri()) as source:
        assert source.kind == "file"


def c(cid: str, parent: str | None = None) -> Comment:
    return Comment(external_id=cid, parent_id=parent, author="a", posted_at=None, text=cid)


def test_order_parents_first_keeps_posting_order() -> None:
    ordered = order_parents_first([c("1"), c("2"), c("3", "1"), c("5", "4"), c("4", "2"), c("6")])
    assert [x.external_id for x in ordered] == ["1", "2", "3", "4", "5", "6"]


def test_order_parents_first_reroots_orphans_and_cycles() -> None:
    ordered = order_parents_first([c("1", "gone"), c("2", "3"), c("3", "2"), c("4", "1")])
    by_id = {x.external_id: x for x in ordered}
    assert by_id["1"].parent_id is None  # parent not in the thread
    assert by_id["4"].parent_id == "1"
    assert by_id["2"].parent_id is None and by_id["3"].parent_id == "2"  # cycle broken at the first
    seen: set[str] = set()
    for comment in ordered:
        assert comment.parent_id is None or comment.parent_id in seen
        seen.add(comment.external_id)
    assert len(ordered) == 4


def test_content_hash_changes_with_author_or_text() -> None:
    base = c("1")
    assert base.content_hash == c("1").content_hash
    assert base.content_hash != Comment("1", None, "b", None, "1").content_hash
    assert base.content_hash != Comment("1", None, "a", None, "2").content_hash
    assert len(json.dumps(base.content_hash)) == 66


def test_a_reply_to_a_deleted_parent_is_re_rooted_not_a_failure(tmp_path) -> None:
    doc = base_doc()
    doc["comments"][1]["parent"] = "c19"  # deleted on the site; its reply kept
    path = tmp_path / "thread.json"
    path.write_text(json.dumps(doc))
    thread, _ = read_thread_file(path)
    assert [(c.external_id, c.parent_id) for c in thread.comments] == [("c1", None), ("c2", None)]
