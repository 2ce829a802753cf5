"""Read a Detoxify checkpoint as data, never as code, and build its model from what was read.

Why: a checkpoint is a `torch.save` pickle, and Detoxify reads it with `torch.load(weights_only=False)`,
which runs whatever code the file names (a `DETOXIFY_CHECKPOINT` pointing at a crafted file would run it
in the bot). So Detoxify never opens a file here: `read_checkpoint` loads it with
`torch.load(weights_only=True)` (tensors, dicts, lists, strings and numbers only; anything else is refused
before it is built), checks the layout Detoxify expects, and `build_model` hands the loaded state to
Detoxify's own model builder (`get_model_and_tokenizer`), which does not touch the file again.

Detoxify's release weights (no checkpoint configured) are fetched into torch's hub cache as Detoxify
itself would, then read through the same safe path.
"""

from __future__ import annotations

import hashlib
import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.scoring.protocol import ScoringError

log = logging.getLogger(__name__)

# Detoxify's own renames, so every model reports the same label names.
_RENAMES = {"toxic": "toxicity", "identity_hate": "identity_attack", "severe_toxic": "severe_toxicity"}
# A checkpoint names `transformers` classes; only sequence classifiers and tokenizers are accepted, so a
# file cannot make the loader call some other attribute of the library.
_MODEL_CLASS = re.compile(r"[A-Za-z0-9]+ForSequenceClassification")
_TOKENIZER_CLASS = re.compile(r"[A-Za-z0-9]+Tokenizer(Fast)?")
_REASON_CHARS = 160


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read as data: what Detoxify's builder needs, and the labels it names."""

    model_type: str
    model_name: str
    tokenizer_name: str
    num_classes: int
    labels: tuple[str, ...]
    state_dict: dict[str, Any]


def read_checkpoint(path: Path, source: str) -> Checkpoint:
    """Load `path` with `weights_only=True` and check its layout; `source` names it in errors
    (`DETOXIFY_CHECKPOINT=<path>` for the setting)."""
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's note about the pickle protocol of older files
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for code, RuntimeError/KeyError for a non-checkpoint file
        raise ScoringError(
            f"{source} is not a plain weights checkpoint ({_reason(exc)}); model files are loaded as "
            "data only, never as code"
        ) from exc
    try:
        args = loaded["config"]["arch"]["args"]
        checkpoint = Checkpoint(
            model_type=_text(args["model_type"]),
            model_name=_named(args["model_name"], _MODEL_CLASS),
            tokenizer_name=_named(args["tokenizer_name"], _TOKENIZER_CLASS),
            num_classes=int(args["num_classes"]),
            labels=tuple(
                _RENAMES.get(_text(c), _text(c)) for c in loaded["config"]["dataset"]["args"]["classes"]
            ),
            state_dict=dict(loaded["state_dict"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ScoringError(
            f"{source} is not a Detoxify checkpoint (expected config.arch.args, "
            f"config.dataset.args.classes and state_dict: {_reason(exc)})"
        ) from exc
    if not all(isinstance(t, torch.Tensor) for t in checkpoint.state_dict.values()):
        raise ScoringError(f"{source} is not a Detoxify checkpoint (its state_dict holds non-tensors)")
    return checkpoint


@dataclass(frozen=True)
class LoadedModel:
    model: Any
    tokenizer: Any
    labels: tuple[str, ...]


def load_model(path: Path, source: str, config_dir: str | None, device: str) -> LoadedModel:
    """Read the checkpoint at `path` as data and build its model; every failure is one `ScoringError`."""
    checkpoint = read_checkpoint(path, source)
    try:
        model, tokenizer = build_model(checkpoint, config_dir, device)
    except Exception as exc:  # transformers raises anything from OSError to KeyError
        raise ScoringError(_load_failure(source, config_dir, device, exc)) from exc
    return LoadedModel(model, tokenizer, checkpoint.labels)


def _load_failure(source: str, config_dir: str | None, device: str, exc: Exception) -> str:
    if not source.startswith("DETOXIFY_CHECKPOINT"):
        return (
            f"could not load {source} ({_reason(exc)}); without network access, set "
            "DETOXIFY_CHECKPOINT (and DETOXIFY_CONFIG_DIR) to local files, or DETOXIFY_MODEL=lite"
        )
    hint = (
        "" if config_dir else "; if it names a Hugging Face model, set DETOXIFY_CONFIG_DIR to its local files"
    )
    return f"could not load {source} on device {device} ({_reason(exc)}){hint}"


def build_model(checkpoint: Checkpoint, config_dir: str | None, device: str) -> tuple[Any, Any]:
    """The model and tokenizer, built by Detoxify's own builder from the already-loaded state.

    With `config_dir` (a local Hugging Face config + tokenizer directory) it also stands in for the
    checkpoint's `model_type`, so the checkpoint's recorded path or model name never has to resolve.
    """
    from detoxify.detoxify import get_model_and_tokenizer
    from transformers.utils import logging as hf_logging

    # Weight-loading progress bars are noise in a bot's log and a CLI's output.
    hf_logging.disable_progress_bar()
    model, tokenizer = get_model_and_tokenizer(
        model_type=config_dir or checkpoint.model_type,
        model_name=checkpoint.model_name,
        tokenizer_name=checkpoint.tokenizer_name,
        num_classes=checkpoint.num_classes,
        state_dict=checkpoint.state_dict,
        huggingface_config_path=config_dir,
    )
    return model.to(device), tokenizer


def release_weights(model_type: str) -> Path:
    """Where torch's hub cache keeps Detoxify's release weights for `model_type` (they may be absent)."""
    import torch
    from detoxify.detoxify import MODEL_URLS

    return Path(torch.hub.get_dir()) / "checkpoints" / MODEL_URLS[model_type].rsplit("/", 1)[-1]


def fetch_release_weights(model_type: str) -> Path:
    """Detoxify's release weights for `model_type`, downloaded into the hub cache if not there yet."""
    import torch
    from detoxify.detoxify import MODEL_URLS

    path = release_weights(model_type)
    if path.is_file():
        return path
    log.info("downloading the '%s' Detoxify weights to %s", model_type, path)
    # The release names end in the start of their sha256 (toxic_debiased-c7548aa0.ckpt): checked, as
    # torch.hub itself would, so a corrupted or substituted download is refused.
    prefix = re.search(r"-([0-9a-f]{8,})\.", path.name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(
            MODEL_URLS[model_type], str(path), hash_prefix=prefix.group(1) if prefix else None, progress=False
        )
    except Exception as exc:  # no network, a proxy, a full disk: say which, in one line
        raise ScoringError(
            f"could not download the '{model_type}' Detoxify model ({_reason(exc)}); without network "
            "access, set DETOXIFY_CHECKPOINT (and DETOXIFY_CONFIG_DIR) to local files, or "
            "DETOXIFY_MODEL=lite"
        ) from exc
    return path


def file_digest(path: Path) -> str:
    """sha256 of a file, read in blocks (a Detoxify checkpoint is ~500 MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _named(value: object, pattern: re.Pattern[str]) -> str:
    name = _text(value)
    if not pattern.fullmatch(name):
        raise ValueError(f"unexpected class name {name[:60]!r}")
    return name


def _reason(exc: BaseException) -> str:
    """One short line out of a loader's error: the weights-only refusal says which global it blocked."""
    text = str(exc)
    blocked = re.search(r"[^\n.]*unsupported[^\n]*", text, re.IGNORECASE)
    line = blocked.group(0) if blocked and "weights only" in text.lower() else text
    return " ".join(line.split())[:_REASON_CHARS] or type(exc).__name__
