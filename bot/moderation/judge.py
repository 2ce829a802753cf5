"""Judging a score: the one place that turns a text's scores into an outcome and the flag case to log.

Every path that judges goes through `Judge.judge`: the watcher (member messages, mirrored comments), the
recovery (a comment never judged, a flag never carded), the CLI scan, and the mirror engine before it
publishes. It takes ids and scores, never Discord objects, so the same rule holds in every one of them:

    levels for the loaded model (process defaults, the guild's and the channel's overrides, only the labels
    the model produces) → evaluation (which levels the scores cross) → outcome (ignore, flag, act; shadow
    mode never acts) → the flag case to log, and after it the automatic follow-ups' cases.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.moderation import actions
from bot.moderation.policy import Outcome, Verdict, evaluate, levels_for_model, outcome
from bot.scoring import TextScore
from bot.store import Case, GuildSettings, Level, NewCase

MEMBER = "member"
COMMENT = "comment"


@dataclass(frozen=True)
class Subject:
    """What was scored, by id: a member's message or a mirrored comment, and where it is shown.

    `dedup` identifies this version of the text (an edit is a new subject); the flag's dedup key is
    `"<origin>:<dedup>"`, so a retried or repeated judgement finds the case already logged. The CLI scan's
    flags have the origin "scan" (the keys databases already hold); everything else's is "flag".
    """

    guild_id: int
    kind: str  # MEMBER | COMMENT
    target_id: str
    target_name: str
    link: str | None
    channel_id: int | None
    message_ids: tuple[int, ...]
    dedup: str
    origin: str = "flag"

    @property
    def message_id(self) -> int | None:
        return self.message_ids[0] if self.message_ids else None


def content_key(text: str) -> str:
    """A short hash of a text for dedup keys: an edited message is a new flag, a retried one is not."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def member_subject(
    guild_id: int,
    channel_id: int,
    message_id: int,
    author_id: int,
    author_name: str,
    content: str,
    link: str | None,
) -> Subject:
    """A member's message (`content`: the text as scored; each edit is judged as a subject of its own)."""
    return Subject(
        guild_id=guild_id,
        kind=MEMBER,
        target_id=str(author_id),
        target_name=f"{author_name} ({author_id})",
        link=link,
        channel_id=channel_id,
        message_ids=(message_id,),
        dedup=f"{guild_id}:{message_id}:{content_key(content)}",
    )


def comment_subject(
    guild_id: int,
    comment_id: int,
    author: str,
    content_hash: str,
    thread_id: int | None,
    message_ids: tuple[int, ...] = (),
    link: str | None = None,
) -> Subject:
    """A mirrored comment version (`comment_id`: its row in the store), shown in its article's thread.

    The dedup key needs no Discord message, so a version can be judged before it is published.
    """
    return Subject(
        guild_id=guild_id,
        kind=COMMENT,
        target_id=str(comment_id),
        target_name=author,
        link=link,
        channel_id=thread_id,
        message_ids=message_ids,
        dedup=f"{guild_id}:comment:{comment_id}:{content_hash[:16]}",
    )


@dataclass(frozen=True)
class Judgement:
    """What the levels say about one score, and the flag case to log when it crossed one."""

    subject: Subject
    score: TextScore
    verdict: Verdict
    outcome: Outcome
    flag: NewCase | None  # None when nothing crossed (outcome IGNORE)

    @property
    def flagged(self) -> bool:
        return self.outcome is not Outcome.IGNORE

    @property
    def act(self) -> bool:
        """The act level was crossed outside shadow mode: remove (and time out) automatically."""
        return self.outcome is Outcome.ACT


@dataclass(frozen=True)
class Judge:
    """The rule for the loaded model: the process-wide default levels and the labels the model produces."""

    defaults: Mapping[str, float]
    labels: tuple[str, ...]

    @classmethod
    def of(cls, defaults: Mapping[str, float], labels: Iterable[str]) -> Judge:
        return cls(dict(defaults), tuple(labels))

    def levels(self, settings: GuildSettings, channel_ids: Sequence[int | None]) -> dict[str, Level]:
        """The levels that apply where the text is shown; `channel_ids` runs outermost first (a thread's
        parent, then the thread), so the innermost override wins."""
        return levels_for_model(settings, channel_ids, self.defaults, self.labels)

    def verdict(
        self, score: TextScore, settings: GuildSettings, channel_ids: Sequence[int | None]
    ) -> Verdict:
        """Which levels a score crosses where it would be shown, for scoring on demand (nothing is logged)."""
        return evaluate(score.scores, self.levels(settings, channel_ids))

    def judge(
        self, subject: Subject, score: TextScore, settings: GuildSettings, channel_ids: Sequence[int | None]
    ) -> Judgement:
        """Judge one score against the levels of the channels it is shown in."""
        verdict = self.verdict(score, settings, channel_ids)
        result = outcome(verdict, shadow=settings.shadow_mode)
        flag = (
            None
            if result is Outcome.IGNORE
            else flag_case(subject, score, verdict, shadow=settings.shadow_mode)
        )
        return Judgement(subject, score, verdict, result, flag)


def flag_case(subject: Subject, score: TextScore, verdict: Verdict, *, shadow: bool) -> NewCase:
    """The one way a flag case is built: the strongest crossing names the label, the verdict the reason."""
    strongest = verdict.strongest
    return NewCase(
        guild_id=subject.guild_id,
        action=actions.FLAG,
        target_kind=subject.kind,
        target_id=subject.target_id,
        target_name=subject.target_name,
        reason=verdict.reason(),
        scores=dict(score.scores),
        label=strongest.label if strongest else score.top_label,
        score=strongest.score if strongest else score.top_score,
        evidence=score.evidence or None,
        link=subject.link,
        channel_id=subject.channel_id,
        message_id=subject.message_id,
        shadow=shadow,
        dedup_key=f"{subject.origin}:{subject.dedup}",
    )


def follow_up(case: Case, action: str, **fields: Any) -> NewCase:
    """A case that follows `case` about the same target: who and where come from it and it is referenced,
    so every follow-up (an automatic action, a decision, a site change, a DM that failed) names its target
    the same way. `fields` says the rest, and may clear where (`link=None`) for a case about the member."""
    about: dict[str, Any] = {
        "guild_id": case.guild_id,
        "action": action,
        "target_kind": case.target_kind,
        "target_id": case.target_id,
        "target_name": case.target_name,
        "link": case.link,
        "channel_id": case.channel_id,
        "message_id": case.message_id,
        "ref_case": case.case_number,
    }
    return NewCase(**(about | fields))


def _about(subject: Subject) -> dict[str, Any]:
    """Who and where, from the subject judged: the follow-ups of a judgement name what was judged."""
    return {
        "guild_id": subject.guild_id,
        "target_kind": subject.kind,
        "target_id": subject.target_id,
        "target_name": subject.target_name,
        "link": subject.link,
        "channel_id": subject.channel_id,
        "message_id": subject.message_id,
    }


def auto_remove_case(subject: Subject, flag: Case) -> NewCase:
    """The act level removed the flagged text: logged against the flag it follows."""
    return follow_up(
        flag,
        actions.REMOVE,
        **_about(subject),
        reason=f"automatic: {flag.reason}",
        scores=flag.scores,
        label=flag.label,
        score=flag.score,
        dedup_key=f"auto-remove:{subject.dedup}",
    )


def hold_case(subject: Subject, flag: Case) -> NewCase:
    """Pre-moderation withheld the flagged comment before it was published."""
    return follow_up(
        flag,
        actions.HOLD,
        **_about(subject),
        reason=f"automatic, before publishing: {flag.reason}",
        dedup_key=f"hold:{subject.dedup}",
    )


def would_act_cases(subject: Subject, flag: Case, settings: GuildSettings) -> list[NewCase]:
    """Shadow mode at an act level: what the act level would have done, logged as such (`would-*`, shadow)
    and never as done, so the log can show what turning shadow mode off would change."""
    would: list[tuple[str, int | None]] = [(actions.WOULD_REMOVE, None)]
    if subject.kind == MEMBER and settings.act_timeout_minutes > 0:
        would.append((actions.WOULD_TIMEOUT, settings.act_timeout_minutes * 60))
    return [
        follow_up(
            flag,
            action,
            **_about(subject),
            reason=f"shadow mode, not done: {flag.reason}",
            scores=flag.scores,
            label=flag.label,
            score=flag.score,
            duration_seconds=seconds,
            shadow=True,
            dedup_key=f"{action}:{subject.dedup}",
        )
        for action, seconds in would
    ]


def auto_timeout_case(subject: Subject, flag: Case, seconds: int) -> NewCase:
    """The act level timed the member out (the guild's `act_timeout_minutes`): a case about the member, not
    the message, so it names no place."""
    return follow_up(
        flag,
        actions.TIMEOUT,
        **(_about(subject) | {"target_kind": MEMBER, "link": None, "channel_id": None, "message_id": None}),
        reason=f"automatic: {flag.reason}",
        duration_seconds=seconds,
        dedup_key=f"auto-timeout:{subject.dedup}",
    )
