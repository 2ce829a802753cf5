"""The scoring service's client on its own, against small loopback HTTP servers: every way a service can
fail (not listening, too slow, an error status, a malformed answer) is one `ScoringError` line within the
client's time limit; `SCORER_URL` is validated like every other setting. (The real service: see
test_scoring_service.py.)"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from bot.config import ConfigError, load_settings
from bot.scoring import ScoringError
from bot.scoring.client import CALLER_HEADER, ServiceScorer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
INFO = {"labels": ["toxicity", "insult"], "model_name": "test model"}


async def serve(score: Handler) -> tuple[web.AppRunner, str]:
    async def info(request: web.Request) -> web.Response:
        return web.json_response(INFO)

    app = web.Application()
    app.router.add_get("/info", info)
    app.router.add_post("/score", score)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def stopped_runners() -> AsyncIterator[list[web.AppRunner]]:
    runners: list[web.AppRunner] = []
    yield runners
    for runner in runners:
        await runner.cleanup()


async def test_scores_come_back_as_text_scores_and_callers_name_themselves(
    stopped_runners: list[web.AppRunner],
) -> None:
    callers = set()

    async def score(request: web.Request) -> web.Response:
        callers.add(request.headers[CALLER_HEADER])
        texts = (await request.json())["texts"]
        row = {
            "scores": {"toxicity": 0.9, "insult": 0.1},
            "top_label": "toxicity",
            "top_score": 0.9,
            "evidence": "x",
            "span": [0, 1],
            "coverage": 1.0,
        }
        return web.json_response({"scores": [row for _ in texts]})

    runner, url = await serve(score)
    stopped_runners.append(runner)
    first, second = (
        await ServiceScorer.connect(url, time_limit=5),
        await ServiceScorer.connect(url, time_limit=5),
    )
    try:
        assert (first.labels, first.model_name) == (("toxicity", "insult"), "test model")
        (result,) = await first.score(["x"])
        assert (result.top_label, result.top_score, result.span, result.scores["insult"]) == (
            "toxicity",
            0.9,
            (0, 1),
            0.1,
        )
        await second.score_one("y")
        assert await first.score([]) == []
    finally:
        await first.close()
        await second.close()
    assert len(callers) == 2
    with pytest.raises(ScoringError, match="shut down"):
        await first.score(["x"])


async def test_a_service_that_is_not_listening_is_a_scoring_error_at_once() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        started = time.monotonic()
        with pytest.raises(ScoringError, match="unreachable") as caught:
            await ServiceScorer.connect(f"http://127.0.0.1:{port}", time_limit=30)
    assert time.monotonic() - started < 30 and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("slow", "did not answer within 1 s"),
        ("error", "answered HTTP 503"),
        ("garbage", "malformed answer"),
        ("short", "malformed"),
    ],
)
async def test_a_failing_service_is_one_scoring_error_within_the_time_limit(
    stopped_runners: list[web.AppRunner], reply: str, message: str
) -> None:
    async def score(request: web.Request) -> web.StreamResponse:
        if reply == "slow":
            await asyncio.sleep(30)
        if reply == "error":
            return web.Response(status=503, text="replica restarting")
        if reply == "garbage":
            return web.Response(text="<html>not json</html>", content_type="application/json")
        return web.json_response({"scores": []})

    runner, url = await serve(score)
    stopped_runners.append(runner)
    scorer = await ServiceScorer.connect(url, time_limit=1)
    try:
        started = time.monotonic()
        with pytest.raises(ScoringError, match=message) as caught:
            await scorer.score(["a text"])
        assert time.monotonic() - started < 10 and "\n" not in str(caught.value)
    finally:
        await scorer.close()


@pytest.mark.parametrize("raw", ["ftp://127.0.0.1:8000", "127.0.0.1:8000", "http://", "http://h/?q=1"])
def test_scorer_url_must_be_an_http_url(raw: str) -> None:
    with pytest.raises(ConfigError, match="SCORER_URL"):
        load_settings(env_file=None, environ={"SCORER_URL": raw})


def test_scorer_url_and_int8_are_read_from_the_environment() -> None:
    settings = load_settings(
        env_file=None,
        environ={
            "SCORER_URL": "http://127.0.0.1:8000/",
            "SCORING_INT8": "true",
            "SCORER_TIMEOUT_SECONDS": "7.5",
        },
    )
    assert (settings.scorer_url, settings.scoring_int8, settings.scorer_timeout) == (
        "http://127.0.0.1:8000",
        True,
        7.5,
    )
    assert load_settings(env_file=None, environ={}).scorer_url is None
