"""Toxicity scoring: Detoxify behind an async micro-batching engine (see engine.py for why)."""

from bot.scoring.engine import Scorer, TextScore, load_scorer
from bot.scoring.protocol import ScoringError

__all__ = ["Scorer", "ScoringError", "TextScore", "load_scorer"]
