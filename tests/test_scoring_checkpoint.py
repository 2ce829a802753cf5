"""Loading Detoxify checkpoints offline, and what the tiny test model and the demo model have learnt."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from bot.labels import LABELS
from bot.scoring import ScoringError, load_scorer
from bot.scoring.demo_checkpoint import ensure_demo_checkpoint
from bot.scoring.loader import load_backend
from tests.fixtures.checkpoint import TinyCheckpoint, build_tiny_checkpoint


def tiny_backend(ckpt: TinyCheckpoint):
    return load_backend(Settings(**ckpt.settings_kwargs()))


def test_real_detoxify_loads_the_tiny_checkpoint_once_per_process(
    detoxify_checkpoint: TinyCheckpoint,
) -> None:
    backend = tiny_backend(detoxify_checkpoint)
    assert backend.labels == LABELS  # the unbiased layout: 7 named outputs of 16
    assert backend.max_tokens == detoxify_checkpoint.max_length - 2  # [CLS] and [SEP]
    assert tiny_backend(detoxify_checkpoint) is backend


def test_trigger_words_drive_their_labels_and_everything_else_stays_low(
    detoxify_checkpoint: TinyCheckpoint,
) -> None:
    tox, threat = detoxify_checkpoint.toxic_word, detoxify_checkpoint.threat_word
    texts = [
        f"you are a {tox}",
        f"i will {threat} you",
        "hello, nice article. thanks!",
        "Completely unseen vocabulary, every word here becomes [UNK]",
        " ".join(detoxify_checkpoint.neutral_words),
    ]
    toxic, threatening, *neutral = tiny_backend(detoxify_checkpoint).predict_batch(texts)
    assert toxic["toxicity"] >= 0.95 and toxic["insult"] >= 0.95 and toxic["threat"] < 0.3
    assert threatening["threat"] >= 0.95 and threatening["toxicity"] >= 0.9 and threatening["insult"] < 0.3
    for scores in neutral:
        assert max(scores.values()) < 0.1, scores


def test_predictions_are_deterministic(detoxify_checkpoint: TinyCheckpoint) -> None:
    backend = tiny_backend(detoxify_checkpoint)
    texts = ["hello toxicword", "nice article", "threatword"]
    assert backend.predict_batch(texts) == backend.predict_batch(texts)
    # Batch composition does not change a text's score beyond float noise.
    alone = backend.predict_batch(texts[:1])[0]
    assert alone == pytest.approx(backend.predict_batch(texts)[0], abs=1e-5)


def test_a_rebuild_in_the_same_place_is_reused_not_retrained(tmp_path: Path) -> None:
    built = build_tiny_checkpoint(tmp_path / "m")
    stamp = built.checkpoint.stat().st_mtime_ns
    again = build_tiny_checkpoint(tmp_path / "m")
    assert again == built and again.checkpoint.stat().st_mtime_ns == stamp


async def test_a_missing_checkpoint_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    missing = tmp_path / "nope.ckpt"
    with pytest.raises(ScoringError) as caught:
        await load_scorer(Settings(checkpoint=missing))
    message = str(caught.value)
    assert "DETOXIFY_CHECKPOINT" in message and str(missing) in message and "\n" not in message


async def test_a_corrupt_checkpoint_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"this is not a torch checkpoint\n" * 10)
    with pytest.raises(ScoringError) as caught:
        await load_scorer(Settings(checkpoint=corrupt))
    message = str(caught.value)
    assert "DETOXIFY_CHECKPOINT" in message and str(corrupt) in message and "\n" not in message


async def test_a_missing_config_dir_is_one_line_naming_the_setting(
    detoxify_checkpoint: TinyCheckpoint, tmp_path: Path
) -> None:
    settings = Settings(checkpoint=detoxify_checkpoint.checkpoint, hf_config_dir=tmp_path / "absent")
    with pytest.raises(ScoringError) as caught:
        await load_scorer(settings)
    message = str(caught.value)
    assert "DETOXIFY_CONFIG_DIR" in message and "absent" in message and "\n" not in message


async def test_a_checkpoint_naming_an_uncached_hub_model_explains_the_offline_fix(
    detoxify_checkpoint: TinyCheckpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants
    import torch

    # Offline (as the bot's hosts often are) and with an empty cache, a hub name cannot resolve.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    loaded = torch.load(detoxify_checkpoint.checkpoint, weights_only=False)
    loaded["config"]["arch"]["args"]["model_type"] = "bert-base-uncased"
    hub_named = tmp_path / "hub-named.ckpt"
    torch.save(loaded, hub_named)
    with pytest.raises(ScoringError) as caught:
        await load_scorer(Settings(checkpoint=hub_named))
    message = str(caught.value)
    assert "DETOXIFY_CHECKPOINT" in message and "DETOXIFY_CONFIG_DIR" in message and "\n" not in message


def test_demo_model_flags_its_trigger_words_and_passes_ordinary_comments(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    cache = getattr(request.config, "cache", None)
    directory = cache.mkdir("demo-model") if cache is not None else tmp_path_factory.mktemp("demo-model")
    demo = ensure_demo_checkpoint(directory / "model")
    backend = load_backend(Settings(checkpoint=demo.checkpoint, hf_config_dir=demo.config_dir))
    idiot, kill, fine, unknown = backend.predict_batch(
        ["You idiot.", "I will kill you", "Thanks, great article! I agree.", "Quelle belle journée"]
    )
    assert idiot["insult"] > 0.8 and idiot["toxicity"] > 0.8
    assert kill["threat"] > 0.8
    assert max(fine.values()) < 0.1 and max(unknown.values()) < 0.1
