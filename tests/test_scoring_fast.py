"""The fast scoring paths change speed only: length bucketing and ONNX Runtime give the scores plain
PyTorch gives, in the caller's order, and `SCORING_BACKEND` picks the path (auto falls back to PyTorch).

Speed itself is measured in benchmarks/bench_scoring.py, never here."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest

from bot.config import ConfigError, Settings, load_settings
from bot.scoring import ScoringError, load_scorer, onnx_backend
from bot.scoring import loader as loader_module
from bot.scoring.backend import DetoxifyBackend
from bot.scoring.bucketing import length_buckets
from bot.scoring.loader import load_backend
from bot.scoring.onnx_backend import OnnxBackend


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test loads its own backend: the process-wide cache would hand back another test's."""
    monkeypatch.setattr(loader_module, "_cache", {})


@pytest.fixture
def settings(detoxify_checkpoint: Any, tmp_path: Any) -> Settings:
    # A fresh ONNX cache: these tests watch the export itself.
    return Settings(**detoxify_checkpoint.settings_kwargs(), model_cache_dir=tmp_path / "model-cache")


def texts(ck: Any) -> list[str]:
    """Short and long texts mixed, so buckets really split and reorder them."""
    words = ck.neutral_words
    return [
        f"{words[0]} {ck.toxic_word}",
        " ".join(words * 2)[:300],
        words[1],
        f"{' '.join(words[:8])} {ck.threat_word}",
        " ".join(words[:3]),
        " ".join(reversed(words)) + " " + ck.toxic_word,
    ]


def assert_close(a: list[dict[str, float]], b: list[dict[str, float]], tolerance: float) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        assert max(abs(x[k] - y[k]) for k in x) <= tolerance, (x, y)


def test_buckets_cover_every_text_once_and_split_off_outliers() -> None:
    lengths = [12, 300, 9, 14, 11, 10, 13, 8] * 4
    groups = length_buckets(lengths)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    longest = [max(lengths[i] for i in g) for g in groups]
    assert longest == sorted(longest)
    # The four 300-token texts run together, apart from the 28 short ones.
    assert {lengths[i] for i in groups[-1]} == {300} and len(groups[-1]) == 4
    assert length_buckets(lengths, call_cost=float("inf")) == [
        sorted(range(len(lengths)), key=lambda i: lengths[i])
    ]
    assert all(len({lengths[i] for i in g}) == 1 for g in length_buckets(lengths, call_cost=0))
    assert length_buckets([]) == []


def test_bucketed_batches_score_like_one_text_at_a_time(settings: Settings, detoxify_checkpoint: Any) -> None:
    backend = load_backend(replace(settings, scoring_backend="torch"))
    assert type(backend) is DetoxifyBackend
    sample = texts(detoxify_checkpoint)
    alone = [backend.predict_batch([t])[0] for t in sample]
    bucketed = backend.predict_batch(sample)
    backend.call_cost = float("inf")  # one batch padded to its longest text, the engine's old way
    padded = backend.predict_batch(sample)
    assert_close(bucketed, alone, 1e-5)
    assert_close(padded, alone, 1e-5)
    # In the caller's order: the toxic texts are where they were given.
    assert [round(s["toxicity"]) for s in bucketed] == [1, 0, 0, 1, 0, 1]


def test_onnx_backend_scores_like_pytorch(settings: Settings, detoxify_checkpoint: Any) -> None:
    torch_backend = load_backend(replace(settings, scoring_backend="torch"))
    onnx = load_backend(replace(settings, scoring_backend="onnx"))
    assert isinstance(onnx, OnnxBackend)
    assert onnx.labels == torch_backend.labels and onnx.max_tokens == torch_backend.max_tokens
    sample = texts(detoxify_checkpoint)
    assert_close(onnx.predict_batch(sample), torch_backend.predict_batch(sample), 1e-4)
    assert onnx.token_spans("hello article") == torch_backend.token_spans("hello article")


async def test_scorer_on_onnx_keeps_chunking_and_evidence(
    settings: Settings, detoxify_checkpoint: Any
) -> None:
    ck = detoxify_checkpoint
    scorer = await load_scorer(replace(settings, scoring_backend="onnx"))
    try:
        filler = " ".join(f"{w}." for w in ck.neutral_words * 6)
        text = f"{filler} {ck.threat_word} now."
        (long, short) = await scorer.score([text, "hello"])
    finally:
        await scorer.close()
    assert long.top_label in {"threat", "toxicity"} and long.scores["threat"] >= 0.9
    assert long.span is not None and ck.threat_word in text[long.span[0] : long.span[1]]
    assert long.evidence == text[long.span[0] : long.span[1]] and long.span[0] > 0  # a later chunk
    assert short.top_score < 0.1


def test_auto_picks_onnx_on_cpu_and_pytorch_without_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(load_backend(settings), OnnxBackend)  # auto is the default
    monkeypatch.setattr(loader_module, "_cache", {})
    monkeypatch.setattr(onnx_backend, "onnx_available", lambda: False)
    assert type(load_backend(settings)) is DetoxifyBackend


def test_failed_export_falls_back_under_auto_and_fails_when_asked_for(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("Unsupported: exotic operator")

    monkeypatch.setattr("torch.onnx.export", broken)
    with caplog.at_level(logging.WARNING, logger="bot.scoring.loader"):
        assert type(load_backend(settings)) is DetoxifyBackend
    assert "exotic operator" in caplog.text and "PyTorch instead" in caplog.text
    with pytest.raises(ScoringError, match=r"SCORING_BACKEND=onnx \(Unsupported: exotic operator\)") as info:
        load_backend(replace(settings, scoring_backend="onnx"))
    assert "\n" not in str(info.value)


def test_onnx_refused_on_a_gpu_device(settings: Settings) -> None:
    with pytest.raises(ScoringError, match="CPU only"):
        load_backend(replace(settings, scoring_backend="onnx", device="cuda"))


def test_scoring_backend_setting() -> None:
    assert load_settings(env_file=None, environ={}).scoring_backend == "auto"
    assert load_settings(env_file=None, environ={"SCORING_BACKEND": "ONNX"}).scoring_backend == "onnx"
    assert load_settings(env_file=None, environ={"SCORING_BACKEND": "torch"}).scoring_backend == "torch"
    with pytest.raises(ConfigError, match="SCORING_BACKEND='int8' is not valid: expected auto, torch, onnx"):
        load_settings(env_file=None, environ={"SCORING_BACKEND": "int8"})
