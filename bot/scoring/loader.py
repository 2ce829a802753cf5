"""Pick and load the process's scoring backend from the settings (slow: call it off the event loop).

Which model (`DETOXIFY_MODEL`, default `auto`):
- `DETOXIFY_CHECKPOINT` set: that Detoxify checkpoint, whatever `DETOXIFY_MODEL` says.
- `auto`: Detoxify's `unbiased` model when its release weights are already in torch's hub cache (a
  machine that downloaded them once); otherwise the lite model (`lite.py`, `alt-profanity-check`, a core
  dependency), with one log line saying so. `auto` never downloads.
- `unbiased`, `original`, `multilingual`, `*-small`: that Detoxify model, downloaded once if absent.
- `lite`: the lite model. (`demo` is turned into a checkpoint by `bot/model.py` before this runs.)

Every checkpoint is read as data (`checkpoint.py`) before any library sees it. On the CPU a Detoxify
model runs on ONNX Runtime, exported once and cached by content (`onnx_cache.py`).

A loaded model is cached per process keyed by everything that decides what gets loaded: reloading a
500 MB model for a second `Scorer` (a CLI scan inside the bot, tests) would double the memory for nothing.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import bot.scoring.onnx_backend as onnx_backend
import bot.scoring.onnx_cache as onnx_cache
from bot.scoring.backend import DetoxifyBackend
from bot.scoring.checkpoint import fetch_release_weights, load_model, release_weights
from bot.scoring.lite import LiteBackend
from bot.scoring.protocol import ScoringBackend, ScoringError

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

AUTO, LITE = "auto", "lite"
# What `auto` looks for in the hub cache: the default Detoxify model.
AUTO_DETOXIFY = "unbiased"


@dataclass(frozen=True)
class ModelChoice:
    """The model the settings resolve to: Detoxify weights at `checkpoint`, or (None) the lite model."""

    name: str
    checkpoint: Path | None = None
    source: str = ""  # names `checkpoint` in errors: `DETOXIFY_CHECKPOINT=<path>` or the release model

    @property
    def lite(self) -> bool:
        return self.checkpoint is None


_cache: dict[tuple[object, ...], ScoringBackend] = {}
_cache_lock = threading.Lock()


def load_backend(settings: Settings) -> ScoringBackend:
    """The process-wide backend for these settings, loading it on first use (slow: call off the loop).

    Reads `model_type`, `checkpoint`, `hf_config_dir`, `device`, `torch_threads`, `scoring_backend` and
    `model_cache_dir` from `settings`. Raises `ScoringError` with one line naming the setting to fix;
    never lets a loader traceback out.
    """
    checkpoint = _existing(settings.checkpoint, "DETOXIFY_CHECKPOINT", want_dir=False)
    config_dir = _existing(settings.hf_config_dir, "DETOXIFY_CONFIG_DIR", want_dir=True)
    kind = settings.scoring_backend
    if kind == "onnx" and settings.device != "cpu":
        raise ScoringError(f"SCORING_BACKEND=onnx runs on the CPU only; DETOXIFY_DEVICE is {settings.device}")
    if kind == "auto":
        # ONNX Runtime is the faster CPU path (benchmarks/README.md); on a GPU, PyTorch is the one to use.
        kind = "onnx" if settings.device == "cpu" and onnx_backend.onnx_available() else "torch"
    threads = _threads(settings.torch_threads)
    key = (settings.model_type, checkpoint, config_dir, settings.device, settings.scoring_backend, threads)
    with _cache_lock:
        if key not in _cache:
            choice = choose_model(settings.model_type, Path(checkpoint) if checkpoint else None)
            log.info("loading the scoring model: %s", choice.name)
            if choice.checkpoint is None:
                _cache[key] = LiteBackend()
            else:
                _cache[key] = _load_detoxify(choice.checkpoint, choice, settings, config_dir, kind, threads)
        return _cache[key]


def choose_model(model_type: str, checkpoint: Path | None) -> ModelChoice:
    """Apply the rule in the module docstring; downloads Detoxify's weights only when named explicitly."""
    if checkpoint is not None:
        return ModelChoice(
            f"Detoxify checkpoint {checkpoint.name}", checkpoint, f"DETOXIFY_CHECKPOINT={checkpoint}"
        )
    if model_type == LITE:
        return ModelChoice(LiteBackend.model_name)
    if model_type == AUTO:
        weights = release_weights(AUTO_DETOXIFY)
        if weights.is_file():
            return _release(AUTO_DETOXIFY, weights)
        log.warning(
            "no Detoxify weights here (DETOXIFY_CHECKPOINT unset, none in %s): scoring with the lite model "
            "%s (one label); set DETOXIFY_MODEL=%s to download Detoxify's",
            weights.parent,
            LiteBackend.model_name,
            AUTO_DETOXIFY,
        )
        return ModelChoice(LiteBackend.model_name)
    return _release(model_type, fetch_release_weights(model_type))


def _release(model_type: str, weights: Path) -> ModelChoice:
    return ModelChoice(f"detoxify-{model_type}", weights, f"the '{model_type}' Detoxify model ({weights})")


def _load_detoxify(
    checkpoint: Path,
    choice: ModelChoice,
    settings: Settings,
    config_dir: str | None,
    kind: str,
    threads: int | None,
) -> ScoringBackend:
    if kind == "onnx":
        try:
            return onnx_cache.load_onnx(
                checkpoint, choice.source, config_dir, settings.model_cache_dir, threads, choice.name
            )
        except onnx_backend.OnnxExportError as exc:
            if settings.scoring_backend != "auto":
                raise
            log.warning("%s; scoring with PyTorch instead", exc)
    if threads:
        import torch

        torch.set_num_threads(threads)
    loaded = load_model(checkpoint, choice.source, config_dir, settings.device)
    return DetoxifyBackend(
        loaded.model, loaded.tokenizer, loaded.labels, settings.device, model_name=choice.name
    )


def _threads(requested: int | None) -> int | None:
    """At most one thread per CPU: torch crashes (SIGSEGV) on absurd counts such as 100,000."""
    if not requested:
        return None
    cores = os.cpu_count() or 1
    if requested > cores:
        log.warning("TORCH_THREADS=%d is more than the %d CPUs here; using %d", requested, cores, cores)
        return cores
    return requested


def _existing(path: Path | None, key: str, *, want_dir: bool) -> str | None:
    if path is None:
        return None
    path = Path(path).expanduser()
    if want_dir and not path.is_dir():
        raise ScoringError(
            f"{key}={path} is not a directory (it should hold config.json and the tokenizer files)"
        )
    if not want_dir and not path.is_file():
        raise ScoringError(f"{key}={path} does not exist or is not a file")
    return str(path.resolve())
