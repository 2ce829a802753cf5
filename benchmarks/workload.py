"""What the scoring benchmarks run on: a model with a real model's compute, and a realistic message mix.

Model: real Detoxify weights when `DETOXIFY_CHECKPOINT` (and `DETOXIFY_CONFIG_DIR`) point at them;
otherwise a randomly initialised BERT-base (12 layers, 768 wide, 30,522-row embedding, 512 positions:
the `unbiased` model's architecture) saved in Detoxify's checkpoint format by the same helper as the demo
model, so speed figures measure the real loader and the real amount of arithmetic. Its WordPiece
vocabulary (up to 30,522 entries; the sample yields ~8,500) is trained at run time on the Jigsaw sample
texts, so texts split into a realistic number of tokens. Random weights put every score close to 0.5,
which would let any approximation pass a 0.02 tolerance; the classifier is therefore scaled so its
scores spread over 0..1 like a trained model's, making the agreement check a real one.

Mix: Jigsaw sample comments read from ../shared at run time (never copied into the repo), as many short
chat lines (single sentences of them, <= 120 characters) and some whole comments (some longer than the
model's 512 tokens).
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.labels import LABELS

REPO = Path(__file__).resolve().parent.parent
JIGSAW = REPO.parent / "shared" / "data" / "jigsaw-sample"
CACHE = Path(tempfile.gettempdir()) / "commentwarden-bench"
VOCAB_SIZE = 30_522
CLASSIFIER_GAIN = 8.0  # spreads random logits from std ~0.3 to ~2.5
_SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_BUILD = 1


@dataclass(frozen=True)
class BenchModel:
    checkpoint: Path
    config_dir: Path
    random: bool  # True: random BERT-base weights (speed is real, scores are not)

    def describe(self) -> str:
        return (
            "random-weight BERT-base (unbiased architecture)"
            if self.random
            else f"real weights {self.checkpoint}"
        )


def jigsaw_texts() -> list[str]:
    texts = []
    for path in sorted(JIGSAW.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            texts.extend(row["comment_text"] for row in csv.DictReader(handle) if row["comment_text"].strip())
    if not texts:
        raise SystemExit(f"no Jigsaw sample texts under {JIGSAW}")
    return texts


def message_mix(count: int, *, long_share: float = 0.2, seed: int = 1) -> list[str]:
    """`count` messages: (1 - long_share) short chat lines, the rest whole comments, shuffled."""
    texts = jigsaw_texts()
    lines = [s.strip() for t in texts for s in _SENTENCE.split(t) if 8 <= len(s.strip()) <= 120]
    rng = random.Random(seed)
    mix = [rng.choice(texts) if rng.random() < long_share else rng.choice(lines) for _ in range(count)]
    return mix


def bench_model() -> BenchModel:
    checkpoint = os.environ.get("DETOXIFY_CHECKPOINT")
    if checkpoint:
        config = os.environ.get("DETOXIFY_CONFIG_DIR")
        if not config:
            raise SystemExit(
                "DETOXIFY_CHECKPOINT is set: set DETOXIFY_CONFIG_DIR to its config/tokenizer too"
            )
        return BenchModel(Path(checkpoint), Path(config), random=False)
    return ensure_random_bert_base(CACHE / "bert-base-random")


def safe_detoxify(model: BenchModel) -> Any:
    """A `Detoxify` object for the baseline, its checkpoint read as data by the product's loader.

    Detoxify's own constructor reads the file with `torch.load(weights_only=False)`; the baseline must not
    either, so the object is assembled from what `bot.scoring.checkpoint.load_model` built.
    """
    from detoxify import Detoxify

    from bot.scoring.checkpoint import load_model

    loaded = load_model(
        model.checkpoint, f"DETOXIFY_CHECKPOINT={model.checkpoint}", str(model.config_dir), "cpu"
    )
    detox = Detoxify.__new__(Detoxify)
    detox.model, detox.tokenizer, detox.class_names, detox.device = (
        loaded.model,
        loaded.tokenizer,
        list(loaded.labels),
        "cpu",
    )
    return detox


def ensure_random_bert_base(directory: Path) -> BenchModel:
    """Build (once per machine; ~15 s and 440 MB) the random BERT-base checkpoint under `directory`."""
    from bot.scoring.demo_checkpoint import CHECKPOINT_FILE, CONFIG_DIR

    target = BenchModel(directory / CHECKPOINT_FILE, directory / CONFIG_DIR, random=True)
    stamp = directory / "stamp.json"
    want = json.dumps({"build": _BUILD, "texts": len(jigsaw_texts()), "where": str(directory)})
    if stamp.is_file() and stamp.read_text() == want and target.checkpoint.is_file():
        return target
    _build(directory)
    stamp.write_text(want)
    return target


def _build(directory: Path) -> None:
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertForSequenceClassification

    from bot.scoring.demo_checkpoint import (
        CHECKPOINT_FILE,
        CONFIG_DIR,
        bert_tokenizer,
        save_detoxify_checkpoint,
    )

    print(f"building a random-weight BERT-base checkpoint in {directory} (once per machine)")
    directory.mkdir(parents=True, exist_ok=True)
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=VOCAB_SIZE, special_tokens=list(_SPECIAL))
    wordpiece.train_from_iterator(jigsaw_texts(), trainer)
    vocab = wordpiece.get_vocab()
    tokenizer = bert_tokenizer(vocab, 512)
    config = BertConfig(
        vocab_size=VOCAB_SIZE,
        num_labels=16,
        pad_token_id=vocab["[PAD]"],
        problem_type="multi_label_classification",
    )  # BertConfig's defaults are BERT-base
    tokenizer.save_pretrained(directory / CONFIG_DIR)
    config.save_pretrained(directory / CONFIG_DIR)
    torch.manual_seed(0)
    model = BertForSequenceClassification(config).eval()
    with torch.no_grad():
        model.classifier.weight.mul_(CLASSIFIER_GAIN)
    save_detoxify_checkpoint(directory / CHECKPOINT_FILE, model, (directory / CONFIG_DIR).resolve(), LABELS)
