"""Jittered exponential backoff, shared by source polling and retried database writes.

Jitter matters more than the curve: many sources failing together (a site down) or many writers meeting
one locked database must not all come back in the same instant.
"""

from __future__ import annotations

import random

MAX_BACKOFF = 6 * 3600.0


def backoff_delay(interval: float, failures: int, max_backoff: float = MAX_BACKOFF) -> float:
    """Seconds until the next try after `failures` failures in a row (0 = healthy).

    Jittered so many sources failing together (a site down) do not all come back in the same second.
    """
    if failures <= 0:
        return interval
    ceiling = min(max_backoff, interval * 2 ** min(failures, 20))
    return random.uniform(ceiling / 2, ceiling)
