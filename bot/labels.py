"""Detoxify label names, default flag levels and the rule that picks a text's top label.

The names are Detoxify's *standardised* ones (it renames the `original` model's `toxic`, `severe_toxic` and
`identity_hate`), so one threshold table serves every model type. A loaded model may have only some of
them (`original` has no `sexual_explicit`); callers ignore thresholds for labels the model lacks.
"""

from __future__ import annotations

from collections.abc import Mapping

TOXICITY = "toxicity"
SEVERE_TOXICITY = "severe_toxicity"
OBSCENE = "obscene"
IDENTITY_ATTACK = "identity_attack"
INSULT = "insult"
THREAT = "threat"
SEXUAL_EXPLICIT = "sexual_explicit"

# In the order of the `unbiased` model's outputs, which is also the order reports list them in.
LABELS: tuple[str, ...] = (
    TOXICITY,
    SEVERE_TOXICITY,
    OBSCENE,
    IDENTITY_ATTACK,
    INSULT,
    THREAT,
    SEXUAL_EXPLICIT,
)

# Severe toxicity is rare and its probabilities run low even on vile text, hence the lower level; plain
# toxicity and obscenity fire on mere swearing, hence the higher ones.
DEFAULT_FLAG_THRESHOLDS: dict[str, float] = {
    TOXICITY: 0.80,
    SEVERE_TOXICITY: 0.30,
    OBSCENE: 0.80,
    IDENTITY_ATTACK: 0.60,
    INSULT: 0.60,
    THREAT: 0.60,
    SEXUAL_EXPLICIT: 0.60,
}


def top_label(scores: Mapping[str, float]) -> tuple[str | None, float]:
    """The highest-scoring label and its score; ties go to the label listed first in `LABELS`.

    A fixed tie-break keeps reports and case records stable between runs (dict order of a model's output
    is an implementation detail). Labels unknown to `LABELS` rank after the known ones on ties.
    """
    if not scores:
        return None, 0.0
    order = {name: i for i, name in enumerate(LABELS)}
    best = min(scores, key=lambda name: (-scores[name], order.get(name, len(order)), name))
    return best, scores[best]
