"""The store on both engines: migrations, append-only cases, per-guild numbering, idempotent writes, safe SQL.

Every test taking `store` runs once on SQLite and once on a real PostgreSQL (tests/fixtures/postgres.py);
the few about one engine's own mechanics (PRAGMAs, a locked file, TRUNCATE) say so in their name.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace

import pytest

from bot.moderation.policy import levels_for_model
from bot.store import CaseFilter, MessageScore, NewCase, Store, StoreError
from bot.store.database import Database
from bot.store.schema import LATEST_VERSION


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request, tmp_path):
    target = tmp_path / "cw.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = await Store.open(target)
    yield s
    await s.close()


@pytest.fixture
async def sqlite_store(tmp_path):
    s = await Store.open(tmp_path / "cw.db")
    yield s
    await s.close()


async def test_sqlite_open_sets_wal_foreign_keys_and_version(sqlite_store):
    store = sqlite_store
    assert (await store.db.fetchone("PRAGMA journal_mode"))[0] == "wal"
    assert (await store.db.fetchone("PRAGMA foreign_keys"))[0] == 1
    assert (await store.db.fetchone("PRAGMA busy_timeout"))[0] >= 1000
    assert await store.db.schema_version() == LATEST_VERSION


async def test_case_numbers_are_per_guild_and_concurrent_writers_never_collide(store):
    cases = await asyncio.gather(
        *(
            store.cases.add(NewCase(guild_id=g, action="flag", target_kind="member", target_id=str(i)))
            for i in range(20)
            for g in (1, 2)
        )
    )
    for guild in (1, 2):
        numbers = sorted(c.case_number for c in cases if c.guild_id == guild)
        assert numbers == list(range(1, 21))


async def test_cases_are_append_only(store):
    case = await store.cases.add(
        NewCase(guild_id=1, action="warn", target_kind="member", target_id="5", reason="x")
    )
    with pytest.raises(StoreError, match="append-only"):
        await store.db.execute(
            "UPDATE cases SET reason = 'changed' WHERE case_number = ?", (case.case_number,)
        )
    with pytest.raises(StoreError, match="append-only"):
        await store.db.execute("DELETE FROM cases")
    assert (await store.cases.get(1, case.case_number)).reason == "x"


async def test_amendment_is_a_new_row_referencing_the_case(store):
    first = await store.cases.add(
        NewCase(guild_id=1, action="ban", target_kind="member", target_id="9", reason="spam")
    )
    fix = await store.cases.add(
        NewCase(
            guild_id=1,
            action="reason",
            target_kind="case",
            target_id=str(first.case_number),
            ref_case=first.case_number,
            reason="raid",
            moderator_id=3,
            moderator_name="mod",
        )
    )
    assert [c.case_number for c in await store.cases.amendments(1, first.case_number)] == [fix.case_number]
    assert (await store.cases.get(1, first.case_number)).reason == "spam"


async def test_dedup_key_makes_retries_idempotent(store):
    a = await store.cases.add(
        NewCase(guild_id=1, action="flag", target_kind="comment", target_id="c1", dedup_key="k1")
    )
    b = await store.cases.add(
        NewCase(guild_id=1, action="flag", target_kind="comment", target_id="c1", dedup_key="k1")
    )
    assert a.case_number == b.case_number
    assert await store.cases.count(1, CaseFilter()) == 1


async def test_bulk_add_numbers_in_order_and_skips_known_keys(store):
    await store.cases.add(
        NewCase(guild_id=1, action="flag", target_kind="member", target_id="0", dedup_key="a")
    )
    batch = [
        NewCase(guild_id=1, action="flag", target_kind="member", target_id=str(i), dedup_key=k)
        for i, k in enumerate(["a", "b", "b", None, "c"])
    ]
    result = await store.cases.add_many(batch)
    assert [c.case_number for c in result] == [1, 2, 2, 3, 4]
    assert await store.cases.count(1, CaseFilter()) == 4
    assert (await store.cases.get(1, 4)).target_id == "4"


async def test_failed_transaction_leaves_no_partial_rows(store):
    # A batch's scores and flags commit together: the second flag is refused (no such target kind), so
    # neither the first flag nor the scores survive.
    good = NewCase(guild_id=1, action="flag", target_kind="member", target_id="1")
    refused = NewCase(guild_id=1, action="flag", target_kind="no such kind", target_id="2")
    with pytest.raises(StoreError):
        await store.scores.add_many(
            [MessageScore(1, 10, 100, 5, {"insult": 0.9}, "insult", 0.9, True)], [good, refused]
        )
    assert await store.cases.count(1, CaseFilter()) == 0
    assert await store.scores.scored_ids([100]) == set()


async def test_filters_are_parameterised_not_interpolated(store):
    hostile = "1' OR '1'='1"
    await store.cases.add(
        NewCase(guild_id=1, action="warn", target_kind="member", target_id="42", reason=hostile)
    )
    assert await store.cases.query(1, CaseFilter(target_id=hostile)) == []
    assert await store.cases.count(1, CaseFilter(action="warn'; DROP TABLE cases; --")) == 0
    assert (await store.cases.query(1, CaseFilter(target_id="42")))[0].reason == hostile


async def test_review_card_decision_is_claimed_once(store):
    case = await store.cases.add(NewCase(guild_id=1, action="flag", target_kind="member", target_id="1"))
    await store.cases.set_card(1, case.case_number, 10, 11)
    assert [c.case_number for c in await store.cases.cards(1, "open")] == [case.case_number]
    assert await store.cases.decide(1, case.case_number, "remove", 7, "mod") is True
    assert await store.cases.decide(1, case.case_number, "approve", 8, "other") is False
    assert (await store.cases.card(1, case.case_number)).decided_name == "mod"
    assert await store.cases.cards(1, "open") == []


async def test_thresholds_validate_and_channel_overrides_guild(store):
    await store.guilds.set_threshold(1, "insult", 0.5, 0.9)
    await store.guilds.set_threshold(1, "insult", 0.3, None, channel_id=77)
    with pytest.raises(ValueError, match="at least"):
        await store.guilds.set_threshold(1, "insult", 0.8, 0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        await store.guilds.set_threshold(1, "insult", 1.5, None)
    settings = await store.guilds.get(1)
    defaults = {"insult": 0.6, "threat": 0.6}
    labels = tuple(defaults)
    assert levels_for_model(settings, [None], defaults, labels)["insult"].act == 0.9
    assert levels_for_model(settings, [77], defaults, labels)["insult"].flag == 0.3
    assert levels_for_model(settings, [77], defaults, labels)["threat"].flag == 0.6
    assert settings.shadow_mode is True  # a new guild watches before it acts


async def test_guild_settings_update_round_trips(store):
    updated = await store.guilds.update(5, review_channel_id=99, shadow_mode=False, mod_role_ids=[1, 2])
    assert (updated.review_channel_id, updated.shadow_mode, updated.mod_role_ids) == (99, False, (1, 2))
    with pytest.raises(ValueError):
        await store.guilds.update(5, owner_id=6)


async def test_newer_schema_is_refused_with_a_clear_line(tmp_path):
    path = tmp_path / "future.db"
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    con.close()
    with pytest.raises(StoreError, match="newer than this commentwarden supports"):
        await Database.open(path)


async def test_older_schema_is_migrated(tmp_path):
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()  # version 0: an empty file from before the first schema
    db = await Database.open(path)
    assert await db.schema_version() == LATEST_VERSION
    await db.close()


async def test_not_a_database_is_refused(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a commentwarden database"):
        await Database.open(path)


async def test_locked_database_reports_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr("bot.store.database.BUSY_TIMEOUT_MS", 100)
    s = await Store.open(tmp_path / "locked.db")
    other = sqlite3.connect(tmp_path / "locked.db", timeout=0)
    other.execute("BEGIN EXCLUSIVE")
    try:
        await s.db.conn.execute("PRAGMA busy_timeout = 100")
        with pytest.raises(StoreError, match="locked"):
            await s.cases.add(NewCase(guild_id=1, action="flag", target_kind="member", target_id="1"))
    finally:
        other.rollback()
        other.close()
    assert (
        await s.cases.add(NewCase(guild_id=1, action="flag", target_kind="member", target_id="1"))
    ).case_number == 1
    await s.close()


async def test_simultaneous_warnings_cross_the_limit_exactly_once(store):
    """Each warning reads the points before it under the write lock, so the running totals never repeat."""
    warnings = await asyncio.gather(
        *(
            store.cases.add_warning(
                NewCase(guild_id=1, action="warn", target_kind="member", target_id="7", points=1)
            )
            for _ in range(6)
        )
    )
    befores = sorted(before for _, before in warnings)
    assert befores == [0, 1, 2, 3, 4, 5]
    assert sum(1 for before in befores if before < 3 <= before + 1) == 1
    assert await store.cases.active_points(1, "7") == 6


async def test_postgres_migrations_track_sqlite_versions_and_refuse_a_newer_schema(pg_url, postgres_server):
    from bot.store.pg_schema import PG_LATEST_VERSION
    from bot.store.postgres import PostgresDatabase

    assert PG_LATEST_VERSION == LATEST_VERSION  # a version number means the same tables in both engines
    db = await PostgresDatabase.open(pg_url)
    assert await db.schema_version() == LATEST_VERSION
    await db.migrate()  # idempotent: a second process starting later changes nothing
    assert await db.fetchone("SELECT COUNT(*) FROM schema_version") == {"count": 1}
    await db.execute("UPDATE schema_version SET version = ?", (LATEST_VERSION + 1,))
    await db.close()
    with pytest.raises(StoreError, match="newer than this commentwarden supports.*DATABASE_URL"):
        await Store.open(pg_url)


async def test_postgres_discord_ids_do_not_overflow(pg_url):
    s = await Store.open(pg_url)
    big = 1_234_567_890_123_456_789  # snowflakes need 64 bits
    case = await s.cases.add(
        NewCase(
            guild_id=big,
            action="warn",
            target_kind="member",
            target_id="1",
            moderator_id=big - 1,
            channel_id=big - 2,
            message_id=big - 3,
        )
    )
    got = await s.cases.get(big, case.case_number)
    assert (got.guild_id, got.moderator_id, got.channel_id, got.message_id) == (
        big,
        big - 1,
        big - 2,
        big - 3,
    )
    await s.close()


async def test_postgres_lost_connection_is_retried_with_backoff(pg_url, postgres_server):
    s = await Store.open(pg_url)
    await s.cases.add(NewCase(guild_id=1, action="flag", target_kind="member", target_id="1"))
    postgres_server.stop()
    restart = asyncio.get_running_loop().run_in_executor(
        None, lambda: (__import__("time").sleep(1.0), postgres_server.start())
    )
    try:
        # Sent while the server is down: retried until it is back, then answered.
        case = await s.cases.add(NewCase(guild_id=1, action="flag", target_kind="member", target_id="2"))
        assert case.case_number == 2
        assert await s.cases.count(1, CaseFilter()) == 2
    finally:
        await restart
        await s.close()


async def test_postgres_unreachable_server_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr("bot.store.postgres.POOL_TIMEOUT_S", 1.0)
    with pytest.raises(
        StoreError, match="cannot connect to the database at postgresql://u:\\*\\*\\*@/x.*DATABASE_URL"
    ):
        await Store.open(f"postgresql://u:secret@/x?host={tmp_path}&connect_timeout=1")


def test_postgres_errors_read_like_sqlite_ones():
    from psycopg import errors as pg_errors

    from bot.store.postgres import explain

    assert str(explain(pg_errors.DiskFull("could not extend file"))) == (
        "the database disk is full: nothing was written; free some space and retry"
    )
    assert "lost the connection" in str(explain(pg_errors.AdminShutdown("terminating connection")))
    assert "\n" not in str(explain(pg_errors.InternalError_("line one\nline two")))


async def test_every_query_of_the_moderation_and_mirror_views_answers_alike(store):
    """The statistics, recovery and mirror queries (the ones whose SQL differs most between dialects)."""
    from bot.scoring.engine import TextScore
    from bot.sources.base import Article, Comment
    from bot.store import MessageScore

    since = "2000-01-01T00:00:00.000Z"
    flag = NewCase(
        guild_id=1,
        action="flag",
        target_kind="member",
        target_id="5",
        label="insult",
        score=0.9,
        scores={"insult": 0.9},
        channel_id=42,
        message_id=500,
    )
    cases = await store.cases.add_many(
        [flag, replace(flag, message_id=501, label="threat", channel_id=43), replace(flag, message_id=502)]
    )
    await store.cases.set_card(1, cases[0].case_number, 9, 900)
    await store.cases.decide(1, cases[0].case_number, "remove", 7, "mod")
    assert [c.case_number for c in await store.cases.uncarded_flags(1, since)] == [2, 3]
    assert await store.cases.decided_flags(1, ["remove"]) == [({"insult": 0.9}, "remove")]
    assert sum((await store.cases.per_day(1, since, ["flag"])).values()) == 3
    assert await store.cases.flag_labels(1, since) == {"insult": 2, "threat": 1}
    assert await store.cases.top_flag_channels(1, since) == [(42, 2), (43, 1)]
    assert (await store.cases.latest(1, "5", "flag")).case_number == 3
    assert await store.cases.count_cards(1, "decided") == 1

    await store.scores.add_many(
        [MessageScore(1, 42, 700 + i, 5, {"insult": 0.1}, "insult", 0.1) for i in range(3)]
    )
    assert await store.scores.scored_ids([700, 701, 999]) == {700, 701}
    assert await store.scores.newest_in_channel(1, 42) == 702
    assert len(await store.scores.for_author(1, 5)) == 3

    source = await store.mirror.add_source(1, 50, "file", "/t.json")
    assert (await store.mirror.add_source(1, 50, "file", "/t.json")).id == source.id  # idempotent
    article = await store.mirror.upsert_article(source.id, Article("a1", "Title", None, None, None, ""))
    comments = [Comment(f"c{i}", None, "ann", None, f"text {i}", None, None) for i in range(2)]
    await store.mirror.save_scored(
        article, [(c, TextScore.stored({"insult": 0.2}, "insult", 0.2)) for c in comments]
    )
    assert await store.mirror.has_unpublished(source.id) is True
    await store.mirror.set_article_thread(article, 8000, 8001)
    await store.mirror.record_mirrored(article, ["c0", "c1"], [8100])
    assert await store.mirror.has_unpublished(source.id) is False
    unjudged = await store.mirror.unjudged(1, since)
    assert [u.row.comment.external_id for u in unjudged] == ["c0", "c1"] and unjudged[0].thread_id == 8000
    await store.mirror.set_judged(unjudged[0].row.id, unjudged[0].row.content_hash)
    assert [u.row.comment.external_id for u in await store.mirror.unjudged(1, since)] == ["c1"]
    assert len(await store.scores.for_comment_author(1, "ann")) == 2
    assert sum((await store.scores.per_day(1, since)).values()) == 5  # 3 member messages + 2 comments
    assert (await store.mirror.source_of_comment(unjudged[0].row.id)).id == source.id
    await store.mirror.record_poll(source.id, ok=False, error="site down")
    assert (await store.mirror.source(source.id)).failures == 1
    assert await store.mirror.set_paused(1, source.id, True) and (await store.mirror.source(source.id)).paused
    await store.mirror.reset_article(article)
    assert await store.mirror.has_unpublished(source.id) is True
    assert await store.mirror.remove_source(1, source.id) and await store.mirror.sources(1) == []
