"""Moderation logic without Discord: levels, outcomes, warnings, durations, tuning, cards, charts, batching,
and the store queries the moderation commands rely on."""

from __future__ import annotations

import asyncio
import csv
import io
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.moderation import actions, tuning
from bot.moderation.batching import Batcher
from bot.moderation.cards import FlagCard, decided_embed, flag_embed, score_lines
from bot.moderation.charts import SIZE, DayCounts, Stats, render_stats_png
from bot.moderation.durations import DurationError, describe, parse_duration
from bot.moderation.policy import Outcome, evaluate, levels_for_model, outcome
from bot.moderation.warnings import escalation, expiry
from bot.store import CaseFilter, GuildSettings, Level, MessageScore, NewCase, Store
from bot.timestamps import to_iso

JIGSAW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "jigsaw-sample" / "train.csv"


@pytest.fixture
async def store(tmp_path):
    s = await Store.open(tmp_path / "cw.db")
    yield s
    await s.close()


def test_channel_override_beats_parent_and_guild_and_unknown_labels_are_dropped():
    guild = GuildSettings(
        guild_id=1,
        thresholds={0: {"insult": Level(0.5)}, 10: {"insult": Level(0.4, 0.9)}, 11: {"threat": Level(0.2)}},
    )
    levels = levels_for_model(
        guild,
        [10, 11],
        {"insult": 0.6, "threat": 0.6, "sexual_explicit": 0.6},
        ("insult", "threat", "toxicity"),
    )
    assert levels == {"insult": Level(0.4, 0.9), "threat": Level(0.2)}
    assert levels_for_model(guild, [None], {"insult": 0.6}, ("insult",)) == {"insult": Level(0.5)}


def test_shadow_mode_flags_but_never_acts():
    verdict = evaluate({"insult": 0.95}, {"insult": Level(0.5, 0.9)})
    assert verdict.act and verdict.flag
    assert outcome(verdict, shadow=True) is Outcome.FLAG
    assert outcome(verdict, shadow=False) is Outcome.ACT
    assert outcome(evaluate({"insult": 0.1}, {"insult": Level(0.5)}), shadow=False) is Outcome.IGNORE


def test_warning_limit_triggers_once_when_crossed():
    assert not escalation(1, 1, 3).crossed
    assert escalation(2, 1, 3).crossed
    assert escalation(1, 5, 3).crossed
    assert not escalation(3, 1, 3).crossed  # already over: the earlier warning escalated
    assert not escalation(5, 1, 0).crossed  # limit 0: escalation off
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert expiry(now, 30) == to_iso(now + timedelta(days=30))
    assert expiry(now, 0) is None


@pytest.mark.parametrize(
    ("text", "seconds"), [("30", 1800), ("10m", 600), ("2h", 7200), ("1h30m", 5400), ("1d", 86400)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "0", "29d", "5x"])
def test_bad_durations_are_refused_with_a_line(text):
    with pytest.raises(DurationError):
        parse_duration(text)


def test_describe_duration():
    assert describe(5400) == "1h 30m"
    assert describe(86400 * 2 + 60) == "2d 1m"


def _jigsaw_decisions() -> list[tuning.Decided]:
    """Moderator decisions seeded from real labels: confirmed = a human marked the comment toxic.

    The scores are synthetic but tied to the label (toxic rows score high on insult), which is what a
    useful model does; the test checks the arithmetic of the table against the labels.
    """
    rows = list(csv.DictReader(JIGSAW.open(encoding="utf-8")))
    decided = []
    for i, row in enumerate(rows):
        toxic = row["toxic"] == "1"
        score = 0.55 + (i % 40) / 100 if toxic else 0.3 + (i % 50) / 100
        decided.append(tuning.Decided({"insult": score}, confirmed=toxic))
    return decided


def test_tuning_table_counts_flags_and_confirmations_per_threshold():
    decided = _jigsaw_decisions()
    total_confirmed = sum(d.confirmed for d in decided)
    assert total_confirmed == 28
    rows = {r.threshold: r for r in tuning.table(decided, "insult")}
    # Every toxic row scores at least 0.55, so levels up to 0.5 catch all of them.
    assert rows[0.5].confirmed == 28 and rows[0.5].recall == 1.0
    assert rows[0.3].flags == len(decided)
    for level, row in rows.items():
        expected = [d for d in decided if d.scores["insult"] >= level]
        assert row.flags == len(expected)
        assert row.confirmed == sum(d.confirmed for d in expected)
    # Raising the level trades recall for precision on this data.
    assert rows[0.9].precision > rows[0.5].precision
    assert rows[0.9].recall < rows[0.5].recall
    text = tuning.render(list(rows.values()), current=0.6)
    assert "◀" in text.splitlines()[4]  # 0.6 is the fourth candidate


def test_tuning_with_no_flags_shows_dashes():
    rows = tuning.table([], "threat")
    assert rows[0].precision is None and rows[0].recall is None
    assert "-" in tuning.render(rows)


def test_card_explains_itself_and_neutralises_mentions():
    verdict = evaluate({"insult": 0.91, "toxicity": 0.5}, {"insult": Level(0.6), "toxicity": Level(0.8)})
    card = FlagCard(
        case_number=7,
        text="hello @everyone. you are an idiot <@123>",
        author="Bob",
        place="<#5>",
        link="https://discord.com/channels/1/5/9",
        scores={"insult": 0.91, "toxicity": 0.5},
        verdict=verdict,
        evidence="you are an idiot <@123>",
        shadow=True,
    )
    embed = flag_embed(card)
    assert "shadow" in embed["title"]
    assert "@everyone" not in embed["description"] and "<@123>" not in embed["description"]
    why = next(f["value"] for f in embed["fields"] if f["name"] == "Why")
    assert "insult" in why and "0.91" in why and "0.60" in why and "you are an idiot" in why
    assert "<@123>" not in why
    crossed = next(f["value"] for f in embed["fields"] if f["name"] == "Crossed")
    assert crossed == "insult 0.91 ≥ 0.60"
    done = decided_embed(embed, "remove", "Mod", datetime(2026, 1, 1, tzinfo=UTC), 8)
    decision = next(f["value"] for f in done["fields"] if f["name"] == "Decision")
    assert decision.startswith("Removed by Mod") and "case #8" in decision
    assert score_lines({"insult": 0.5}).endswith("0.50")


async def test_stats_chart_is_a_real_png():
    stats = Stats(
        days=[DayCounts("2026-01-01", 10, 2, 1), DayCounts("2026-01-02", 5, 0, 0)], labels={"insult": 2}
    )
    png = await render_stats_png(stats)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == SIZE


async def test_batcher_groups_items_arriving_together():
    batches: list[list[int]] = []

    async def handle(items: list[int]) -> None:
        batches.append(items)

    batcher: Batcher[int] = Batcher(handle, window=0.05, max_size=3)
    for i in range(5):
        batcher.submit(i)
    await batcher.drain()
    assert batches == [[0, 1, 2], [3, 4]]
    batcher.submit(9)
    await asyncio.sleep(0.1)
    assert batches[-1] == [9]


async def test_batcher_survives_a_failing_batch(caplog):
    seen: list[int] = []

    async def handle(items: list[int]) -> None:
        if items == [1]:
            raise RuntimeError("boom")
        seen.extend(items)

    batcher: Batcher[int] = Batcher(handle, window=0.01)
    batcher.submit(1)
    await batcher.drain()
    batcher.submit(2)
    await batcher.drain()
    assert seen == [2]
    assert "failed" in caplog.text


async def test_store_warnings_expire_and_claims_can_be_released(store):
    now = datetime.now(UTC)
    await store.cases.add(
        NewCase(
            guild_id=1,
            action="warn",
            target_kind="member",
            target_id="5",
            points=2,
            expires_at=to_iso(now - timedelta(days=1)),
        )
    )
    live = await store.cases.add(
        NewCase(
            guild_id=1,
            action="warn",
            target_kind="member",
            target_id="5",
            points=1,
            expires_at=to_iso(now + timedelta(days=1)),
        )
    )
    assert [c.case_number for c in await store.cases.warnings(1, "5")] == [live.case_number]
    assert len(await store.cases.warnings(1, "5", include_expired=True)) == 2
    assert await store.cases.active_points(1, "5") == 1

    flag = await store.cases.add(
        NewCase(guild_id=1, action="flag", target_kind="member", target_id="5", scores={"insult": 0.9})
    )
    await store.cases.set_card(1, flag.case_number, 10, 11)
    assert await store.cases.count_cards(1, "open") == 1
    assert [c.case_number for c in await store.cases.cards(1, "open")] == [flag.case_number]
    assert await store.cases.decide(1, flag.case_number, "remove", 3, "mod")
    await store.cases.release(1, flag.case_number, "remove", 3)
    assert await store.cases.decide(1, flag.case_number, "approve", 4, "other")
    assert not await store.cases.decide(1, flag.case_number, "remove", 3, "mod")
    assert await store.cases.count_cards(1, "open") == 0
    assert await store.cases.count_cards(1, "decided") == await store.cases.count_cards(1, "all") == 1
    assert await store.cases.decided_flags(1, actions.CARD_DECISIONS) == [({"insult": 0.9}, "approve")]


async def test_store_stats_queries(store):
    await store.scores.add_many(
        [MessageScore(1, 10, 100 + i, 5, {"insult": 0.1}, "insult", 0.1) for i in range(3)]
    )
    await store.cases.add(
        NewCase(guild_id=1, action="flag", target_kind="member", target_id="5", label="insult", channel_id=10)
    )
    await store.cases.add(
        NewCase(guild_id=1, action="remove", target_kind="member", target_id="5", channel_id=10)
    )
    await store.cases.add(
        NewCase(guild_id=2, action="flag", target_kind="member", target_id="5", label="threat")
    )
    since = "2000-01-01"
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert await store.scores.per_day(1, since) == {today: 3}
    assert await store.cases.per_day(1, since, [actions.FLAG]) == {today: 1}
    assert await store.cases.per_day(1, since, actions.ENFORCEMENT) == {today: 1}
    assert await store.cases.flag_labels(1, since) == {"insult": 1}
    assert await store.cases.top_flag_channels(1, since) == [(10, 1)]
    assert await store.cases.count(1, CaseFilter(target_name="nobody")) == 0


def test_jigsaw_sample_is_where_the_tests_expect_it():
    # The tuning test reads it at run time; fail loudly (not skip) if the shared data moved.
    assert JIGSAW.is_file(), JIGSAW
    assert io.StringIO(JIGSAW.read_text(encoding="utf-8")).readline().startswith('"id"')
