"""The scoring service's client: the `Scorer` interface over HTTP, for processes that share one model.

Why: every bot process that loads its own model holds its own ~830 MB copy and batches alone; with
`SCORER_URL` set, processes send their texts to one service (bot/scoring/service.py, on Ray Serve) that
holds the model once and batches across all of them. Callers cannot tell the difference: `score()`
returns the same `TextScore`s (the service plans chunks and combines them with the in-process scorer's
own functions) and raises the same `ScoringError` for everything that can go wrong on the way, a
service that is down, restarting or slow included, always within `SCORER_TIMEOUT_SECONDS`. The callers
that retry on a `ScoringError` (the mirror scheduler, the moderation recovery sweep) therefore retry
here too, and what failed stays unscored until they do.

No Ray import here: a client process needs only aiohttp.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from typing import Any

import aiohttp

from bot.scoring.engine import TextScore
from bot.scoring.protocol import ScoringError

log = logging.getLogger(__name__)

CALLER_HEADER = "X-Commentwarden-Caller"
_REASON_CHARS = 200


class ServiceScorer:
    """`await scorer.score(texts)` against the scoring service; safe for any number of concurrent tasks."""

    def __init__(
        self,
        url: str,
        labels: Sequence[str],
        model_name: str,
        session: aiohttp.ClientSession,
        time_limit: float,
    ) -> None:
        self.labels: tuple[str, ...] = tuple(labels)
        self.model_name = model_name
        self._url = url
        self._session = session
        self._time_limit = time_limit
        self._closed = False

    @classmethod
    async def connect(cls, url: str, *, time_limit: float) -> ServiceScorer:
        """Ask the service which labels its model has; a `ScoringError` naming SCORER_URL if it cannot."""
        # One name per client, so the service can tell callers apart in its batch statistics.
        caller = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        session = aiohttp.ClientSession(headers={CALLER_HEADER: caller})
        try:
            info = await _request(session, "GET", f"{url}/info", None, time_limit)
            labels, model_name = info.get("labels"), info.get("model_name")
            if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
                raise ScoringError(f"the scoring service at SCORER_URL={url} sent no label list")
            if not isinstance(model_name, str):
                raise ScoringError(f"the scoring service at SCORER_URL={url} did not name its model")
        except BaseException:
            await session.close()
            raise
        log.info("scoring with %s through the service at %s", model_name, url)
        return cls(url, labels, model_name, session, time_limit)

    async def score(self, texts: Sequence[str]) -> list[TextScore]:
        """Scores in input order, as `Scorer.score` gives them; `ScoringError` on any failure."""
        if self._closed:
            raise ScoringError("the scorer is shut down")
        texts = list(texts)
        if not texts:
            return []
        body = await _request(self._session, "POST", f"{self._url}/score", {"texts": texts}, self._time_limit)
        rows = body.get("scores")
        if not isinstance(rows, list) or len(rows) != len(texts):
            raise ScoringError(f"the scoring service at {self._url} sent a malformed answer")
        try:
            return [_text_score(row) for row in rows]
        except (KeyError, TypeError, ValueError) as exc:
            raise ScoringError(f"the scoring service at {self._url} sent a malformed answer") from exc

    async def score_one(self, text: str) -> TextScore:
        (result,) = await self.score([text])
        return result

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._session.close()


async def _request(
    session: aiohttp.ClientSession, method: str, url: str, payload: dict[str, Any] | None, time_limit: float
) -> dict[str, Any]:
    """One call to the service; every way it can fail becomes one `ScoringError` line."""
    try:
        async with asyncio.timeout(time_limit), session.request(method, url, json=payload) as response:
            if response.status != 200:
                detail = " ".join((await response.text()).split())[:_REASON_CHARS]
                raise ScoringError(f"the scoring service at {url} answered HTTP {response.status}: {detail}")
            body = await response.json(content_type=None)
    except TimeoutError as exc:
        raise ScoringError(f"the scoring service at {url} did not answer within {time_limit:g} s") from exc
    except aiohttp.ClientError as exc:
        reason = " ".join(str(exc).split())[:_REASON_CHARS] or type(exc).__name__
        raise ScoringError(f"the scoring service at {url} is unreachable or failed: {reason}") from exc
    except ValueError as exc:  # not JSON
        raise ScoringError(f"the scoring service at {url} sent a malformed answer") from exc
    if not isinstance(body, dict):
        raise ScoringError(f"the scoring service at {url} sent a malformed answer")
    return body


def _text_score(row: dict[str, Any]) -> TextScore:
    span = row["span"]
    return TextScore(
        scores={str(label): float(value) for label, value in row["scores"].items()},
        top_label=row["top_label"],
        top_score=float(row["top_score"]),
        evidence=str(row["evidence"]),
        span=(int(span[0]), int(span[1])) if span is not None else None,
        coverage=float(row["coverage"]),
    )


def text_score_row(score: TextScore) -> dict[str, Any]:
    """A `TextScore` as the service sends it (JSON keeps floats exact: they round-trip by repr)."""
    return {
        "scores": score.scores,
        "top_label": score.top_label,
        "top_score": score.top_score,
        "evidence": score.evidence,
        "span": list(score.span) if score.span is not None else None,
        "coverage": score.coverage,
    }
