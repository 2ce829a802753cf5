"""Detoxify's model run by ONNX Runtime instead of PyTorch (`SCORING_BACKEND=onnx`).

Why: ONNX Runtime fuses a BERT's attention and layer-norm kernels on CPU, so the same weights score
faster (benchmarks/bench_scoring.py measures how much on this machine). Scores match PyTorch's to float
rounding: it is the same fp32 model, exported, not an approximation of it.

How: the model built from the checkpoint is exported with the TorchScript exporter (needs the `onnx`
package, a core dependency) into the model cache (`onnx_cache.py`, keyed by the checkpoint's hash and the
library versions), and ONNX Runtime reads it from there; the PyTorch weights are then dropped, so only one
copy of the model stays resident. Export takes a few seconds for a BERT-base, once per checkpoint; later
starts open the cached file. Tokenising, chunking and length bucketing are the PyTorch backend's own
(this class only replaces the forward pass).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib.util
import logging
import warnings
from pathlib import Path
from typing import Any

from bot.scoring.backend import DetoxifyBackend, Encoder
from bot.scoring.protocol import ScoringError

log = logging.getLogger(__name__)

_OPSET = 17
_INPUTS = ("input_ids", "attention_mask")


class OnnxExportError(ScoringError):
    """The model could not be exported; under SCORING_BACKEND=auto the loader falls back to PyTorch."""


class OnnxBackend(DetoxifyBackend):
    """An ONNX Runtime session for the forward pass; no PyTorch model (nor torch import) needed."""

    def __init__(self, session: Any, encoder: Encoder, labels: Any, *, model_name: str = "detoxify") -> None:
        self._setup(encoder, labels, model_name)
        self._session = session

    def _forward(self, input_ids: Any, attention_mask: Any) -> Any:
        (logits,) = self._session.run(["logits"], {"input_ids": input_ids, "attention_mask": attention_mask})
        return logits


def return_freed_memory() -> None:
    """Give the export's ~500 MB of freed scratch back to the OS (measured: RSS 1.3 GB -> 0.8 GB).

    glibc keeps freed small allocations in its heap, so without this the process would stay as large
    as at the peak of the export for its whole life. Elsewhere than glibc this is simply skipped.
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def onnx_available() -> bool:
    """Both halves of the path are installed: onnxruntime to run, onnx for the exporter to write."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def open_session(path: Path, threads: int | None) -> Any:
    """An ONNX Runtime CPU session over the model file at `path`."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise OnnxExportError(
            "SCORING_BACKEND=onnx needs onnxruntime and onnx: reinstall commentwarden (pip install -e .)"
        ) from exc
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def export_onnx(model: Any, path: Path) -> None:
    """Write `model` as an ONNX file taking `input_ids` and `attention_mask` (any batch, any length)."""
    import torch

    sample = torch.ones((2, 8), dtype=torch.long)
    dynamic: dict[str, dict[int, str]] = {name: {0: "batch", 1: "tokens"} for name in _INPUTS}
    dynamic["logits"] = {0: "batch"}
    log.info("exporting the scoring model to ONNX (once per checkpoint; cached)")
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            # The TorchScript exporter warns that it is legacy and about traced branches that do not
            # depend on the input; neither concerns a fixed BERT/RoBERTa classifier.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _logits_only(model),
                (sample, torch.ones_like(sample)),
                str(path),
                input_names=list(_INPUTS),
                output_names=["logits"],
                dynamic_axes=dynamic,
                opset_version=_OPSET,
                dynamo=False,
            )
    except Exception as exc:  # missing `onnx`, an unsupported architecture: say which, in one line
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise OnnxExportError(
            f"could not export the model for SCORING_BACKEND=onnx ({reason}); install the onnx extra "
            "or set SCORING_BACKEND=torch"
        ) from exc


def _logits_only(model: Any) -> Any:
    import torch

    class LogitsOnly(torch.nn.Module):
        """Hugging Face models return an output object; the exporter wants plain tensors."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    return LogitsOnly()
