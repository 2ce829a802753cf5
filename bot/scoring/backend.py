"""Load Detoxify once per process and run it on batches of texts.

Why a backend layer: the engine only needs "labels, token limit, token spans, predict a batch", so a
faster path (length-sorted batches, int8 dynamic quantisation, ONNX Runtime) can be added later as another
`ScoringBackend` without touching the batching and chunking logic.

A loaded model is cached per process keyed by everything that decides what gets loaded: reloading a
500 MB model for a second `Scorer` (a CLI scan inside the bot, tests) would double the memory for nothing.
Calls into one backend are serialised by a lock: Hugging Face fast tokenizers are not safe to share
between threads (concurrent calls fail with "Already borrowed"), and torch runs its own intra-op threads
anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bot.errors import WardenError
from bot.scoring.bucketing import DEFAULT_CALL_COST, length_buckets

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

# RoBERTa-family models number positions from padding_idx + 1, so their last two position slots are
# unusable and the usable length is max_position_embeddings - 2.
_OFFSET_POSITION_MODELS = {"roberta", "xlm-roberta", "camembert"}
_REASON_CHARS = 200


class ScoringError(WardenError, RuntimeError):
    """Scoring is impossible or failed; the message is one line a moderator can act on."""


class ScoringBackend(Protocol):
    labels: tuple[str, ...]
    max_tokens: int  # tokens per text the model reads, special tokens excluded

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Char span of every token of `text` (special tokens excluded), in order."""
        ...

    def predict_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """One `{label: probability}` per text, in order."""
        ...


class DetoxifyBackend:
    """Detoxify's model and tokenizer, run directly so we control truncation, batching and threads."""

    # Per-call overhead for length bucketing (see bucketing.py); infinity pads a batch to its longest.
    call_cost: float = DEFAULT_CALL_COST

    def __init__(self, model: Any, tokenizer: Any, labels: Sequence[str], device: str) -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise ScoringError(
                f"the model's tokenizer ({type(tokenizer).__name__}) is not a fast tokenizer: "
                "install transformers 5.x"
            )
        self.labels = tuple(labels)
        self._model = model.eval()
        self._tokenizer = tokenizer
        self._device = device
        self._lock = threading.Lock()
        self.max_length = _token_limit(tokenizer, model.config)
        self.max_tokens = self.max_length - tokenizer.num_special_tokens_to_add(pair=False)
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        with self._lock:
            # verbose=False: measuring a text longer than the model's limit is the point here.
            encoded = self._tokenizer(
                text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
            )
        return [tuple(span) for span in encoded["offset_mapping"]]

    def predict_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        import torch

        if not texts:
            return []
        rows: list[list[float]] = [[] for _ in texts]
        with self._lock, torch.inference_mode():
            # Tokenised once, unpadded; each length bucket is then padded only to its own longest text.
            encoded = self._tokenizer(
                list(texts), truncation=True, max_length=self.max_length, return_attention_mask=False
            )["input_ids"]
            for group in length_buckets([len(ids) for ids in encoded], self.call_cost):
                input_ids, attention_mask = _padded([encoded[i] for i in group], self._pad_id)
                # The real `unbiased` checkpoint has 16 outputs but names 7: the rest are identity
                # mentions used in training, and Detoxify itself reports only the named ones.
                logits = self._forward(input_ids, attention_mask)[:, : len(self.labels)]
                for i, row in zip(group, torch.sigmoid(logits.float()).tolist(), strict=True):
                    rows[i] = row
        return [dict(zip(self.labels, row, strict=True)) for row in rows]

    def _forward(self, input_ids: Any, attention_mask: Any) -> Any:
        """Logits (a CPU tensor) for one padded batch; the ONNX Runtime backend overrides this."""
        inputs = {"input_ids": input_ids.to(self._device), "attention_mask": attention_mask.to(self._device)}
        return self._model(**inputs).logits.cpu()


def _padded(encoded: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    """Right-padded `input_ids` and `attention_mask` tensors for one bucket."""
    import torch

    longest = max(len(ids) for ids in encoded)
    input_ids = torch.full((len(encoded), longest), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(encoded), longest), dtype=torch.long)
    for row, ids in enumerate(encoded):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask


def _token_limit(tokenizer: Any, config: Any) -> int:
    limit = int(tokenizer.model_max_length)
    positions = getattr(config, "max_position_embeddings", None)
    if positions:
        usable = positions - 2 if getattr(config, "model_type", "") in _OFFSET_POSITION_MODELS else positions
        limit = min(limit, usable)
    return limit


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
        from bot.scoring.onnx_backend import onnx_available

        # ONNX Runtime is the faster CPU path (benchmarks/README.md); on a GPU, PyTorch is the one to use.
        kind = "onnx" if settings.device == "cpu" and onnx_available() else "torch"
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
        from bot.scoring.onnx_backend import OnnxBackend

        try:
            return OnnxBackend(detox.model, detox.tokenizer, detox.class_names, threads=threads)
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
