"""The `scan` job: read one thread, score every comment, store the scores and flag cases.

It is the product's main job without Discord, and it is idempotent: comments whose content hash was
already scored are not scored again, and flag cases carry a dedup key, so running it twice adds no rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.moderation.judge import COMMENT, Judge, Subject
from bot.moderation.policy import Verdict
from bot.scoring import TextScore, TextScorer
from bot.scoring.batches import Progress, score_in_batches
from bot.sources.base import Article, Comment, Thread
from bot.store import CLI_GUILD, CaseFilter, GuildSettings, NewCase, Store

_ALL = CaseFilter()


@dataclass(frozen=True)
class ScanRow:
    comment: Comment
    score: TextScore
    verdict: Verdict
    rescored: bool


@dataclass(frozen=True)
class ScanReport:
    source: str
    article: Article
    rows: list[ScanRow]
    new_cases: int
    model: str  # the scorer's model name, so a lite or demo score is never taken for Detoxify's

    @property
    def flagged(self) -> list[ScanRow]:
        return [r for r in self.rows if r.verdict.flag]

    @property
    def rescored(self) -> int:
        """Comments new or changed since the last scan of this thread (scored now)."""
        return sum(r.rescored for r in self.rows)

    @property
    def unchanged(self) -> int:
        """Comments whose stored score still matched their text (not scored again)."""
        return len(self.rows) - self.rescored


async def scan_thread(
    thread: Thread,
    source_kind: str,
    source_url: str,
    *,
    settings: Settings,
    store: Store,
    scorer: TextScorer,
    progress: Progress | None = None,
) -> ScanReport:
    source = await store.mirror.add_source(CLI_GUILD, 0, source_kind, source_url)
    article_id = await store.mirror.upsert_article(source.id, thread.article)
    known = await store.mirror.comments(article_id)

    stale = [
        c
        for c in thread.comments
        if (s := known.get(c.external_id)) is None or s.scored_hash != c.content_hash
    ]
    fresh = await score_in_batches(scorer, [c.text for c in stale], progress)
    await store.mirror.save_scored(article_id, zip(stale, fresh, strict=True))
    scored = dict(zip((c.external_id for c in stale), fresh, strict=True))

    # The CLI has no guild to configure: the process defaults alone, for the labels the model has; it never
    # acts, so its flags are not shadow flags.
    judge = Judge.of(settings.thresholds, scorer.labels)
    cli = GuildSettings(CLI_GUILD, shadow_mode=False)
    rows: list[ScanRow] = []
    cases: list[NewCase] = []
    for comment in thread.comments:
        score = scored.get(comment.external_id)
        if score is None:
            stored = known[comment.external_id]
            # Kept from the first scan: the sentence behind the score and how much of the text was scored.
            score = TextScore.stored(
                stored.scores, stored.top_label, stored.top_score, stored.evidence, stored.coverage
            )
        subject = Subject(
            guild_id=CLI_GUILD,
            kind=COMMENT,
            target_id=f"{source.id}:{comment.external_id}",
            target_name=comment.author,
            link=comment.url,
            channel_id=None,
            message_ids=(),
            dedup=f"{source.id}:{comment.external_id}:{comment.content_hash}",
            origin="scan",
        )
        judgement = judge.judge(subject, score, cli, ())
        rows.append(ScanRow(comment, score, judgement.verdict, comment.external_id in scored))
        if judgement.flag is not None:
            cases.append(judgement.flag)
    before = await store.cases.count(CLI_GUILD, _ALL)
    await store.cases.add_many(cases)
    new_cases = await store.cases.count(CLI_GUILD, _ALL) - before
    return ScanReport(source_url, thread.article, rows, new_cases, scorer.model_name)
