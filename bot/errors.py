"""The family of commentwarden's own errors.

Every domain error (a source that cannot be read, a refused URL, a database problem, Discord refusing a
post, a setting, a duration, the scoring model, …) derives from `WardenError`, whose message is one short
line that is safe to show a moderator as it is: no traceback, no credentials, no response bodies. So the
command tree's error handler can show any of them verbatim instead of "Something went wrong", and a new
error joins the family by subclassing, not by a new `except` branch.
"""

from __future__ import annotations


class WardenError(Exception):
    """One line a moderator can read and act on; `reason` is that line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def for_moderator(self) -> str:
        """The line shown to a moderator; a family member may name its area first (e.g. the database)."""
        return self.reason
