"""The async scoring engine: micro-batches concurrent requests into one model worker thread.

Why batching: the bot scores many small texts at once (every message in busy channels, every comment of
a thread being mirrored), and a transformer scores a batch of 32 in little more time than one. So each
request's chunks go to a queue; a single consumer task takes whatever arrived within `batch_wait_ms`, up to
`batch_size` chunks, and runs them as one batch.

Why one worker thread: inference (and tokenising, which chunking needs) is CPU-bound and must never run on
the event loop, and the model and its tokenizer are not safe to use from several threads at once. A
dedicated single-thread executor gives both: the loop stays free, calls into the model are serialised.

A `Scorer` belongs to the event loop that first uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.labels import top_label
from bot.scoring.chunking import DEFAULT_MAX_CHUNKS, ChunkPlan, plan_chunks
from bot.scoring.loader import load_backend
from bot.scoring.protocol import ScoringBackend, ScoringError

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

# Lone surrogates (possible in text decoded from JSON) cannot be handed to the Rust tokenizer; replacing
# each with U+FFFD keeps every char offset, so spans still index the caller's original text.
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class TextScore:
    scores: dict[str, float]  # every label the model has -> probability (max over the scored chunks)
    top_label: str | None  # None for empty text
    top_score: float
    evidence: str  # the chunk (whole sentences where possible) that drove top_score ("" if empty text)
    span: tuple[int, int] | None  # char span of evidence in the original text
    coverage: float = 1.0  # < 1.0 when the work cap left part of a huge text unscored (see chunking.py)

    @property
    def partial(self) -> bool:
        """True when part of the text was not scored, so a low score is not a clean bill."""
        return self.coverage < 1.0

    @classmethod
    def stored(
        cls,
        scores: dict[str, float] | None,
        top_label: str | None,
        top_score: float | None,
        evidence: str | None = None,
        coverage: float | None = None,
    ) -> TextScore:
        """A score read back from the store, whose columns may be NULL; the span is not kept there."""
        return cls(
            scores or {},
            top_label,
            top_score or 0.0,
            evidence or "",
            None,
            1.0 if coverage is None else coverage,
        )


class TextScorer(Protocol):
    """What callers score through: the in-process `Scorer`, or the scoring service's client."""

    labels: tuple[str, ...]
    model_name: str

    async def score(self, texts: Sequence[str]) -> list[TextScore]: ...

    async def score_one(self, text: str) -> TextScore: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class _Job:
    text: str
    future: asyncio.Future[dict[str, float]]


class Scorer:
    """`await scorer.score(texts)`; safe to call from any number of concurrent tasks."""

    def __init__(
        self,
        backend: ScoringBackend,
        *,
        batch_size: int = 32,
        batch_wait_ms: float = 5.0,
        max_chunks: int = DEFAULT_MAX_CHUNKS,
    ) -> None:
        self.labels: tuple[str, ...] = tuple(backend.labels)
        self.model_name: str = backend.model_name
        self._backend = backend
        self._batch_size = max(1, batch_size)
        self._wait = max(0.0, batch_wait_ms) / 1000
        self._max_chunks = max_chunks
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scorer")
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._in_flight: list[_Job] = []
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    async def score(self, texts: Sequence[str]) -> list[TextScore]:
        """Scores in input order. Blank texts score all zeros without touching the model.

        Raises `ScoringError` when the model fails on these texts or the scorer is closed meanwhile.
        """
        self._check_open()
        texts = list(texts)
        results: list[TextScore | None] = [None if text.strip() else self._blank() for text in texts]
        todo = [i for i, result in enumerate(results) if result is None]
        if todo:
            loop = asyncio.get_running_loop()
            try:
                plans = await loop.run_in_executor(self._executor, self._plan, [texts[i] for i in todo])
            except Exception as exc:
                raise scoring_error_from(exc) from exc
            self._check_open()
            self._ensure_worker()
            futures = []
            for plan in plans:
                for chunk in plan.chunks:
                    future: asyncio.Future[dict[str, float]] = loop.create_future()
                    self._queue.put_nowait(_Job(chunk.text, future))
                    futures.append(future)
            gathered = await asyncio.gather(*futures, return_exceptions=True)
            if error := next((o for o in gathered if isinstance(o, BaseException)), None):
                raise error
            outputs = [o for o in gathered if not isinstance(o, BaseException)]  # all of them, none failed
            start = 0
            for i, plan in zip(todo, plans, strict=True):
                results[i] = self._combine(plan, outputs[start : start + len(plan.chunks)])
                start += len(plan.chunks)
        return [result for result in results if result is not None]

    async def score_one(self, text: str) -> TextScore:
        (result,) = await self.score([text])
        return result

    async def close(self) -> None:
        """Stop the worker; callers still waiting get a `ScoringError` instead of hanging."""
        if self._closed:
            return
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        error = ScoringError("the scorer was shut down before this text was scored")
        pending = list(self._in_flight)
        while not self._queue.empty():
            pending.append(self._queue.get_nowait())
        _settle(pending, error=error)
        # The thread may be mid-batch; it cannot be interrupted, and its result is simply dropped.
        self._executor.shutdown(wait=False)

    # -- internals ---------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ScoringError("the scorer is shut down")

    def _blank(self) -> TextScore:
        return blank_score(self.labels)

    def _plan(self, texts: list[str]) -> list[ChunkPlan]:
        """Runs in the worker thread: chunking tokenises, and the tokenizer lives in that thread."""
        return plan_texts(self._backend, texts, self._max_chunks)

    def _combine(self, plan: ChunkPlan, outputs: Sequence[dict[str, float]]) -> TextScore:
        return combine_chunks(self.labels, plan, outputs)

    def _ensure_worker(self) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._serve(), name="scorer-batches")

    async def _serve(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if self._wait and self._queue.qsize() < self._batch_size - 1:
                await asyncio.sleep(self._wait)
            while len(batch) < self._batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._in_flight = [job for job in batch if not job.future.done()]  # skip cancelled callers
            if self._in_flight:
                await self._run(self._in_flight)
            self._in_flight = []

    async def _run(self, jobs: list[_Job]) -> None:
        loop = asyncio.get_running_loop()
        try:
            outputs = await loop.run_in_executor(
                self._executor, self._backend.predict_batch, [j.text for j in jobs]
            )
            if len(outputs) != len(jobs):
                raise ScoringError(f"the model returned {len(outputs)} results for {len(jobs)} texts")
        except Exception as exc:
            if len(jobs) > 1:
                # One bad text must not fail the strangers it happened to be batched with: retry one by
                # one so only the texts that fail on their own get the error.
                log.warning(
                    "a scoring batch of %d failed (%s); retrying its texts one by one", len(jobs), exc
                )
                for job in jobs:
                    await self._run([job])
                return
            log.warning("scoring failed: %s", exc)
            _settle(jobs, error=scoring_error_from(exc))
            return
        _settle(jobs, outputs=outputs)


def blank_score(labels: Sequence[str]) -> TextScore:
    """What a blank text scores: all zeros, without touching the model."""
    return TextScore({label: 0.0 for label in labels}, None, 0.0, "", None)


def plan_texts(backend: ScoringBackend, texts: Sequence[str], max_chunks: int) -> list[ChunkPlan]:
    """Each text's chunks, as every scorer plans them (in-process here, or the scoring service)."""
    return [
        plan_chunks(_SURROGATE.sub("\ufffd", text), backend.token_spans, backend.max_tokens, max_chunks)
        for text in texts
    ]


def combine_chunks(labels: Sequence[str], plan: ChunkPlan, outputs: Sequence[dict[str, float]]) -> TextScore:
    """One text's score from its chunks' scores: each label's maximum, the top chunk as evidence."""
    scores = {label: max(output[label] for output in outputs) for label in labels}
    label, value = top_label(scores)
    # The first chunk reaching the top score is the evidence (max() keeps the first of equals).
    driver = max(range(len(outputs)), key=lambda i: outputs[i].get(label or "", 0.0))
    chunk = plan.chunks[driver]
    if plan.coverage < 1.0:
        log.info(
            "long text only partly scored (work cap): %d chunks, %.0f%% of its characters",
            len(plan.chunks),
            plan.coverage * 100,
        )
    return TextScore(scores, label, value, chunk.text, chunk.span, plan.coverage)


def _settle(
    jobs: Sequence[_Job], *, outputs: Sequence[dict[str, float]] = (), error: Exception | None = None
) -> None:
    for i, job in enumerate(jobs):
        if job.future.done():
            continue
        if error is not None:
            # A fresh instance per caller: one exception object raised in many tasks would collect all
            # their tracebacks.
            job.future.set_exception(type(error)(*error.args))
        else:
            job.future.set_result(outputs[i])


def scoring_error_from(exc: Exception) -> ScoringError:
    if isinstance(exc, ScoringError):
        return exc
    reason = " ".join(str(exc).split())[:200] or type(exc).__name__
    return ScoringError(f"the model failed on this text: {reason}")


async def load_scorer(settings: Settings) -> Scorer:
    """Load (or reuse) the process's model in a worker thread and wrap it in a `Scorer`.

    Reads `model_type`, `checkpoint`, `hf_config_dir`, `device`, `torch_threads`, `batch_size` and
    `batch_wait_ms` from `settings`. Raises `ScoringError` (one line naming the setting) if the model
    cannot be loaded.
    """
    backend = await asyncio.to_thread(load_backend, settings)
    return Scorer(
        backend,
        batch_size=settings.batch_size,
        batch_wait_ms=settings.batch_wait_ms,
        max_chunks=backend.max_chunks,
    )
