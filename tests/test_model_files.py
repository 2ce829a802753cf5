"""Model files are data, never code; model caches are used only when this program made them.

Real parts throughout: real `torch.save` pickles (one whose unpickling would run a shell command), the
real demo-model builder, the real loader and ONNX export, the CLI in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.scoring import ScoringError, cachedir, loader, onnx_backend
from bot.scoring.demo_checkpoint import CHECKPOINT_FILE, ensure_demo_checkpoint
from bot.scoring.loader import load_backend
from bot.scoring.onnx_backend import OnnxBackend
from tests.fixtures.checkpoint import TINY_SPEC, TinyCheckpoint

ROOT = Path(__file__).resolve().parent.parent


class _Payload:
    """Unpickling this runs `touch <marker>`: the proof that a loader executed a model file's code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def write_payload_checkpoint(path: Path, marker: Path) -> Path:
    """A file laid out like a Detoxify checkpoint whose config is a code-running pickle."""
    import torch

    torch.save({"config": _Payload(marker), "state_dict": {}}, path)
    return path


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "_cache", {})


def test_a_pickle_payload_checkpoint_is_refused_in_one_line_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = write_payload_checkpoint(tmp_path / "evil.ckpt", marker)
    for backend in ("torch", "onnx"):
        with pytest.raises(ScoringError) as caught:
            load_backend(Settings(checkpoint=evil, scoring_backend=backend, model_cache_dir=tmp_path / "c"))
        message = str(caught.value)
        assert message.startswith(f"DETOXIFY_CHECKPOINT={evil} is not a plain weights checkpoint")
        assert "\n" not in message and "system" in message  # names what it refused to build
    assert not marker.exists()


def test_the_cli_refuses_a_payload_checkpoint_with_one_line_and_no_marker(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = write_payload_checkpoint(tmp_path / "evil.ckpt", marker)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DETOXIFY_CHECKPOINT": str(evil),
        "DATABASE_PATH": str(tmp_path / "cw.db"),
        "MODEL_CACHE_DIR": str(tmp_path / "cache"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "scan"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("commentwarden:")]
    assert len(errors) == 1 and "DETOXIFY_CHECKPOINT" in errors[0]
    assert "Traceback" not in done.stderr
    assert not marker.exists()


def test_a_planted_demo_model_is_never_loaded_and_survives(tmp_path: Path) -> None:
    root = tmp_path / "demo-model"
    marker = tmp_path / "pwned"
    root.mkdir()
    # The old layout (a stamp file next to the checkpoint) and a forged entry of the new one.
    (root / "spec.json").write_text('{"build": 2}')
    write_payload_checkpoint(root / CHECKPOINT_FILE, marker)
    planted = root / f"demo-{cachedir._digest('anything')}-00000000"
    planted.mkdir()
    write_payload_checkpoint(planted / CHECKPOINT_FILE, marker)
    (planted / cachedir.MANIFEST).write_text(json.dumps({"key": "k", "files": {}, "mac": "0" * 64}))
    before = sorted(p.relative_to(root) for p in root.rglob("*"))

    demo = ensure_demo_checkpoint(root, TINY_SPEC)
    backend = load_backend(Settings(checkpoint=demo.checkpoint, hf_config_dir=demo.config_dir))

    assert demo.checkpoint.parent.parent == root and demo.checkpoint.parent != planted
    assert backend.predict_batch(["hello"])[0]["toxicity"] < 0.1
    assert not marker.exists()
    assert all((root / p).exists() for p in before)


def test_a_changed_file_in_a_cached_demo_model_is_not_trusted(tmp_path: Path) -> None:
    first = ensure_demo_checkpoint(tmp_path / "demo", TINY_SPEC)
    assert ensure_demo_checkpoint(tmp_path / "demo", TINY_SPEC) == first  # reused while intact
    vocab = first.config_dir / "tokenizer.json"
    vocab.write_text(vocab.read_text().replace('"hello"', '"hellp"'))
    second = ensure_demo_checkpoint(tmp_path / "demo", TINY_SPEC)
    assert second.checkpoint.parent != first.checkpoint.parent


def test_demo_model_dir_keeps_every_file_it_did_not_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "shared"
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "keep.txt").write_text("mine")
    (root / "keep.bin").write_bytes(b"\0" * 10)
    old = ensure_demo_checkpoint(root, TINY_SPEC)
    (old.checkpoint.parent / "user-file.txt").write_text("put there by a person")
    # A build for another version: the older entry is pruned of exactly the files it wrote.
    monkeypatch.setattr("bot.scoring.demo_checkpoint._BUILD_VERSION", 999)
    new = ensure_demo_checkpoint(root, TINY_SPEC)
    assert new.checkpoint.is_file() and not old.checkpoint.exists()
    assert (root / "notes" / "keep.txt").read_text() == "mine" and (root / "keep.bin").stat().st_size == 10
    assert (old.checkpoint.parent / "user-file.txt").read_text() == "put there by a person"


@pytest.mark.parametrize("where", ["file", "proc"])
def test_demo_model_dir_at_a_file_or_under_proc_is_one_line(tmp_path: Path, where: str) -> None:
    target = tmp_path / "a-file" if where == "file" else Path("/proc/self/commentwarden-demo")
    if where == "file":
        target.write_text("data")
    with pytest.raises(ScoringError) as caught:
        ensure_demo_checkpoint(target, TINY_SPEC)
    message = str(caught.value)
    assert message.startswith(f"DEMO_MODEL_DIR={target}") and "\n" not in message
    if where == "file":
        assert target.read_text() == "data"


def test_torch_threads_beyond_the_cpu_count_is_capped_not_a_crash(
    detoxify_checkpoint: TinyCheckpoint,
) -> None:
    settings = Settings(
        **detoxify_checkpoint.settings_kwargs(), scoring_backend="torch", torch_threads=100_000
    )
    backend = load_backend(settings)
    assert backend.predict_batch(["hello " * 40])[0]["toxicity"] < 0.1
    import torch

    assert torch.get_num_threads() <= (os.cpu_count() or 1)


def test_the_onnx_export_is_cached_by_content_and_reused_without_exporting(
    detoxify_checkpoint: TinyCheckpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(**detoxify_checkpoint.settings_kwargs(), model_cache_dir=tmp_path / "cache")
    texts = [f"hello {detoxify_checkpoint.toxic_word}", "thanks nice article"]
    first = load_backend(settings)
    expected = first.predict_batch(texts)

    def no_export(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_backend, "export_onnx", no_export)
    monkeypatch.setattr("bot.scoring.onnx_cache.export_onnx", no_export)
    monkeypatch.setattr(loader, "_cache", {})
    second = load_backend(settings)
    assert isinstance(second, OnnxBackend) and second is not first
    assert second.predict_batch(texts) == expected
    assert second.labels == first.labels and second.max_tokens == first.max_tokens

    # A changed ONNX file is not opened: the entry is ignored and the export runs again.
    (entry,) = (tmp_path / "cache").glob("onnx-*")
    model = entry / "model.onnx"
    model.write_bytes(model.read_bytes()[:-1] + b"\0")
    monkeypatch.undo()
    monkeypatch.setattr(loader, "_cache", {})
    third = load_backend(settings)
    assert third.predict_batch(texts) == expected
    assert len(list((tmp_path / "cache").glob("onnx-*"))) == 2


def test_a_planted_onnx_cache_entry_is_ignored(detoxify_checkpoint: TinyCheckpoint, tmp_path: Path) -> None:
    from bot.scoring.onnx_cache import cache_key

    settings = Settings(**detoxify_checkpoint.settings_kwargs(), model_cache_dir=tmp_path / "cache")
    (tmp_path / "cache").mkdir()
    key = cache_key(detoxify_checkpoint.checkpoint, str(detoxify_checkpoint.config_dir), tmp_path / "cache")
    planted = tmp_path / "cache" / f"onnx-{cachedir._digest(key)}-planted0"
    planted.mkdir()
    (planted / "model.onnx").write_bytes(b"not a model")
    (planted / cachedir.MANIFEST).write_text(json.dumps({"key": key, "files": {}, "mac": "f" * 64}))
    backend = load_backend(replace(settings))
    assert isinstance(backend, OnnxBackend)
    assert (planted / "model.onnx").read_bytes() == b"not a model"


def test_a_remembered_digest_is_reused_only_for_unchanged_bytes(tmp_path: Path) -> None:
    from bot.scoring.checkpoint import file_digest

    big = tmp_path / "weights.bin"
    big.write_bytes(b"a" * (2 << 20))
    first = cachedir.remembered_digest(tmp_path, big)
    assert json.loads((tmp_path / cachedir.DIGESTS).read_text())["files"][str(big)]["sha256"] == first
    stat = big.stat()
    big.write_bytes(b"b" * (2 << 20))  # same size, and the mtime put back as a forger would
    os.utime(big, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert cachedir.remembered_digest(tmp_path, big) == file_digest(big) != first


def test_a_forged_digest_memo_is_neither_used_nor_overwritten(tmp_path: Path) -> None:
    from bot.scoring.checkpoint import file_digest

    big = tmp_path / "weights.bin"
    big.write_bytes(b"a" * (2 << 20))
    info = big.stat()
    stamp = [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev]
    forged = json.dumps({"files": {str(big): {"stat": stamp, "sha256": "0" * 64}}, "mac": "1" * 64})
    (tmp_path / cachedir.DIGESTS).write_text(forged)
    assert cachedir.remembered_digest(tmp_path, big) == file_digest(big)
    assert (tmp_path / cachedir.DIGESTS).read_text() == forged


def test_a_cached_start_imports_neither_torch_nor_transformers(
    detoxify_checkpoint: TinyCheckpoint, tmp_path: Path
) -> None:
    """What makes the second start fast (benchmarks/bench_start.py measures it): no library loads that only
    building and exporting the PyTorch model need."""
    settings = Settings(**detoxify_checkpoint.settings_kwargs(), model_cache_dir=tmp_path / "cache")
    expected = load_backend(settings).predict_batch(["hello", detoxify_checkpoint.toxic_word])
    code = (
        "import json, sys; from pathlib import Path; from bot.config import Settings; "
        "from bot.scoring.loader import load_backend; "
        f"b = load_backend(Settings(checkpoint=Path({str(detoxify_checkpoint.checkpoint)!r}), "
        f"hf_config_dir=Path({str(detoxify_checkpoint.config_dir)!r}), model_cache_dir=Path({str(tmp_path / 'cache')!r}))); "
        f"print(json.dumps([b.predict_batch(['hello', {detoxify_checkpoint.toxic_word!r}]), "
        "[m for m in ('torch', 'transformers', 'detoxify') if m in sys.modules]]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    scores, imported = json.loads(done.stdout)
    assert imported == []
    assert scores == expected
