"""The lite model: `alt-profanity-check`, a real trained model that needs no network and no GPU.

Why: Detoxify's weights are a ~500 MB download, so a machine with no network had only the toy demo
model. `alt-profanity-check` (MIT, 0.9 MB, installed with commentwarden) is a TF-IDF + calibrated linear
SVM trained on ~200k human-labelled comments; it scores ~2,500 texts/s on one core. It gives a single
probability ("offensive"), reported as the `toxicity` label so the `toxicity` threshold applies to it,
under the model name `lite-profanity` so its scores are never taken for Detoxify's.
benchmarks/bench_lite_auc.py measures how well it ranks each Jigsaw label.

Files are data: the package loads its two `.joblib` files (pickles) when it is imported, so before that
import each file's sha256 is checked against the hash pip recorded when it installed the package; a file
changed since is refused and never unpickled.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import re
import threading
import warnings
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from bot.labels import TOXICITY
from bot.scoring.protocol import ScoringError

MODEL_NAME = "lite-profanity"
DISTRIBUTION = "alt-profanity-check"
_PACKAGE = "profanity_check"
# Words per chunk: a bag-of-words model dilutes one insult in a text (measured: "You are a complete
# moron." scores 0.99 alone, 0.46 after one civil sentence, 0.08 after two), so texts are scored in
# sentence-sized chunks and the worst chunk counts (chunking.py). A chunk costs ~0.4 ms, so the work cap
# can be eight times Detoxify's and still cover ~1,500 words.
_WORDS = 12
_MAX_CHUNKS = 128
_WORD = re.compile(r"\S+")


class LiteBackend:
    """`alt-profanity-check` behind the `ScoringBackend` interface: one label, word-level spans."""

    labels: tuple[str, ...] = (TOXICITY,)
    max_tokens: int = _WORDS
    max_chunks: int = _MAX_CHUNKS
    model_name: str = MODEL_NAME

    def __init__(self) -> None:
        _verify_installed_files()
        with warnings.catch_warnings():
            # scikit-learn warns when a model was pickled by a different release; the package pins it.
            warnings.simplefilter("ignore")
            module = importlib.import_module(_PACKAGE)
        self._predict_prob: Any = module.predict_prob
        self._lock = threading.Lock()

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [match.span() for match in _WORD.finditer(text)]

    def predict_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not texts:
            return []
        with self._lock:
            probabilities = self._predict_prob(list(texts))
        return [{TOXICITY: float(p)} for p in probabilities]


def lite_available() -> bool:
    """Whether the lite model's package is installed (it is a core dependency)."""
    try:
        metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return False
    return True


def _verify_installed_files() -> None:
    """Check the package's pickled model files against the hashes in pip's RECORD, before unpickling."""
    try:
        files = metadata.distribution(DISTRIBUTION).files or []
    except metadata.PackageNotFoundError as exc:
        raise ScoringError(
            f"DETOXIFY_MODEL=lite needs the {DISTRIBUTION} package: reinstall commentwarden (pip install -e .)"
        ) from exc
    models = [f for f in files if f.parts[0] == _PACKAGE and f.name.endswith(".joblib")]
    if not models:
        raise ScoringError(f"the {DISTRIBUTION} package has no model files: reinstall it")
    for record in models:
        if record.hash is None or record.hash.mode != "sha256":
            raise ScoringError(f"{DISTRIBUTION}: no recorded hash for {record}; reinstall it")
        actual = hashlib.sha256(Path(record.locate()).read_bytes()).digest()
        expected = base64.urlsafe_b64decode(record.hash.value + "=" * (-len(record.hash.value) % 4))
        if actual != expected:
            raise ScoringError(
                f"{DISTRIBUTION}: {record} differs from the file pip installed; refusing to load it "
                f"(reinstall with: pip install --force-reinstall {DISTRIBUTION})"
            )
