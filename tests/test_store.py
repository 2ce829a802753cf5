"""The SQLite store: migrations, append-only cases, per-guild numbering, idempotent writes, safe SQL."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bot.moderation.policy import levels_for_model
from bot.store import CaseFilter, MessageScore, NewCase, Store, StoreError
from bot.store.database import Database
from bot.store.schema import LATEST_VERSION


@pytest.fixture
async def store(tmp_path):
    s = await Store.open(tmp_path / "cw.db")
    yield s
    await s.close()


async def test_open_sets_wal_foreign_keys_and_version(store):
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
