"""SCORING_INT8: the int8 model is used only while it agrees with the exact one, at load (probe texts)
and while running (sampled calls re-scored in fp32); otherwise one warning line and fp32 scores.

Both branches run on real models: the tiny demo-format checkpoint, on which int8 agrees, and a small
random BERT whose classifier is scaled up (as the benchmark's random BERT-base is), on which it does not.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from bot.config import Settings
from bot.labels import LABELS
from bot.scoring import loader
from bot.scoring.backend import Encoder
from bot.scoring.checkpoint import load_model
from bot.scoring.demo_checkpoint import CHECKPOINT_FILE, CONFIG_DIR, bert_tokenizer, save_detoxify_checkpoint
from bot.scoring.int8_guard import TOLERANCE, quantize
from bot.scoring.onnx_backend import OnnxBackend, export_onnx, open_session
from bot.scoring.probes import PROBE_TEXTS

WORDS = ("the", "council", "bridge", "you", "idiot", "great", "article", "vote", "never", "again", "what",
         "a", "read", "thanks", "bus", "lane", "stupid", "mayor", "will", "regret", "this", "i", "think")  # fmt: skip


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test loads its own backend: the process-wide cache would hand back another test's."""
    monkeypatch.setattr(loader, "_cache", {})


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 2-layer, 256-wide random BERT in Detoxify's format, classifier scaled so scores spread over 0..1."""
    from transformers import BertConfig, BertForSequenceClassification

    directory = tmp_path_factory.mktemp("random-bert")
    vocab = {token: i for i, token in enumerate(("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS))}
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=1024,
        max_position_embeddings=128,
        num_labels=16,
        pad_token_id=vocab["[PAD]"],
        problem_type="multi_label_classification",
    )
    bert_tokenizer(vocab, 128).save_pretrained(directory / CONFIG_DIR)
    config.save_pretrained(directory / CONFIG_DIR)
    torch.manual_seed(0)
    model = BertForSequenceClassification(config).eval()
    with torch.no_grad():
        model.classifier.weight.mul_(60.0)
    save_detoxify_checkpoint(directory / CHECKPOINT_FILE, model, (directory / CONFIG_DIR).resolve(), LABELS)
    return directory / CHECKPOINT_FILE, directory / CONFIG_DIR


def live_texts(n: int) -> list[str]:
    """Sentences of the random model's words, of many lengths (so batches bucket and pad)."""
    return [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(2 + i % 19)) for i in range(n)]


def max_diff(a: list[dict[str, float]], b: list[dict[str, float]]) -> float:
    return max(abs(x[k] - y[k]) for x, y in zip(a, b, strict=True) for k in x)


def test_int8_is_used_on_a_model_where_it_agrees(detoxify_checkpoint: Any, tmp_path: Path) -> None:
    settings = Settings(**detoxify_checkpoint.settings_kwargs(), model_cache_dir=tmp_path)
    exact = loader.load_backend(settings)
    loader._cache.clear()
    int8 = loader.load_backend(replace(settings, scoring_int8=True))
    assert isinstance(int8, OnnxBackend) and int8.int8_decision == "accepted"
    assert int8.guard is not None and int8.int8_agreement is not None and int8.int8_agreement <= TOLERANCE
    ck = detoxify_checkpoint
    texts = [f"{ck.neutral_words[0]} {ck.toxic_word}", " ".join(ck.neutral_words), f"a {ck.threat_word}"] * 40
    for start in range(0, len(texts), 4):  # 30 calls: the guard samples one in 32 at most once here
        assert (
            max_diff(
                int8.predict_batch(texts[start : start + 4]), exact.predict_batch(texts[start : start + 4])
            )
            <= TOLERANCE
        )
    assert int8.guard.active


def test_int8_is_refused_at_load_when_it_disagrees_on_the_probe_texts(
    random_checkpoint: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    checkpoint, config_dir = random_checkpoint
    settings = Settings(checkpoint=checkpoint, hf_config_dir=config_dir, model_cache_dir=tmp_path)
    exact = loader.load_backend(settings)
    loader._cache.clear()
    with caplog.at_level(logging.WARNING):
        refused = loader.load_backend(replace(settings, scoring_int8=True))
    assert isinstance(refused, OnnxBackend) and refused.int8_decision == "refused" and refused.guard is None
    assert refused.int8_agreement is not None and refused.int8_agreement > TOLERANCE
    warnings = [r for r in caplog.records if "SCORING_INT8" in r.getMessage()]
    assert len(warnings) == 1 and "\n" not in warnings[0].getMessage()
    texts = live_texts(20)
    assert refused.predict_batch(texts) == exact.predict_batch(texts)  # the exact model, not int8


def test_int8_falls_back_to_fp32_when_live_texts_drift_from_the_probes(
    random_checkpoint: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Probes the model agrees on, then live texts it does not: the runtime sample catches what the
    load-time check could not see."""
    checkpoint, config_dir = random_checkpoint
    loaded = load_model(checkpoint, "test", str(config_dir), "cpu")
    export_onnx(loaded.model, tmp_path / "fp32.onnx")
    quantize(tmp_path / "fp32.onnx", tmp_path / "int8.onnx")
    exact_session, int8_session = (
        open_session(tmp_path / "fp32.onnx", 1),
        open_session(tmp_path / "int8.onnx", 1),
    )

    encoder = Encoder.from_hf(loaded.tokenizer, loaded.model.config)

    def backend(**kwargs: Any) -> OnnxBackend:
        return OnnxBackend(exact_session, encoder, loaded.labels, **kwargs)

    exact, int8_only = backend(), backend()
    int8_only._session = int8_session  # int8 with no guard: what each text would score unguarded
    candidates = [*PROBE_TEXTS, *live_texts(120)]
    diffs = {t: max_diff(exact.predict_batch([t]), int8_only.predict_batch([t])) for t in candidates}
    agreeing = [t for t, d in diffs.items() if d <= TOLERANCE * 0.75]
    drifting = [t for t, d in diffs.items() if d > TOLERANCE * 1.25]
    assert agreeing and drifting, "this model no longer gives both kinds of text"

    # One probe, scored alone as measured above (int8 quantises activations per batch, so a batch's
    # agreement depends on its company: the probe check and the samples each judge what they ran).
    guarded = backend(int8_session=int8_session, probes=agreeing[:1], sample_every=1)
    assert guarded.int8_decision == "accepted" and guarded.guard is not None
    assert max_diff(guarded.predict_batch(agreeing[:1]), exact.predict_batch(agreeing[:1])) <= TOLERANCE
    assert guarded.guard.active
    with caplog.at_level(logging.WARNING):
        drifted = guarded.predict_batch(drifting[:1])
    assert not guarded.guard.active and guarded.guard.worst > TOLERANCE
    assert drifted == exact.predict_batch(drifting[:1])  # the call that drifted already answers in fp32
    assert sum("drifted" in r.getMessage() for r in caplog.records) == 1
    assert guarded.predict_batch(candidates) == exact.predict_batch(candidates)  # fp32 from then on
