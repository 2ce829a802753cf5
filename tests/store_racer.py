"""One of two processes writing to the same PostgreSQL at once, for tests/test_store_races.py.

    python -m tests.store_racer URL START_AT JOB N

waits until the wall clock reaches START_AT (so both processes begin together), runs JOB with N concurrent
tasks through the real `Store`, and prints its results as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from bot.store import NewCase, Store

GUILDS = (1, 2)


async def cases(store: Store, n: int) -> Any:
    made = await asyncio.gather(
        *(
            store.cases.add(
                NewCase(guild_id=GUILDS[i % 2], action="flag", target_kind="member", target_id=str(i))
            )
            for i in range(n)
        )
    )
    bulk = await store.cases.add_many(
        NewCase(guild_id=g, action="flag", target_kind="member", target_id=f"bulk{i}")
        for i in range(n)
        for g in GUILDS
    )
    return [[c.guild_id, c.case_number] for c in [*made, *bulk]]


async def warnings(store: Store, n: int) -> Any:
    done = await asyncio.gather(
        *(
            store.cases.add_warning(
                NewCase(guild_id=1, action="warn", target_kind="member", target_id="7", points=1)
            )
            for _ in range(n)
        )
    )
    return [before for _, before in done]


async def claims(store: Store, n: int) -> Any:
    me = os.getpid()
    won = await asyncio.gather(
        *(store.cases.decide(1, number, "remove", me, f"mod{me}") for number in range(1, n + 1))
    )
    return [number for number, ok in zip(range(1, n + 1), won, strict=True) if ok]


async def dedup(store: Store, n: int) -> Any:
    single = await asyncio.gather(
        *(
            store.cases.add(
                NewCase(guild_id=1, action="flag", target_kind="member", target_id=str(i), dedup_key=f"k{i}")
            )
            for i in range(n)
        )
    )
    bulk = await store.cases.add_many(
        NewCase(guild_id=1, action="flag", target_kind="member", target_id=str(i), dedup_key=f"b{i}")
        for i in range(n)
    )
    return {c.dedup_key: c.case_number for c in [*single, *bulk]}


JOBS = {"cases": cases, "warnings": warnings, "claims": claims, "dedup": dedup}


async def main(url: str, start_at: float, job: str, n: int) -> None:
    store = await Store.open(url)
    try:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        result = await JOBS[job](store, n)
    finally:
        await store.close()
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
