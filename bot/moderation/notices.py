"""What a member is told by DM when a moderator (or the bot) warns, times out, kicks or bans them.

A guild may word it itself (`/config dm template:`): the template names the placeholders below, and a
template that names an unknown one, or is malformed, is refused when it is set, in one line, so a DM can
never fail to render later. The text is plain: it is sent with no allowed mentions.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from bot.moderation import actions
from bot.moderation.durations import describe
from bot.textsafety import neutralise

DEFAULT_TEMPLATE = "You were {action} in {server}. Reason: {reason}"
DEFAULT_APPEAL = "If you think this was a mistake, reply to a moderator of the server."
TEMPLATE_LIMIT = 500
DM_LIMIT = 2000
PLACEHOLDERS = ("action", "server", "reason", "duration", "points", "case")

_WORDS = {
    actions.WARN: "warned",
    actions.TIMEOUT: "timed out",
    actions.KICK: "kicked",
    actions.BAN: "banned",
}


class TemplateError(ValueError):
    """A DM template the guild tried to set cannot be used; the message says why in one line."""


@dataclass(frozen=True)
class Notice:
    """The facts of one case a member is told about."""

    action: str
    server: str
    reason: str | None
    case_number: int
    duration_seconds: int | None = None
    points: int | None = None


def check_template(template: str) -> str:
    """The template, stripped, if it can be rendered; else TemplateError naming the problem."""
    text = template.strip()
    if not text:
        raise TemplateError("The template is empty.")
    if len(text) > TEMPLATE_LIMIT:
        raise TemplateError(f"The template is {len(text)} characters; keep it under {TEMPLATE_LIMIT}.")
    try:
        fields = [
            (name, spec, conv) for _, name, spec, conv in string.Formatter().parse(text) if name is not None
        ]
    except ValueError as exc:
        raise TemplateError(f"The template is malformed ({exc}); write braces as {{{{ and }}}}.") from None
    if any(spec or conv for _, spec, conv in fields):
        raise TemplateError(
            "Placeholders take no format or conversion: write {reason}, not {reason!r} or {reason:>9}."
        )
    unknown = sorted({n for n, _, _ in fields if n not in PLACEHOLDERS})
    if unknown:
        raise TemplateError(
            f"Unknown placeholder {{{unknown[0]}}}; use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}."
        )
    return text


def render_notice(notice: Notice, template: str | None = None, appeal: str | None = None) -> str:
    """The DM's text: the guild's template (or the default) filled in, then the appeal line."""
    action = _WORDS.get(notice.action, notice.action)
    if notice.action == actions.TIMEOUT and notice.duration_seconds:
        action += f" for {describe(notice.duration_seconds)}"
    values = {
        "action": action,
        "server": notice.server,
        "reason": notice.reason or "no reason given",
        "duration": describe(notice.duration_seconds) if notice.duration_seconds else "",
        "points": str(notice.points or ""),
        "case": f"#{notice.case_number}",
    }
    try:
        body = (template or DEFAULT_TEMPLATE).format_map(values)
    except (KeyError, ValueError, IndexError):
        body = DEFAULT_TEMPLATE.format_map(values)  # a template stored before it was checked
    if notice.action == actions.WARN and notice.points and "{points}" not in (template or ""):
        body += f" ({notice.points} point{'s' if notice.points != 1 else ''})"
    text = f"{body}\n{appeal or DEFAULT_APPEAL}"
    return neutralise(text)[:DM_LIMIT]
