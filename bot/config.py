"""Settings from the environment and an optional `.env` file.

Every key is read in one place so that a bad value is reported as one line naming the key, before the
bot touches Discord or the database: moderators start this on a Friday and must see at once what to fix.
"""

from __future__ import annotations

import difflib
import io
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from dotenv import dotenv_values

from bot.errors import WardenError
from bot.labels import DEFAULT_FLAG_THRESHOLDS, LABELS

T = TypeVar("T")

# "auto" (Detoxify when its weights are here, else "lite"), "lite" (alt-profanity-check) and "demo" (a toy
# for the tests) are commentwarden's own choices, not Detoxify models: see bot/scoring/loader.py.
MODEL_TYPES = (
    "auto",
    "lite",
    "original",
    "unbiased",
    "multilingual",
    "original-small",
    "unbiased-small",
    "demo",
)
# How the model runs: PyTorch, the same fp32 weights exported to ONNX Runtime (bot/scoring/onnx_backend.py),
# or auto: ONNX Runtime on the CPU (a core dependency), PyTorch on a GPU or where it is missing.
SCORING_BACKENDS = ("auto", "torch", "onnx")
# Upper bounds for counts and durations: beyond them a value is a typo (an extra zero), and some are
# dangerous rather than slow (torch segfaults creating 100,000 threads).
MAX_TORCH_THREADS = 512
MAX_BATCH_SIZE = 4096
MAX_SECONDS = 7 * 24 * 3600.0
MAX_RESPONSE_LIMIT = 1024**3
MAX_ENV_FILE_BYTES = 1024 * 1024


class ConfigError(WardenError, ValueError):
    """A setting is missing or malformed; the message is one line that names the key."""


@dataclass(frozen=True)
class Settings:
    """The process-wide configuration; per-guild choices live in the database instead."""

    discord_token: str | None = None
    database_path: Path = Path("commentwarden.db")
    model_type: str = "auto"
    checkpoint: Path | None = None
    hf_config_dir: Path | None = None
    device: str = "cpu"
    torch_threads: int | None = None
    scoring_backend: str = "auto"
    batch_size: int = 32
    batch_wait_ms: float = 5.0
    scoring_int8: bool = False  # opt-in int8 ONNX path, used only while it agrees with fp32 (int8_guard.py)
    scorer_url: str | None = None  # a shared scoring service (bot/scoring/client.py) instead of a model here
    scorer_timeout: float = 30.0
    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FLAG_THRESHOLDS))
    poll_interval: float = 300.0
    allow_private_urls: bool = False
    http_timeout: float = 10.0
    max_response_bytes: int = 10 * 1024 * 1024
    wordpress_credentials: dict[str, tuple[str, str]] = field(default_factory=dict)
    demo_model_dir: Path = Path(".commentwarden/demo-model")
    model_cache_dir: Path = Path(".commentwarden/model-cache")
    log_level: str | None = None  # unset: INFO for `run`, WARNING for the one-shot commands (see bot/cli.py)
    # Scaling out (README "Scaling out"): a shared PostgreSQL instead of the SQLite file, and this
    # process's share of the shards, identifies gated through Redis.
    database_url: str | None = None
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    redis_url: str | None = None

    @property
    def database_target(self) -> str | Path:
        """What `Store.open` opens: DATABASE_URL when set, else the SQLite file."""
        return self.database_url or self.database_path

    # One line each for keys that were ignored (unknown in the .env file, a misspelt THRESHOLD_ label):
    # not errors, but the operator meant something by them, so the CLI and the bot show them at start.
    warnings: tuple[str, ...] = field(default=(), compare=False)

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
        for url in (self.database_url, self.redis_url):
            password = urlsplit(url).password if url else None
            if password:
                values.append(password)
        for user, password in self.wordpress_credentials.values():
            values.append(password)
            values.append(f"{user}:{password}")
        return [v for v in values if v]


def _parse(key: str, raw: str, convert: Callable[[str], T], expected: str) -> T:
    try:
        return convert(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}={raw!r} is not valid: expected {expected}") from None


def _positive(kind: Callable[[str], T], maximum: float) -> Callable[[str], T]:
    """A number in (0, maximum]; nan and inf are refused (nan compares false with everything, so a
    plain `<= 0` test lets it through, and an infinite timeout is a hang)."""

    def convert(raw: str) -> T:
        value = kind(raw)
        if not math.isfinite(value) or not 0 < value <= maximum:  # type: ignore[arg-type, operator]
            raise ValueError(raw)
        return value

    return convert


def _non_negative_ms(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value) or not 0 <= value <= 60_000:
        raise ValueError(raw)
    return value


def _boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(raw)


def _probability(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(raw)
    return value


def _service_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(raw)
    return raw.rstrip("/")


def _thresholds(env: Mapping[str, str], warnings: list[str]) -> dict[str, float]:
    """`THRESHOLD_<LABEL>=0.7` overrides one label's default flag level.

    A label no model has (`THRESHOLD_TOXICTY`) is a typo that would silently leave the default in
    force: it is ignored with a warning naming the key and the label meant.
    """
    thresholds = dict(DEFAULT_FLAG_THRESHOLDS)
    for key, raw in env.items():
        if key.startswith("THRESHOLD_") and raw.strip():
            label = key.removeprefix("THRESHOLD_").lower()
            value = _parse(key, raw, _probability, "a number between 0 and 1")
            if label not in LABELS:
                close = difflib.get_close_matches(label, LABELS, n=1)
                hint = (
                    f"did you mean THRESHOLD_{close[0].upper()}?" if close else f"labels: {', '.join(LABELS)}"
                )
                warnings.append(f"{key} ignored: {label!r} is not a label ({hint})")
                continue
            thresholds[label] = value
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


MAX_SHARDS = 65_535  # far past any bot's needs (Discord asks for one shard per ~1,000 guilds)


def _scaling(get: Callable[[str], str | None]) -> dict[str, object]:
    """DATABASE_URL, SHARD_COUNT, SHARD_IDS and REDIS_URL, checked together (ids need a count)."""
    out: dict[str, object] = {}
    if (raw := get("DATABASE_URL")) is not None:
        if not raw.startswith(("postgresql://", "postgres://")):
            raise ConfigError(
                "DATABASE_URL is not valid: expected postgresql://user:password@host/dbname "
                "(leave it unset for the SQLite file at DATABASE_PATH)"
            )
        out["database_url"] = raw
    if (raw := get("REDIS_URL")) is not None:
        if not raw.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("REDIS_URL is not valid: expected redis://host:port/0")
        out["redis_url"] = raw
    count = None
    if (raw := get("SHARD_COUNT")) is not None:
        out["shard_count"] = count = _parse(
            "SHARD_COUNT", raw, _positive(int, MAX_SHARDS), f"a whole number from 1 to {MAX_SHARDS}"
        )
    if (raw := get("SHARD_IDS")) is not None:
        if count is None:
            raise ConfigError(
                "SHARD_IDS is set but SHARD_COUNT is not: set both (e.g. SHARD_COUNT=4 SHARD_IDS=0,1)"
            )
        try:
            ids = tuple(sorted({int(part) for part in raw.split(",") if part.strip()}))
        except ValueError:
            raise ConfigError(f"SHARD_IDS={raw!r} is not valid: expected shard numbers like 0,1") from None
        if not ids or any(not 0 <= i < count for i in ids):
            raise ConfigError(f"SHARD_IDS={raw!r} is not valid: expected numbers from 0 to {count - 1}")
        out["shard_ids"] = ids
    return out


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """The keys of a `.env` file; a file that is not UTF-8 text (a binary dropped in its place) or
    cannot be read is one line naming it, not a decoding traceback."""
    file = Path(path)
    if not file.exists():
        raise ConfigError(f"settings file {file} does not exist")
    if str(file) == os.devnull:  # `--env-file /dev/null`: the usual way to say "no settings file"
        return {}
    if not file.is_file():  # a FIFO would block, a device never end
        raise ConfigError(f"settings file {file} is not a regular file")
    try:
        with file.open("rb") as handle:  # a regular file: read at most one byte past the limit
            raw = handle.read(MAX_ENV_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"settings file {file} cannot be read: {exc.strerror or exc}") from None
    if len(raw) > MAX_ENV_FILE_BYTES:
        raise ConfigError(f"settings file {file} is over {MAX_ENV_FILE_BYTES} bytes: is it the right file?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = "\x00"
    if "\x00" in text:
        raise ConfigError(f"settings file {file} is not UTF-8 text: is it the right file?")
    return {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}


def load_settings(
    env_file: str | os.PathLike[str] | None = ".env",
    environ: Mapping[str, str] | None = None,
    *,
    env_file_required: bool = False,
) -> Settings:
    """Merge `.env` under the real environment, which wins, and validate every key.

    `env_file` is optional (read if present) unless `env_file_required`: a file the operator named
    explicitly and that is missing is an error, never a silent fallback to defaults.
    """
    env: dict[str, str] = {}
    from_file: dict[str, str] = {}
    if env_file is not None and (env_file_required or Path(env_file).exists()):
        from_file = read_env_file(env_file)
        env.update(from_file)
    env.update(os.environ if environ is None else environ)
    read: set[str] = set()

    def get(key: str) -> str | None:
        read.add(key)
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
        kwargs["torch_threads"] = _parse(
            "TORCH_THREADS",
            raw,
            _positive(int, MAX_TORCH_THREADS),
            f"a whole number from 1 to {MAX_TORCH_THREADS}",
        )
    if (raw := get("SCORING_BACKEND")) is not None:
        if raw.lower() not in SCORING_BACKENDS:
            raise ConfigError(f"SCORING_BACKEND={raw!r} is not valid: expected {', '.join(SCORING_BACKENDS)}")
        kwargs["scoring_backend"] = raw.lower()
    if (raw := get("SCORING_BATCH_SIZE")) is not None:
        kwargs["batch_size"] = _parse(
            "SCORING_BATCH_SIZE",
            raw,
            _positive(int, MAX_BATCH_SIZE),
            f"a whole number from 1 to {MAX_BATCH_SIZE}",
        )
    if (raw := get("SCORING_BATCH_WAIT_MS")) is not None:
        kwargs["batch_wait_ms"] = _parse(
            "SCORING_BATCH_WAIT_MS", raw, _non_negative_ms, "milliseconds from 0 to 60000, e.g. 5"
        )
    if (raw := get("SCORING_INT8")) is not None:
        kwargs["scoring_int8"] = _parse("SCORING_INT8", raw, _boolean, "true or false")
    if (raw := get("SCORER_URL")) is not None:
        kwargs["scorer_url"] = _parse(
            "SCORER_URL", raw, _service_url, "an http:// or https:// URL, e.g. http://127.0.0.1:8000"
        )
    if (raw := get("SCORER_TIMEOUT_SECONDS")) is not None:
        kwargs["scorer_timeout"] = _parse(
            "SCORER_TIMEOUT_SECONDS", raw, _positive(float, 3600), "a number of seconds up to 3600"
        )
    if (raw := get("POLL_INTERVAL_SECONDS")) is not None:
        kwargs["poll_interval"] = _parse(
            "POLL_INTERVAL_SECONDS", raw, _positive(float, MAX_SECONDS), "a number of seconds up to a week"
        )
    if (raw := get("ALLOW_PRIVATE_URLS")) is not None:
        kwargs["allow_private_urls"] = _parse("ALLOW_PRIVATE_URLS", raw, _boolean, "true or false")
    if (raw := get("HTTP_TIMEOUT_SECONDS")) is not None:
        kwargs["http_timeout"] = _parse(
            "HTTP_TIMEOUT_SECONDS", raw, _positive(float, MAX_SECONDS), "a number of seconds up to a week"
        )
    if (raw := get("MAX_RESPONSE_BYTES")) is not None:
        kwargs["max_response_bytes"] = _parse(
            "MAX_RESPONSE_BYTES",
            raw,
            _positive(int, MAX_RESPONSE_LIMIT),
            f"a whole number from 1 to {MAX_RESPONSE_LIMIT}",
        )
    if (raw := get("WORDPRESS_CREDENTIALS")) is not None:
        kwargs["wordpress_credentials"] = _credentials("WORDPRESS_CREDENTIALS", raw)
    if (raw := get("DEMO_MODEL_DIR")) is not None:
        kwargs["demo_model_dir"] = Path(raw).expanduser()
    if (raw := get("MODEL_CACHE_DIR")) is not None:
        kwargs["model_cache_dir"] = Path(raw).expanduser()
    if (raw := get("LOG_LEVEL")) is not None:
        if raw.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(f"LOG_LEVEL={raw!r} is not valid: expected DEBUG, INFO, WARNING or ERROR")
        kwargs["log_level"] = raw.upper()
    kwargs.update(_scaling(get))
    warnings: list[str] = []
    kwargs["thresholds"] = _thresholds(env, warnings)
    if kwargs.get("hf_config_dir") and not kwargs.get("checkpoint"):
        raise ConfigError(
            "DETOXIFY_CONFIG_DIR is set but DETOXIFY_CHECKPOINT is not: set both for offline use"
        )
    # Only the file's keys: the real environment holds PATH, HOME and everything else a shell sets.
    for key in sorted(set(from_file) - read):
        if not key.startswith("THRESHOLD_"):
            warnings.append(f"{key} in {env_file} is not a commentwarden setting; ignored (see .env.example)")
    kwargs["warnings"] = tuple(warnings)
    return Settings(**kwargs)  # type: ignore[arg-type]
