"""What every scoring backend offers the engine, and the one error scoring raises.

Why a module of its own: the backends (`backend.py`, `onnx_backend.py`, `lite.py`), the loader that picks
one and the engine all need these two names; kept here, none of them has to import another to get them,
so there is no import cycle between the backends and the loader.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.errors import WardenError


class ScoringError(WardenError, RuntimeError):
    """Scoring is impossible or failed; the message is one line a moderator can act on."""


class ScoringBackend(Protocol):
    """A loaded model: the engine only needs labels, a token limit, token spans and batch predictions."""

    model_name: str  # shown with every report, so a lite or demo score is never taken for Detoxify's
    labels: tuple[str, ...]
    max_tokens: int  # tokens per text the model reads, special tokens excluded
    max_chunks: int  # the work cap: most chunks of one text scored (a cheap model affords more)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Char span of every token of `text` (special tokens excluded), in order."""
        ...

    def predict_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """One `{label: probability}` per text, in order."""
        ...
