"""Scoring benchmark: throughput of each speed lever against plain Detoxify, score agreement, latency
under a sustained burst through the real `Scorer`, and resident memory with the model loaded.

Baseline (run in the same process, interleaved with the fast path so a noisy neighbour hits both):
Detoxify's own `predict(text)`, once per message, fp32, same checkpoint. Levers are fed the way the
engine feeds the backend: messages in arrival order, `SCORING_BATCH_SIZE` (32) at a time. Agreement is
the largest |score - baseline score| over every label of every message. The model is a random-weight
BERT-base unless DETOXIFY_CHECKPOINT points at real weights (see workload.py).

Full mode adds: fused attention (fp32) against the plain export, the int8 guard's decision and measured
agreement, a roofline (FLOPs per message against a GEMM measured in the same run), and the shared scoring
service (two client processes through one Ray Serve replica) against two in-process scorers: throughput
and the resident memory of every process in each set.

The CI gate (--quick) does not gamble on one sample: it runs interleaved rounds, timing every path block
by block (one engine batch of messages at a time, all paths in turn), keeps each block's best time over
the rounds and takes the ratio of those best times, stops as soon as every floor holds (after at least
two rounds) and fails only if a floor still fails after the last round.

    python benchmarks/bench_scoring.py            # full: 240 messages, 60 s burst at 20 msg/s (~15 min)
    python benchmarks/bench_scoring.py --quick    # CI: 64 messages, 12 s burst, fails below the floors
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.workload import CACHE, REPO, BenchModel, bench_model, message_mix, safe_detoxify  # noqa: E402
from bot.scoring.backend import DetoxifyBackend, Encoder  # noqa: E402
from bot.scoring.engine import Scorer  # noqa: E402

BATCH = 32  # the engine's default SCORING_BATCH_SIZE
RATE = 20.0  # messages a second in the latency burst
TOLERANCE = 0.02  # every label's score within this of the baseline's
FUSED_TOLERANCE = 1e-4  # a fused graph is the same fp32 model: it must score the same
# Floors for --quick. Set from the spread measured on 2 busy cores (benchmarks/README.md, "CI gate"):
# the lowest best-of-rounds ratio seen with a CPU hog beside the run, less a margin; a broken lever
# (no length buckets) measured well under them.
FLOOR_SPEEDUP = 1.5  # the default path against Detoxify's per-message predict
# Length buckets against the same batches padded to their longest (same backend, same batched GEMMs, so a
# neighbour slows both alike): the lever most worth guarding, and a ratio load cannot inflate (the
# per-message baseline suffers far more from a busy machine than batched paths do).
FLOOR_BUCKET_GAIN = 1.4
FLOOR_P95_S = 2.0  # or two engine batches' time measured just before the burst, if longer
QUICK_ROUNDS = (2, 6)  # at least, at most
THREADS = 2  # the target machine; CI has 2 cores too
BASELINE = "baseline: Detoxify.predict, one message"
PADDED = "micro-batch 32, padded to longest"
BUCKETS = "+ length buckets (PyTorch)"
DEFAULT_PATH = "+ ONNX Runtime (fp32), the default"
FUSED = "+ ONNX fused attention (fp32)"
INT8_RAW = "+ ONNX int8 per-channel, unguarded"
INT8_GUARDED = "+ ONNX int8 behind its guard"

Scores = list[dict[str, float]]


def predict_all(backend: DetoxifyBackend, texts: Sequence[str]) -> Scores:
    out: Scores = []
    for start in range(0, len(texts), BATCH):
        out.extend(backend.predict_batch(texts[start : start + BATCH]))
    return out


def max_diff(a: Scores, b: Scores) -> float:
    return max(abs(x[label] - y[label]) for x, y in zip(a, b, strict=True) for label in x)


async def burst(scorer: Scorer, texts: Sequence[str], seconds: float, rate: float) -> list[float]:
    """Send `rate` messages a second for `seconds`; latency = message received -> scores ready."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []

    async def one(text: str, received: float) -> None:
        await scorer.score_one(text)
        latencies.append(loop.time() - received)

    tasks = []
    start = loop.time()
    for i in range(int(seconds * rate)):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        tasks.append(asyncio.create_task(one(texts[i % len(texts)], due)))
    await asyncio.gather(*tasks)
    return latencies


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def resident_mb(model: BenchModel, backend: str) -> float:
    """RSS of a fresh process that loaded the model through the product's loader."""
    code = (
        "import psutil; from bot.config import Settings; from bot.scoring.loader import load_backend; "
        f"load_backend(Settings(checkpoint={str(model.checkpoint)!r}, hf_config_dir={str(model.config_dir)!r}, "
        f"scoring_backend={backend!r}, model_cache_dir={str(CACHE / 'model-cache')!r})); "
        "print(psutil.Process().memory_info().rss / 2**20)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    return float(done.stdout.split()[-1])


def levers(detox: Any, tmp: Path, quick: bool) -> tuple[dict[str, DetoxifyBackend], list[str]]:
    """Every path measured, each adding one lever; the product's default is DEFAULT_PATH. Also notes."""
    import torch

    from bot.scoring.int8_guard import quantize
    from bot.scoring.onnx_backend import OnnxBackend, export_onnx, open_session

    config = detox.model.config
    encoder = Encoder.from_hf(detox.tokenizer, config)

    def backend(model: Any) -> DetoxifyBackend:
        return DetoxifyBackend(model, detox.tokenizer, detox.class_names, "cpu")

    def onnx(path: Path, **kwargs: Any) -> OnnxBackend:
        return OnnxBackend(open_session(path, THREADS), encoder, detox.class_names, **kwargs)

    export_onnx(detox.model, tmp / "fp32.onnx")
    padded = backend(detox.model)
    padded.call_cost = float("inf")  # the engine's batches as they come, padded to their longest text
    paths = {PADDED: padded, BUCKETS: backend(detox.model), DEFAULT_PATH: onnx(tmp / "fp32.onnx")}
    notes: list[str] = []
    if quick:
        return paths, notes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notices
        int8_torch = torch.ao.quantization.quantize_dynamic(detox.model, {torch.nn.Linear}, dtype=torch.qint8)
    fused_nodes = fused_export(detox.model, tmp / "fused.onnx")
    notes.append(f"fused nodes (eager-attention export + transformer optimiser): {fused_nodes}")
    quantize(tmp / "fp32.onnx", tmp / "int8.onnx")
    guarded = onnx(tmp / "fp32.onnx", int8_session=open_session(tmp / "int8.onnx", THREADS))
    notes.append(
        f"int8 guard at load: {guarded.int8_decision} (max |int8 - fp32| on the probe texts "
        f"{guarded.int8_agreement:.4f}, tolerance {TOLERANCE})"
    )
    paths = {
        PADDED: padded,
        BUCKETS: paths[BUCKETS],
        "+ int8 dynamic quantisation (PyTorch)": backend(int8_torch),
        DEFAULT_PATH: paths[DEFAULT_PATH],
        FUSED: onnx(tmp / "fused.onnx"),
        INT8_RAW: onnx(tmp / "int8.onnx"),
        INT8_GUARDED: guarded,
    }
    return paths, notes


def fused_export(model: Any, path: Path) -> dict[str, int]:
    """The model exported with eager attention and run through ONNX Runtime's transformer optimiser.

    The default (`sdpa`) export leaves no attention pattern the optimiser recognises; the explicit
    softmax(QK^T)V graph of an eager export fuses into Attention nodes, with LayerNorm and GELU fused too.
    Returns how many nodes of each fused kind were made. Measured here, not used by the product: it was
    not faster (benchmarks/README.md).
    """
    from onnxruntime.transformers.optimizer import optimize_model

    from bot.scoring.onnx_backend import export_onnx

    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        export_onnx(model, path.with_suffix(".eager.onnx"))
    finally:
        model.set_attn_implementation(previous)
    config = model.config
    optimized = optimize_model(
        str(path.with_suffix(".eager.onnx")),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
    )
    optimized.save_model_to_file(str(path))
    return {kind: count for kind, count in optimized.get_fused_operator_statistics().items() if count}


def quick_failures(ratios: dict[str, float]) -> list[str]:
    failures = []
    if ratios[DEFAULT_PATH] < FLOOR_SPEEDUP:
        failures.append(f"default path x{ratios[DEFAULT_PATH]:.2f} under the floor x{FLOOR_SPEEDUP}")
    bucket_gain = ratios[BUCKETS] / ratios[PADDED]
    if bucket_gain < FLOOR_BUCKET_GAIN:
        failures.append(
            f"length buckets x{bucket_gain:.2f} the padded batches, under the floor x{FLOOR_BUCKET_GAIN}"
        )
    return failures


def gemm_gflops() -> float:
    """Best fp32 GEMM rate (GFLOP/s) on BERT-base's feed-forward shape, on THREADS threads, right now."""
    import torch

    a, b = torch.randn(256, 768), torch.randn(768, 3072)
    torch.mm(a, b)
    best = 0.0
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(20):
            torch.mm(a, b)
        best = max(best, 20 * 2 * 256 * 768 * 3072 / (time.perf_counter() - t0) / 1e9)
    return best


def flops_per_message(config: Any, lengths: Sequence[int]) -> float:
    """Mean forward FLOPs per message, unpadded: the dense layers (2 x 12 d^2 per token per layer) plus
    attention's two n^2 d products; the embedding lookup and classifier are negligible."""
    d, layers = config.hidden_size, config.num_hidden_layers
    per_text = [layers * (2 * 12 * d * d * n + 4 * n * n * d) for n in lengths]
    return statistics.mean(per_text)


def run(quick: bool, count: int, seconds: float, service: bool) -> int:
    import torch

    model = bench_model()
    torch.set_num_threads(THREADS)
    detox = safe_detoxify(model)
    texts = message_mix(count)
    lengths = [
        len(detox.tokenizer(t, verbose=False, truncation=True, max_length=512)["input_ids"]) for t in texts
    ]
    print(
        f"model: {model.describe()}; {torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"mix: {len(texts)} messages, tokens median {statistics.median(lengths):.0f}, "
        f"mean {statistics.mean(lengths):.0f}, max {max(lengths)}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        paths, notes = levers(detox, Path(tmp), quick)

    # Interleaved rounds, timed block by block (one engine batch of messages each, every path in turn,
    # the baseline first): each block keeps its best time over the rounds, so a neighbour's burst of CPU
    # must hit the same block of the same path in every round to move a figure. Ratio = best / best.
    blocks = [texts[start : start + BATCH] for start in range(0, len(texts), BATCH)]
    best: dict[str, list[float]] = {name: [float("inf")] * len(blocks) for name in [BASELINE, *paths]}
    outputs: dict[str, Scores] = {name: [] for name in best}
    least, most = QUICK_ROUNDS if quick else (3, 3)
    for done in range(1, most + 1):
        for name in best:
            outputs[name] = []
        for b, block in enumerate(blocks):
            for name in best:
                t0 = time.perf_counter()
                if name == BASELINE:
                    outputs[name].extend(detox.predict(t) for t in block)
                else:
                    outputs[name].extend(paths[name].predict_batch(block))
                best[name][b] = min(best[name][b], time.perf_counter() - t0)
        rates = {name: len(texts) / sum(times) for name, times in best.items()}
        ratios = {name: rates[name] / rates[BASELINE] for name in paths}
        if quick and done >= least and not quick_failures(ratios):
            break
    print(f"rounds: {done}")
    print(f"\n{'path':<42}{'msg/s':>8}{'x base':>8}{'max |diff|':>12}")
    print(f"{BASELINE:<42}{rates[BASELINE]:>8.1f}{1.0:>8.2f}{0.0:>12.4f}")
    diffs = {}
    for name in paths:
        diffs[name] = max_diff(outputs[name], outputs[BASELINE])
        verdict = "" if diffs[name] <= TOLERANCE else f"  outside {TOLERANCE}: rejected"
        mark = "  <- default" if name == DEFAULT_PATH else ""
        print(f"{name:<42}{rates[name]:>8.1f}{ratios[name]:>8.2f}{diffs[name]:>12.4f}{verdict}{mark}")
    print(f"length buckets vs the same batches padded: x{ratios[BUCKETS] / ratios[PADDED]:.2f}")
    for note in notes:
        print(note)
    if not quick:
        fused_diff = max_diff(outputs[FUSED], outputs[DEFAULT_PATH])
        print(
            f"fused vs plain fp32: x{ratios[FUSED] / ratios[DEFAULT_PATH]:.2f} (ratio of within-round ratios), "
            f"max |diff| {fused_diff:.2e} (keep only if <= {FUSED_TOLERANCE} and faster)"
        )
        guard = paths[INT8_GUARDED]
        if getattr(guard, "guard", None) is not None:
            print(
                f"int8 guard while running: {guard.guard.samples} calls re-scored in fp32, "  # type: ignore[attr-defined]
                f"worst |diff| {guard.guard.worst:.4f}, int8 {'kept' if guard.guard.active else 'dropped'}"
            )  # type: ignore[attr-defined]
        gflops = gemm_gflops()
        flops = flops_per_message(detox.model.config, lengths)
        ceiling = gflops * 1e9 / flops
        print(
            f"roofline: {flops / 1e9:.2f} GFLOP per message (unpadded), GEMM {gflops:.0f} GFLOP/s on {THREADS} "
            f"threads -> at most {ceiling:.1f} msg/s = x{ceiling / rates[BASELINE]:.1f} the baseline; "
            f"the default reaches {rates[DEFAULT_PATH] / ceiling:.0%} of it"
        )
        torch.set_num_threads(1)
        predict_all(paths[BUCKETS], texts)  # warm the 1-thread pool
        t0 = time.perf_counter()
        predict_all(paths[BUCKETS], texts)
        one_rate = len(texts) / (time.perf_counter() - t0)
        torch.set_num_threads(THREADS)
        print(
            f"threads: PyTorch buckets on 1 thread {one_rate:.1f} msg/s; {THREADS} threads x{rates[BUCKETS] / one_rate:.2f}"
        )

    rate = RATE
    if quick:
        # On a machine whose neighbours leave it less than 2x the goal's rate, 20 msg/s would measure the
        # neighbours: the gate sends half of what the default path sustains right now, at most RATE.
        t0 = time.perf_counter()
        predict_all(paths[DEFAULT_PATH], texts)
        elapsed = time.perf_counter() - t0
        rate = min(RATE, len(texts) / elapsed / 2)
        p95_limit = max(FLOOR_P95_S, 2 * elapsed / len(blocks))

    async def latency() -> list[float]:
        scorer = Scorer(paths[DEFAULT_PATH], batch_size=BATCH, batch_wait_ms=5.0)
        try:
            return await burst(scorer, texts, seconds, rate)
        finally:
            await scorer.close()

    latencies = asyncio.run(latency())
    p50, p95, p99 = (percentile(latencies, q) for q in (50, 95, 99))
    print(
        f"\nlatency, message received -> scores ready, through the Scorer (default path), {rate:.1f} msg/s "
        f"for {seconds:.0f} s: p50 {p50 * 1000:.0f} ms  p95 {p95 * 1000:.0f} ms  p99 {p99 * 1000:.0f} ms"
    )
    if not quick:
        for kind in ("torch", "onnx"):
            print(
                f"resident memory, fresh process with the model loaded (SCORING_BACKEND={kind}): "
                f"{resident_mb(model, kind):.0f} MB"
            )
    if service:
        from benchmarks.service_bench import compare_service

        compare_service(model, texts)

    failures = []
    if diffs[DEFAULT_PATH] > TOLERANCE:
        failures.append(f"the default path's scores differ from the baseline's by more than {TOLERANCE}")
    if quick:
        failures += quick_failures(ratios)
        if p95 > p95_limit:
            failures.append(f"p95 latency {p95:.2f} s over {p95_limit:.2f} s")
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages and a short burst, for CI")
    parser.add_argument("--messages", type=int, help="messages in the throughput mix")
    parser.add_argument("--seconds", type=float, help="length of the latency burst")
    parser.add_argument("--no-service", action="store_true", help="skip the scoring-service comparison")
    args = parser.parse_args()
    count = args.messages or (64 if args.quick else 240)
    seconds = args.seconds or (12.0 if args.quick else 60.0)
    return run(args.quick, count, seconds, service=not (args.quick or args.no_service))


if __name__ == "__main__":
    raise SystemExit(main())
