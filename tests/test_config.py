"""Settings: defaults, .env files, and one clear line naming the key for every bad value."""

from __future__ import annotations

import logging

import pytest

from bot.config import ConfigError, load_settings
from bot.labels import DEFAULT_FLAG_THRESHOLDS
from bot.logging_setup import RedactingFilter


def test_defaults_need_nothing():
    settings = load_settings(env_file=None, environ={})
    assert settings.model_type == "auto"  # Detoxify when its weights are here, else lite
    assert settings.thresholds == DEFAULT_FLAG_THRESHOLDS
    assert settings.discord_token is None


def test_env_file_is_read_and_environment_wins(tmp_path):
    env = tmp_path / ".env"
    env.write_text("DATABASE_PATH=from-file.db\nTHRESHOLD_INSULT=0.4\nPOLL_INTERVAL_SECONDS=60\n")
    settings = load_settings(env_file=env, environ={"DATABASE_PATH": "from-env.db"})
    assert str(settings.database_path) == "from-env.db"
    assert settings.thresholds["insult"] == 0.4
    assert settings.poll_interval == 60


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("POLL_INTERVAL_SECONDS", "soon"),
        ("POLL_INTERVAL_SECONDS", "-5"),
        ("THRESHOLD_TOXICITY", "1.5"),
        ("DETOXIFY_MODEL", "gpt"),
        ("DETOXIFY_CHECKPOINT", "/nonexistent/model.ckpt"),
        ("ALLOW_PRIVATE_URLS", "maybe"),
        ("SCORING_BATCH_SIZE", "0"),
        ("DETOXIFY_DEVICE", "tpu"),
    ],
)
def test_bad_value_names_the_key_in_one_line(key, value):
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None, environ={key: value})
    message = str(info.value)
    assert key in message and "\n" not in message


def test_credentials_are_parsed_and_never_echoed():
    settings = load_settings(
        env_file=None,
        environ={
            "WORDPRESS_CREDENTIALS": "https://blog.example=admin:abcd efgh ijkl",
            "DISCORD_TOKEN": "tok.secret.value",
        },
    )
    assert settings.wordpress_credentials == {"https://blog.example": ("admin", "abcd efgh ijkl")}
    assert "abcd" not in repr(settings) and "tok.secret.value" not in repr(settings)
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None, environ={"WORDPRESS_CREDENTIALS": "no-origin-secretpw"})
    assert "secretpw" not in str(info.value)


def test_redacting_filter_scrubs_messages_args_and_tracebacks():
    records = []

    class Capture(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Capture()
    handler.addFilter(RedactingFilter(["tok.secret.value"]))
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    try:
        logger.error("token is %s", "tok.secret.value")
        try:
            raise RuntimeError("bad token tok.secret.value")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert records and all("tok.secret.value" not in r for r in records)
    assert "[redacted]" in records[0]


def test_env_example_keys_are_all_settings():
    """Every key documented in .env.example is read by load_settings (else it would warn as unknown)."""
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / ".env.example"
    assert load_settings(env_file=example, environ={}, env_file_required=True).warnings == ()


def test_unknown_key_in_the_environment_is_not_a_warning(tmp_path):
    """The real environment holds PATH, HOME and the rest of a shell's: only the file's keys are checked."""
    env = tmp_path / ".env"
    env.write_text("DATABASE_PATH=x.db\nDATABSE_PATH=y.db\n")
    settings = load_settings(env_file=env, environ={"HOME": "/root", "THRESHOLD_TOXICTY": "0.5"})
    assert [w.split(" ")[0] for w in settings.warnings] == ["THRESHOLD_TOXICTY", "DATABSE_PATH"]
