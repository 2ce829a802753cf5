"""The lite model (alt-profanity-check): a real offline model, and the `auto` rule that picks it.

These load the real installed package and score real text; what is asserted is a ranking the model must
get right on the built-in sample thread, not fixed numbers.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from bot.cli import main, sample_thread
from bot.config import Settings, load_settings
from bot.labels import TOXICITY
from bot.scoring import ScoringError, load_scorer, loader
from bot.scoring.checkpoint import release_weights
from bot.scoring.lite import MODEL_NAME, LiteBackend
from bot.scoring.loader import choose_model, load_backend

# The built-in sample thread, read by a person: obscene or insulting, and plainly civil. The rude
# (c17) and the threat (c19) are in neither list: a profanity model is not asked to rank those.
OFFENSIVE = {"c7", "c11", "c25", "c27"}
CIVIL = {
    "c1", "c2", "c3", "c4", "c5", "c6", "c8", "c9", "c10", "c12", "c13", "c14", "c15", "c16", "c18",
    "c20", "c21", "c22", "c23", "c24", "c26",
}  # fmt: skip


@pytest.fixture(autouse=True)
def no_detoxify_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache, as on a fresh machine, and a fresh process-wide model cache."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(loader, "_cache", {})
    return tmp_path / "torch"


async def test_obscene_and_insulting_sample_comments_rank_above_the_civil_ones() -> None:
    comments = {c["id"]: c["text"] for c in json.loads(sample_thread().read_text())["comments"]}
    assert OFFENSIVE | CIVIL <= comments.keys()
    scorer = await load_scorer(Settings(model_type="lite"))
    try:
        ids = sorted(OFFENSIVE | CIVIL)
        scores = dict(zip(ids, await scorer.score([comments[i] for i in ids]), strict=True))
    finally:
        await scorer.close()
    assert scorer.labels == (TOXICITY,) and scorer.model_name == MODEL_NAME
    worst_civil = max(scores[i].scores[TOXICITY] for i in CIVIL)
    assert min(scores[i].scores[TOXICITY] for i in OFFENSIVE) > worst_civil
    assert all(scores[i].top_label == TOXICITY for i in OFFENSIVE)


async def test_a_long_text_is_scored_by_its_worst_chunk_with_the_evidence_span() -> None:
    civil = " ".join(["The footbridge plans were discussed at length in the meeting."] * 20)
    text = f"{civil} You are a complete moron. {civil}"
    scorer = await load_scorer(Settings(model_type="lite"))
    try:
        (score,) = await scorer.score([text])
        (calm,) = await scorer.score([civil])
    finally:
        await scorer.close()
    assert score.top_score > 0.8 > calm.top_score
    assert score.span is not None and "moron" in text[score.span[0] : score.span[1]]


def test_auto_is_lite_without_detoxify_weights_and_detoxify_with_them(
    no_detoxify_weights: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert load_settings(env_file=None, environ={}).model_type == "auto"
    with caplog.at_level(logging.WARNING, logger="bot.scoring.loader"):
        assert choose_model("auto", None).lite
    (line,) = [r.getMessage() for r in caplog.records]
    assert "lite-profanity" in line and "DETOXIFY_MODEL=unbiased" in line
    weights = release_weights("unbiased")
    assert weights.is_relative_to(no_detoxify_weights)
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"placeholder: only its presence is checked here")
    chosen = choose_model("auto", None)
    assert not chosen.lite and chosen.checkpoint == weights and chosen.name == "detoxify-unbiased"
    assert choose_model("lite", None).lite
    assert not choose_model("auto", Path("/models/x.ckpt")).lite  # a configured checkpoint wins


def test_lite_backend_scores_in_order_with_word_spans() -> None:
    backend = LiteBackend()
    assert backend.predict_batch([]) == []
    rows = backend.predict_batch(["thanks, great article", "fuck off you idiot"])
    assert rows[0][TOXICITY] < 0.5 < rows[1][TOXICITY]
    assert backend.token_spans("  two words") == [(2, 5), (6, 11)]


@pytest.mark.usefixtures("cli_logging")
def test_the_main_command_scores_the_sample_with_the_lite_model_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in list(os.environ):
        if key.startswith(("DETOXIFY_", "THRESHOLD_", "DATABASE_", "DISCORD_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    assert main(["scan"]) == 0
    captured = capsys.readouterr()
    assert "model: lite-profanity" in captured.out
    flagged = [line.split(":")[0] for line in captured.out.splitlines() if line.startswith("FLAG ")]
    # Only the insulting and obscene comments' authors (Jonas Weber's c7, grumpy_gus's c11 and c25, c27).
    assert flagged and set(flagged) <= {"FLAG Jonas Weber", "FLAG grumpy_gus", "FLAG Dave R."}
    assert main(["scan", "--flagged-only"]) == 0
    again = capsys.readouterr().out
    assert "0 new or changed, 27 unchanged" in again
    table = [line for line in again.splitlines() if line.endswith("FLAG")]
    assert len(table) == len(flagged)


def test_a_named_detoxify_model_that_cannot_be_downloaded_is_one_line(
    monkeypatch: pytest.MonkeyPatch, no_detoxify_weights: Path
) -> None:
    import urllib.error

    import torch

    def offline(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        assert hash_prefix == "c7548aa0"  # the release name's sha256 prefix is checked
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(ScoringError) as caught:
        load_backend(Settings(model_type="unbiased"))
    message = str(caught.value)
    assert message.startswith("could not download the 'unbiased' Detoxify model") and "\n" not in message
    assert "DETOXIFY_MODEL=lite" in message and not any(no_detoxify_weights.rglob("*.ckpt"))
