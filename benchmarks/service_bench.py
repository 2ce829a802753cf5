"""The shared scoring service against in-process scorers, as two bot processes would use them.

Set A: two processes each load the model and score the mix with their own in-process `Scorer`
(TORCH_THREADS=1 each, so the two together use the 2 cores without oversubscribing them).
Set B: `commentwarden serve-scoring` (one Ray Serve replica, TORCH_THREADS=2) and two processes that score
the same mix through it (`SCORER_URL`). Both clients of a set start together (a go file) and send every
message at once, as a burst of chat would arrive; throughput = messages of both / wall time until both
have all their scores. Memory = the whole set's processes (service, Ray's own processes and clients),
RSS summed and PSS summed (PSS splits shared pages between the processes that map them, so it does not
count a shared library twice).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

from benchmarks.workload import CACHE, REPO, BenchModel

START_LIMIT_S = 900

CLIENT = """
import asyncio, json, sys, time
from pathlib import Path
from bot.config import load_settings
from bot.model import open_scorer

async def main() -> None:
    scorer = await open_scorer(load_settings(env_file=None))
    texts = json.loads(Path(sys.argv[1]).read_text())
    await scorer.score(texts[:2])  # warm: first call costs more on either path
    print("ready", flush=True)
    go, quit = Path(sys.argv[2]), Path(sys.argv[3])
    while not go.exists():
        await asyncio.sleep(0.01)
    await asyncio.gather(*(scorer.score_one(t) for t in texts))
    print("done", flush=True)
    while not quit.exists():
        await asyncio.sleep(0.05)
    await scorer.close()

asyncio.run(main())
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _memory_mb(roots: Sequence[psutil.Process]) -> tuple[float, float]:
    """RSS and PSS summed over `roots` and all their descendants."""
    seen: dict[int, psutil.Process] = {}
    for root in roots:
        for proc in [root, *root.children(recursive=True)]:
            seen[proc.pid] = proc
    rss = pss = 0
    for proc in seen.values():
        try:
            info = proc.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return rss / 2**20, pss / 2**20


def _client_set(
    env: dict[str, str], texts: Sequence[str], work: Path, others: Sequence[psutil.Process]
) -> tuple[float, float, float]:
    """Two clients scoring `texts` each at once: (msg/s, RSS MB, PSS MB) of the clients plus `others`."""
    corpus, go, quit_file = work / "texts.json", work / "go", work / "quit"
    for path in (go, quit_file):
        path.unlink(missing_ok=True)
    corpus.write_text(json.dumps(list(texts)))
    clients = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT, str(corpus), str(go), str(quit_file)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for client in clients:
            if client.stdout is None or client.stdout.readline().strip() != "ready":
                raise SystemExit("a benchmark client failed to start")
        start = time.perf_counter()
        go.touch()
        for client in clients:
            if client.stdout is None or client.stdout.readline().strip() != "done":
                raise SystemExit("a benchmark client failed")
        rate = 2 * len(texts) / (time.perf_counter() - start)
        rss, pss = _memory_mb([*(psutil.Process(c.pid) for c in clients), *others])
    finally:
        quit_file.touch()
        for client in clients:
            client.wait(timeout=120)
    return rate, rss, pss


def compare_service(model: BenchModel, texts: Sequence[str]) -> None:
    base = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DETOXIFY_CHECKPOINT": str(model.checkpoint),
        "DETOXIFY_CONFIG_DIR": str(model.config_dir),
        "MODEL_CACHE_DIR": str(CACHE / "model-cache"),
        "LOG_LEVEL": "WARNING",
    }
    base.pop("SCORER_URL", None)
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        work = Path(tmp)
        local = _client_set({**base, "TORCH_THREADS": "1"}, texts, work, [])
        print(
            f"\nscoring service vs in-process, two client processes, {len(texts)} messages each, all at once:"
        )
        print(f"  {'set':<44}{'msg/s':>8}{'x':>7}{'RSS MB':>9}{'PSS MB':>9}")
        print(
            f"  {'two in-process scorers (1 thread each)':<44}{local[0]:>8.1f}{1.0:>7.2f}{local[1]:>9.0f}{local[2]:>9.0f}",
            flush=True,
        )
        port = _free_port()
        log_path = work / "service.log"
        with log_path.open("wb") as log_file:
            service = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve-scoring", "--port", str(port)],
                cwd=work,
                env={**base, "TORCH_THREADS": "2"},
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + START_LIMIT_S
            while b"scoring service ready" not in log_path.read_bytes():
                if service.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the scoring service did not start:\n{log_path.read_text()[-2000:]}")
                time.sleep(1)
            shared = _client_set(
                {**base, "SCORER_URL": f"http://127.0.0.1:{port}"}, texts, work, [psutil.Process(service.pid)]
            )
            print(
                f"  {'service (1 replica, 2 threads) + 2 clients':<44}{shared[0]:>8.1f}{shared[0] / local[0]:>7.2f}"
                f"{shared[1]:>9.0f}{shared[2]:>9.0f}"
            )
        finally:
            service.terminate()
            service.wait(timeout=180)
