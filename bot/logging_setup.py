"""Logging configuration whose filter keeps secrets out of every log record.

discord.py and aiohttp can echo request details in errors; redacting at the handler means no code path,
ours or a library's, can leak the token or a WordPress application password into a log file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bot.terminal import terminal_line

REDACTED = "[redacted]"


class RedactingFilter(logging.Filter):
    """Replaces every known secret in a record's rendered message and traceback text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so "user:password" is replaced before "password" alone.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = self.redact(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


class OneLineFormatter(logging.Formatter):
    """Log messages quote strangers (feed titles, URLs, server errors): one line each, no escape sequences,
    so a log on a terminal cannot be repainted; a traceback after the message keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = terminal_line(record.message)
        return super().formatMessage(record)


def configure_logging(level: str, secrets: Iterable[str]) -> RedactingFilter:
    """Install one stderr handler with the redacting filter; returns the filter for tests and reuse."""
    redactor = RedactingFilter(secrets)
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return redactor
