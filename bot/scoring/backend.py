"""Run Detoxify's model and tokenizer directly on batches of texts (the PyTorch backend).

Why a backend layer: the engine only needs "labels, token limit, token spans, predict a batch"
(`protocol.ScoringBackend`), so a faster path (length-sorted batches, ONNX Runtime) or another model
(`lite.py`) is another backend, without touching the batching and chunking logic. Which backend a
process gets is decided in `loader.py`.

Calls into one backend are serialised by a lock: Hugging Face fast tokenizers are not safe to share
between threads (concurrent calls fail with "Already borrowed"), and torch runs its own intra-op threads
anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from bot.scoring.bucketing import DEFAULT_CALL_COST, length_buckets
from bot.scoring.chunking import DEFAULT_MAX_CHUNKS
from bot.scoring.protocol import ScoringError

log = logging.getLogger(__name__)

# RoBERTa-family models number positions from padding_idx + 1, so their last two position slots are
# unusable and the usable length is max_position_embeddings - 2.
_OFFSET_POSITION_MODELS = {"roberta", "xlm-roberta", "camembert"}


class DetoxifyBackend:
    """Detoxify's model and tokenizer, run directly so we control truncation, batching and threads."""

    # Per-call overhead for length bucketing (see bucketing.py); infinity pads a batch to its longest.
    call_cost: float = DEFAULT_CALL_COST
    max_chunks: int = DEFAULT_MAX_CHUNKS

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        labels: Sequence[str],
        device: str,
        *,
        model_name: str = "detoxify",
        config: Any = None,
    ) -> None:
        """`config` (the model's Hugging Face config) stands in for `model.config` when `model` is None:
        a subclass that runs the forward pass elsewhere (ONNX Runtime) keeps no PyTorch model."""
        if not getattr(tokenizer, "is_fast", False):
            raise ScoringError(
                f"the model's tokenizer ({type(tokenizer).__name__}) is not a fast tokenizer: "
                "install transformers 5.x"
            )
        self.labels = tuple(labels)
        self.model_name = model_name
        self._model = model.eval() if model is not None else None
        self._tokenizer = tokenizer
        self._device = device
        self._lock = threading.Lock()
        self.max_length = _token_limit(tokenizer, config if config is not None else model.config)
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
