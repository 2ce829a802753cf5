"""The mirror engine against an in-memory publisher: ordering, packing, edits, removals and crash safety.

The publisher here is a list of messages (our own `Publisher` protocol, not Discord); the store is the
real SQLite store. The acceptance tests in test_mirror_discord.py run the same engine through the real
discord.py client and the fake Discord server.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.backoff import backoff_delay
from bot.mirror import (
    CommentScored,
    MessageGone,
    MirrorEngine,
    PostedMessage,
    SyncFailed,
    ThreadGone,
    ThreadRef,
    render,
)
from bot.mirror.render import EmbedSpec, OutgoingMessage
from bot.mirror.scheduler import MirrorScheduler
from bot.scoring import TextScore
from bot.sources.base import Article, Comment, SourceError, Thread
from bot.store import SourceRow, Store, StoreError
from bot.textsafety import safe_display_name

ARTICLE = Article(
    "a1", "An article", "https://site.example/a1", "Ed", datetime(2026, 1, 2, tzinfo=UTC), "Excerpt"
)
JUMP = re.compile(r"\[jump to it\]\(https://discord\.com/channels/\d+/\d+/(\d+)\)")


@dataclass
class Posted:
    id: int
    thread_id: int
    username: str
    avatar_url: str | None
    embeds: tuple[EmbedSpec, ...]
    deleted: bool = False
    edits: int = 0


@dataclass
class MemoryPublisher:
    """A `Publisher` keeping messages in a list; `hold` makes the next post wait (to cancel mid-post)."""

    messages: list[Posted] = field(default_factory=list)
    threads: dict[int, ThreadRef] = field(default_factory=dict)
    cards: dict[int, tuple[int, str]] = field(default_factory=dict)  # thread id -> (channel id, card footer)
    next_id: int = 1000
    hold: asyncio.Event | None = None
    posting: asyncio.Event = field(default_factory=asyncio.Event)

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    async def ensure_thread(
        self, source: SourceRow, article: Article, card: EmbedSpec, thread_id: int | None
    ) -> ThreadRef:
        if thread_id is not None:
            if thread_id not in self.threads:
                raise ThreadGone(f"thread {thread_id} was deleted")
            return self.threads[thread_id]
        ref = ThreadRef(self._id(), self._id())
        self.threads[ref.thread_id] = ref
        self.cards[ref.thread_id] = (source.channel_id, card.footer)
        return ref

    async def find_thread(self, source: SourceRow, article: Article, marker: str) -> ThreadRef | None:
        return next(
            (
                ref
                for thread_id, ref in self.threads.items()
                if self.cards.get(thread_id) == (source.channel_id, marker)
            ),
            None,
        )

    async def post(self, source: SourceRow, thread_id: int, message: OutgoingMessage) -> int:
        if self.hold is not None:
            self.posting.set()
            await self.hold.wait()
        posted = Posted(self._id(), thread_id, message.username, message.avatar_url, message.embeds)
        self.messages.append(posted)
        return posted.id

    def find(self, message_id: int) -> Posted:
        return next(m for m in self.messages if m.id == message_id)

    async def edit(
        self, source: SourceRow, thread_id: int, message_id: int, embeds: tuple[EmbedSpec, ...]
    ) -> None:
        message = self.find(message_id)
        if message.deleted:
            raise MessageGone(message_id)
        message.embeds = embeds
        message.edits += 1

    async def delete(self, source: SourceRow, thread_id: int, message_id: int) -> None:
        self.find(message_id).deleted = True

    async def recent(self, source: SourceRow, thread_id: int, limit: int) -> list[PostedMessage]:
        live = [m for m in self.messages if m.thread_id == thread_id and not m.deleted]
        return [PostedMessage(m.id, tuple(e.footer for e in m.embeds)) for m in reversed(live[-limit:])]

    def live(self) -> list[Posted]:
        return [m for m in self.messages if not m.deleted]

    def shown(self) -> list[tuple[str, int, EmbedSpec, Posted]]:
        """(comment id, part, embed, message) for every comment embed, in thread order."""
        out = []
        for message in self.live():
            for embed in message.embeds:
                marker = render.parse_marker(embed.footer)
                assert marker is not None
                out.append((marker.external_id, marker.part, embed, message))
        return out


class FakeScorer:
    """Scores by keyword; counts what it was asked to score (only new/changed text should be)."""

    labels = ("toxicity", "insult")

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def score(self, texts: list[str]) -> list[TextScore]:
        self.seen.extend(texts)
        return [
            TextScore(
                {"toxicity": 0.9 if "toxicword" in t else 0.01, "insult": 0.0},
                "toxicity",
                0.9 if "toxicword" in t else 0.01,
                t[:40],
                None,
            )
            for t in texts
        ]


class FakeSource:
    kind = "file"

    def __init__(self, thread: Thread) -> None:
        self.url = "memory://thread"
        self.thread = thread
        self.validators: dict[str, str] = {}
        self.error: str | None = None

    async def fetch(self, validators: dict[str, str] | None = None) -> Thread:
        if self.error:
            raise SourceError(self.error)
        return self.thread


def comment(n: int, parent: int | None = None, text: str | None = None, author: str | None = None) -> Comment:
    return Comment(
        str(n),
        str(parent) if parent is not None else None,
        author or f"Reader {n % 7}",
        datetime(2026, 1, 2, tzinfo=UTC) + timedelta(minutes=n),
        text or f"comment number {n}",
        f"https://site.example/a1#c{n}",
        f"https://avatars.example/{n % 7}.png",
    )


def discussion(count: int) -> list[Comment]:
    """Top-level comments each followed by a reply and a reply to the reply (parents before replies)."""
    items = []
    for n in range(1, count + 1):
        parent = None if n % 3 == 1 else n - 1
        items.append(comment(n, parent))
    return items


@dataclass
class Rig:
    store: Store
    publisher: MemoryPublisher
    scorer: FakeScorer
    source: FakeSource
    row: SourceRow
    events: list[CommentScored]

    def engine(self, **kwargs: object) -> MirrorEngine:
        engine = MirrorEngine(self.store, self.scorer, self.publisher, self._open, **kwargs)  # type: ignore[arg-type]
        engine.events.subscribe(self.events.append)
        return engine

    async def _open(self, row: SourceRow) -> FakeSource:
        return self.source

    def set_comments(self, comments: list[Comment], *, complete: bool = True) -> None:
        self.source.thread = Thread(ARTICLE, comments, complete=complete)


@pytest.fixture
async def rig(tmp_path: Path) -> Rig:
    store = await Store.open(tmp_path / "mirror.db")
    row = await store.mirror.add_source(42, 7, "file", "memory://thread")
    rig = Rig(store, MemoryPublisher(), FakeScorer(), FakeSource(Thread(ARTICLE, [])), row, [])
    yield rig
    await store.close()


def assert_exactly_once_in_order(publisher: MemoryPublisher, comments: list[Comment]) -> None:
    firsts = [cid for cid, part, _, _ in publisher.shown() if part == 1]
    assert firsts == [c.external_id for c in comments]


def assert_replies_point_at_parents(publisher: MemoryPublisher, comments: list[Comment]) -> None:
    where = {}
    for cid, part, embed, message in publisher.shown():
        if part == 1:
            where[cid] = (message, embed)
    for c in comments:
        if c.parent_id is None:
            continue
        message, embed = where[c.external_id]
        assert "Replying to" in embed.description
        link = JUMP.search(embed.description)
        parent_message, _ = where[c.parent_id]
        if link:
            assert int(link.group(1)) == parent_message.id
        else:  # same packed message, above it
            assert "(above)" in embed.description and parent_message is message
            ids = [render.parse_marker(e.footer).external_id for e in message.embeds]  # type: ignore[union-attr]
            assert ids.index(c.parent_id) < ids.index(c.external_id)


async def test_small_sync_posts_one_message_per_comment_under_each_author(rig: Rig) -> None:
    comments = [comment(1), comment(2, 1), comment(3, text="hi @everyone and <@123>", author="@everyone")]
    rig.set_comments(comments)
    report = await rig.engine().sync(rig.row)
    assert (report.posted, report.messages, report.scored) == (3, 3, 3)
    messages = rig.publisher.live()
    assert [m.username for m in messages] == [safe_display_name(c.author) for c in comments]
    assert messages[0].avatar_url == comments[0].avatar_url
    assert_exactly_once_in_order(rig.publisher, comments)
    assert_replies_point_at_parents(rig.publisher, comments)
    third = messages[2].embeds[0]
    assert "@everyone" not in third.description and "<@123>" not in third.description
    assert "@everyone" not in messages[2].username
    assert third.timestamp == comments[2].posted_at and third.author_url == comments[2].url
    # The map is in the store, and moderation heard about each comment once, with ids to link to.
    stored = await rig.store.mirror.mirror_comments(1)
    assert [stored[c.external_id].message_ids for c in comments] == [[m.id] for m in messages]
    assert [e.comment.external_id for e in rig.events] == ["1", "2", "3"]
    assert all(e.thread_id == report.thread_id and e.guild_id == 42 and e.channel_id == 7 for e in rig.events)
    assert rig.events[0].message_id == messages[0].id and rig.events[0].comment_id == stored["1"].id


async def test_backfill_packs_short_comments_keeps_order_and_reply_links(rig: Rig) -> None:
    comments = discussion(90)
    rig.set_comments(comments)
    report = await rig.engine(pack_threshold=25).sync(rig.row)
    assert report.posted == 90 and report.messages < 20
    assert all(len(m.embeds) <= 10 and sum(e.size for e in m.embeds) <= 6000 for m in rig.publisher.live())
    assert_exactly_once_in_order(rig.publisher, comments)
    assert_replies_point_at_parents(rig.publisher, comments)
    # Packed embeds name their own author; the map points several comments at one message.
    packed = next(m for m in rig.publisher.live() if len(m.embeds) > 1)
    assert packed.username == render.PACKED_USERNAME
    stored = await rig.store.mirror.mirror_comments(1)
    first = render.parse_marker(packed.embeds[0].footer).external_id  # type: ignore[union-attr]
    second = render.parse_marker(packed.embeds[1].footer).external_id  # type: ignore[union-attr]
    assert stored[first].message_ids == stored[second].message_ids == [packed.id]
    assert packed.embeds[1].author_name == safe_display_name(comments[int(second) - 1].author)


async def test_second_sync_with_no_change_posts_and_scores_nothing(rig: Rig) -> None:
    rig.set_comments(discussion(10))
    engine = rig.engine()
    await engine.sync(rig.row)
    seen, posted, events = len(rig.scorer.seen), len(rig.publisher.messages), len(rig.events)
    report = await engine.sync(rig.row)
    assert (report.posted, report.edited, report.removed, report.scored) == (0, 0, 0, 0)
    assert (len(rig.scorer.seen), len(rig.publisher.messages), len(rig.events)) == (seen, posted, events)


async def test_long_comment_is_split_over_numbered_parts_nothing_lost(rig: Rig) -> None:
    words = [f"w{i}" for i in range(4000)]
    long = comment(1, text=" ".join(words))
    rig.set_comments([long, comment(2, 1)])
    await rig.engine().sync(rig.row)
    parts = [(part, embed) for cid, part, embed, _ in rig.publisher.shown() if cid == "1"]
    assert len(parts) >= 5 and [p for p, _ in parts] == list(range(1, len(parts) + 1))
    text = " ".join(re.sub(r"\n\(\d+/\d+\)$", "", e.description) for _, e in parts)
    assert text.split() == words
    assert all(len(e.description) <= 4096 for _, e in parts)
    assert_replies_point_at_parents(rig.publisher, [long, comment(2, 1)])


async def test_site_edit_edits_the_message_and_rescores_only_that_comment(rig: Rig) -> None:
    comments = discussion(40)
    rig.set_comments(comments)
    engine = rig.engine(pack_threshold=25)
    await engine.sync(rig.row)
    seen = len(rig.scorer.seen)
    rig.events.clear()
    changed = replace(comments[4], text="now with toxicword in it")
    rig.set_comments([*comments[:4], changed, *comments[5:]])
    report = await engine.sync(rig.row)
    assert report.edited == 1 and report.posted == 0
    assert rig.scorer.seen[seen:] == ["now with toxicword in it"]
    [(embed, message)] = [(e, m) for cid, _, e, m in rig.publisher.shown() if cid == "5"]
    assert "toxicword" in embed.description and message.edits == 1
    assert len(message.embeds) > 1  # a packed message kept its neighbours
    [event] = rig.events
    assert event.edited and event.comment.external_id == "5" and event.score.top_score == pytest.approx(0.9)


@pytest.mark.parametrize("mode", ["mark", "delete"])
async def test_comment_gone_from_site_is_marked_or_deleted_and_comes_back(rig: Rig, mode: str) -> None:
    await rig.store.guilds.update(42, removed_comment_mode=mode)
    comments = [comment(1), comment(2), comment(3)]
    rig.set_comments(comments)
    engine = rig.engine()
    await engine.sync(rig.row)
    second = rig.publisher.live()[1]
    rig.set_comments([comments[0], comments[2]])
    report = await engine.sync(rig.row)
    assert report.removed == 1
    if mode == "mark":
        assert not second.deleted and second.embeds[0].description == render.REMOVED_ON_SITE
    else:
        assert second.deleted
    stored = await rig.store.mirror.mirror_comments(1)
    assert (stored["2"].status, stored["2"].removed_by) == ("removed", "site")
    # Restored on the site (approved again): it shows again, once.
    rig.set_comments(comments)
    report = await engine.sync(rig.row)
    assert report.restored == 1
    shown = [cid for cid, _, e, _ in rig.publisher.shown() if e.description != render.REMOVED_ON_SITE]
    assert sorted(shown) == ["1", "2", "3"]
    assert (await rig.store.mirror.mirror_comments(1))["2"].status == "live"


async def test_feed_window_absence_is_not_removal(rig: Rig) -> None:
    rig.set_comments([comment(1), comment(2)], complete=False)
    engine = rig.engine()
    await engine.sync(rig.row)
    rig.set_comments([comment(2), comment(3)], complete=False)
    report = await engine.sync(rig.row)
    assert report.removed == 0 and report.posted == 1
    assert all(e.description != render.REMOVED_ON_SITE for _, _, e, _ in rig.publisher.shown())


async def test_moderator_removal_sticks_and_keeps_packed_neighbours(rig: Rig) -> None:
    comments = discussion(30)
    rig.set_comments(comments)
    engine = rig.engine(pack_threshold=25)
    await engine.sync(rig.row)
    stored = await rig.store.mirror.mirror_comments(1)
    assert await engine.remove_comment(stored["4"].id)
    message = rig.publisher.find(stored["4"].message_ids[0])
    descriptions = {render.parse_marker(e.footer).external_id: e.description for e in message.embeds}  # type: ignore[union-attr]
    assert descriptions["4"] == render.REMOVED_BY_MODERATOR and len(descriptions) > 1
    assert descriptions["5"] != render.REMOVED_BY_MODERATOR
    # An edit on the site later does not bring it back.
    rig.set_comments([*comments[:3], replace(comments[3], text="edited"), *comments[4:]])
    await engine.sync(rig.row)
    assert {render.parse_marker(e.footer).external_id: e.description for e in message.embeds}[
        "4"
    ] == render.REMOVED_BY_MODERATOR  # type: ignore[union-attr]
    assert not await engine.remove_comment(stored["4"].id)


async def test_message_deleted_in_discord_is_never_reposted(rig: Rig) -> None:
    comments = [comment(1), comment(2)]
    rig.set_comments(comments)
    engine = rig.engine()
    await engine.sync(rig.row)
    rig.publisher.live()[0].deleted = True  # a moderator deleted it by hand
    rig.set_comments([replace(comments[0], text="changed"), comments[1]])
    await engine.sync(rig.row)
    await engine.sync(rig.row)
    assert [cid for cid, *_ in rig.publisher.shown()] == ["2"]
    assert (await rig.store.mirror.mirror_comments(1))["1"].removed_by == "moderator"


async def test_deleted_thread_is_recreated_and_refilled(rig: Rig) -> None:
    comments = [comment(1), comment(2, 1)]
    rig.set_comments(comments)
    engine = rig.engine()
    first = await engine.sync(rig.row)
    rig.publisher.threads.clear()
    second = await engine.sync(rig.row)
    assert second.thread_id != first.thread_id and second.posted == 2
    in_new = [m for m in rig.publisher.live() if m.thread_id == second.thread_id]
    assert len(in_new) == 2


async def test_thread_made_but_not_recorded_before_a_crash_is_adopted(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Discord made the thread, the process died before the database had its id: the restart adopts it."""
    comments = [comment(1), comment(2, 1)]
    rig.set_comments(comments)

    async def dies(*args: object, **kwargs: object) -> None:
        raise StoreError("killed before the thread id was written")

    with monkeypatch.context() as patch:
        patch.setattr(rig.store.mirror, "set_article_thread", dies)
        with pytest.raises(StoreError):
            await rig.engine().sync(rig.row)
    assert len(rig.publisher.threads) == 1 and not rig.publisher.messages
    (orphan,) = rig.publisher.threads.values()
    report = await rig.engine().sync(rig.row)  # a fresh engine: a restarted process
    assert len(rig.publisher.threads) == 1 and report.thread_id == orphan.thread_id
    article = await rig.store.mirror.article(1)
    assert article is not None and article.thread_id == orphan.thread_id
    assert {m.thread_id for m in rig.publisher.live()} == {orphan.thread_id}
    assert_exactly_once_in_order(rig.publisher, comments)


async def test_a_thread_of_another_source_is_never_adopted(rig: Rig) -> None:
    """Two sources may mirror articles of the same id into one channel; the marker names the source."""
    rig.set_comments([comment(1)])
    first = await rig.engine().sync(rig.row)
    other = await rig.store.mirror.add_source(42, 7, "file", "memory://other")
    second = await rig.engine().sync(other)
    assert second.thread_id != first.thread_id and len(rig.publisher.threads) == 2


async def test_crash_between_post_and_record_is_adopted_not_duplicated(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The post reached Discord, the process died before the commit: resume finds the marker."""
    comments = discussion(60)
    rig.set_comments(comments)
    real = rig.store.mirror.record_mirrored
    calls = 0

    async def dies_on_the_eighth(
        article_id: int, external_ids: list[str], message_ids: list[int], *, held: bool = False
    ) -> None:
        nonlocal calls  # comments recorded: the transaction that records the eighth fails
        before, calls = calls, calls + len(external_ids)
        if before < 8 <= calls:
            raise StoreError("the database disk is full")
        await real(article_id, external_ids, message_ids, held=held)

    monkeypatch.setattr(rig.store.mirror, "record_mirrored", dies_on_the_eighth)
    with pytest.raises(StoreError):
        await rig.engine(pack_threshold=25).sync(rig.row)
    monkeypatch.setattr(rig.store.mirror, "record_mirrored", real)
    landed = len(rig.publisher.messages)
    report = await rig.engine(pack_threshold=25).sync(rig.row)  # a fresh engine: a restarted process
    assert report.adopted >= 1
    assert_exactly_once_in_order(rig.publisher, comments)
    assert_replies_point_at_parents(rig.publisher, comments)
    assert len(rig.publisher.messages) > landed
    stored = await rig.store.mirror.mirror_comments(1)
    assert all(s.message_ids for s in stored.values())
    assert sorted(e.comment.external_id for e in rig.events) == sorted(c.external_id for c in comments)


async def test_partly_posted_long_comment_is_reposted_whole(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    long = comment(2, text=" ".join(f"w{i}" for i in range(3000)))
    comments = [comment(1), long, comment(3)]
    rig.set_comments(comments)
    real_post = rig.publisher.post
    posts = 0

    async def crash_after_two_posts_of_it(*args: object) -> int:
        nonlocal posts
        posts += 1
        if posts == 3:  # comment 1, then part 1 of comment 2 landed; the process dies now
            raise asyncio.CancelledError
        return await real_post(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(rig.publisher, "post", crash_after_two_posts_of_it)
    with pytest.raises(asyncio.CancelledError):
        await rig.engine().sync(rig.row)
    monkeypatch.setattr(rig.publisher, "post", real_post)
    await rig.engine().sync(rig.row)
    assert_exactly_once_in_order(rig.publisher, comments)
    parts = [part for cid, part, _, _ in rig.publisher.shown() if cid == "2"]
    assert parts == list(range(1, len(parts) + 1)) and len(parts) >= 3


async def test_cancelling_a_sync_mid_post_still_records_that_post(rig: Rig) -> None:
    comments = [comment(n) for n in range(1, 6)]
    rig.set_comments(comments)
    rig.publisher.hold = asyncio.Event()
    task = asyncio.create_task(rig.engine().sync(rig.row))
    await rig.publisher.posting.wait()
    task.cancel()
    await asyncio.sleep(0)
    rig.publisher.hold.set()  # Discord answers after the cancel arrived
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(rig.publisher.messages) == 1
    assert (await rig.store.mirror.mirror_comments(1))["1"].message_ids == [rig.publisher.messages[0].id]
    rig.publisher.hold = None
    report = await rig.engine().sync(rig.row)
    assert report.adopted == 0 and report.posted == 4
    assert_exactly_once_in_order(rig.publisher, comments)


async def test_source_error_is_a_sync_failure_with_its_reason(rig: Rig) -> None:
    rig.source.error = "HTTP 500 after 3 tries"
    with pytest.raises(SyncFailed, match="HTTP 500 after 3 tries"):
        await rig.engine().sync(rig.row)
    assert rig.publisher.messages == []


def test_marker_round_trip_and_clamp() -> None:
    assert render.parse_marker(render.marker("c 1", 2, 3)) == render.Marker("c 1", 2, 3)
    assert render.parse_marker(render.marker("https://x/?c=9")) == render.Marker("https://x/?c=9", 1, 1)
    assert render.parse_marker("something else") is None
    embeds = [EmbedSpec("x" * 4000, "comment 1"), EmbedSpec("y" * 4000, "comment 2")]
    clamped = render.clamp(embeds)
    assert sum(e.size for e in clamped) <= render.MESSAGE_BUDGET
    assert any(e.description.endswith(render.TOO_LONG) for e in clamped)


def test_backoff_grows_with_failures_and_is_capped() -> None:
    assert backoff_delay(60, 0) == 60
    assert 60 * 8 / 2 <= backoff_delay(60, 3) <= 60 * 8
    assert backoff_delay(60, 50, max_backoff=3600) <= 3600


async def test_scheduler_keeps_polling_healthy_sources_while_one_fails(rig: Rig) -> None:
    broken = await rig.store.mirror.add_source(42, 7, "file", "memory://broken")
    rig.set_comments([comment(1), comment(2)])

    async def open_source(row: SourceRow) -> FakeSource:
        if row.id == broken.id:
            failing = FakeSource(Thread(ARTICLE, []))
            failing.error = "cannot read memory://broken: HTTP 503 after 3 tries"
            return failing
        return rig.source

    engine = MirrorEngine(rig.store, rig.scorer, rig.publisher, open_source)  # type: ignore[arg-type]
    scheduler = MirrorScheduler(rig.store, engine, interval=60, tick=0.05)
    scheduler.start()
    try:

        async def settled() -> bool:
            rows = {r.id: r for r in await rig.store.mirror.sources()}
            return rows[rig.row.id].status == "ok" and rows[broken.id].status == "failing"

        for _ in range(200):
            if await settled():
                break
            await asyncio.sleep(0.02)
        rows = {r.id: r for r in await rig.store.mirror.sources()}
    finally:
        await scheduler.stop()
    assert [cid for cid, *_ in rig.publisher.shown()] == ["1", "2"]
    bad = rows[broken.id]
    assert bad.status == "failing" and bad.failures == 1 and "HTTP 503" in (bad.last_error or "")
    good = rows[rig.row.id]
    assert good.status == "ok" and good.last_error is None

    def gap(row: SourceRow) -> float:
        assert row.next_poll_at and row.last_polled_at
        return (
            datetime.fromisoformat(row.next_poll_at) - datetime.fromisoformat(row.last_polled_at)
        ).total_seconds()

    assert 59 <= gap(good) <= 61  # healthy: the interval
    assert 59 <= gap(bad) <= 121  # one failure: backed off into [interval, 2 × interval]
