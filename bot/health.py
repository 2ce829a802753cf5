"""The running bot's health signal: a heartbeat file it refreshes while connected to Discord.

A container's HEALTHCHECK or a monitoring script runs `commentwarden health`, a separate process that cannot
ask the bot anything; the file's age says whether the bot is alive *and* connected. Kept next to the database
so it lives in the same state directory/volume and needs no setting of its own.
"""

from __future__ import annotations

import time
from pathlib import Path

# The bot refreshes the file this often while connected; `health` calls it stale after STALE_AFTER_SECONDS,
# which tolerates a missed beat or two (a reconnect, a busy loop) before an orchestrator restarts the bot.
BEAT_SECONDS = 30.0
STALE_AFTER_SECONDS = 90.0


def heartbeat_path(database_path: Path) -> Path:
    return database_path.with_name(database_path.name + ".heartbeat")


def beat(path: Path) -> None:
    """Blocking (tiny) write; the bot calls it through `asyncio.to_thread`."""
    path.write_text(f"{time.time():.0f}\n", encoding="ascii")


def problem(path: Path, *, now: float | None = None, stale_after: float = STALE_AFTER_SECONDS) -> str | None:
    """None when healthy, else one line saying what is wrong."""
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return f"no heartbeat at {path}: the bot is not running or has not connected to Discord yet"
    if age > stale_after:
        return f"the heartbeat {path} is {age:.0f} s old: the bot is not connected to Discord or is stuck"
    return None
