"""Settings from the environment and an optional `.env` file.

Every key is read in one place so that a bad value is reported as one line naming the key, before the
bot touches Discord or the database: moderators start this on a Friday and must see at once what to fix.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from dotenv import dotenv_values

from bot.errors import WardenError
from bot.labels import DEFAULT_FLAG_THRESHOLDS

T = TypeVar("T")

# "demo" is commentwarden's own toy model for offline first runs (see bot/model.py), not a Detoxify one.
MODEL_TYPES = ("original", "unbiased", "multilingual", "original-small", "unbiased-small", "demo")
# How the model runs: PyTorch, the same fp32 weights exported to ONNX Runtime (bot/scoring/onnx_backend.py),
# or auto: ONNX Runtime on the CPU (a core dependency), PyTorch on a GPU or where it is missing.
SCORING_BACKENDS = ("auto", "torch", "onnx")


class ConfigError(WardenError, ValueError):
    """A setting is missing or malformed; the message is one line that names the key."""


@dataclass(frozen=True)
class Settings:
    """The process-wide configuration; per-guild choices live in the database instead."""

    discord_token: str | None = None
    database_path: Path = Path("commentwarden.db")
    model_type: str = "unbiased"
    checkpoint: Path | None = None
    hf_config_dir: Path | None = None
    device: str = "cpu"
    torch_threads: int | None = None
    scoring_backend: str = "auto"
    batch_size: int = 32
    batch_wait_ms: float = 5.0
    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FLAG_THRESHOLDS))
    poll_interval: float = 300.0
    allow_private_urls: bool = False
    http_timeout: float = 10.0
    max_response_bytes: int = 10 * 1024 * 1024
    wordpress_credentials: dict[str, tuple[str, str]] = field(default_factory=dict)
    demo_model_dir: Path = Path(".commentwarden/demo-model")
    log_level: str = "INFO"

    def __repr__(self) -> str:
        # The token and site passwords must never reach a log line, even through a stray repr().
        token = "set" if self.discord_token else "unset"
        return (
            f"Settings(database_path={self.database_path!s}, model_type={self.model_type}, "
            f"checkpoint={self.checkpoint}, device={self.device}, discord_token={token}, "
            f"wordpress_credentials={sorted(self.wordpress_credentials)})"
        )

    __str__ = __repr__

    def secrets(self) -> list[str]:
        """Every secret value, so the log filter can redact them wherever they appear."""
        values = [self.discord_token] if self.discord_token else []
        for user, password in self.wordpress_credentials.values():
            values.append(password)
            values.append(f"{user}:{password}")
        return [v for v in values if v]


def _parse(key: str, raw: str, convert: Callable[[str], T], expected: str) -> T:
    try:
        return convert(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}={raw!r} is not valid: expected {expected}") from None


def _positive(kind: Callable[[str], T]) -> Callable[[str], T]:
    def convert(raw: str) -> T:
        value = kind(raw)
        if value <= 0:  # type: ignore[operator]
            raise ValueError(raw)
        return value

    return convert


def _boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(raw)


def _probability(raw: str) -> float:
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise ValueError(raw)
    return value


def _thresholds(env: Mapping[str, str]) -> dict[str, float]:
    """`THRESHOLD_<LABEL>=0.7` overrides one label's default flag level."""
    thresholds = dict(DEFAULT_FLAG_THRESHOLDS)
    for key, raw in env.items():
        if key.startswith("THRESHOLD_") and raw.strip():
            label = key.removeprefix("THRESHOLD_").lower()
            thresholds[label] = _parse(key, raw, _probability, "a number between 0 and 1")
    return thresholds


def _credentials(key: str, raw: str) -> dict[str, tuple[str, str]]:
    """`WORDPRESS_CREDENTIALS=https://site.example=user:app password;https://other=user:pw`."""
    creds: dict[str, tuple[str, str]] = {}
    for entry in filter(None, (part.strip() for part in raw.split(";"))):
        origin, sep, pair = entry.rpartition("=")
        user, colon, password = pair.partition(":")
        if not sep or not colon or not origin.startswith(("http://", "https://")) or not user:
            # Never echo the value: it holds a password.
            raise ConfigError(
                f"{key} is not valid: expected ORIGIN=USER:APP_PASSWORD entries separated by ';'"
            )
        creds[origin.rstrip("/")] = (user, password.strip())
    return creds


def _path(key: str, raw: str, *, must_exist: bool) -> Path:
    path = Path(raw).expanduser()
    if must_exist and not path.exists():
        raise ConfigError(f"{key}={raw} does not exist")
    return path


def load_settings(
    env_file: str | os.PathLike[str] | None = ".env", environ: Mapping[str, str] | None = None
) -> Settings:
    """Merge `.env` (if present) under the real environment, which wins, and validate every key."""
    env: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    env.update(os.environ if environ is None else environ)

    def get(key: str) -> str | None:
        value = env.get(key)
        return value.strip() if value is not None and value.strip() else None

    kwargs: dict[str, object] = {}
    if (token := get("DISCORD_TOKEN")) is not None:
        kwargs["discord_token"] = token
    if (raw := get("DATABASE_PATH")) is not None:
        kwargs["database_path"] = Path(raw).expanduser()
    if (raw := get("DETOXIFY_MODEL")) is not None:
        if raw not in MODEL_TYPES:
            raise ConfigError(
                f"DETOXIFY_MODEL={raw!r} is not valid: expected one of {', '.join(MODEL_TYPES)}"
            )
        kwargs["model_type"] = raw
    if (raw := get("DETOXIFY_CHECKPOINT")) is not None:
        kwargs["checkpoint"] = _path("DETOXIFY_CHECKPOINT", raw, must_exist=True)
    if (raw := get("DETOXIFY_CONFIG_DIR")) is not None:
        kwargs["hf_config_dir"] = _path("DETOXIFY_CONFIG_DIR", raw, must_exist=True)
    if (raw := get("DETOXIFY_DEVICE")) is not None:
        if raw != "cpu" and not raw.startswith(("cuda", "mps")):
            raise ConfigError(f"DETOXIFY_DEVICE={raw!r} is not valid: expected cpu, cuda, cuda:N or mps")
        kwargs["device"] = raw
    if (raw := get("TORCH_THREADS")) is not None:
        kwargs["torch_threads"] = _parse("TORCH_THREADS", raw, _positive(int), "a positive whole number")
    if (raw := get("SCORING_BACKEND")) is not None:
        if raw.lower() not in SCORING_BACKENDS:
            raise ConfigError(f"SCORING_BACKEND={raw!r} is not valid: expected {', '.join(SCORING_BACKENDS)}")
        kwargs["scoring_backend"] = raw.lower()
    if (raw := get("SCORING_BATCH_SIZE")) is not None:
        kwargs["batch_size"] = _parse("SCORING_BATCH_SIZE", raw, _positive(int), "a positive whole number")
    if (raw := get("SCORING_BATCH_WAIT_MS")) is not None:
        kwargs["batch_wait_ms"] = _parse("SCORING_BATCH_WAIT_MS", raw, float, "milliseconds, e.g. 5")
    if (raw := get("POLL_INTERVAL_SECONDS")) is not None:
        kwargs["poll_interval"] = _parse(
            "POLL_INTERVAL_SECONDS", raw, _positive(float), "a positive number of seconds"
        )
    if (raw := get("ALLOW_PRIVATE_URLS")) is not None:
        kwargs["allow_private_urls"] = _parse("ALLOW_PRIVATE_URLS", raw, _boolean, "true or false")
    if (raw := get("HTTP_TIMEOUT_SECONDS")) is not None:
        kwargs["http_timeout"] = _parse(
            "HTTP_TIMEOUT_SECONDS", raw, _positive(float), "a positive number of seconds"
        )
    if (raw := get("MAX_RESPONSE_BYTES")) is not None:
        kwargs["max_response_bytes"] = _parse(
            "MAX_RESPONSE_BYTES", raw, _positive(int), "a positive whole number"
        )
    if (raw := get("WORDPRESS_CREDENTIALS")) is not None:
        kwargs["wordpress_credentials"] = _credentials("WORDPRESS_CREDENTIALS", raw)
    if (raw := get("DEMO_MODEL_DIR")) is not None:
        kwargs["demo_model_dir"] = Path(raw).expanduser()
    if (raw := get("LOG_LEVEL")) is not None:
        if raw.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(f"LOG_LEVEL={raw!r} is not valid: expected DEBUG, INFO, WARNING or ERROR")
        kwargs["log_level"] = raw.upper()
    kwargs["thresholds"] = _thresholds(env)
    if kwargs.get("hf_config_dir") and not kwargs.get("checkpoint"):
        raise ConfigError(
            "DETOXIFY_CONFIG_DIR is set but DETOXIFY_CHECKPOINT is not: set both for offline use"
        )
    return Settings(**kwargs)  # type: ignore[arg-type]
