"""The real bot in a process of its own, pointed at a fake Discord served by the test process, so a test can
`kill -9` it for real: `python -m tests.crashbot '<json config>'`.

Config keys: `api` and `gateway` (the fake's REST base and gateway URLs), `token`, `database` (a file or a
`postgresql://` URL), `checkpoint` and `config_dir` (the tiny Detoxify checkpoint), optional `poll_interval`,
and for a sharded process `shard_count`, `shard_ids` and `redis_url` (identifies then go through the real
Redis gate instead of skipping discord.py's wait). Logs go to stderr.
SIGTERM and SIGINT go to the product's own handling (`bot.factory.serve`), as under `commentwarden run`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import discord.gateway
import discord.http
import yarl

from bot.config import Settings
from bot.factory import create_bot, serve


def settings_from(config: dict[str, Any]) -> Settings:
    database = config["database"]
    shard_ids = config.get("shard_ids")
    return Settings(
        discord_token=config["token"],
        model_type="unbiased",
        checkpoint=Path(config["checkpoint"]),
        hf_config_dir=Path(config["config_dir"]),
        allow_private_urls=True,
        poll_interval=float(config.get("poll_interval", 3600)),
        **(
            {"database_url": database}
            if database.startswith("postgresql://")
            else {"database_path": Path(database)}
        ),
        shard_count=config.get("shard_count"),
        shard_ids=tuple(shard_ids) if shard_ids is not None else None,
        redis_url=config.get("redis_url"),
    )


async def run(config: dict[str, Any]) -> None:
    discord.http.Route.BASE = config["api"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(config["gateway"])
    bot = create_bot(settings_from(config), guild_ready_timeout=0.05)

    async def no_identify_wait(shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py waits 5 s before a re-IDENTIFY to respect Discord's limit; the fake has none."""

    if not config.get("redis_url"):
        bot.before_identify_hook = no_identify_wait  # type: ignore[method-assign]
    await serve(bot, config["token"])


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    asyncio.run(run(json.loads(sys.argv[1])))


if __name__ == "__main__":
    main()
