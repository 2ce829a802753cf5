"""The real bot in a process of its own, pointed at a fake Discord served by the test process, so a test can
`kill -9` it for real: `python -m tests.crashbot '<json config>'`.

Config keys: `api` and `gateway` (the fake's REST base and gateway URLs), `token`, `database`,
`checkpoint` and `config_dir` (the tiny Detoxify checkpoint), optional `poll_interval`. Logs go to stderr.
Exits 0 on SIGTERM after a clean shutdown; SIGKILL is the point.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import discord.gateway
import discord.http
import yarl

from bot.config import Settings
from bot.factory import create_bot


def settings_from(config: dict[str, Any]) -> Settings:
    return Settings(
        discord_token=config["token"],
        database_path=Path(config["database"]),
        model_type="unbiased",
        checkpoint=Path(config["checkpoint"]),
        hf_config_dir=Path(config["config_dir"]),
        allow_private_urls=True,
        poll_interval=float(config.get("poll_interval", 3600)),
    )


async def run(config: dict[str, Any]) -> None:
    discord.http.Route.BASE = config["api"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(config["gateway"])
    bot = create_bot(settings_from(config), guild_ready_timeout=0.05)

    async def no_identify_wait(shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py waits 5 s before a re-IDENTIFY to respect Discord's limit; the fake has none."""

    bot.before_identify_hook = no_identify_wait  # type: ignore[method-assign]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with bot:
        runner = asyncio.create_task(bot.start(config["token"]))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait([runner, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not runner.done():
            await bot.close()
        await runner


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    asyncio.run(run(json.loads(sys.argv[1])))


if __name__ == "__main__":
    main()
