"""The shared scoring service: one model on Ray Serve, batching the chunks of every caller together.

Why: each bot process that scores in-process holds its own copy of the model (~830 MB) and can only batch
its own messages. `commentwarden serve-scoring` loads the model once per replica (the same backend the
in-process scorer loads: ONNX Runtime or PyTorch, CPU or CUDA) and `@serve.batch` gathers chunks from all
callers into one model call. Clients (bot/scoring/client.py) select it with `SCORER_URL`.

How: a request carries whole texts. The replica plans each text's chunks with the in-process scorer's own
`plan_texts`, sends every chunk on its own into the batched `_predict`, and combines the chunk scores
with `combine_chunks`, so a text scores exactly as `Scorer.score` would score it. Model calls and
tokenising run in one worker thread per replica (the tokenizer is not thread-safe, and the replica's
event loop must stay free to accept the next callers' requests while a batch runs). A batch that fails
is retried text by text, as the in-process scorer does, so one bad text does not fail its neighbours.

`GET /stats` reports the replica's recent batch sizes and how many distinct callers each batch served:
the evidence that batching across callers happens.

Ray starts locally on loopback by default (no dashboard), or joins an existing cluster with `--address`.
Ray is an optional extra (`pip install commentwarden[serve]`): only this module imports it.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bot.config import Settings
from bot.scoring.chunking import DEFAULT_MAX_CHUNKS
from bot.scoring.client import CALLER_HEADER, text_score_row
from bot.scoring.engine import blank_score, combine_chunks, plan_texts, scoring_error_from
from bot.scoring.loader import load_backend
from bot.scoring.protocol import ScoringError

try:
    from ray import serve
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
except ImportError as exc:  # the `serve` extra is not installed
    raise ScoringError("serve-scoring needs Ray Serve: pip install 'commentwarden[serve]'") from exc

log = logging.getLogger(__name__)

APP_NAME = "commentwarden-scoring"
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # a scan sends 64 texts at a time; a hostile body is cut off here
_STATS_KEPT = 1000  # batches remembered for /stats
_REASON_CHARS = 300
_RAY_ATTEMPTS = 3


@dataclass(frozen=True)
class ServiceOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    replicas: int = 1
    address: str | None = None  # an existing Ray cluster; None starts Ray locally


@serve.deployment(name="scorer")
class ScoringDeployment:
    """One replica: the model, a worker thread for it, and the batching queue `@serve.batch` keeps."""

    def __init__(self, settings: Settings) -> None:
        logging.basicConfig(level=settings.log_level)
        self._backend = load_backend(settings)
        self._labels = tuple(self._backend.labels)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scoring-service")
        # @serve.batch adds these setters at run time; the checker sees only the undecorated method.
        self._predict.set_max_batch_size(settings.batch_size)  # type: ignore[attr-defined]
        self._predict.set_batch_wait_timeout_s(settings.batch_wait_ms / 1000)  # type: ignore[attr-defined]
        self._batch_sizes: collections.deque[int] = collections.deque(maxlen=_STATS_KEPT)
        self._batch_callers: collections.deque[int] = collections.deque(maxlen=_STATS_KEPT)
        self._texts_scored = 0
        log.info(
            "scoring replica ready: %d labels, %d tokens per chunk",
            len(self._labels),
            self._backend.max_tokens,
        )

    async def __call__(self, request: Request) -> Response:
        path = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        if request.method == "POST" and path == "score":
            return await self._score_request(request)
        if request.method == "GET" and path == "info":
            return JSONResponse({"labels": list(self._labels), "model_name": self._backend.model_name})
        if request.method == "GET" and path == "stats":
            return JSONResponse(
                {
                    "batch_sizes": list(self._batch_sizes),
                    "batch_callers": list(self._batch_callers),
                    "texts_scored": self._texts_scored,
                }
            )
        return PlainTextResponse("not found: use POST /score, GET /info or GET /stats", status_code=404)

    async def _score_request(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_REQUEST_BYTES:
            return PlainTextResponse(f"request over {MAX_REQUEST_BYTES} bytes", status_code=413)
        try:
            texts = json.loads(body)["texts"]
            if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
                raise TypeError("texts")
        except (ValueError, KeyError, TypeError):
            return PlainTextResponse('expected JSON {"texts": [string, ...]}', status_code=400)
        caller = request.headers.get(CALLER_HEADER, "anonymous")
        try:
            scores = await self._score(caller, texts)
        except ScoringError as exc:
            return PlainTextResponse(str(exc), status_code=422)
        return JSONResponse({"scores": [text_score_row(score) for score in scores]})

    async def _score(self, caller: str, texts: Sequence[str]) -> list[Any]:
        """The in-process scorer's plan -> batched chunks -> combine, with the batching across callers."""
        loop = asyncio.get_running_loop()
        todo = [i for i, text in enumerate(texts) if text.strip()]
        try:
            plans = await loop.run_in_executor(
                self._executor, plan_texts, self._backend, [texts[i] for i in todo], DEFAULT_MAX_CHUNKS
            )
        except Exception as exc:
            raise scoring_error_from(exc) from exc
        outputs = await asyncio.gather(*(self._predict((caller, c.text)) for p in plans for c in p.chunks))
        if error := next((o for o in outputs if isinstance(o, str)), None):
            raise ScoringError(error)
        chunk_scores = [o for o in outputs if not isinstance(o, str)]
        results = [blank_score(self._labels) for _ in texts]
        start = 0
        for i, plan in zip(todo, plans, strict=True):
            results[i] = combine_chunks(self._labels, plan, chunk_scores[start : start + len(plan.chunks)])
            start += len(plan.chunks)
        self._texts_scored += len(todo)
        return results

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def _predict(self, items: list[tuple[str, str]]) -> list[dict[str, float] | str]:
        """One model call for chunks from any callers; a failed text yields its error line instead."""
        self._batch_sizes.append(len(items))
        self._batch_callers.append(len({caller for caller, _ in items}))
        return await self._run([text for _, text in items])

    async def _run(self, texts: list[str]) -> list[dict[str, float] | str]:
        loop = asyncio.get_running_loop()
        try:
            outputs = await loop.run_in_executor(self._executor, self._backend.predict_batch, texts)
            if len(outputs) != len(texts):
                raise ScoringError(f"the model returned {len(outputs)} results for {len(texts)} texts")
        except Exception as exc:
            if len(texts) > 1:
                log.warning(
                    "a scoring batch of %d failed (%s); retrying its texts one by one", len(texts), exc
                )
                return [result for text in texts for result in await self._run([text])]
            log.warning("scoring failed: %s", exc)
            return [str(scoring_error_from(exc))]
        return list(outputs)


def start_service(settings: Settings, options: ServiceOptions) -> None:
    """Start Ray (or join a cluster) and deploy the scorer; returns once every replica is serving.

    Blocking (a minute or more of start-up on a small machine): run it in a thread. Raises `ScoringError`
    with one line when the model or Ray cannot start. Ray installs its own SIGTERM handler (which aborts
    the process): a caller that wants a clean shutdown on SIGTERM installs its own afterwards.
    """
    import ray

    # Ray gives its own processes a fixed 30 s to register; on a machine whose cores are saturated that can
    # pass, so a local start is tried a few times before giving up with one line.
    for attempt in range(1, _RAY_ATTEMPTS + 1):
        try:
            if options.address:
                ray.init(address=options.address, logging_level=logging.WARNING)
            else:
                # Loopback only: nothing here is meant to be reachable from another machine.
                ray.init(include_dashboard=False, logging_level=logging.WARNING, _node_ip_address="127.0.0.1")
            break
        except Exception as exc:  # Ray raises bare Exceptions for a start-up that timed out
            ray.shutdown()
            reason = " ".join(str(exc).split())[:_REASON_CHARS] or type(exc).__name__
            if attempt == _RAY_ATTEMPTS or options.address:
                raise ScoringError(f"Ray did not start: {reason}") from exc
            log.warning(
                "Ray did not start (attempt %d of %d): %s; trying again", attempt, _RAY_ATTEMPTS, reason
            )
    serve.start(http_options={"host": options.host, "port": options.port})
    threads = settings.torch_threads or 1
    # Ray Serve lets a replica hold 5 requests at a time by default, so a batch could never gather more than
    # 5 single-text requests, mostly one caller's. Room for two batches of requests: one runs, one fills.
    app = ScoringDeployment.options(  # type: ignore[attr-defined]
        num_replicas=options.replicas,
        ray_actor_options={"num_cpus": threads},
        max_ongoing_requests=2 * settings.batch_size,
    ).bind(settings)
    try:
        serve.run(app, name=APP_NAME, route_prefix="/")
    except Exception as exc:  # Ray wraps the replica's own error (a bad checkpoint, say) in its own
        stop_service()
        reason = " ".join(str(exc).split())[-_REASON_CHARS:] or type(exc).__name__
        raise ScoringError(f"the scoring service did not start: {reason}") from exc


def stop_service() -> None:
    """Take the deployment down and stop (or leave) Ray: callers in flight get an error, not a hang."""
    import ray

    serve.shutdown()
    ray.shutdown()
