"""The vocabulary of the case log: one word per kind of case, shared by writers and queries.

Actions by the bot and by moderators use the same words; `moderator_name == "auto"` tells them apart.
"""

from __future__ import annotations

FLAG = "flag"  # crossed a flag level: sent to review
APPROVE = "approve"  # a moderator judged a flag a false positive
REMOVE = "remove"  # message deleted (or mirrored comment removed / held on the site)
WARN = "warn"
TIMEOUT = "timeout"
UNTIMEOUT = "untimeout"
BAN = "ban"
UNBAN = "unban"
KICK = "kick"
AUTOMOD = "automod"  # an execution of Discord's own AutoMod
REASON = "reason"  # a correction of an earlier case's reason (`/case reason`)
UNWARN = "unwarn"  # a warning withdrawn (`/unwarn`): its points stop counting; `ref_case` names it
DM_FAILED = "dm-failed"  # the member could not be told by DM about the case `ref_case` names
HOLD = "hold"  # pre-moderation withheld a mirrored comment at an act level until a moderator decides
SITE_EDIT = (
    "site-edit"  # a flagged comment was edited on its site: its new text and scores; `ref_case` the flag
)
SITE_REMOVE = "site-remove"  # a flagged comment was removed on its site; its card closes
# Shadow mode: what an automatic action would have been, logged as such and never as done.
WOULD_REMOVE = "would-remove"
WOULD_TIMEOUT = "would-timeout"
WOULD_KICK = "would-kick"
WOULD_BAN = "would-ban"

# Decisions a review card's buttons can make; "auto-remove" marks a card the bot settled itself.
CARD_DECISIONS = (APPROVE, REMOVE, WARN, TIMEOUT, BAN)
AUTO_DECISION = "auto-remove"
RESOLVED_ON_SITE = "resolved-site"  # the site edited the comment under the flag level
REMOVED_ON_SITE = "removed-site"  # the site removed the comment

# Cases that did something to a member or a comment: /stats counts these as "actioned".
ENFORCEMENT = (REMOVE, WARN, TIMEOUT, BAN, KICK, AUTOMOD)

ALL = (
    FLAG,
    APPROVE,
    REMOVE,
    WARN,
    UNWARN,
    TIMEOUT,
    UNTIMEOUT,
    BAN,
    UNBAN,
    KICK,
    AUTOMOD,
    REASON,
    DM_FAILED,
    HOLD,
    SITE_EDIT,
    SITE_REMOVE,
    WOULD_REMOVE,
    WOULD_TIMEOUT,
    WOULD_KICK,
    WOULD_BAN,
)


def would(action: str) -> str:
    """The shadow-mode word for an automatic action that was not carried out."""
    return f"would-{action}"
