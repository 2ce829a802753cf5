"""Split a batch of tokenised texts into sub-batches of similar length, so little compute goes on padding.

Why: a transformer batch is padded to its longest text, and chat is mostly short lines with the odd long
comment: one 300-token comment among 31 ten-token lines makes the model read 32 x 300 tokens, 30 times
the real work. Sorting by length and cutting the sorted run into groups removes nearly all of it
(measured in benchmarks/bench_scoring.py: the largest single gain on CPU).

Where to cut is an exact minimisation (a small dynamic programme over the sorted lengths, n <= a few
hundred): each group costs a fixed overhead per model call (`call_cost`, in token-equivalents) plus
group size x its longest length. A high overhead keeps groups large; zero would run every length alone.
"""

from __future__ import annotations

from collections.abc import Sequence

# Token-equivalents one extra model call costs on CPU (dispatch, small-matrix inefficiency); measured
# with BERT-base on 2 cores, where splitting below ~this much padding stopped paying.
DEFAULT_CALL_COST = 64


def length_buckets(lengths: Sequence[int], call_cost: float = DEFAULT_CALL_COST) -> list[list[int]]:
    """Indices into `lengths`, grouped; each group is run as one padded batch, groups shortest first."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    n = len(order)
    # best[j]: least cost of running order[:j]; cut[j]: where its last group starts.
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        longest = lengths[order[j - 1]]  # sorted: the group's last member is its longest
        for i in range(j):
            cost = best[i] + call_cost + (j - i) * longest
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups = []
    j = n
    while j > 0:
        groups.append(order[cut[j] : j])
        j = cut[j]
    return groups[::-1]
