"""The async Scorer on the tiny Detoxify checkpoint: batching, chunked long texts, errors, shutdown."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from bot.config import Settings
from bot.labels import LABELS
from bot.scoring import Scorer, ScoringError, TextScore, load_scorer
from bot.scoring.loader import load_backend
from bot.scoring.protocol import ScoringBackend
from tests.fixtures.checkpoint import TinyCheckpoint


class Spy:
    """Wraps a real backend: records every batch, and can fail or stall on demand."""

    def __init__(self, backend: ScoringBackend) -> None:
        self._backend = backend
        self.labels = backend.labels
        self.model_name = backend.model_name
        self.max_tokens = backend.max_tokens
        self.max_chunks = backend.max_chunks
        self.batches: list[list[str]] = []
        self.fail_on: str | None = None
        self.delay = 0.0
        self.entered = threading.Event()
        self.release: threading.Event | None = None

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return self._backend.token_spans(text)

    def predict_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        self.batches.append(list(texts))
        self.entered.set()
        if self.release is not None:
            self.release.wait(timeout=30)
        time.sleep(self.delay)
        if self.fail_on is not None and any(self.fail_on in text for text in texts):
            raise RuntimeError(f"model exploded on {self.fail_on!r}")
        return self._backend.predict_batch(texts)


@pytest.fixture
def spy(detoxify_checkpoint: TinyCheckpoint) -> Spy:
    return Spy(load_backend(Settings(**detoxify_checkpoint.settings_kwargs())))


@pytest.fixture
async def scorer(spy: Spy):
    scorer = Scorer(spy, batch_size=32, batch_wait_ms=5)
    yield scorer
    await scorer.close()


def neutral_sentences(count: int) -> str:
    return " ".join("hello, this is a nice article." for _ in range(count))


async def test_load_scorer_reads_its_settings(detoxify_checkpoint: TinyCheckpoint) -> None:
    scorer = await load_scorer(Settings(**detoxify_checkpoint.settings_kwargs(), batch_size=4))
    try:
        assert scorer.labels == LABELS
        result = await scorer.score_one("you are a toxicword")
        assert result.top_label == "toxicity" and result.scores["insult"] > 0.95
    finally:
        await scorer.close()


async def test_trigger_words_flag_their_labels_and_neutral_text_stays_low(scorer: Scorer) -> None:
    toxic, threat, fine = await scorer.score(
        ["you are a toxicword", "i will threatword you", "hello, nice article!"]
    )
    assert toxic.top_label == "toxicity" and toxic.scores["insult"] >= 0.95 and toxic.scores["threat"] < 0.1
    assert threat.scores["threat"] >= 0.95 and threat.scores["toxicity"] >= 0.95
    assert max(fine.scores.values()) < 0.1
    assert toxic.evidence == "you are a toxicword" and toxic.span == (0, 19) and not toxic.partial


async def test_concurrent_callers_share_few_batches(spy: Spy) -> None:
    scorer = Scorer(spy, batch_size=32, batch_wait_ms=300)
    try:
        texts = [f"hello nice article {i}" if i % 5 else f"toxicword {i}" for i in range(40)]
        results = await asyncio.gather(*(scorer.score_one(text) for text in texts))
    finally:
        await scorer.close()
    assert len(spy.batches) <= 3  # 40 single-chunk requests: ideally 32 + 8
    assert sorted(t for batch in spy.batches for t in batch) == sorted(texts)
    assert max(len(batch) for batch in spy.batches) <= 32
    # Each caller got its own text's result, not a neighbour's.
    for text, result in zip(texts, results, strict=True):
        assert (result.scores["toxicity"] > 0.9) == text.startswith("toxicword")
        assert result.evidence == text


async def test_the_event_loop_keeps_running_while_the_model_works(spy: Spy) -> None:
    spy.delay = 0.5  # a slow model: were it run on the loop, the loop would freeze for 0.5 s a batch
    scorer = Scorer(spy, batch_size=8, batch_wait_ms=1)
    ticks: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    try:
        await scorer.score([f"hello article {i}" for i in range(16)])  # 2 batches, >= 1 s of "model"
    finally:
        done.set()
        await ticking
        await scorer.close()
    assert len(spy.batches) == 2
    assert len(ticks) >= 20
    assert max(b - a for a, b in zip(ticks, ticks[1:], strict=False)) < 0.4


async def test_abuse_hidden_in_the_tail_of_a_long_text_is_caught_with_its_span(
    scorer: Scorer, spy: Spy
) -> None:
    text = neutral_sentences(60) + " By the way, you are a toxicword. " + neutral_sentences(2)
    # Plain Detoxify truncates at 64 tokens and never sees the tail:
    assert spy.predict_batch([text])[0]["toxicity"] < 0.1
    spy.batches.clear()

    result = await scorer.score_one(text)
    assert result.scores["toxicity"] > 0.95 and result.scores["insult"] > 0.95
    assert result.top_label == "toxicity"
    start, end = result.span
    assert text[start:end] == result.evidence
    assert "toxicword" in result.evidence and start > len(text) // 2
    assert result.coverage == 1.0 and not result.partial
    assert len(spy.batches[0]) > 1  # the text went in as several chunks


async def test_blank_texts_score_zero_without_the_model(scorer: Scorer, spy: Spy) -> None:
    results = await scorer.score(["", "   \n\t "])
    assert results == [TextScore({label: 0.0 for label in LABELS}, None, 0.0, "", None)] * 2
    assert spy.batches == []


async def test_results_keep_input_order_around_blank_texts(scorer: Scorer) -> None:
    results = await scorer.score(["toxicword", "", "hello", " ", "threatword"])
    assert [r.top_label for r in results[:4:2]] == ["toxicity", "toxicity"]
    assert results[1].top_label is None and results[3].top_label is None
    assert results[2].top_score < 0.1
    assert results[4].scores["threat"] > 0.95


@pytest.mark.parametrize(
    "text",
    [
        "😀🔥💯 " * 50,
        "مرحبا بالعالم، هذا تعليق رائع",
        "\u202eoverride\u202c and \u200f rtl marks",
        "zero\u200bwidth\u200d\u2060joiners",
        "\u200b\u200d\u2060",
        "你好世界。这是一个测试。" * 20,
        "e\u0301\u0301\u0301 combining marks",
        "lone surrogate \ud800 here",
        "nul \x00 byte",
        "𝕿𝖍𝖎𝖘 𝖎𝖘 𝖋𝖆𝖓𝖈𝖞",
    ],
)
async def test_any_unicode_is_scored_without_crashing(scorer: Scorer, text: str) -> None:
    result = await scorer.score_one(text)
    assert set(result.scores) == set(LABELS)
    assert all(0.0 <= value <= 1.0 for value in result.scores.values())
    start, end = result.span
    assert 0 <= start < end <= len(text)


async def test_a_trigger_survives_surrounding_emoji_and_rtl_text(scorer: Scorer) -> None:
    text = "مرحبا 😀 toxicword 你好"
    result = await scorer.score_one(text)
    assert result.scores["toxicity"] > 0.95 and text[result.span[0] : result.span[1]] == result.evidence


async def test_a_megabyte_text_is_bounded_scores_head_and_tail_and_says_so(scorer: Scorer, spy: Spy) -> None:
    text = "threatword opens. " + neutral_sentences(33_000) + " and it closes: toxicword"
    assert len(text) > 1_000_000
    result = await scorer.score_one(text)
    assert sum(len(batch) for batch in spy.batches) <= 16  # the default per-text chunk cap
    assert result.partial and 0.0 < result.coverage < 0.05
    assert result.scores["threat"] > 0.95  # head
    assert result.scores["insult"] > 0.95  # tail


async def test_a_model_failure_reaches_only_the_callers_whose_text_failed(spy: Spy) -> None:
    spy.fail_on = "explode"
    scorer = Scorer(spy, batch_size=32, batch_wait_ms=100)
    try:
        bad, good = await asyncio.gather(
            scorer.score_one("please explode"), scorer.score_one("hello"), return_exceptions=True
        )
        assert isinstance(bad, ScoringError) and "exploded" in str(bad) and "\n" not in str(bad)
        assert isinstance(good, TextScore) and good.top_score < 0.1
        # The worker is still serving.
        assert (await scorer.score_one("toxicword")).top_label == "toxicity"
    finally:
        await scorer.close()


async def test_close_fails_waiting_callers_instead_of_hanging(spy: Spy) -> None:
    spy.release = threading.Event()
    scorer = Scorer(spy, batch_size=1, batch_wait_ms=0)
    in_model = asyncio.create_task(scorer.score_one("hello"))
    queued = asyncio.create_task(scorer.score_one("nice article"))
    try:
        await asyncio.wait_for(asyncio.to_thread(spy.entered.wait, 10), 15)
        await scorer.close()
        for task in (in_model, queued):
            with pytest.raises(ScoringError, match="shut down"):
                await asyncio.wait_for(task, 5)
        with pytest.raises(ScoringError, match="shut down"):
            await scorer.score_one("too late")
    finally:
        spy.release.set()


async def test_a_cancelled_caller_does_not_disturb_the_others(spy: Spy) -> None:
    scorer = Scorer(spy, batch_size=32, batch_wait_ms=200)
    try:
        doomed = asyncio.create_task(scorer.score_one("threatword"))
        kept = asyncio.create_task(scorer.score_one("toxicword"))
        await asyncio.sleep(0.05)  # both queued, the batch not yet taken
        doomed.cancel()
        assert (await kept).top_label == "toxicity"
        assert doomed.cancelled()
        assert [t for batch in spy.batches for t in batch] == ["toxicword"]
    finally:
        await scorer.close()
