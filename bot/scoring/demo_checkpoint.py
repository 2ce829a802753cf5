"""A tiny DEMO Detoxify checkpoint that reacts to a handful of words. NOT a toxicity model.

Why it exists: the real Detoxify weights are a ~500 MB download, and `commentwarden scan` must still run
out of the box on a machine with no network (a first look, a demo, CI). This module builds, in well
under a second, a checkpoint in Detoxify's own format (the same `torch.save` dict the real release assets
are), so the product runs the *real* Detoxify loading and inference path on it.

What it knows: a 1-layer, 32-wide BERT over a vocabulary of a few dozen words, with weights set by hand
rather than trained (training so small a model from scratch proved seed-sensitive; wiring is exact and
deterministic). Each *trigger* word drives chosen labels to ~0.99 wherever it appears in a text; every
other word, and everything outside the vocabulary (which the tokenizer maps to `[UNK]`), leaves every
label at ~0.007. So "you idiot" scores high on `toxicity`/`insult` while a genuinely vile sentence made
of words it has never seen scores ~0. Its numbers say nothing about real text: use it to see the bot
work, never to moderate a community. Set DETOXIFY_CHECKPOINT (or let Detoxify download its model) for
real scoring.

How the wiring works (see `_wire`): position embeddings are zero, so the model sees a bag of words. Each
trigger word's embedding carries a "trigger" flag and its own identity dimension; ordinary words embed to
zero. The [CLS] token's attention query matches only the trigger flag, strongly enough that [CLS] attends
(almost) only to the trigger words present, copying their identity dimensions into its state; with no
trigger it averages zeros. The pooler and classifier then map identity dimension -> that trigger's
labels. Feed-forward blocks are zeroed so nothing else leaks in.

The test suite builds one with its own trigger words through the same function (`build_checkpoint`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bot.scoring.cachedir as cachedir
from bot.labels import IDENTITY_ATTACK, INSULT, LABELS, OBSCENE, SEVERE_TOXICITY, THREAT, TOXICITY

if TYPE_CHECKING:  # imported inside the functions at run time: transformers is slow to import
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.ckpt"
CONFIG_DIR = "hf-config"
# Bump when the build procedure changes, so cached builds made by older code are rebuilt.
_BUILD_VERSION = 3

_SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_PUNCTUATION = (".", ",", "!", "?", "'", ":", ";", "-", "(", ")")
# The real `unbiased` checkpoint has 16 outputs and names only the first 7 (the rest are identity
# mentions used while training); mirroring that layout keeps the loader honest about extra outputs.
_NUM_OUTPUTS = 16
_HIDDEN = 32
# Dimensions of the hidden state: one identity dimension per trigger word from 0 up, then these.
_SINK, _FLAG, _MARKER = _HIDDEN - 3, _HIDDEN - 2, _HIDDEN - 1
_MAX_TRIGGERS = _SINK
_ATTENTION_LOGIT = 12.0  # [CLS] -> trigger word; e^12 outweighs 63 ordinary tokens by 2,500 to 1
_LABEL_LOGIT, _BASE_LOGIT = 10.0, -5.0  # sigmoid: 0.993 with the trigger present, 0.0067 without


@dataclass(frozen=True)
class DemoSpec:
    """What the demo model reacts to: trigger word -> labels it drives high; every other word stays low."""

    triggers: Mapping[str, tuple[str, ...]]
    neutral: tuple[str, ...]
    max_length: int = 64
    labels: tuple[str, ...] = LABELS

    def fingerprint(self) -> str:
        payload = {
            "triggers": {word: list(labels) for word, labels in sorted(self.triggers.items())},
            "neutral": list(self.neutral),
            "max_length": self.max_length,
            "labels": list(self.labels),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


DEMO_SPEC = DemoSpec(
    triggers={
        "idiot": (TOXICITY, INSULT),
        "idiots": (TOXICITY, INSULT),
        "stupid": (TOXICITY, INSULT),
        "moron": (TOXICITY, INSULT),
        "kill": (TOXICITY, THREAT),
        "hurt": (TOXICITY, THREAT),
        "crap": (TOXICITY, OBSCENE),
        "scum": (TOXICITY, SEVERE_TOXICITY, INSULT, IDENTITY_ATTACK),
    },
    neutral=(
        "the",
        "a",
        "an",
        "this",
        "that",
        "is",
        "are",
        "was",
        "i",
        "you",
        "we",
        "they",
        "it",
        "and",
        "or",
        "but",
        "not",
        "very",
        "really",
        "great",
        "good",
        "nice",
        "thanks",
        "thank",
        "hello",
        "article",
        "post",
        "comment",
        "read",
        "agree",
        "disagree",
        "think",
        "point",
        "people",
        "author",
        "love",
        "interesting",
        "well",
        "written",
        "of",
        "to",
        "in",
        "for",
        "with",
        "on",
        "what",
        "why",
        "how",
    ),
)


@dataclass(frozen=True)
class DemoCheckpoint:
    """Paths to hand to Detoxify: `checkpoint=` and `huggingface_config_path=`."""

    checkpoint: Path
    config_dir: Path


def ensure_demo_checkpoint(cache_dir: Path, spec: DemoSpec = DEMO_SPEC) -> DemoCheckpoint:
    """The demo checkpoint this program built under `cache_dir`, building it first if none verifies.

    `cache_dir` is a cache root (`DEMO_MODEL_DIR`): each build is a new directory inside it, verified by
    the hash of every file it wrote before it is used (`cachedir.py`), so a planted or altered model is
    never loaded, and nothing already in `cache_dir` is ever deleted. Raises `ScoringError` (one line
    naming DEMO_MODEL_DIR) when `cache_dir` is a file or cannot be written.
    """
    root = Path(cache_dir).expanduser().absolute()
    key = _cache_key(spec)
    entry = cachedir.lookup(root, "demo", key)
    if entry is None:
        log.warning("building the DEMO scoring model in %s: its scores are NOT real toxicity", root)
        # The checkpoint records its config directory by absolute path (Detoxify's layout), so it is
        # built for the entry's final location and only the directory moves.
        entry = cachedir.store(
            root,
            "demo",
            key,
            lambda staging, final: build_checkpoint(staging, spec, final_dir=final),
            setting="DEMO_MODEL_DIR",
        )
    return DemoCheckpoint(entry / CHECKPOINT_FILE, entry / CONFIG_DIR)


def _cache_key(spec: DemoSpec) -> str:
    """What a cached build must match: the spec, this code's build version and the libraries."""
    import torch
    import transformers

    payload = {
        "build": _BUILD_VERSION,
        "spec": spec.fingerprint(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    return json.dumps(payload, sort_keys=True)


def build_checkpoint(out_dir: Path, spec: DemoSpec, *, final_dir: Path | None = None) -> DemoCheckpoint:
    """Build the tokenizer, config and wired weights into `out_dir`; deterministic for a given spec.

    `final_dir` is where the files will live when loaded (defaults to `out_dir`).
    """
    from transformers import BertConfig, BertForSequenceClassification

    if not 1 <= len(spec.triggers) <= _MAX_TRIGGERS:
        raise ValueError(f"a demo model wires 1 to {_MAX_TRIGGERS} trigger words, not {len(spec.triggers)}")
    out_dir = Path(out_dir)
    final_dir = Path(final_dir or out_dir).resolve()
    config_dir = out_dir / CONFIG_DIR
    config_dir.mkdir(parents=True, exist_ok=True)

    vocab = _vocabulary(spec)
    tokenizer = bert_tokenizer(vocab, spec.max_length)
    config = BertConfig(  # type: ignore[call-arg]  # transformers' annotations omit PretrainedConfig's **kwargs
        vocab_size=len(vocab),
        hidden_size=_HIDDEN,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=4,
        max_position_embeddings=spec.max_length,
        num_labels=_NUM_OUTPUTS,
        pad_token_id=vocab["[PAD]"],
        problem_type="multi_label_classification",
    )
    tokenizer.save_pretrained(config_dir)
    config.save_pretrained(config_dir)

    model = BertForSequenceClassification(config)
    _wire(model, vocab, spec)
    save_detoxify_checkpoint(out_dir / CHECKPOINT_FILE, model, final_dir / CONFIG_DIR, spec.labels)
    return DemoCheckpoint(out_dir / CHECKPOINT_FILE, config_dir)


def save_detoxify_checkpoint(
    path: Path, model: PreTrainedModel, config_dir: Path, labels: tuple[str, ...]
) -> None:
    """Write `model` (a `BertForSequenceClassification`) in the release assets' `torch.save` format.

    `config_dir` is where its `config.json` and tokenizer files will be when loaded: Detoxify resolves
    the checkpoint's `model_type` first thing, so it must be an absolute local path offline. Shared with
    the benchmarks' full-size random model, so both are loaded by Detoxify's real loader.
    """
    import torch

    checkpoint = {
        "config": {
            "arch": {
                "args": {
                    "model_type": str(config_dir),
                    "model_name": type(model).__name__,
                    "tokenizer_name": "PreTrainedTokenizerFast",
                    "num_classes": model.config.num_labels,
                }
            },
            "dataset": {"args": {"classes": list(labels)}},
        },
        "state_dict": {name: tensor.detach().clone() for name, tensor in model.state_dict().items()},
    }
    torch.save(checkpoint, path)


def _vocabulary(spec: DemoSpec) -> dict[str, int]:
    # Lower-cased like the tokenizer's normaliser, or capitalised spec words would never be matched.
    words = [*_PUNCTUATION, *spec.neutral, *spec.triggers]
    unique = list(dict.fromkeys([*_SPECIAL, *(word.lower() for word in words)]))
    return {word: i for i, word in enumerate(unique)}


def bert_tokenizer(vocab: dict[str, int], max_length: int) -> PreTrainedTokenizerFast:
    """A BERT-style (lower-casing, WordPiece) fast tokenizer over `vocab`, ready to `save_pretrained`."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    # Lower-casing and splitting CJK characters into single tokens mirror BERT's own tokenizer, so any
    # unicode (emoji, RTL, zero-width, CJK) tokenises to known words or [UNK], never an error.
    core.normalizer = normalizers.BertNormalizer(lowercase=True, clean_text=True, handle_chinese_chars=True)
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    core.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )


def _wire(
    model: Any, vocab: dict[str, int], spec: DemoSpec
) -> None:  # torch submodules are looked up by name
    """Set every weight by hand (see the module docstring for the idea); all unmentioned weights are 0."""
    import torch

    bert = model.bert
    layer = bert.encoder.layer[0]
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        for norm in (bert.embeddings.LayerNorm, layer.attention.output.LayerNorm, layer.output.LayerNorm):
            norm.weight.fill_(1.0)

        # Embeddings: zero mean, so LayerNorm only rescales them. Ordinary words stay all-zero.
        words = bert.embeddings.word_embeddings.weight
        words[vocab["[CLS]"], _MARKER], words[vocab["[CLS]"], _SINK] = 1.0, -1.0
        for dim, word in enumerate(spec.triggers):
            row = vocab[word.lower()]
            words[row, dim], words[row, _FLAG], words[row, _SINK] = 1.0, 1.0, -2.0
        normalised = bert.embeddings.LayerNorm(words)
        cls_marker = float(normalised[vocab["[CLS]"], _MARKER])
        trigger_flag = float(normalised[vocab[next(iter(spec.triggers)).lower()], _FLAG])

        # Attention: only [CLS] asks, only trigger words answer; values carry the identity dimensions.
        attention = layer.attention.self
        scale = (_ATTENTION_LOGIT * _HIDDEN**0.5 / (cls_marker * trigger_flag)) ** 0.5
        attention.query.weight[0, _MARKER] = scale
        attention.key.weight[0, _FLAG] = scale
        output = layer.attention.output.dense
        for dim in range(len(spec.triggers)):
            attention.value.weight[dim, dim] = 1.0
            # The matching negative on the sink keeps the sum at zero mean, so LayerNorm cannot shift
            # the other identity dimensions off zero.
            output.weight[dim, dim], output.weight[_SINK, dim] = 2.0, -2.0

        # Pooler saturates each identity dimension; the classifier maps it to that trigger's labels.
        label_index = {label: i for i, label in enumerate(spec.labels)}
        model.classifier.bias.fill_(_BASE_LOGIT)
        for dim, labels in enumerate(spec.triggers.values()):
            bert.pooler.dense.weight[dim, dim] = 3.0
            for label in labels:
                model.classifier.weight[label_index[label], dim] = _LABEL_LOGIT
    model.eval()
