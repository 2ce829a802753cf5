"""Opt-in int8 scoring (`SCORING_INT8=true`) that is only used while it agrees with the exact model.

Why: ONNX Runtime's dynamic int8 quantisation (per-channel weights, int8 matrix products on VNNI CPUs)
scores several times faster than fp32, but how far its scores move depends on the weights: on one
random BERT-base they moved by 0.04-0.06, more than the 0.02 a moderator's threshold can absorb. So
whether to use it is measured, not assumed:

- at load, the probe texts (`probes.py`) are scored both ways; if any label of any probe differs by more
  than `TOLERANCE`, int8 is refused with one warning line and the exact model is used;
- while running, one model call in `SAMPLE_EVERY` is also run exactly and compared; the first time the
  difference exceeds `TOLERANCE`, int8 is dropped for the rest of the process (one warning line), and
  that call's exact scores are the ones returned. The sampled call costs one extra fp32 pass, ~10% of
  int8's throughput at 1 in 32.

The exact session stays loaded beside the int8 one (int8 is a quarter of its size) so the fallback is
immediate.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TOLERANCE = 0.02  # largest |int8 - fp32| score allowed on any label
SAMPLE_EVERY = 32  # model calls per one re-scored in fp32 while running


class Int8Guard:
    """Runs the int8 session while sampled calls agree with the fp32 one; then fp32 for good."""

    def __init__(self, exact: Any, int8: Any, outputs: int, *, sample_every: int = SAMPLE_EVERY) -> None:
        self._exact = exact
        self._int8 = int8
        self._outputs = outputs  # named labels: the first `outputs` logits
        self._sample_every = max(1, sample_every)
        self._calls = 0
        self._lock = threading.Lock()
        self.active = True
        self.samples = 0  # calls re-scored in fp32 so far
        self.worst = 0.0  # largest difference those showed

    def run(self, feeds: dict[str, Any]) -> Any:
        """Logits for one padded batch: int8's, or fp32's once int8 has been dropped."""
        if not self.active:
            return self._exact.run(["logits"], feeds)[0]
        logits = self._int8.run(["logits"], feeds)[0]
        with self._lock:
            self._calls += 1
            sample = self._calls % self._sample_every == 0
        if not sample:
            return logits
        exact = self._exact.run(["logits"], feeds)[0]
        diff = max_probability_diff(logits, exact, self._outputs)
        self.samples += 1
        self.worst = max(self.worst, diff)
        if diff > TOLERANCE:
            self.active = False
            log.warning(
                "SCORING_INT8: int8 scores drifted %.3f from fp32 on live texts (over %s); scoring with fp32 "
                "from now on",
                diff,
                TOLERANCE,
            )
            return exact
        return logits


def max_probability_diff(logits: Any, exact: Any, outputs: int) -> float:
    """Largest |sigmoid(a) - sigmoid(b)| over the named outputs of one batch."""
    import numpy as np

    a = 1 / (1 + np.exp(-logits[:, :outputs].astype(np.float64)))
    b = 1 / (1 + np.exp(-exact[:, :outputs].astype(np.float64)))
    return float(np.abs(a - b).max()) if a.size else 0.0


def quantize(source: Path, target: Path) -> None:
    """Write the int8 model: dynamic quantisation, per-channel int8 weights (ONNX Runtime's own tool)."""
    import warnings

    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The tool logs advice meant for static quantisation on the root logger; it is not the product's.
    advice = _DropAdvice()
    logging.getLogger().addFilter(advice)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True)
    finally:
        logging.getLogger().removeFilter(advice)


class _DropAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()
