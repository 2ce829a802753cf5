"""The shared scoring service (Ray Serve, started by `commentwarden serve-scoring` on loopback) and its
client: the same scores as the in-process scorer, batches formed across callers, and an outage that
every caller sees as a `ScoringError` within its time limit, after which nothing is lost or scored twice.

One service per module (Ray's start-up takes a minute on 2 shared cores); the outage test restarts it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import Settings
from bot.scan import scan_thread
from bot.scoring import ScoringError, TextScore, load_scorer
from bot.scoring.client import ServiceScorer
from bot.sources.base import Article, Comment, Thread
from bot.store import Store

REPO = Path(__file__).resolve().parent.parent
START_LIMIT_S = 420  # Ray and the replica's model load, on 2 busy cores
TIME_LIMIT_S = 15.0  # each client's SCORER_TIMEOUT_SECONDS in these tests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """`commentwarden serve-scoring` in its own process (and Ray's processes under it)."""

    env: dict[str, str]
    log_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        log_path = self.log_dir / f"service-{self.starts}.log"
        with log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve-scoring", "--port", str(self.port)],
                cwd=self.log_dir,
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_LIMIT_S
        while b"scoring service ready" not in log_path.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the scoring service did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(1)

    def signal_stop(self) -> None:
        """SIGTERM: the service shuts Ray down cleanly; requests in flight fail."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.process is None:
            return
        self.signal_stop()
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    async def stats(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.get(f"{self.url}/stats") as response:
            result: dict[str, Any] = await response.json()
            return result


@pytest.fixture(scope="module")
def service(detoxify_checkpoint: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    env = {
        **os.environ,
        **detoxify_checkpoint.env(),
        "PYTHONPATH": str(REPO),
        "LOG_LEVEL": "WARNING",
        "SCORING_BATCH_WAIT_MS": "200",
    }
    env.pop("SCORER_URL", None)
    service = Service(env, tmp_path_factory.mktemp("scoring-service"))
    service.start()
    yield service
    service.stop()


def sample_texts(ck: Any, count: int, tag: str) -> list[str]:
    """Short and chunked (longer than the model's 64 tokens) texts, some toxic, each one distinct."""
    words = ck.neutral_words
    texts = []
    for i in range(count):
        head = " ".join(words[(i + j) % len(words)] for j in range(3 + i % 5))
        if i % 7 == 3:
            text = f"{' '.join(words * 4)}. {head} {ck.threat_word}. {tag} {i}"
        elif i % 3 == 0:
            text = f"{head} {ck.toxic_word} {tag} {i}"
        else:
            text = f"{head} {tag} {i}"
        texts.append(text)
    return texts


CLIENT = """
import asyncio, json, os, sys, time
from pathlib import Path
from bot.config import load_settings
from bot.model import open_scorer

async def main() -> None:
    scorer = await open_scorer(load_settings(env_file=None))
    texts = json.loads(sys.argv[1])
    print("connected", flush=True)
    go = Path(sys.argv[2])
    while not go.exists():
        await asyncio.sleep(0.005)
    scores = await asyncio.gather(*(scorer.score_one(t) for t in texts))
    await scorer.close()
    print(json.dumps([[s.scores, s.top_label, s.top_score, s.evidence, s.span, s.coverage] for s in scores]))

asyncio.run(main())
"""


def assert_same(got: list[Any], want: list[TextScore]) -> None:
    assert len(got) == len(want)
    for (scores, label, top, evidence, span, coverage), expected in zip(got, want, strict=True):
        assert scores.keys() == expected.scores.keys()
        assert max(abs(scores[k] - expected.scores[k]) for k in scores) < 1e-5, (scores, expected)
        assert (label, evidence, tuple(span) if span else None, coverage) == (
            expected.top_label,
            expected.evidence,
            expected.span,
            expected.coverage,
        )
        assert abs(top - expected.top_score) < 1e-5


async def test_two_processes_score_through_one_service_as_in_process_and_are_batched_together(
    service: Service, detoxify_checkpoint: Any, tmp_path: Path
) -> None:
    batches_before = len((await service.stats())["batch_sizes"])
    go = tmp_path / "go"
    env = {**service.env, "SCORER_URL": service.url, "SCORER_TIMEOUT_SECONDS": "120"}
    corpora = [sample_texts(detoxify_checkpoint, 40, tag) for tag in ("first", "second")]
    clients = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CLIENT,
            json.dumps(texts),
            str(go),
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for texts in corpora
    ]
    for client in clients:
        assert client.stdout is not None
        line = await asyncio.wait_for(client.stdout.readline(), 180)
        assert line.strip() == b"connected", (line, await client.stderr.read() if client.stderr else b"")
    go.touch()  # both start their bursts together
    outputs = [await asyncio.wait_for(client.communicate(), 180) for client in clients]
    assert [client.returncode for client in clients] == [0, 0], [err.decode()[-2000:] for _, err in outputs]

    scorer = await load_scorer(Settings(**detoxify_checkpoint.settings_kwargs()))
    try:
        for texts, (out, _) in zip(corpora, outputs, strict=True):
            assert_same(json.loads(out.splitlines()[-1]), await scorer.score(texts))
    finally:
        await scorer.close()

    stats = await service.stats()
    sizes, callers = stats["batch_sizes"][batches_before:], stats["batch_callers"][batches_before:]
    assert sum(sizes) >= sum(len(t) for t in corpora)  # every chunk went through a batch
    assert max(sizes) > 1
    assert max(callers) == 2, "no batch mixed the two processes' texts"


def thread_of(name: str, texts: list[str]) -> Thread:
    article = Article(name, f"Article {name}", None, None, None, "")
    return Thread(
        article, [Comment(f"{name}-{i}", None, "reader", None, text) for i, text in enumerate(texts)]
    )


async def test_an_outage_mid_burst_is_a_scoring_error_within_the_time_limit_and_recovery_scores_each_missed_text_once(
    service: Service, detoxify_checkpoint: Any, tmp_path: Path
) -> None:
    store = await Store.open(tmp_path / "scan.db")
    settings = Settings()
    threads = [thread_of(f"a{n}", sample_texts(detoxify_checkpoint, 12, f"thread{n}")) for n in range(200)]
    loose = sample_texts(detoxify_checkpoint, 3000, "loose")
    scanned: list[Thread] = []
    scored_loose: dict[int, TextScore] = {}
    failed_after: dict[str, float] = {}
    stopped = asyncio.Event()
    serving = asyncio.Event()
    stopped_at = 0.0

    def mid_burst() -> None:
        if len(scanned) >= 2 and len(scored_loose) >= 20:
            serving.set()

    async def scans(scorer: ServiceScorer) -> None:
        """A `scan` caller: whole threads, as the CLI scans them, until the service goes away."""
        for thread in threads:
            try:
                await scan_thread(
                    thread,
                    "file",
                    f"file:///{thread.article.external_id}",
                    settings=settings,
                    store=store,
                    scorer=scorer,
                )
            except ScoringError:
                failed_after["scan"] = time.monotonic() - stopped_at
                return
            scanned.append(thread)
            mid_burst()

    async def messages(scorer: ServiceScorer) -> None:
        """A bot-like caller: one message at a time, concurrently, until the service goes away."""

        async def one(i: int) -> None:
            try:
                scored_loose[i] = await scorer.score_one(loose[i])
                mid_burst()
            except ScoringError:
                failed_after.setdefault("messages", time.monotonic() - stopped_at)

        pending: set[asyncio.Task[None]] = set()
        for i in range(len(loose)):
            pending.add(asyncio.create_task(one(i)))
            await asyncio.sleep(0.02)
            if stopped.is_set() and "messages" in failed_after:
                break
        await asyncio.gather(*pending)

    first = await ServiceScorer.connect(service.url, time_limit=TIME_LIMIT_S)
    second = await ServiceScorer.connect(service.url, time_limit=TIME_LIMIT_S)
    try:
        callers = asyncio.gather(scans(first), messages(second))
        await asyncio.wait_for(serving.wait(), 120)  # mid-burst: both callers are being served
        stopped_at = time.monotonic()
        stopped.set()
        service.signal_stop()
        await asyncio.wait_for(callers, TIME_LIMIT_S * 4)
    finally:
        await first.close()
        await second.close()
    assert set(failed_after) == {"scan", "messages"}, failed_after
    assert max(failed_after.values()) <= TIME_LIMIT_S + 5, failed_after
    assert len(scanned) < len(threads) and len(scored_loose) < len(loose)

    service.stop()
    service.start()
    # Recovery: each caller retries what it missed; the scan rescans every thread (it scores only what is
    # not stored with its current text), the other caller re-sends the messages that failed.
    missed_loose = [i for i in range(len(loose)) if i not in scored_loose]
    missed_comments = sum(len(t.comments) for t in threads if t not in scanned)
    scorer = await ServiceScorer.connect(service.url, time_limit=120)
    try:
        rescored = 0
        for thread in threads:
            report = await scan_thread(
                thread,
                "file",
                f"file:///{thread.article.external_id}",
                settings=settings,
                store=store,
                scorer=scorer,
            )
            rescored += sum(row.rescored for row in report.rows)
        retried = await scorer.score([loose[i] for i in missed_loose])
    finally:
        await scorer.close()
        await store.close()
    assert rescored == missed_comments
    assert len(retried) == len(missed_loose) and all(s.top_label for s in retried)
    # The restarted service scored exactly the missed texts: none twice, none lost.
    assert (await service.stats())["texts_scored"] == missed_comments + len(missed_loose)
