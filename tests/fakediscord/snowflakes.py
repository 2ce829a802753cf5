"""Snowflake ids that rise monotonically and still carry a real timestamp.

discord.py derives ``created_at`` from ids and sorts history by them, so the fake hands out ids that
are both strictly increasing (tests can rely on order) and decodable to the current time.
"""

from __future__ import annotations

import time

DISCORD_EPOCH_MS = 1420070400000


class SnowflakeGenerator:
    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(candidate, self._last + 1)
        return self._last

    def next_on_shard(self, shard_id: int, num_shards: int) -> int:
        """The next id whose guild would live on `shard_id` ((id >> 22) % num_shards): up to a few ms ahead."""
        candidate = self.next()
        while (candidate >> 22) % num_shards != shard_id:
            candidate = ((candidate >> 22) + 1) << 22
        self._last = candidate
        return candidate


def snowflake_time(snowflake: int) -> float:
    """Seconds since the Unix epoch encoded in ``snowflake``."""
    return ((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000
