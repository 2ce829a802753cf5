"""Chunking rules, with a word-level stand-in tokenizer so every count is obvious."""

from __future__ import annotations

import re

import pytest

from bot.scoring.chunking import plan_chunks

_TOKEN = re.compile(r"\w+|[^\w\s]")


def word_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _TOKEN.finditer(text)]


def tokens_in(text: str) -> int:
    return len(word_spans(text))


BUDGET = 32  # what plan_chunks is given; it keeps a 1-token safety margin, so chunks hold <= 31
FIT = BUDGET - 1


def sentences(count: int, words: int = 5) -> str:
    return " ".join(f"{'w' * (1 + i % 3)} " * (words - 1) + f"end{i}." for i in range(count))


def test_short_text_is_one_chunk_spanning_its_words() -> None:
    text = "  Hello there. Nice article!  \n"
    plan = plan_chunks(text, word_spans, BUDGET)
    assert len(plan.chunks) == 1
    (chunk,) = plan.chunks
    assert chunk.text == "Hello there. Nice article!"
    assert text[chunk.span[0] : chunk.span[1]] == chunk.text
    assert plan.coverage == 1.0


def test_long_text_chunks_fit_the_budget_end_at_sentences_and_cover_every_token() -> None:
    text = sentences(40)  # 6 tokens a sentence, 240 tokens
    plan = plan_chunks(text, word_spans, BUDGET)
    assert len(plan.chunks) > 1
    for chunk in plan.chunks:
        assert tokens_in(chunk.text) <= FIT
        assert text[chunk.span[0] : chunk.span[1]] == chunk.text
        assert chunk.text.endswith(".")  # cut at a sentence boundary, not mid-sentence
    covered = [
        (lo, hi)
        for lo, hi in word_spans(text)
        if not any(c.span[0] <= lo and hi <= c.span[1] for c in plan.chunks)
    ]
    assert covered == []
    assert plan.coverage == 1.0


def test_consecutive_chunks_reread_the_short_sentence_before_the_cut() -> None:
    plan = plan_chunks(sentences(40), word_spans, BUDGET)
    for before, after in zip(plan.chunks, plan.chunks[1:], strict=False):
        assert after.span[0] < before.span[1]  # overlap
        assert before.text.endswith(after.text.split(".")[0] + ".")  # ...by exactly one whole sentence


def test_a_sentence_longer_than_the_budget_is_cut_into_overlapping_windows() -> None:
    text = " ".join(f"w{i}" for i in range(200))  # one 200-token sentence
    plan = plan_chunks(text, word_spans, BUDGET)
    assert all(tokens_in(c.text) <= FIT for c in plan.chunks)
    # Every pair of neighbouring words is seen together by some chunk: nothing hides across a cut.
    spans = word_spans(text)
    for (lo, _), (_, hi) in zip(spans, spans[1:], strict=False):
        assert any(c.span[0] <= lo and hi <= c.span[1] for c in plan.chunks)


def test_cjk_full_stops_end_sentences_without_spaces() -> None:
    text = "你好世界。" * 30  # 5 tokens a sentence with the stand-in tokenizer ("你好世界" and "。")
    plan = plan_chunks(text, lambda t: [(m.start(), m.end()) for m in re.finditer(r"[^。]{2}|。", t)], 8)
    assert len(plan.chunks) > 1
    assert all(c.text.endswith("。") for c in plan.chunks)


def test_chunk_count_is_capped_with_head_and_tail_always_scored() -> None:
    text = sentences(400)  # ~80 chunks' worth
    plan = plan_chunks(text, word_spans, BUDGET, max_chunks=8)
    assert len(plan.chunks) == 8
    assert plan.chunks[0].span[0] == 0
    assert plan.chunks[-1].span[1] == len(text)
    assert 0.0 < plan.coverage < 0.2
    starts = [c.span[0] for c in plan.chunks]
    assert starts == sorted(starts)
    # Evenly spread: no gap between picked chunks is more than twice the average.
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert max(gaps) < 2 * (len(text) / 7)


def test_megabyte_text_tokenises_only_bounded_regions_and_keeps_head_and_tail() -> None:
    text = "HEAD " + ("filler words here. " * 60_000) + "TAIL"
    assert len(text) > 1_000_000
    seen: list[int] = []

    def counting_spans(region: str) -> list[tuple[int, int]]:
        seen.append(len(region))
        return word_spans(region)

    plan = plan_chunks(text, counting_spans, BUDGET, max_chunks=16)
    assert len(plan.chunks) <= 16
    assert sum(seen) <= 16 * BUDGET * 8  # the documented pre-tokenising cap, far below 1 MB
    assert plan.chunks[0].text.startswith("HEAD")
    assert plan.chunks[-1].text.endswith("TAIL")
    assert plan.coverage < 0.01


def test_text_without_tokens_is_scored_as_one_chunk() -> None:
    text = "\u200b\u200d"
    plan = plan_chunks(text, lambda t: [], BUDGET)
    assert [(c.text, c.span) for c in plan.chunks] == [(text, (0, 2))]
    assert plan.coverage == 1.0


def test_head_and_tail_need_at_least_two_chunks() -> None:
    with pytest.raises(ValueError, match="max_chunks"):
        plan_chunks("hello", word_spans, BUDGET, max_chunks=1)
