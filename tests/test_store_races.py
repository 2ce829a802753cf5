"""Two processes writing to one PostgreSQL at the same moment keep every guarantee one SQLite writer gives.

Each test starts two real `python -m tests.store_racer` processes against the same database, released
together at a wall-clock instant, each running many concurrent writes through its own connection pool.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.store import CaseFilter, NewCase, Store, StoreError

ROOT = Path(__file__).resolve().parent.parent


async def race(url: str, job: str, n: int) -> list[Any]:
    """Run `job` in two processes at once; their JSON results."""
    start_at = time.time() + 2.0  # both interpreters are up and connected by then
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.store_racer",
            url,
            str(start_at),
            job,
            str(n),
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    results = []
    for proc in procs:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


@pytest.fixture
async def pg_store(pg_url):
    s = await Store.open(pg_url)
    yield s
    await s.close()


async def test_case_numbers_stay_dense_and_unique_per_guild_across_processes(pg_url, pg_store):
    n = 60
    a, b = await race(pg_url, "cases", n)
    by_guild = collections.defaultdict(list)
    for guild, number in a + b:
        by_guild[guild].append(number)
    for guild in (1, 2):
        # each process: n/2 single adds + n bulk adds in this guild
        assert sorted(by_guild[guild]) == list(range(1, 3 * n + 1)), f"guild {guild} has gaps or duplicates"
        assert await pg_store.cases.count(guild, CaseFilter()) == 3 * n


async def test_the_warning_limit_is_crossed_exactly_once_across_processes(pg_url, pg_store):
    n = 15
    a, b = await race(pg_url, "warnings", n)
    befores = sorted(a + b)
    assert befores == list(range(2 * n)), "two warnings read the same running total"
    limit = 3
    assert sum(1 for before in befores if before < limit <= before + 1) == 1
    assert await pg_store.cases.active_points(1, "7") == 2 * n


async def test_a_card_is_claimed_by_exactly_one_process(pg_url, pg_store):
    n = 40
    for i in range(n):
        case = await pg_store.cases.add(
            NewCase(guild_id=1, action="flag", target_kind="member", target_id=str(i))
        )
        await pg_store.cases.set_card(1, case.case_number, 10, 1000 + i)
    a, b = await race(pg_url, "claims", n)
    assert not set(a) & set(b), "a card was claimed twice"
    assert sorted(a + b) == list(range(1, n + 1)), "a card was claimed by nobody"
    assert await pg_store.cases.cards(1, "open") == []


async def test_dedup_keys_hold_across_processes_without_burning_numbers(pg_url, pg_store):
    n = 40
    a, b = await race(pg_url, "dedup", n)
    assert a == b, "the two processes were handed different cases for the same key"
    assert sorted(a.values()) == list(range(1, 2 * n + 1))
    assert await pg_store.cases.count(1, CaseFilter()) == 2 * n


async def test_postgres_cases_refuse_update_delete_and_truncate_from_any_session(pg_url, pg_store):
    case = await pg_store.cases.add(
        NewCase(guild_id=1, action="warn", target_kind="member", target_id="5", reason="x")
    )
    for sql in ("UPDATE cases SET reason = 'changed'", "DELETE FROM cases", "TRUNCATE cases"):
        with pytest.raises(StoreError, match="append-only"):
            await pg_store.db.execute(sql)
    # A plain session outside the store (an operator's psql) is refused by the same triggers.
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as raw:
        for sql in ("UPDATE cases SET reason = 'changed'", "DELETE FROM cases", "TRUNCATE cases"):
            with pytest.raises(psycopg.errors.RestrictViolation, match="append-only"):
                await raw.execute(sql)
    assert (await pg_store.cases.get(1, case.case_number)).reason == "x"
