"""Pick and load the process's scoring backend from the settings (slow: call it off the event loop).

A loaded model is cached per process keyed by everything that decides what gets loaded: reloading a
500 MB model for a second `Scorer` (a CLI scan inside the bot, tests) would double the memory for nothing.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from bot.scoring import onnx_backend
from bot.scoring.backend import DetoxifyBackend
from bot.scoring.protocol import ScoringError

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

_REASON_CHARS = 200

_cache: dict[tuple[str, str | None, str | None, str, str], DetoxifyBackend] = {}
_cache_lock = threading.Lock()


def load_backend(settings: Settings) -> DetoxifyBackend:
    """The process-wide backend for these settings, loading it on first use (slow: call off the loop).

    Reads `model_type`, `checkpoint`, `hf_config_dir`, `device`, `torch_threads` and `scoring_backend`
    from `settings`. Raises `ScoringError` with one line naming the setting to fix; never lets a loader
    traceback out.
    """
    checkpoint = _existing(settings.checkpoint, "DETOXIFY_CHECKPOINT", want_dir=False)
    config_dir = _existing(settings.hf_config_dir, "DETOXIFY_CONFIG_DIR", want_dir=True)
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    kind = settings.scoring_backend
    if kind == "onnx" and settings.device != "cpu":
        raise ScoringError(f"SCORING_BACKEND=onnx runs on the CPU only; DETOXIFY_DEVICE is {settings.device}")
    if kind == "auto":
        # ONNX Runtime is the faster CPU path (benchmarks/README.md); on a GPU, PyTorch is the one to use.
        kind = "onnx" if settings.device == "cpu" and onnx_backend.onnx_available() else "torch"
    key = (settings.model_type, checkpoint, config_dir, settings.device, settings.scoring_backend)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _load(
                settings.model_type,
                checkpoint,
                config_dir,
                settings.device,
                kind,
                settings.torch_threads,
                fallback=settings.scoring_backend == "auto",
            )
        return _cache[key]


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


def _load(
    model_type: str,
    checkpoint: str | None,
    config_dir: str | None,
    device: str,
    kind: str,
    threads: int | None,
    *,
    fallback: bool,
) -> DetoxifyBackend:
    from detoxify import Detoxify
    from transformers.utils import logging as hf_logging

    # Weight-loading progress bars are noise in a bot's log and a CLI's output.
    hf_logging.disable_progress_bar()
    source = f"DETOXIFY_CHECKPOINT={checkpoint}" if checkpoint else f"the '{model_type}' Detoxify model"
    log.info("loading %s on %s", source, device)
    try:
        detox = Detoxify(model_type, checkpoint=checkpoint, device=device, huggingface_config_path=config_dir)
    except Exception as exc:  # the loaders raise anything from OSError to KeyError to pickle errors
        raise ScoringError(_load_failure(model_type, checkpoint, config_dir, device, exc)) from exc
    if kind == "onnx":
        try:
            return onnx_backend.OnnxBackend(detox.model, detox.tokenizer, detox.class_names, threads=threads)
        except ScoringError as exc:
            if not fallback:
                raise
            log.warning("%s; scoring with PyTorch instead", exc)
    return DetoxifyBackend(detox.model, detox.tokenizer, detox.class_names, device)


def _load_failure(
    model_type: str, checkpoint: str | None, config_dir: str | None, device: str, exc: Exception
) -> str:
    reason = " ".join(str(exc).split())[:_REASON_CHARS] or type(exc).__name__
    if checkpoint is None:
        return (
            f"could not load the '{model_type}' Detoxify model ({reason}); without network access, set "
            "DETOXIFY_CHECKPOINT (and DETOXIFY_CONFIG_DIR) to local files"
        )
    hint = (
        "" if config_dir else "; if it names a Hugging Face model, set DETOXIFY_CONFIG_DIR to its local files"
    )
    return f"could not load DETOXIFY_CHECKPOINT={checkpoint} on device {device} ({reason}){hint}"
