"""How well the lite model (alt-profanity-check) ranks each Jigsaw label, on the shared labelled sample.

ROC AUC per label of `/work/shared/data/jigsaw-sample/train.csv` (282 real comments, human-labelled),
with the lite model's one probability as the score for every label. Two columns: the package's own
`predict_prob` on each whole comment, and the product path (`Scorer` over `LiteBackend`: sentence-sized
chunks, worst chunk counts). Caveat: alt-profanity-check was trained on ~200k comments that may include
these Jigsaw ones, so treat the figures as an upper bound, not a held-out score.

    python benchmarks/bench_lite_auc.py                  # prints the table (a few seconds)
    python benchmarks/bench_lite_auc.py --data DIR       # another copy of the sample
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.scoring.engine import Scorer  # noqa: E402
from bot.scoring.lite import LiteBackend  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "jigsaw-sample"
JIGSAW_LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")


def read_sample(directory: Path) -> tuple[list[str], dict[str, list[int]]]:
    with open(directory / "train.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [r["comment_text"] for r in rows], {
        label: [int(r[label]) for r in rows] for label in JIGSAW_LABELS
    }


async def product_scores(texts: list[str]) -> list[float]:
    backend = LiteBackend()
    scorer = Scorer(backend, max_chunks=backend.max_chunks)
    try:
        return [score.top_score for score in await scorer.score(texts)]
    finally:
        await scorer.close()


def main() -> int:
    from sklearn.metrics import roc_auc_score

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the jigsaw-sample directory")
    args = parser.parse_args()
    texts, truth = read_sample(args.data)
    whole = [row["toxicity"] for row in LiteBackend().predict_batch(texts)]
    chunked = asyncio.run(product_scores(texts))
    print(f"lite-profanity (alt-profanity-check) on {len(texts)} Jigsaw comments ({args.data})")
    print(f"{'label':<14} {'positives':>9}  {'AUC whole text':>14}  {'AUC product path':>16}")
    for label in JIGSAW_LABELS:
        positives = sum(truth[label])
        if 0 < positives < len(texts):
            a, b = roc_auc_score(truth[label], whole), roc_auc_score(truth[label], chunked)
            print(f"{label:<14} {positives:>9}  {a:>14.3f}  {b:>16.3f}")
        else:
            print(f"{label:<14} {positives:>9}  {'n/a':>14}  {'n/a':>16}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
