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

# Decisions a review card's buttons can make; "auto-remove" marks a card the bot settled itself.
CARD_DECISIONS = (APPROVE, REMOVE, WARN, TIMEOUT, BAN)
AUTO_DECISION = "auto-remove"

# Cases that did something to a member or a comment: /stats counts these as "actioned".
ENFORCEMENT = (REMOVE, WARN, TIMEOUT, BAN, KICK, AUTOMOD)

ALL = (FLAG, APPROVE, REMOVE, WARN, TIMEOUT, UNTIMEOUT, BAN, UNBAN, KICK, AUTOMOD, REASON)
