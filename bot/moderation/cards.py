"""The text of review cards and score summaries, as plain Discord embed dicts.

Built here, away from discord.py objects, so the wording a moderator reads is testable on its own and the
same bar list serves `/toxicity`, review cards and `/case`. The cog turns the dict into an embed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.labels import LABELS
from bot.moderation.policy import Outcome, Verdict, outcome
from bot.scoring import TextScore
from bot.store.cases import Case
from bot.textsafety import clip, neutralise

BAR = 10
TEXT_LIMIT = 1500
EVIDENCE_LIMIT = 300

COLOUR_OPEN = 0xE67E22
COLOUR_SHADOW = 0x95A5A6
COLOUR_DONE = 0x2ECC71
COLOUR_ACTED = 0xC0392B

# Past-tense words for the card once someone has decided.
DECISION_WORDS = {
    "approve": "Approved (false positive)",
    "remove": "Removed",
    "warn": "Warned",
    "timeout": "Timed out",
    "ban": "Banned",
    "auto-remove": "Removed automatically",
    "resolved-site": "Resolved on the site (edited under the flag level)",
    "removed-site": "Removed on the site",
}


def score_lines(scores: Mapping[str, float]) -> str:
    """A small bar list, known labels first, so moderators read it at a glance."""
    ordered = sorted(
        scores, key=lambda label: (LABELS.index(label) if label in LABELS else len(LABELS), label)
    )
    lines = []
    for label in ordered:
        value = scores[label]
        filled = round(value * BAR)
        lines.append(f"`{label:<16}` `{'█' * filled}{'·' * (BAR - filled)}` {value:.2f}")
    return "\n".join(lines)


def shown(text: str | None, limit: int, empty: str) -> str:
    """Stranger's text for an embed field: neutralised, clipped, and never blank (Discord refuses a
    whitespace-only field value, and a blank one tells the moderator nothing)."""
    return clip(neutralise(text or "").strip(), limit) or empty


@dataclass(frozen=True)
class FlagCard:
    """Everything a review card shows; `place` is a channel mention or an article title."""

    case_number: int
    text: str
    author: str
    place: str
    link: str | None
    scores: Mapping[str, float]
    verdict: Verdict
    evidence: str
    shadow: bool = False
    acted: str | None = (
        None  # what the bot did automatically, e.g. "Message deleted, member timed out 10 min"
    )
    channel_id: int | None = (
        None  # shown as a link to the channel in "Where" (the bot's own text, not neutralised)
    )
    guild_id: int = 0
    coverage: float = 1.0  # < 1: part of a huge text was not scored


def explanation(verdict: Verdict, evidence: str, text: str) -> str:
    """Which label, which threshold, and the sentence behind it: a card has to justify itself."""
    strongest = verdict.strongest
    if strongest is None:
        return "No threshold crossed."
    line = f"**{strongest.label}** scored {strongest.score:.2f}, threshold {strongest.threshold:.2f}"
    if evidence and evidence.strip() and evidence.strip() != text.strip():
        line += f"\nDriven by: “{clip(neutralise(evidence), EVIDENCE_LIMIT)}”"
    return line


def where(guild_id: int, channel_id: int | None, place: str) -> str:
    """A card's "Where": a link to the channel (or article thread), which Discord shows as the channel's name —
    never a raw `<#id>` mention, which the bot sends nowhere — then the place's name (an article title),
    neutralised since it comes from outside."""
    parts = [f"https://discord.com/channels/{guild_id}/{channel_id}"] if channel_id else []
    if place.strip():
        parts.append(clip(neutralise(place), 200))
    return " · ".join(parts) or "unknown"


def partial_note(coverage: float) -> str:
    """Said wherever a score of a partly scored text is shown: a low score there is no clean bill."""
    return f"Only {coverage:.0%} of this text was scored (it is very long); the rest may hold what the scores miss."


def judgement(verdict: Verdict, *, shadow: bool) -> str:
    """What this server's levels would do with a score, in one line (`/toxicity`, "Score message")."""
    result = outcome(verdict, shadow=shadow)
    if result is Outcome.ACT:
        return f"At this server's levels: **removed automatically** ({verdict.reason()})."
    if verdict.act:  # shadow mode
        return (
            f"At this server's levels: **flagged for review**; it crosses an act level ({verdict.reason()}) "
            "but shadow mode is on, so nothing would be done automatically."
        )
    if result is Outcome.FLAG:
        return f"At this server's levels: **flagged for review** ({verdict.reason()})."
    return "At this server's levels: no level crossed; it would not be flagged."


def score_report(score: TextScore, text: str, verdict: Verdict, *, shadow: bool) -> str:
    """Scores of a text on demand, with the evidence, partial coverage and the server's verdict."""
    lines = [f"**Top: {score.top_label} {score.top_score:.2f}**", score_lines(score.scores)]
    if score.evidence and score.evidence.strip() != text.strip():
        lines.append(f"Most of it comes from: “{clip(neutralise(score.evidence), EVIDENCE_LIMIT)}”")
    if score.partial:
        lines.append(partial_note(score.coverage))
    lines.append(judgement(verdict, shadow=shadow))
    return "\n".join(lines)


def flag_embed(card: FlagCard) -> dict:
    """The review card as an embed dict (`discord.Embed.from_dict`)."""
    title = f"Flag #{card.case_number}"
    if card.shadow:
        title += " · shadow mode (no automatic action)"
    body = shown(card.text, TEXT_LIMIT, "*(no text)*")
    fields = [
        {"name": "Author", "value": shown(card.author, 256, "unknown"), "inline": True},
        {"name": "Where", "value": where(card.guild_id, card.channel_id, card.place), "inline": True},
    ]
    if card.link:
        fields.append({"name": "Link", "value": f"[Jump to it]({card.link})", "inline": True})
    fields.append(
        {"name": "Why", "value": explanation(card.verdict, card.evidence, card.text), "inline": False}
    )
    fields.append({"name": "Crossed", "value": card.verdict.reason() or "none", "inline": False})
    fields.append({"name": "Scores", "value": score_lines(card.scores) or "none", "inline": False})
    if card.coverage < 1.0:
        fields.append({"name": "Partly scored", "value": partial_note(card.coverage), "inline": False})
    if card.acted:
        fields.append({"name": "Automatic action", "value": card.acted, "inline": False})
    colour = COLOUR_SHADOW if card.shadow else (COLOUR_ACTED if card.acted else COLOUR_OPEN)
    return {
        "title": title,
        "description": body,
        "color": colour,
        "fields": fields,
        "footer": {"text": f"case #{card.case_number}"},
    }


def site_edit_embed(
    embed: dict, old_text: str, new_text: str, scores: Mapping[str, float], verdict: Verdict
) -> dict:
    """The card of a comment its site edited: the new text and scores, the text it was flagged for kept below."""
    edited = dict(embed)
    edited["description"] = clip(neutralise(new_text), TEXT_LIMIT) or "*(no text)*"
    fields = [
        f
        for f in edited.get("fields", [])
        if f.get("name") not in ("Scores", "Crossed", "Edited on the site")
    ]
    now = f"Crossed now: {verdict.reason()}" if verdict.flag else "Now under every flag level."
    fields.append(
        {
            "name": "Edited on the site",
            "value": f"Before: “{clip(neutralise(old_text), EVIDENCE_LIMIT)}”\n{now}",
            "inline": False,
        }
    )
    fields.append({"name": "Scores", "value": score_lines(scores) or "none", "inline": False})
    edited["fields"] = fields
    return edited


def decided_embed(
    embed: Mapping[str, Any], decision: str, moderator: str, when: datetime, case_number: int | None
) -> dict[str, Any]:
    """The same card with who decided what and when, so a glance at the channel shows the queue's state."""
    done = dict(embed)
    fields = [f for f in done.get("fields", []) if f.get("name") != "Decision"]
    word = DECISION_WORDS.get(decision, decision)
    value = f"{word} by {clip(neutralise(moderator), 100)} <t:{int(when.timestamp())}:f>"
    if case_number is not None:
        value += f" (case #{case_number})"
    fields.append({"name": "Decision", "value": value, "inline": False})
    done["fields"] = fields
    done["color"] = COLOUR_DONE if decision == "approve" else COLOUR_ACTED
    return done


def timestamp(iso: str) -> str:
    """A Discord timestamp tag, which every reader sees in their own time zone."""
    return f"<t:{int(datetime.fromisoformat(iso.replace('Z', '+00:00')).timestamp())}:f>"


def case_line(case: Case) -> str:
    """One line per case for lists (/modlog, /history, /flags)."""
    who = clip(neutralise(case.target_name or case.target_id), 60)
    line = f"**#{case.case_number}** `{case.action}` {who} · by {clip(neutralise(case.moderator_name), 40)}"
    if case.shadow:
        line += " · shadow"
    if case.label and case.score is not None and case.action == "flag":
        line += f" · {case.label} {case.score:.2f}"
    if case.points:
        line += f" · {case.points} pt"
    if case.ref_case:
        line += f" · re #{case.ref_case}"
    if case.reason:
        line += f"\n> {clip(neutralise(case.reason), 150)}"
    return f"{line}\n{timestamp(case.created_at)}" + (f" · [link]({case.link})" if case.link else "")


def case_embed(case: Case, amendments: list[Case]) -> dict:
    """`/case show`: everything logged, with later corrections listed under it."""
    fields = [
        {"name": "Action", "value": case.action + (" (shadow)" if case.shadow else ""), "inline": True},
        {
            "name": "Target",
            "value": shown(case.target_name or case.target_id, 200, "unknown"),
            "inline": True,
        },
        {"name": "By", "value": shown(case.moderator_name, 100, "unknown"), "inline": True},
        {"name": "When", "value": timestamp(case.created_at), "inline": True},
    ]
    if case.reason:
        fields.append({"name": "Reason", "value": shown(case.reason, 1000, "(blank)"), "inline": False})
    if case.duration_seconds:
        fields.append({"name": "Duration", "value": f"{case.duration_seconds // 60} min", "inline": True})
    if case.points:
        fields.append(
            {
                "name": "Points",
                "value": f"{case.points} (expire {case.expires_at or 'never'})",
                "inline": True,
            }
        )
    if case.ref_case:
        fields.append({"name": "Refers to", "value": f"case #{case.ref_case}", "inline": True})
    if case.link:
        fields.append({"name": "Link", "value": f"[Jump to it]({case.link})", "inline": True})
    if case.evidence:
        fields.append(
            {"name": "Evidence", "value": shown(case.evidence, EVIDENCE_LIMIT, "(blank)"), "inline": False}
        )
    if case.scores:
        fields.append({"name": "Scores", "value": score_lines(case.scores), "inline": False})
    if amendments:
        fields.append(
            {
                "name": "Corrections",
                "value": "\n".join(case_line(a) for a in amendments)[:1024],
                "inline": False,
            }
        )
    return {"title": f"Case #{case.case_number}", "fields": fields, "color": COLOUR_OPEN}
