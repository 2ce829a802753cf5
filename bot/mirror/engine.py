"""The mirror engine: fetch a source, score what is new or changed, and bring Discord in line with it.

It knows no Discord objects: it renders comments to plain data (`render`) and hands them to a
`Publisher`. Its promises:

- Idempotent: the comment ↔ message map is written in the same transaction as the post's success,
  right after the publisher returns, and that post+record step finishes even if the sync is cancelled
  meanwhile (a bot shutting down), so only a killed process can leave a post unrecorded.
- Resumable: for that last case every embed carries a marker naming its comment, and the first sync of
  an article in a process reads the thread's last messages and adopts what already landed; likewise an
  article with no recorded thread first looks for one carrying its card's marker, made before a kill.
- In order: comments are published in the source's order (parents before replies), one message at a
  time; a large backfill packs short comments several to a message (up to ten embeds).
- Quiet: every text goes through `neutralise` and the publisher sends with no allowed mentions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from bot.errors import WardenError
from bot.mirror import render
from bot.mirror.events import CommentRemoved, CommentScored, EventHub
from bot.mirror.publisher import MessageGone, PostedMessage, Publisher, PublishError, ThreadGone, ThreadRef
from bot.mirror.render import EmbedSpec, OutgoingMessage, ReplyTo
from bot.moderation.judge import Judge
from bot.scoring import TextScore, TextScorer
from bot.scoring.batches import SCORE_BATCH, score_in_batches
from bot.sources.base import Comment, Source, SourceError, Thread
from bot.store import GuildSettings, SourceRow, Store
from bot.store.mirror import MirrorComment, UnjudgedComment

log = logging.getLogger(__name__)

T = TypeVar("T")
SourceOpener = Callable[[SourceRow], Awaitable[Source]]

PACK_THRESHOLD = 25  # a sync with this many comments to post is a backfill: pack short ones together
LOOKBACK = 50  # messages read back on resume; only the last post before a crash can be unrecorded
SITE = "site"
MODERATOR = "moderator"


class SyncFailed(WardenError):
    """The source could not be read or Discord refused; `reason` is the line `/mirror list` shows."""


@dataclass
class SyncReport:
    source_id: int
    title: str = ""
    thread_id: int | None = None
    not_modified: bool = False
    scored: int = 0
    posted: int = 0
    messages: int = 0
    edited: int = 0
    removed: int = 0
    restored: int = 0
    adopted: int = 0
    validators: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        if self.not_modified:
            return "nothing changed on the site"
        counts = [f"{self.posted} new", f"{self.edited} edited", f"{self.removed} removed"]
        if self.restored:
            counts.append(f"{self.restored} restored")
        if self.adopted:
            counts.append(f"{self.adopted} recovered after an interrupted sync")
        return ", ".join(counts)


async def finish_even_if_cancelled(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to its end even when the caller is cancelled meanwhile, then pass the cancel on.

    Used for "post, then record the post": cancelling between the two would leave a message Discord
    shows and the database does not know.
    """
    task = asyncio.ensure_future(coro)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            await asyncio.wait([task])
        raise


def announced(pending: UnjudgedComment) -> CommentScored:
    """The `comment_scored` event of a version already in Discord, rebuilt from the store: what moderation
    judges again when the first event's handler never finished (a kill -9, a database refusing the flag)."""
    row = pending.row
    if row.message_id is None:
        raise ValueError(f"comment {row.id} is not shown in Discord: it has no comment_scored event")
    return CommentScored(
        guild_id=pending.guild_id,
        source_id=pending.source_id,
        article=pending.article,
        comment=row.comment,
        comment_id=row.id,
        channel_id=pending.channel_id,
        thread_id=pending.thread_id,
        message_id=row.message_id,
        score=TextScore.stored(row.scores, row.top_label, row.top_score, row.evidence, row.coverage),
        held=row.held,
    )


class MirrorEngine:
    def __init__(
        self,
        store: Store,
        scorer: TextScorer,
        publisher: Publisher,
        open_source: SourceOpener,
        *,
        events: EventHub | None = None,
        pack_threshold: int = PACK_THRESHOLD,
        lookback: int = LOOKBACK,
        judge: Judge | None = None,
    ) -> None:
        self.store = store
        self.scorer = scorer
        self.publisher = publisher
        self.open_source = open_source
        self.events = events or EventHub()
        self.pack_threshold = pack_threshold
        self.lookback = lookback
        # Pre-moderation asks it before a comment is published; without one, everything is published.
        self.judge = judge
        self._locks: dict[int, asyncio.Lock] = {}
        # Articles whose last publish pass in this process ended cleanly: no post can be unrecorded.
        self._clean: set[int] = set()

    def lock(self, source_id: int) -> asyncio.Lock:
        """One sync (or removal) per source at a time: the map must never see two writers."""
        return self._locks.setdefault(source_id, asyncio.Lock())

    async def sync(self, row: SourceRow) -> SyncReport:
        async with self.lock(row.id):
            return await self._sync(row)

    async def _sync(self, row: SourceRow) -> SyncReport:
        report = SyncReport(row.id)
        # A 304 says the site did not change, not that Discord caught up: after an interrupted sync,
        # fetch everything again.
        validators = None if await self.store.mirror.has_unpublished(row.id) else row.validators
        try:
            source = await self.open_source(row)
            thread = await source.fetch(validators or None)
        except SourceError as exc:
            raise SyncFailed(exc.reason) from None
        report.validators = dict(source.validators)
        if thread.not_modified:
            report.not_modified = True
            return report
        report.title = thread.article.title
        thread = render.with_web_urls(thread)
        article_id = await self.store.mirror.upsert_article(row.id, thread.article)
        guild = await self.store.guilds.get(row.guild_id)
        run = _ArticleRun(
            self, row, article_id, thread, report, delete_removed=guild.removed_comment_mode == "delete"
        )
        run.guild = guild
        try:
            await run.execute()
        except PublishError as exc:
            self._clean.discard(article_id)
            raise SyncFailed(exc.reason) from None
        except BaseException:
            self._clean.discard(article_id)
            raise
        self._clean.add(article_id)
        return report

    async def remove_comment(self, comment_id: int) -> bool:
        """Take a mirrored comment out of Discord for a moderator (packed neighbours stay).

        Marks or deletes per the guild's `removed_comment_mode`, records the removal as the
        moderator's (so a later poll never brings it back), and returns False if it was not mirrored.
        """
        source = await self.store.mirror.source_of_comment(comment_id)
        stored = await self.store.mirror.comment_row(comment_id)
        if source is None or stored is None or stored.removed_by == MODERATOR:
            return (
                False  # removed already (by the act level as it was published): no need to wait for the pass
            )
        async with self.lock(source.id):
            article = await self.store.mirror.article(stored.article_id)
            if article is None or article.thread_id is None:
                return False
            guild = await self.store.guilds.get(source.guild_id)
            run = _ArticleRun(
                self,
                source,
                article.id,
                None,
                SyncReport(source.id),
                delete_removed=guild.removed_comment_mode == "delete",
            )
            run.thread_id = article.thread_id
            run.rows = await self.store.mirror.mirror_comments(article.id)
            target = run.rows.get(stored.comment.external_id)
            if target is None or target.removed_by == MODERATOR:
                return False
            await run.remove(target, by=MODERATOR)
            return True

    async def publish_held(self, comment_id: int) -> bool:
        """A moderator approved a comment pre-moderation withheld: show it in its place (the notice's message),
        and its replies' quotes with it. False when it is not held (approved already, or removed)."""
        source = await self.store.mirror.source_of_comment(comment_id)
        stored = await self.store.mirror.comment_row(comment_id)
        if source is None or stored is None:
            return False
        async with self.lock(source.id):
            article = await self.store.mirror.article(stored.article_id)
            if article is None or article.thread_id is None:
                return False
            run = _ArticleRun(self, source, article.id, None, SyncReport(source.id), delete_removed=False)
            run.thread_id = article.thread_id
            run.rows = await self.store.mirror.mirror_comments(article.id)
            target = run.rows.get(stored.comment.external_id)
            if target is None or not target.held or target.status != "live" or target.message_id is None:
                return False
            await run.reveal(target)
            return True


class _ArticleRun:
    """One article's pass; holds the state the steps share so each step stays small."""

    def __init__(
        self,
        engine: MirrorEngine,
        source: SourceRow,
        article_id: int,
        thread: Thread | None,
        report: SyncReport,
        *,
        delete_removed: bool,
    ) -> None:
        self.engine = engine
        self.store = engine.store
        self.publisher = engine.publisher
        self.source = source
        self.article_id = article_id
        self.thread = thread
        self.report = report
        self.delete_removed = delete_removed
        self.thread_id = 0
        self.rows: dict[str, MirrorComment] = {}
        self.fresh: dict[str, TextScore] = {}
        self.batch: list[Comment] = []  # comments waiting to share one packed message
        self.landed: dict[str, dict[int, int]] | None = None  # resume: comment -> part -> message id
        self.landed_parts: dict[str, int] = {}  # resume: comment -> how many parts it was posted in
        self.pack = False
        self.guild: GuildSettings | None = None  # for pre-moderation; None outside a sync pass

    @property
    def fetched(self) -> Thread:
        """The thread this pass publishes; a moderator's removal (`MirrorEngine.remove_comment`) fetches none."""
        if self.thread is None:
            raise RuntimeError(f"article {self.article_id}: a removal pass has no fetched thread to publish")
        return self.thread

    # -- the pass ---------------------------------------------------------------------------------

    async def execute(self) -> None:
        thread = self.fetched
        comments = thread.comments
        thread_existed = await self._ensure_thread()
        known = await self.store.mirror.mirror_comments(self.article_id)
        self.rows = dict(known)
        resuming = thread_existed and self.article_id not in self.engine._clean
        to_post = sum(1 for c in comments if (r := known.get(c.external_id)) is None or _awaits_post(r))
        self.pack = to_post >= self.engine.pack_threshold
        for start in range(0, len(comments), SCORE_BATCH):
            chunk = comments[start : start + SCORE_BATCH]
            await self._score(chunk, known)
            for comment in chunk:
                previous = known.get(comment.external_id)
                if resuming and self.landed is None and _awaits_post(self.rows[comment.external_id]):
                    await self._read_landed()
                await self._bring_up_to_date(comment, previous)
        await self._flush()
        if thread.complete:
            present = {c.external_id for c in comments}
            for row in list(self.rows.values()):
                if row.comment.external_id not in present and row.status == "live":
                    await self.remove(row, by=SITE)

    async def _ensure_thread(self) -> bool:
        """Find or make the article's thread; True when it existed before this pass."""
        article = await self.store.mirror.article(self.article_id)
        existing = article.thread_id if article else None
        card = render.article_card(self.source.id, self.fetched.article)
        try:
            ref = await finish_even_if_cancelled(self._thread_ref(card, existing))
        except ThreadGone:
            log.warning(
                "source %s: the thread of article %s was deleted; mirroring it afresh",
                self.source.id,
                self.article_id,
            )
            await self.store.mirror.reset_article(self.article_id)
            existing = None
            ref = await finish_even_if_cancelled(self._thread_ref(card, None))
        self.thread_id = ref.thread_id
        self.report.thread_id = ref.thread_id
        return existing is not None and ref.thread_id == existing

    async def _thread_ref(self, card: EmbedSpec, existing: int | None) -> ThreadRef:
        article = self.fetched.article
        ref = None
        if existing is None:
            ref = await self.publisher.find_thread(self.source, article, card.footer)
            if ref is not None:
                log.info(
                    "source %s: adopting thread %s of article %s, made before an interrupted sync",
                    self.source.id,
                    ref.thread_id,
                    self.article_id,
                )
        if ref is None:
            ref = await self.publisher.ensure_thread(self.source, article, card, existing)
        if ref.thread_id != existing:
            await self.store.mirror.set_article_thread(self.article_id, ref.thread_id, ref.card_message_id)
        return ref

    async def _score(self, chunk: list[Comment], known: dict[str, MirrorComment]) -> None:
        """Score only new or changed text, store it, and refresh the rows of this chunk."""
        stale = [
            c for c in chunk if (r := known.get(c.external_id)) is None or r.scored_hash != c.content_hash
        ]
        if stale:
            scores = await score_in_batches(self.engine.scorer, [c.text for c in stale])
            await self.store.mirror.save_scored(self.article_id, zip(stale, scores, strict=True))
            self.fresh.update(zip((c.external_id for c in stale), scores, strict=True))
            self.report.scored += len(stale)
        changed = {
            c.external_id
            for c in chunk
            if (r := known.get(c.external_id)) is None
            or r.content_hash != c.content_hash
            or r.scored_hash != c.content_hash
        }
        if changed:
            self.rows.update(await self.store.mirror.mirror_comments(self.article_id, sorted(changed)))

    async def _bring_up_to_date(self, comment: Comment, previous: MirrorComment | None) -> None:
        row = self.rows[comment.external_id]
        if row.removed_by == MODERATOR:
            return  # a moderator took it down in Discord: the site cannot bring it back
        if row.message_id is None:
            if row.status == "removed":
                self.report.restored += 1
            await self._post(comment, previous)
            return
        restoring = row.status == "removed"
        if row.held and row.mirrored_hash != row.content_hash and self._withheld(comment):
            await self._flush()
            await self.store.mirror.record_mirrored(
                self.article_id, [comment.external_id], row.message_ids, held=True
            )
            await self._mirrored(comment, row.message_ids, edited=True, held=True)
            return
        if restoring or row.mirrored_hash != row.content_hash:
            await self._flush()
            await self._rewrite_comment(row, comment)
            if restoring:
                self.report.restored += 1
            else:
                self.report.edited += 1

    # -- posting ----------------------------------------------------------------------------------

    async def _post(self, comment: Comment, previous: MirrorComment | None) -> None:
        if self.landed is not None and comment.external_id in self.landed:
            await self._flush()
            if await self._adopt(comment, previous):
                return
        if self._withheld(comment):  # judged before publishing: its place shows a notice until approved
            await self._flush()
            await self._publish(
                [render.single_message(comment, [render.held_embed(comment)])], [comment], held=True
            )
            return
        if self._at_act_level(comment):  # removed by the act level as it is published: never shown
            await self._flush()
            await self._post_removed(comment)
            return
        embeds = render.comment_embeds(comment, self._reply_to(comment, batch=self.batch))
        if self.pack and len(embeds) == 1 and embeds[0].size <= render.PACKABLE:
            if self.batch and not render.fits_with(self._batch_embeds(), embeds[0]):
                await self._flush()
            self.batch.append(comment)  # rendered again at flush, when it is known what is above it
            return
        await self._flush()
        # Rendered after the flush: a parent that was waiting in the batch now has a message to link to.
        groups = render.group_parts(render.comment_embeds(comment, self._reply_to(comment, batch=[])))
        messages = [render.single_message(comment, group) for group in groups]
        await self._publish(messages, [comment])

    def _batch_embeds(self) -> list[EmbedSpec]:
        embeds: list[EmbedSpec] = []
        for i, comment in enumerate(self.batch):
            embeds.extend(render.comment_embeds(comment, self._reply_to(comment, batch=self.batch[:i])))
        return embeds

    async def _flush(self) -> None:
        if not self.batch:
            return
        embeds = self._batch_embeds()
        batch, self.batch = self.batch, []
        message = (
            render.single_message(batch[0], embeds) if len(batch) == 1 else render.packed_message(embeds)
        )
        await self._publish([message], batch)

    def _at_act_level(self, comment: Comment) -> bool:
        """The judge, before publishing: is this comment at or over an act level outside shadow mode?"""
        guild, judge = self.guild, self.engine.judge
        if guild is None or judge is None or guild.shadow_mode:
            return False
        row = self.rows[comment.external_id]
        score = self.fresh.get(comment.external_id) or TextScore.stored(
            row.scores, row.top_label, row.top_score, row.evidence, row.coverage
        )
        return judge.verdict(score, guild, [self.source.channel_id, self.thread_id]).act

    def _withheld(self, comment: Comment) -> bool:
        """Pre-moderation (on, and shadow mode off): a comment at or over an act level is held for review."""
        return self.guild is not None and self.guild.premod and self._at_act_level(comment)

    async def _post_removed(self, comment: Comment) -> None:
        """Without pre-moderation, the act level removes: its text never reaches Discord, and the removal is
        recorded as a moderator's with the post, so moderation logs it without waiting for this pass to end."""

        async def post_and_record() -> list[int]:
            message = render.single_message(comment, [render.removed_embed(comment, by=MODERATOR)])
            ids = [await self.publisher.post(self.source, self.thread_id, message)]
            await self.store.mirror.record_removed(self.article_id, comment.external_id, ids, MODERATOR)
            return ids

        ids = await finish_even_if_cancelled(post_and_record())
        self.report.messages += 1
        self.report.removed += 1
        row = self.rows[comment.external_id]
        row = replace(row, message_ids=ids, status="removed", removed_by=MODERATOR)
        self.rows[comment.external_id] = row
        await self._announce(comment, row, ids)

    async def _publish(
        self, messages: list[OutgoingMessage], comments: list[Comment], *, held: bool = False
    ) -> None:
        """Post the messages of one comment (or of one packed group) and record them, uninterrupted."""

        async def post_and_record() -> list[int]:
            ids = []
            for message in messages:
                ids.append(await self.publisher.post(self.source, self.thread_id, message))
            await self.store.mirror.record_mirrored(
                self.article_id, [c.external_id for c in comments], ids, held=held
            )
            return ids

        ids = await finish_even_if_cancelled(post_and_record())
        self.report.messages += len(ids)
        self.report.posted += len(comments)
        for comment in comments:
            await self._mirrored(comment, ids, held=held)

    async def _mirrored(
        self, comment: Comment, ids: list[int], *, edited: bool = False, held: bool = False
    ) -> None:
        """Update the in-memory row after a recorded publish and tell moderation about it."""
        row = self.rows[comment.external_id]
        row = replace(
            row, message_ids=ids, status="live", removed_by=None, mirrored_hash=row.content_hash, held=held
        )
        self.rows[comment.external_id] = row
        await self._announce(comment, row, ids, edited=edited, held=held)

    async def _announce(
        self,
        comment: Comment,
        row: MirrorComment,
        ids: list[int],
        *,
        edited: bool = False,
        held: bool = False,
    ) -> None:
        """Tell moderation which scored version now stands in Discord, with the score it was judged by."""
        score = self.fresh.get(comment.external_id) or TextScore.stored(
            row.scores, row.top_label, row.top_score, row.evidence, row.coverage
        )
        await self.engine.events.emit(
            CommentScored(
                guild_id=self.source.guild_id,
                source_id=self.source.id,
                article=self.fetched.article,
                comment=comment,
                comment_id=row.id,
                channel_id=self.source.channel_id,
                thread_id=self.thread_id,
                message_id=ids[0],
                score=score,
                edited=edited,
                held=held,
            )
        )

    def _reply_to(self, comment: Comment, *, batch: list[Comment]) -> ReplyTo | None:
        if comment.parent_id is None:
            return None
        parent = self.rows.get(comment.parent_id)
        if parent is None:
            return None
        in_batch = any(c.external_id == comment.parent_id for c in batch)
        jump = None
        if not in_batch and parent.message_id is not None:
            jump = render.jump_url(self.source.guild_id, self.thread_id, parent.message_id)
        if parent.status == "removed":  # its text is gone from Discord, quotes included
            return ReplyTo(parent.comment.author, "", jump, removed=True)
        if parent.held:  # not in Discord until approved, so not in a quote either
            return ReplyTo(parent.comment.author, "", jump, held=True)
        return ReplyTo(parent.comment.author, parent.comment.text, jump, same_message=in_batch)

    # -- resuming after a crash -------------------------------------------------------------------

    async def _read_landed(self) -> None:
        """Collect the markers of our last messages: posts that landed just before a crash."""
        recent: list[PostedMessage] = await self.publisher.recent(
            self.source, self.thread_id, self.engine.lookback
        )
        landed: dict[str, dict[int, int]] = {}
        by_key = {render.marker_key(external_id): external_id for external_id in self.rows}
        for message in recent:
            for footer in message.footers:
                marker = render.parse_marker(footer)
                external_id = by_key.get(marker.external_id) if marker is not None else None
                if marker is not None and external_id is not None:
                    landed.setdefault(external_id, {})[marker.part] = message.message_id
                    self.landed_parts[external_id] = marker.parts
        self.landed = {
            k: v for k, v in landed.items() if (row := self.rows.get(k)) is not None and _awaits_post(row)
        }

    async def _adopt(self, comment: Comment, previous: MirrorComment | None) -> bool:
        """Record a post that reached Discord before a crash; False when only part of it did."""
        if self.landed is None or comment.external_id not in self.landed:
            return False  # nothing of it landed: post it
        parts = self.landed.pop(comment.external_id)
        total = self.landed_parts[comment.external_id]
        ids = list(dict.fromkeys(parts[n] for n in sorted(parts)))
        if sorted(parts) != list(range(1, total + 1)):
            log.info(
                "source %s: comment %s only partly posted before a restart; reposting it",
                self.source.id,
                comment.external_id,
            )
            for message_id in ids:
                await self.publisher.delete(self.source, self.thread_id, message_id)
            return False
        await self.store.mirror.record_mirrored(self.article_id, [comment.external_id], ids)
        self.report.adopted += 1
        # The message shows the text saved before the crash; if the site changed it since, fix it.
        landed_hash = previous.content_hash if previous else comment.content_hash
        row = self.rows[comment.external_id]
        self.rows[comment.external_id] = replace(
            row, message_ids=ids, status="live", mirrored_hash=landed_hash
        )
        if landed_hash != comment.content_hash:
            await self._rewrite_comment(self.rows[comment.external_id], comment)
        else:
            await self._mirrored(comment, ids)
        return True

    # -- edits and removals -----------------------------------------------------------------------

    def _siblings(self, message_id: int) -> list[MirrorComment]:
        return [r for r in self.rows.values() if message_id in r.message_ids]

    def _shared(self, row: MirrorComment) -> bool:
        return row.message_id is not None and len(self._siblings(row.message_id)) > 1

    async def _rewrite_comment(self, row: MirrorComment, comment: Comment) -> None:
        """Show the current text of a mirrored comment (an edit on the site, or a comeback)."""
        self.rows[comment.external_id] = row = replace(row, status="live", removed_by=None)
        try:
            if row.message_id is not None and self._shared(row):
                await self._rewrite_message(row.message_id)
                ids = [row.message_id]
            else:
                ids = await self._rewrite_own(row, comment)
        except MessageGone:
            await self._gone(row)
            return
        await self.store.mirror.record_mirrored(self.article_id, [comment.external_id], ids)
        await self._mirrored(comment, ids, edited=True)
        await self._requote(comment.external_id, done=ids if self._shared(row) else ())

    async def _rewrite_own(self, row: MirrorComment, comment: Comment) -> list[int]:
        groups = render.group_parts(render.comment_embeds(comment, self._reply_to(comment, batch=[])))
        ids = row.message_ids
        if len(groups) > len(ids):  # an edit cannot add messages in the middle of the thread
            groups = groups[: len(ids) - 1] + [render.clamp(_overflowed(groups[len(ids) - 1]))]
        for message_id, group in zip(ids, groups, strict=False):
            await self.publisher.edit(self.source, self.thread_id, message_id, tuple(group))
        for message_id in ids[len(groups) :]:
            await self.publisher.delete(self.source, self.thread_id, message_id)
        return ids[: len(groups)]

    async def _rewrite_message(self, message_id: int) -> None:
        """Re-render a packed message from the current state of every comment in it."""
        embeds: list[EmbedSpec] = []
        for sibling in self._siblings(message_id):
            if sibling.status == "removed":
                if not self.delete_removed:
                    embeds.append(render.removed_embed(sibling.comment, by=sibling.removed_by or SITE))
                continue
            parts = render.comment_embeds(sibling.comment, self._reply_to(sibling.comment, batch=[]))
            embeds.append(parts[0] if len(parts) == 1 else _overflowed([parts[0]])[0])
        if embeds:
            await self.publisher.edit(self.source, self.thread_id, message_id, tuple(render.clamp(embeds)))
        else:
            await self.publisher.delete(self.source, self.thread_id, message_id)

    async def remove(self, row: MirrorComment, *, by: str) -> None:
        """A comment left the site (or a moderator took it down): mark or delete it in Discord."""
        await self._flush()
        external_id = row.comment.external_id
        self.rows[external_id] = row = replace(row, status="removed", removed_by=by)
        kept: list[int] = []
        try:
            if row.message_id is not None and self._shared(row):
                await self._rewrite_message(row.message_id)
                kept = [] if self.delete_removed else [row.message_id]
            elif row.message_id is not None:
                first, *rest = row.message_ids
                if self.delete_removed:
                    rest = row.message_ids
                else:
                    embed = render.removed_embed(row.comment, by=by)
                    await self.publisher.edit(self.source, self.thread_id, first, (embed,))
                    kept = [first]
                for message_id in rest:
                    await self.publisher.delete(self.source, self.thread_id, message_id)
        except MessageGone:
            await self._gone(row)
            return
        await self.store.mirror.record_removed(self.article_id, external_id, kept, by)
        self.rows[external_id] = replace(row, message_ids=kept)
        self.report.removed += 1
        await self.engine.events.emit(CommentRemoved(self.source.guild_id, self.source.id, row.id, by))
        await self._requote(external_id, done=kept)

    async def reveal(self, row: MirrorComment) -> None:
        """Show a held comment in the message that held its place (an approval), then its replies' quotes."""
        external_id = row.comment.external_id
        self.rows[external_id] = row = replace(row, held=False)
        try:
            ids = await self._rewrite_own(row, row.comment)
        except MessageGone:
            await self._gone(row)
            return
        await self.store.mirror.record_mirrored(self.article_id, [external_id], ids)
        self.rows[external_id] = replace(row, message_ids=ids)
        await self._requote(external_id)

    async def _requote(self, external_id: str, *, done: Iterable[int] = ()) -> None:
        """Re-render every live message that quotes a comment, after it was edited or removed: a quote must
        never keep text the comment no longer has (a removed comment's text leaves Discord entirely).
        `done`: messages already re-rendered whole (a packed message holding the comment itself)."""
        rewritten = set(done)
        for reply in [r for r in self.rows.values() if r.comment.parent_id == external_id]:
            if reply.status != "live" or reply.message_id is None or reply.message_id in rewritten:
                continue
            rewritten.add(reply.message_id)
            try:
                if self._shared(reply):
                    await self._rewrite_message(reply.message_id)
                else:
                    await self._rewrite_own(reply, reply.comment)
            except MessageGone:
                await self._gone(reply)

    async def _gone(self, row: MirrorComment) -> None:
        """Someone deleted our message in Discord: treat it as a moderator's removal, never repost."""
        log.info(
            "source %s: message of comment %s was deleted in Discord", self.source.id, row.comment.external_id
        )
        for sibling in self._siblings(row.message_id) if row.message_id is not None else [row]:
            await self.store.mirror.record_removed(
                self.article_id, sibling.comment.external_id, [], MODERATOR
            )
            self.rows[sibling.comment.external_id] = replace(
                sibling, message_ids=[], status="removed", removed_by=MODERATOR
            )


def _awaits_post(row: MirrorComment) -> bool:
    """Known but not in Discord, and not because a moderator took it down (that is final)."""
    return row.message_id is None and row.removed_by != MODERATOR


def _overflowed(group: list[EmbedSpec]) -> list[EmbedSpec]:
    """Say plainly that the rest of an edited comment did not fit, instead of cutting it silently."""
    last = group[-1]
    description = last.description[: 4096 - len(render.TOO_LONG)] + render.TOO_LONG
    return [*group[:-1], replace(last, description=description)]
