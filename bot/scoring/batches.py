"""Score a long list of texts in slices, reporting progress after each.

Why here and not in a job: both the CLI scan and the mirror engine score whole threads, and both want
the same slicing (the engine micro-batches within each call; the slices keep a progress bar moving and
bound how much one call holds).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.scoring.engine import Scorer, TextScore

SCORE_BATCH = 64

Progress = Callable[[int, int], None]


async def score_in_batches(
    scorer: Scorer, texts: Sequence[str], progress: Progress | None = None
) -> list[TextScore]:
    """Scores in input order; `progress(done, total)` after each slice of `SCORE_BATCH` texts."""
    results: list[TextScore] = []
    for start in range(0, len(texts), SCORE_BATCH):
        results.extend(await scorer.score(texts[start : start + SCORE_BATCH]))
        if progress:
            progress(len(results), len(texts))
    return results
