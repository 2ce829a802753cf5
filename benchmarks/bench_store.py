"""Store benchmark: slash-command queries over a large case log, and batched bulk writes.

Seeds N cases (1,000,000 by default) into a fresh database, then times the queries behind `/history`
(one member's cases) and `/modlog` (filtered by moderator and date) through the real `CaseStore`, against
the same queries forced to scan the table (`NOT INDEXED`) as the in-process baseline. Bulk writes are
timed as `CaseStore.add_many` (one transaction per batch) against one transaction per case.

    python benchmarks/bench_store.py            # full run, 1,000,000 cases
    python benchmarks/bench_store.py --quick    # CI: 50,000 cases, fails below the floors
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.store import CaseFilter, NewCase, Store  # noqa: E402
from bot.timestamps import to_iso  # noqa: E402

GUILD = 1
MEMBERS = 20_000
MODERATORS = 25
ACTIONS = ("flag", "warn", "remove", "approve", "timeout", "ban", "kick")
# Floors for --quick, set well under the measured values (benchmarks/README.md) so noise never trips them.
FLOOR_QUERY_SPEEDUP = 5.0
FLOOR_BATCH_SPEEDUP = 3.0
LIMIT_MS = 20.0


async def seed(store: Store, count: int) -> None:
    """Bulk insert with explicit case numbers: seeding is setup, not the thing measured."""
    rng = random.Random(7)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    span = 365 * 24 * 3600
    batch = []
    for number in range(1, count + 1):
        moderator = rng.randrange(MODERATORS) if rng.random() < 0.6 else None
        batch.append(
            (
                GUILD,
                number,
                rng.choice(ACTIONS),
                "member",
                str(rng.randrange(MEMBERS)),
                f"user{number % 997}",
                moderator,
                f"mod{moderator}" if moderator is not None else "auto",
                "seeded",
                to_iso(start + timedelta(seconds=span * number / count)),
            )
        )
        if len(batch) == 50_000:
            await _insert(store, batch)
            batch = []
    if batch:
        await _insert(store, batch)
    await store.db.execute("ANALYZE")


async def _insert(store: Store, rows: list[tuple]) -> None:
    await store.db.executemany(
        "INSERT INTO cases (guild_id, case_number, action, target_kind, target_id, target_name, moderator_id, "
        "moderator_name, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


async def timed(fn, repeats: int) -> float:
    """Median milliseconds of `repeats` calls (the median shrugs off a noisy neighbour)."""
    samples = []
    for i in range(repeats):
        t0 = time.perf_counter()
        await fn(i)
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


async def plan(store: Store, sql: str, params: tuple) -> str:
    rows = await store.db.fetchall("EXPLAIN QUERY PLAN " + sql, params)
    return "; ".join(r["detail"] for r in rows)


async def run(count: int, quick: bool) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "bench.db")
        t0 = time.perf_counter()
        await seed(store, count)
        print(f"seeded {count:,} cases in {time.perf_counter() - t0:.1f}s")
        since = to_iso(datetime(2025, 6, 1, tzinfo=UTC))

        history = await timed(
            lambda i: store.cases.query(GUILD, CaseFilter(target_id=str(i * 7 % MEMBERS))), 50
        )
        modlog = await timed(
            lambda i: store.cases.query(GUILD, CaseFilter(moderator_id=i % MODERATORS, since=since)), 50
        )
        scan_history = await timed(
            lambda i: store.db.fetchall(
                "SELECT * FROM cases NOT INDEXED WHERE guild_id = ? AND target_id = ? "
                "ORDER BY created_at DESC LIMIT 10",
                (GUILD, str(i * 7 % MEMBERS)),
            ),
            3,
        )
        scan_modlog = await timed(
            lambda i: store.db.fetchall(
                "SELECT * FROM cases NOT INDEXED WHERE guild_id = ? AND moderator_id = ? AND created_at >= ? "
                "ORDER BY created_at DESC LIMIT 10",
                (GUILD, i % MODERATORS, since),
            ),
            3,
        )

        print("\n/history member (10 newest):")
        print(
            f"  indexed {history:.2f} ms   full scan {scan_history:.1f} ms   speedup x{scan_history / history:.0f}"
        )
        print(
            "  plan:",
            await plan(
                store,
                "SELECT * FROM cases WHERE guild_id = ? AND target_id = ? ORDER BY created_at DESC LIMIT 10",
                (GUILD, "5"),
            ),
        )
        print("/modlog moderator + since (10 newest):")
        print(
            f"  indexed {modlog:.2f} ms   full scan {scan_modlog:.1f} ms   speedup x{scan_modlog / modlog:.0f}"
        )
        print(
            "  plan:",
            await plan(
                store,
                "SELECT * FROM cases WHERE guild_id = ? AND moderator_id = ? AND "
                "created_at >= ? ORDER BY created_at DESC LIMIT 10",
                (GUILD, 3, since),
            ),
        )

        n = 2_000 if quick else 10_000
        new = [NewCase(guild_id=2, action="flag", target_kind="member", target_id=str(i)) for i in range(n)]
        t0 = time.perf_counter()
        for start in range(0, n, 500):
            await store.cases.add_many(new[start : start + 500])
        batched = n / (time.perf_counter() - t0)
        single_n = n // 10
        t0 = time.perf_counter()
        for case in new[:single_n]:
            await store.cases.add(
                NewCase(guild_id=3, action=case.action, target_kind="member", target_id=case.target_id)
            )
        single = single_n / (time.perf_counter() - t0)
        print(
            f"\nbulk case writes: batched {batched:,.0f} rows/s   one transaction each {single:,.0f} rows/s   "
            f"x{batched / single:.1f}"
        )
        await store.close()

    failures = []
    if history > LIMIT_MS or modlog > LIMIT_MS:
        failures.append(f"a query took over {LIMIT_MS} ms")
    if quick:
        if min(scan_history / history, scan_modlog / modlog) < FLOOR_QUERY_SPEEDUP:
            failures.append(f"index speedup under x{FLOOR_QUERY_SPEEDUP}")
        if batched / single < FLOOR_BATCH_SPEEDUP:
            failures.append(f"batched writes under x{FLOOR_BATCH_SPEEDUP} of single writes")
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small seed and floors, for CI")
    parser.add_argument("--cases", type=int, help="number of cases to seed")
    args = parser.parse_args()
    count = args.cases or (50_000 if args.quick else 1_000_000)
    return asyncio.run(run(count, args.quick))


if __name__ == "__main__":
    raise SystemExit(main())
