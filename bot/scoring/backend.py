"""Run Detoxify's model and tokenizer directly on batches of texts (the PyTorch backend).

Why a backend layer: the engine only needs "labels, token limit, token spans, predict a batch"
(`protocol.ScoringBackend`), so a faster path (length-sorted batches, ONNX Runtime) or another model
(`lite.py`) is another backend, without touching the batching and chunking logic. Which backend a
process gets is decided in `loader.py`.

Tokenising goes straight to the `tokenizers` library (`Encoder`, the engine inside every Hugging Face
fast tokenizer) and batches are padded with numpy, so the ONNX Runtime path can start from a cache
without importing torch or transformers (seconds each); only the PyTorch forward pass needs torch.

Calls into one backend are serialised by a lock: a tokenizer's truncation setting is state (concurrent
calls fail with "Already borrowed"), and torch runs its own intra-op threads anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot.scoring.bucketing import DEFAULT_CALL_COST, length_buckets
from bot.scoring.chunking import DEFAULT_MAX_CHUNKS
from bot.scoring.protocol import ScoringError

log = logging.getLogger(__name__)

# RoBERTa-family models number positions from padding_idx + 1, so their last two position slots are
# unusable and the usable length is max_position_embeddings - 2.
_OFFSET_POSITION_MODELS = {"roberta", "xlm-roberta", "camembert"}


@dataclass(frozen=True)
class Encoder:
    """A model's tokenizer reduced to what scoring needs: ids for a batch, char spans for chunking.

    `tokenizer` is a `tokenizers.Tokenizer`; `max_length` counts special tokens, `special_tokens` is how
    many a single text gets ([CLS] and [SEP]: 2).
    """

    tokenizer: Any
    pad_id: int
    special_tokens: int
    max_length: int

    @classmethod
    def from_hf(cls, tokenizer: Any, config: Any) -> Encoder:
        """From a Hugging Face fast tokenizer and the model's config (which caps the usable length)."""
        if not getattr(tokenizer, "is_fast", False):
            raise ScoringError(
                f"the model's tokenizer ({type(tokenizer).__name__}) is not a fast tokenizer: "
                "install transformers 5.x"
            )
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        special = tokenizer.num_special_tokens_to_add(pair=False)
        return cls(tokenizer.backend_tokenizer, pad_id, special, _token_limit(tokenizer, config))

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Char span of every token of `text`, special tokens excluded, never truncated."""
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        return [tuple(span) for span in self.tokenizer.encode(text, add_special_tokens=False).offsets]

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, special tokens included, cut at `max_length`, unpadded."""
        self.tokenizer.enable_truncation(self.max_length)
        self.tokenizer.no_padding()
        return [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]


class DetoxifyBackend:
    """Detoxify's model and tokenizer, run directly so we control truncation, batching and threads."""

    # Per-call overhead for length bucketing (see bucketing.py); infinity pads a batch to its longest.
    call_cost: float = DEFAULT_CALL_COST
    max_chunks: int = DEFAULT_MAX_CHUNKS

    def __init__(
        self, model: Any, tokenizer: Any, labels: Sequence[str], device: str, *, model_name: str = "detoxify"
    ) -> None:
        self._setup(Encoder.from_hf(tokenizer, model.config), labels, model_name)
        self._model = model.eval()
        self._device = device

    def _setup(self, encoder: Encoder, labels: Sequence[str], model_name: str) -> None:
        """What every subclass shares, whatever runs its forward pass."""
        self.labels = tuple(labels)
        self.model_name = model_name
        self._encoder = encoder
        self._lock = threading.Lock()
        self.max_length = encoder.max_length
        self.max_tokens = encoder.max_length - encoder.special_tokens

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        with self._lock:
            return self._encoder.spans(text)

    def predict_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not texts:
            return []
        rows: list[list[float]] = [[] for _ in texts]
        with self._lock:
            # Tokenised once, unpadded; each length bucket is then padded only to its own longest text.
            encoded = self._encoder.ids(texts)
            for group in length_buckets([len(ids) for ids in encoded], self.call_cost):
                input_ids, attention_mask = _padded([encoded[i] for i in group], self._encoder.pad_id)
                # The real `unbiased` checkpoint has 16 outputs but names 7: the rest are identity
                # mentions used in training, and Detoxify itself reports only the named ones.
                logits = self._forward(input_ids, attention_mask)[:, : len(self.labels)].astype(np.float32)
                for i, row in zip(group, (1.0 / (1.0 + np.exp(-logits))).tolist(), strict=True):
                    rows[i] = row
        return [dict(zip(self.labels, row, strict=True)) for row in rows]

    def _forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Logits for one padded batch (int64 arrays in, a float array out); ONNX Runtime overrides this."""
        import torch

        with torch.inference_mode():
            inputs = {
                "input_ids": torch.from_numpy(input_ids).to(self._device),
                "attention_mask": torch.from_numpy(attention_mask).to(self._device),
            }
            return self._model(**inputs).logits.float().cpu().numpy()


def _padded(encoded: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded `input_ids` and `attention_mask` (int64) for one bucket."""
    longest = max(len(ids) for ids in encoded)
    input_ids = np.full((len(encoded), longest), pad_id, dtype=np.int64)
    attention_mask = np.zeros((len(encoded), longest), dtype=np.int64)
    for row, ids in enumerate(encoded):
        input_ids[row, : len(ids)] = ids
        attention_mask[row, : len(ids)] = 1
    return input_ids, attention_mask


def _token_limit(tokenizer: Any, config: Any) -> int:
    limit = int(tokenizer.model_max_length)
    positions = getattr(config, "max_position_embeddings", None)
    if positions:
        usable = positions - 2 if getattr(config, "model_type", "") in _OFFSET_POSITION_MODELS else positions
        limit = min(limit, usable)
    return limit
