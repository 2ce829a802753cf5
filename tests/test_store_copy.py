"""`commentwarden db copy --to postgresql://…` moves a whole SQLite history with nothing lost."""

from __future__ import annotations

import asyncio
import os
import random
from datetime import UTC, datetime, timedelta

import pytest

from bot.cli import main
from bot.scoring.engine import TextScore
from bot.sources.base import Article, Comment
from bot.store import NewCase, Store
from bot.store.copy import TABLES
from bot.store.schema import LATEST_VERSION
from bot.store.scores import MessageScore
from bot.timestamps import to_iso

CASES = 100_000
GUILDS = (1, 2, 1_234_567_890_123_456_789)


async def _seed(path) -> None:
    store = await Store.open(path)
    rng = random.Random(3)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows, numbers = [], dict.fromkeys(GUILDS, 0)
    for i in range(CASES):
        guild = GUILDS[i % len(GUILDS)]
        numbers[guild] += 1
        rows.append(
            (
                guild,
                numbers[guild],
                rng.choice(("flag", "warn", "ban")),
                "member",
                str(rng.randrange(5000)),
                rng.randrange(20) or None,
                f"reason {i} 100% ‘quoted’ \\ tab\there",
                f"k{i}",
                to_iso(start + timedelta(seconds=i)),
                0.5 + (i % 7) / 100,
            )
        )
    await store.db.executemany(
        "INSERT INTO cases (guild_id, case_number, action, target_kind, target_id, moderator_id, reason, dedup_key, "
        "created_at, score) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    await store.cases.set_card(1, 5, 10, 11)
    await store.cases.decide(1, 5, "remove", 7, "mod")
    await store.guilds.update(1, review_channel_id=99, mod_role_ids=[3, 4])
    await store.guilds.set_threshold(1, "insult", 0.4, 0.9, channel_id=77)
    source = await store.mirror.add_source(1, 50, "wordpress", "https://example.org/?p=1")
    article = await store.mirror.upsert_article(source.id, Article("a1", "Title", None, None, None, ""))
    comment = Comment("c1", None, "ann", None, "hello", None, None)
    await store.mirror.save_scored(article, [(comment, TextScore.stored({"insult": 0.2}, "insult", 0.2))])
    await store.mirror.record_mirrored(article, ["c1"], [555, 556])
    await store.scores.add_many([MessageScore(1, 2, 3, 4, {"insult": 0.1}, "insult", 0.1)])
    await store.close()


async def _snapshot(target) -> dict:
    store = await Store.open(target)
    try:
        counts = {t: (await store.db.fetchone(f"SELECT COUNT(*) FROM {t}"))[0] for t in TABLES}  # noqa: S608
        cases = {g: [c async for c in store.cases.iterate(g)] for g in GUILDS}
        return {
            "counts": counts,
            "cases": cases,
            "guild": await store.guilds.get(1),
            "cards": await store.cases.cards(1, "all"),
            "card": await store.cases.card(1, 5),
            "comments": await store.mirror.mirror_comments(1),
            "history": await store.scores.for_author(1, 4),
        }
    finally:
        await store.close()


def test_db_copy_round_trips_a_100000_case_history(tmp_path, pg_url, capsys, cli_logging):
    path = tmp_path / "cw.db"
    asyncio.run(_seed(path))

    assert main(["--db", str(path), "db", "copy", "--to", pg_url]) == 0
    out = capsys.readouterr()
    assert f"{CASES:,} cases in 3 guilds" in out.out and "counts and case numbers match" in out.out

    before, after = asyncio.run(_snapshot(path)), asyncio.run(_snapshot(pg_url))
    assert after["counts"] == before["counts"] and before["counts"]["cases"] == CASES
    for guild in GUILDS:
        assert [c.case_number for c in after["cases"][guild]] == list(
            range(1, len(before["cases"][guild]) + 1)
        )
        assert after["cases"][guild] == before["cases"][guild]  # every field of every case
    for key in ("guild", "cards", "card", "comments", "history"):
        assert after[key] == before[key], key

    async def carry_on() -> tuple[int, int]:
        store = await Store.open(pg_url)
        try:
            case = await store.cases.add(
                NewCase(guild_id=2, action="warn", target_kind="member", target_id="1")
            )
            source = await store.mirror.add_source(1, 50, "feed", "https://example.org/feed")
            return case.case_number, source.id
        finally:
            await store.close()

    number, source_id = asyncio.run(carry_on())
    assert number == len(before["cases"][2]) + 1  # numbering continues where the file stopped
    assert source_id == 2  # ids too

    # A second copy would renumber or merge histories: refused, one line, the target untouched.
    assert main(["--db", str(path), "db", "copy", "--to", pg_url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already holds" in err
    assert asyncio.run(_snapshot(pg_url))["counts"]["cases"] == CASES + 1


@pytest.mark.parametrize("to", ["sqlite:///x.db", "mysql://h/db"])
def test_db_copy_refuses_a_target_that_is_not_postgres(tmp_path, capsys, cli_logging, to):
    assert main(["--db", str(tmp_path / "cw.db"), "db", "copy", "--to", to]) == 2
    assert "expected postgresql://" in capsys.readouterr().err


def test_db_copy_refuses_a_missing_file(tmp_path, pg_url, capsys, cli_logging):
    assert main(["--db", str(tmp_path / "nope.db"), "db", "copy", "--to", pg_url]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()  # only read, never created


def test_database_url_points_every_db_command_at_postgres(tmp_path, pg_url, capsys, cli_logging, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.chdir(tmp_path)  # where DATABASE_PATH's default file would appear
    env = ["--env-file", os.devnull]
    assert main([*env, "db", "migrate"]) == 0
    assert capsys.readouterr().out.strip() == f"{pg_url}: schema version {LATEST_VERSION}"

    async def one_case() -> None:
        store = await Store.open(pg_url)
        await store.cases.add(
            NewCase(guild_id=7, action="warn", target_kind="member", target_id="3", reason="r")
        )
        await store.close()

    asyncio.run(one_case())
    assert main([*env, "db", "export", "--guild", "7", "--format", "json"]) == 0
    assert '"reason": "r"' in capsys.readouterr().out
    assert not list(tmp_path.glob("*.db"))  # no SQLite file was made on the side
