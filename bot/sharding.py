"""Splitting one bot across processes: which guilds a process owns, who syncs commands, the identify gate.

Discord routes a guild's events to shard `(guild_id >> 22) % shard_count`; a process started with
`SHARD_IDS` runs only those shards, so it sees only their guilds and must poll only their mirror sources.
Discord also allows one IDENTIFY per `shard_id % max_concurrency` bucket every 5 seconds *per bot*, not per
process: `IdentifyGate` takes that slot in Redis (`SET NX PX`), so processes starting together queue up
instead of being refused. Nothing here knows a Discord object.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.config import ConfigError

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

IDENTIFY_INTERVAL_S = 5.0  # Discord's window per max_concurrency bucket
KEY_PREFIX = "commentwarden:identify"
SLOT_MARGIN = 1.1


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard Discord routes a guild's events to."""
    return (guild_id >> 22) % shard_count


def owns_guild(guild_id: int, shard_count: int | None, shard_ids: Sequence[int] | None) -> bool:
    """True when this process runs the guild's shard (an unsharded process owns every guild)."""
    if not shard_count or shard_ids is None:
        return True
    return shard_of(guild_id, shard_count) in shard_ids


def syncs_commands(shard_ids: Sequence[int] | None) -> bool:
    """Exactly one process pushes the application commands: the one running shard 0 (or all shards).

    The commands are global, so N processes syncing would spend N times the tight command-sync rate limit
    for the same result.
    """
    return shard_ids is None or 0 in shard_ids


class IdentifyGate:
    """One IDENTIFY per `shard_id % max_concurrency` bucket per `interval`, across every process of the bot.

    The first process to `SET key NX PX interval` holds the bucket's slot; the others wait out the key's
    time to live and try again. A crashed holder costs at most one interval: the key expires by itself.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        max_concurrency: int,
        interval: float = IDENTIFY_INTERVAL_S,
        namespace: str = "",
    ) -> None:
        self.redis = redis
        self.max_concurrency = max(1, max_concurrency)
        self.interval = interval
        self.namespace = namespace
        self.holder = f"{socket.gethostname()}:{os.getpid()}"

    @classmethod
    async def connect(cls, url: str, *, max_concurrency: int, namespace: str = "") -> IdentifyGate:
        """Reach Redis now, so a wrong REDIS_URL is one line at start-up rather than a stuck shard later."""
        try:
            from redis.asyncio import Redis
            from redis.exceptions import RedisError
        except ImportError:
            raise ConfigError(
                "REDIS_URL is set but the redis package is not installed: "
                "pip install 'commentwarden[postgres]'"
            ) from None
        redis = Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
        try:
            await redis.ping()
        except RedisError as exc:
            await redis.aclose()
            raise ConfigError(
                f"cannot reach Redis at REDIS_URL ({type(exc).__name__}: {exc}): "
                "check the URL and that Redis is up"
            ) from None
        return cls(redis, max_concurrency=max_concurrency, namespace=namespace)

    def key(self, shard_id: int) -> str:
        return f"{KEY_PREFIX}:{self.namespace}:{shard_id % self.max_concurrency}"

    async def wait(self, shard_id: int) -> None:
        """Return once this shard may IDENTIFY; its bucket is then closed to everyone for `interval`."""
        key = self.key(shard_id)
        # The slot is held a little past the window: the IDENTIFY reaches Discord a moment after it is taken.
        ttl_ms = int(self.interval * 1000 * SLOT_MARGIN)
        while True:
            if await self.redis.set(key, f"{self.holder}:{shard_id}", nx=True, px=ttl_ms):
                log.info("identify slot taken for shard %d (bucket %s)", shard_id, key)
                return
            left = await self.redis.pttl(key)
            # Jitter so processes waiting on one bucket do not all ask again in the same millisecond.
            await asyncio.sleep(max(left, 10) / 1000 + random.uniform(0.0, 0.05))

    async def close(self) -> None:
        await self.redis.aclose()
