"""The exported ONNX model, cached by content so a second start skips the export and the PyTorch model.

Why: exporting a BERT-base to ONNX took ~7 s of a 10 s scan, on every start. The export depends only on
the checkpoint's bytes, the config directory's files and the library versions, so it is cached under
`MODEL_CACHE_DIR`, keyed by exactly those. A cache entry holds everything scoring needs (the ONNX file,
the tokenizer as `tokenizers` JSON, the label names and token limits), so a cache hit neither builds the
PyTorch model nor imports torch or transformers (seconds each): it checks the checkpoint's digest, opens
the tokenizer and an ONNX Runtime session, and is ready.

Entries are made and verified by `cachedir.py`: only a directory this program wrote, with every file
unchanged, is ever opened.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
from pathlib import Path
from typing import Any

import bot.scoring.cachedir as cachedir
from bot.scoring.backend import Encoder
from bot.scoring.checkpoint import file_digest, load_model
from bot.scoring.onnx_backend import OnnxBackend, export_onnx, open_session, return_freed_memory
from bot.scoring.protocol import ScoringError

log = logging.getLogger(__name__)

# Bump when what an entry holds, or how it is exported, changes.
FORMAT = 2
_MODEL, _TOKENIZER, _META = "model.onnx", "tokenizer.json", "meta.json"
_LIBRARIES = ("torch", "transformers", "onnx", "onnxruntime", "detoxify")


def load_onnx(
    checkpoint: Path, source: str, config_dir: str | None, cache_root: Path, threads: int | None, name: str
) -> OnnxBackend:
    """The ONNX backend for `checkpoint`, from the cache or exported into it first.

    `source` names the checkpoint in errors (`DETOXIFY_CHECKPOINT=<path>`). Raises `ScoringError`
    (`OnnxExportError` when only the export failed).
    """
    root = Path(cache_root).expanduser().absolute()
    cachedir.ensure_root(root, "MODEL_CACHE_DIR")
    try:
        key = cache_key(checkpoint, config_dir, root)
    except OSError as exc:
        raise ScoringError(f"{source} cannot be read ({exc.strerror or exc})") from exc
    entry = cachedir.lookup(root, "onnx", key)
    if entry is None:
        log.info("exporting %s to ONNX once; later starts load it from %s", name, root)
        entry = cachedir.store(
            root,
            "onnx",
            key,
            lambda staging, _final: _export(checkpoint, source, config_dir, staging),
            setting="MODEL_CACHE_DIR",
        )
    else:
        log.info("loading %s from the ONNX cache %s", name, entry)
    return _open(entry, threads, name)


def cache_key(checkpoint: Path, config_dir: str | None, root: Path) -> str:
    """Everything the exported file depends on: the checkpoint's and config files' bytes, the libraries.

    The checkpoint's digest is remembered under `root` while the file is unchanged (`cachedir.py`)."""
    config_files = (
        {
            str(p.relative_to(config_dir)): file_digest(p)
            for p in sorted(Path(config_dir).rglob("*"))
            if p.is_file()
        }
        if config_dir
        else {}
    )
    payload = {
        "format": FORMAT,
        "checkpoint": cachedir.remembered_digest(root, checkpoint)
        if root.is_dir()
        else file_digest(checkpoint),
        "config": config_files,
        "libraries": {name: _version(name) for name in _LIBRARIES},
    }
    return json.dumps(payload, sort_keys=True)


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def _export(checkpoint: Path, source: str, config_dir: str | None, staging: Path) -> None:
    loaded = load_model(checkpoint, source, config_dir, "cpu")
    encoder = Encoder.from_hf(loaded.tokenizer, loaded.model.config)
    export_onnx(loaded.model, staging / _MODEL)
    encoder.tokenizer.save(str(staging / _TOKENIZER))
    meta = {
        "labels": list(loaded.labels),
        "pad_id": encoder.pad_id,
        "special_tokens": encoder.special_tokens,
        "max_length": encoder.max_length,
    }
    (staging / _META).write_text(json.dumps(meta), encoding="utf-8")
    del loaded, encoder
    return_freed_memory()  # the export's scratch and the PyTorch weights


def _open(entry: Path, threads: int | None, name: str) -> OnnxBackend:
    from tokenizers import Tokenizer

    try:
        meta: Any = json.loads((entry / _META).read_text(encoding="utf-8"))
        encoder = Encoder(
            Tokenizer.from_file(str(entry / _TOKENIZER)),
            int(meta["pad_id"]),
            int(meta["special_tokens"]),
            int(meta["max_length"]),
        )
        labels = [str(label) for label in meta["labels"]]
        session = open_session(entry / _MODEL, threads)
    except ScoringError:
        raise
    except Exception as exc:  # a library refusing a file of its own version: say where, in one line
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise ScoringError(f"could not open the cached ONNX model in {entry} ({reason})") from exc
    return OnnxBackend(session, encoder, labels, model_name=name)
