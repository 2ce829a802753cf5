"""Start-up benchmark: how soon a `scan` starts scoring, first run (ONNX export) vs second (cached export).

Each run is a fresh process doing what `commentwarden scan` does: read the thread, open the store, load
the model through the product's loader (`bot.model.open_scorer`), then score. Timed from the process
spawn: `load` = the model-load phase alone, `to scoring` = spawn until the first comment is handed to
the model (Python and library imports included). The first run starts with an empty `MODEL_CACHE_DIR`,
so it builds the PyTorch model and exports it; the second finds the export and opens it.

The model is a random-weight BERT-base (the size of Detoxify's `original`/`unbiased`) unless
DETOXIFY_CHECKPOINT points at real weights (see workload.py).

    python benchmarks/bench_start.py            # two runs, prints the figures
    python benchmarks/bench_start.py --quick    # CI: fails unless run 2 starts scoring in < 1/3 of run 1's load
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.workload import bench_model  # noqa: E402

THREAD = ROOT / "bot" / "data" / "sample-thread.json"
CEILING = 1 / 3  # the second run must start scoring within this share of the first run's model load

_CHILD = """
import asyncio, json, sys, time
from bot.config import load_settings
from bot.model import open_scorer
from bot.scan import scan_thread
from bot.sources import open_source
from bot.store import Store

async def main():
    settings = load_settings(None)
    async with await open_source(sys.argv[1], settings=settings) as source:
        thread = await source.fetch()
    store = await Store.open(settings.database_path)
    loading = time.time()
    scorer = await open_scorer(settings)
    scoring = time.time()
    await scan_thread(thread, source.kind, source.url, settings=settings, store=store, scorer=scorer)
    await scorer.close()
    await store.close()
    print(json.dumps({"loading": loading, "scoring": scoring, "done": time.time(), "model": scorer.model_name}))

asyncio.run(main())
"""


def one_run(env: dict[str, str], workdir: Path) -> dict[str, float]:
    spawned = time.time()
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(THREAD)],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"the scan failed:\n{done.stderr[-2000:]}")
    marks = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "load": marks["scoring"] - marks["loading"],
        "to_scoring": marks["scoring"] - spawned,
        "total": marks["done"] - spawned,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI gate: fail above the ceiling")
    args = parser.parse_args()
    model = bench_model()
    print(f"model: {model.describe()}; thread: {THREAD.name}")
    with tempfile.TemporaryDirectory(prefix="cw-bench-start-") as tmp:
        work = Path(tmp)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DETOXIFY_CHECKPOINT": str(model.checkpoint),
            "DETOXIFY_CONFIG_DIR": str(model.config_dir),
            "MODEL_CACHE_DIR": str(work / "model-cache"),
            "DATABASE_PATH": str(work / "cw.db"),
            "XDG_CACHE_HOME": str(work / "xdg"),
        }
        first = one_run(env, work)
        second = one_run(env, work)
    for name, run in (("first (export)", first), ("second (cached)", second)):
        print(
            f"{name:16}  model load {run['load']:5.2f} s   spawn -> scoring {run['to_scoring']:5.2f} s   "
            f"whole scan {run['total']:5.2f} s"
        )
    ratio = second["to_scoring"] / first["load"]
    print(
        f"second run starts scoring in {ratio:.2f}x the first run's model-load time (ceiling {CEILING:.2f})"
    )
    if args.quick and ratio >= CEILING:
        print("FAIL: the cached start is not fast enough")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
