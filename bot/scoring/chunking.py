"""Split a text into model-sized, sentence-aligned, overlapping chunks that remember their char spans.

Why: Detoxify truncates its input at the model's token limit (512 for the real models), so a long comment
could hide abuse after a few paragraphs of filler. Scoring every chunk and keeping each label's maximum
closes that hole, and the span of the chunk that drove the top score is the evidence shown to moderators.

How:
- The text is tokenised once (a fast tokenizer gives every token's char span), so chunk sizes are exact
  token counts, not guesses from character counts.
- A chunk ends at a sentence start when one lies in the second half of the token budget; only a sentence
  longer than that is cut mid-sentence (a token window, which is finer than a character window and
  never splits a character).
- Consecutive chunks overlap: a sentence-aligned cut re-reads the previous sentence when it is short
  (<= a quarter of the budget), a mid-sentence cut re-reads the last quarter of the window. So a phrase
  straddling a cut is still seen whole by one chunk.

Work cap (hostile input, e.g. a 1 MB comment): at most `max_chunks` chunks are scored per text. When a
text needs more, the chunks scored are spread evenly over it and always include the head and the tail
(where abuse in a wall of filler tends to sit). Texts too long to even tokenise cheaply
(> `max_chunks * max_tokens * 8` chars) are first cut down to `max_chunks` evenly spread regions, head
and tail included, before tokenising. Either way the plan's `coverage` drops below 1.0 and the engine
puts it in the result, so a partly scored text is never passed off as fully scored.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_CHUNKS = 16
# Generous chars-per-token ceiling (English averages ~4.5) used only to size regions of huge texts.
_CHARS_PER_TOKEN = 8

# Sentence ends: CJK full stops anywhere; Latin ones (with closing quotes/brackets) before whitespace or
# the end of the text, so "3.14" and "e.g.x" are not cut; a line break always ends a sentence.
_SENTENCE_END = re.compile(r"[。！？]+|[.!?…]+[\"'”’»)\]]*(?=\s|$)|\n")
_SPACE = re.compile(r"\s+")

TokenSpans = Callable[[str], list[tuple[int, int]]]
"""A tokenizer's char span of every token in a text, special tokens excluded."""


@dataclass(frozen=True)
class Chunk:
    text: str
    span: tuple[int, int]  # [start, end) in the original text


@dataclass(frozen=True)
class ChunkPlan:
    chunks: tuple[Chunk, ...]
    coverage: float  # 1.0 when every token of the text is inside a chunk, else the share of chars covered


def plan_chunks(
    text: str, token_spans: TokenSpans, max_tokens: int, max_chunks: int = DEFAULT_MAX_CHUNKS
) -> ChunkPlan:
    """Chunks to score for `text` (non-blank); each fits `max_tokens` tokens excluding special tokens."""
    if max_chunks < 2:
        raise ValueError("max_chunks must be at least 2: the head and the tail are always scored")
    # A small margin: a chunk re-tokenised on its own can differ by a token from the same stretch inside
    # the whole text (byte-level BPE merges differently at its start).
    budget = max(1, max_tokens - max(1, max_tokens // 64))
    regions = _regions(text, max_chunks * max_tokens * _CHARS_PER_TOKEN, max_chunks)
    candidates: list[Chunk] = []
    for start, end in regions:
        candidates.extend(_chunk_region(text, start, end, token_spans, budget))
    if not candidates:  # nothing the tokenizer turns into tokens: score the text as it is
        candidates = [Chunk(text, (0, len(text)))]
    complete = len(regions) == 1 and len(candidates) <= max_chunks
    chosen = candidates if len(candidates) <= max_chunks else _spread(candidates, max_chunks)
    coverage = 1.0 if complete else _covered([c.span for c in chosen]) / len(text)
    return ChunkPlan(tuple(chosen), coverage)


def _regions(text: str, max_chars: int, count: int) -> list[tuple[int, int]]:
    """The whole text, or `count` evenly spread windows of it (first at the head, last at the tail)."""
    length = len(text)
    if length <= max_chars:
        return [(0, length)]
    size = max_chars // count
    regions = []
    for i in range(count):
        start = round(i * (length - size) / (count - 1))
        end = start + size
        # Move inner edges to whitespace when one is near, so no region starts or ends mid-word.
        if i > 0:
            start = _after_space(text, start, start + size // 8)
        if i < count - 1:
            end = _before_space(text, end - size // 8, end)
        regions.append((start, end))
    return regions


def _after_space(text: str, lo: int, hi: int) -> int:
    match = _SPACE.search(text, lo, hi)
    return match.end() if match else lo


def _before_space(text: str, lo: int, hi: int) -> int:
    cut = max(text.rfind(" ", lo, hi), text.rfind("\n", lo, hi))
    return cut if cut > lo else hi


def _chunk_region(text: str, start: int, end: int, token_spans: TokenSpans, budget: int) -> list[Chunk]:
    region = text[start:end]
    spans = token_spans(region)
    if not spans:
        return []
    sentence_tokens = _sentence_start_tokens(region, spans)
    overlap = budget // 4
    windows: list[tuple[int, int]] = []
    first, total = 0, len(spans)
    while True:
        if total - first <= budget:
            windows.append((first, total))
            break
        limit = first + budget
        # The last sentence start in the second half of the window, if any.
        k = bisect.bisect_right(sentence_tokens, limit) - 1
        aligned = k >= 0 and sentence_tokens[k] > first + budget // 2
        cut = sentence_tokens[k] if aligned else limit
        windows.append((first, cut))
        if aligned:
            # Re-read the sentence just before the cut when it is short enough to be worth it.
            previous = sentence_tokens[k - 1] if k >= 1 else first
            first = previous if previous > first and cut - previous <= overlap else cut
        else:
            first = cut - overlap
    chunks = []
    for lo, hi in windows:
        char_lo, char_hi = start + spans[lo][0], start + spans[hi - 1][1]
        chunks.append(Chunk(text[char_lo:char_hi], (char_lo, char_hi)))
    return chunks


def _sentence_start_tokens(region: str, spans: list[tuple[int, int]]) -> list[int]:
    """Index of the first token of each sentence after the first, ascending and without repeats."""
    token_starts = [lo for lo, _ in spans]
    found: list[int] = []
    for match in _SENTENCE_END.finditer(region):
        index = bisect.bisect_left(token_starts, match.end())
        if 0 < index < len(spans) and (not found or found[-1] < index):
            found.append(index)
    return found


def _spread(chunks: list[Chunk], count: int) -> list[Chunk]:
    """`count` chunks evenly spread over the list, always including the first and the last."""
    last = len(chunks) - 1
    picks = sorted({round(i * last / (count - 1)) for i in range(count)})
    return [chunks[i] for i in picks]


def _covered(spans: list[tuple[int, int]]) -> int:
    total, reach = 0, 0
    for lo, hi in sorted(spans):
        lo = max(lo, reach)
        if hi > lo:
            total += hi - lo
            reach = hi
    return total
