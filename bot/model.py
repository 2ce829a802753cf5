"""Turn `DETOXIFY_MODEL=demo` into checkpoint files, then open the scorer (the loader picks the rest).

`DETOXIFY_MODEL=demo` exists for the tests and demos of the plumbing: it builds a tiny hand-wired model
that knows a handful of words, loads it through the real (weights-only) Detoxify path, and says loudly
that its scores are not real. A machine with no network and no Detoxify weights gets the lite model
instead (`bot/scoring/loader.py`), which is real.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from bot.config import Settings
from bot.scoring import Scorer, load_scorer
from bot.scoring.demo_checkpoint import ensure_demo_checkpoint

log = logging.getLogger(__name__)

DEMO = "demo"


async def resolve_model(settings: Settings) -> Settings:
    """Point the settings at real files when the demo model is asked for (built off the event loop)."""
    if settings.model_type != DEMO or settings.checkpoint is not None:
        return settings
    demo = await asyncio.to_thread(ensure_demo_checkpoint, settings.demo_model_dir)
    log.warning("DETOXIFY_MODEL=demo: scores come from a toy model and are NOT real toxicity")
    return replace(settings, checkpoint=demo.checkpoint, hf_config_dir=demo.config_dir)


async def open_scorer(settings: Settings) -> Scorer:
    return await load_scorer(await resolve_model(settings))
