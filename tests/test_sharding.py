"""Sharded processes: guild ownership, the one command sync, the Redis identify gate, and two real bot
processes (shards 0 and 1 of 2) sharing one PostgreSQL and one Redis against the fake Discord, one of them
killed with SIGKILL and restarted."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import ConfigError, load_settings
from bot.sharding import IdentifyGate, owns_guild, shard_of, syncs_commands
from bot.store import CaseFilter, Store
from tests.fakediscord import FakeDiscord
from tests.fakediscord.models import DM, Channel, Message
from tests.fakediscord.permissions import MODERATOR_DEFAULT
from tests.fixtures.botprocess import BotProcess
from tests.test_mirror_discord import assert_thread_shows, spec, thread_file, wait_mirrored
from tests.test_reliability_crash import counter, kill_when

SHARDS = 2
REPO = Path(__file__).resolve().parents[1]
START_WITHIN = 150.0  # two cold interpreters import torch, transformers and discord.py at once


def test_a_process_owns_the_guilds_of_its_shards_only():
    guilds = [(ms << 22) | 5 for ms in range(10)]
    assert [shard_of(g, 2) for g in guilds] == [0, 1] * 5
    assert [g for g in guilds if owns_guild(g, 2, [1])] == guilds[1::2]
    assert all(owns_guild(g, None, None) and owns_guild(g, 2, None) for g in guilds)  # unsharded: all


def test_only_the_process_running_shard_0_syncs_commands():
    assert syncs_commands(None) and syncs_commands([0]) and syncs_commands([0, 1])
    assert not syncs_commands([1]) and not syncs_commands([2, 3])


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SHARD_IDS": "0"}, "SHARD_IDS is set but SHARD_COUNT is not"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0,2"}, "expected numbers from 0 to 1"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "one"}, "expected shard numbers"),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT"),
        ({"DATABASE_URL": "mysql://db/x"}, "expected postgresql://"),
        ({"REDIS_URL": "http://r"}, "expected redis://"),
    ],
)
def test_scaling_settings_are_checked_with_one_line(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(None, env)


def test_scaling_settings_parse_and_their_passwords_are_secrets():
    s = load_settings(
        None,
        {
            "SHARD_COUNT": "4",
            "SHARD_IDS": "3, 1",
            "DATABASE_URL": "postgresql://cw:pw1@db/cw",
            "REDIS_URL": "redis://:pw2@r:6379/0",
        },
    )
    assert (s.shard_count, s.shard_ids, s.database_target) == (4, (1, 3), "postgresql://cw:pw1@db/cw")
    assert {"pw1", "pw2"} <= set(s.secrets())


async def test_identify_gate_spaces_one_bucket_across_processes_and_not_two(redis_url):
    """Two gates with their own Redis connections stand for two processes."""
    a = await IdentifyGate.connect(redis_url, max_concurrency=1, namespace="app")
    b = await IdentifyGate.connect(redis_url, max_concurrency=1, namespace="app")
    a.interval = b.interval = 0.5
    try:
        t0 = time.monotonic()
        await asyncio.gather(a.wait(0), b.wait(1))  # same bucket (1 % 1 == 0 % 1): one waits a window
        assert time.monotonic() - t0 >= 0.5
        wide = await IdentifyGate.connect(redis_url, max_concurrency=2, namespace="other")
        wide.interval = 30.0
        try:
            await asyncio.wait_for(asyncio.gather(wide.wait(0), wide.wait(1)), 5)  # two buckets: no wait
        finally:
            await wide.close()
    finally:
        await a.close()
        await b.close()


async def test_identify_gate_names_an_unreachable_redis_in_one_line():
    with pytest.raises(ConfigError, match="cannot reach Redis at REDIS_URL"):
        await IdentifyGate.connect("redis://127.0.0.1:1/0", max_concurrency=1)


class ShardProcess(BotProcess):
    """tests/crashbot.py running one shard of two, on PostgreSQL, identifying through the Redis gate: up when its
    own shard is connected, gone when that shard's session is."""

    start_within = START_WITHIN
    settle = 0.5
    stop_within = 30.0

    def __init__(
        self, fake: FakeDiscord, pg_url: str, redis_url: str, checkpoint: Any, shard_id: int, log: Path
    ) -> None:
        super().__init__(fake, pg_url, checkpoint, log)
        self.config |= {"shard_count": SHARDS, "shard_ids": [shard_id], "redis_url": redis_url}
        self.shard_id = shard_id
        self.name = f"shard {shard_id}"

    def connected(self) -> list[Any]:
        return [s for s in self.fake.gateway.connected_sessions if s.shard == (self.shard_id, SHARDS)]

    def up(self, identifies_before: int) -> bool:
        return bool(self.connected())

    def gone(self) -> bool:
        return not self.connected()


def _cards(fake: FakeDiscord, review: Any) -> list[Message]:
    return [m for m in fake.messages(review) if m.embeds]


@pytest.mark.fake_discord(shards=(SHARDS, 1), identify_limit=(1, 5.0))
async def test_two_shard_processes_on_one_postgres_and_redis_survive_a_kill_9(
    fake_discord: FakeDiscord,
    discord_world: Any,
    detoxify_checkpoint: Any,
    pg_url: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    fake, w = fake_discord, discord_world
    toxic = detoxify_checkpoint.toxic_word
    first_shard = shard_of(w.guild.id, SHARDS)
    other = fake.create_guild("Second Guild", shard=(1 - first_shard, SHARDS))
    mods = fake.create_role(other, "Moderators", int(MODERATOR_DEFAULT))
    guilds = {
        first_shard: {
            "guild": w.guild,
            "general": w.general,
            "forum": w.forum,
            "review": w.review,
            "moderator": w.moderator,
            "member": w.member,
        },
        1 - first_shard: {
            "guild": other,
            "general": fake.create_text_channel(other, "general"),
            "forum": fake.create_forum_channel(other, "article-comments"),
            "review": fake.create_text_channel(other, "mod-review"),
            "moderator": fake.create_member(other, "mod-mo", roles=[mods]),
            "member": fake.create_member(other, "member-meg"),
        },
    }
    store = await Store.open(pg_url)
    for g in guilds.values():
        await store.guilds.update(g["guild"].id, review_channel_id=g["review"].id)
    await store.close()

    procs = {
        sid: ShardProcess(fake, pg_url, redis_url, detoxify_checkpoint, sid, tmp_path / f"shard{sid}.log")
        for sid in range(SHARDS)
    }
    started = list(procs.values())
    try:
        await asyncio.gather(*(p.start() for p in procs.values()))  # started together: the gate spaces them
        assert fake.gateway.identifies == SHARDS and fake.gateway.identify_refusals == []
        assert fake.state.command_syncs == 1  # only shard 0's process synced

        # Every source is mirrored, once, by the process owning its guild.
        comments = [spec(n) for n in range(1, 13)]
        source_of: dict[int, int] = {}
        for sid, g in guilds.items():
            path = thread_file(tmp_path, comments, name=f"thread{sid}.json")
            added = await fake.invoke_slash(
                "mirror add",
                {"url": str(path), "channel": g["forum"]},
                user=g["moderator"],
                channel=g["general"],
                within=15,
            )
            assert "Mirroring source #" in added.content, added.content
            source_of[sid] = int(added.content.split("#", 1)[1].split()[0])
        for g in guilds.values():
            g["thread"] = await wait_mirrored(fake, len(comments), g["forum"], within=60)

        # Members of both guilds write; each process scores and flags its own guild's messages.
        sent: dict[int, list[Message]] = {sid: [] for sid in guilds}
        for i in range(3):
            for sid, g in guilds.items():
                sent[sid].append(await fake.send_message(g["general"], g["member"], f"you {toxic} {i}"))
        for sid, g in guilds.items():
            await fake.wait_until(
                lambda g=g, sid=sid: len(_cards(fake, g["review"])) >= len(sent[sid]), within=30
            )

        # kill -9 shard 1's process in the middle of a burst in its guild; its members keep writing meanwhile.
        victim, g1 = procs[1], guilds[1]

        def card_of_guild1(message: Message) -> bool:
            return message.channel_id == g1["review"].id and bool(message.embeds)

        with kill_when(fake, victim, counter(card_of_guild1, len(sent[1]) + 2)):
            for i in range(8):
                sent[1].append(await fake.send_message(g1["general"], g1["member"], f"still {toxic} {i}"))
                sent[0].append(
                    await fake.send_message(guilds[0]["general"], guilds[0]["member"], f"also {toxic} {i}")
                )
                await asyncio.sleep(0.05)
            await victim.wait_killed()
        sent[1] += [
            await fake.send_message(g1["general"], g1["member"], f"away {toxic} {i}") for i in range(3)
        ]
        assert len(_cards(fake, g1["review"])) < len(sent[1])
        assert procs[0].connected()  # the other process carried on

        restarted = ShardProcess(
            fake, pg_url, redis_url, detoxify_checkpoint, 1, tmp_path / "shard1-again.log"
        )
        started.append(restarted)
        procs[1] = await restarted.start()
        for sid, g in guilds.items():
            await fake.wait_until(
                lambda g=g, sid=sid: len(_cards(fake, g["review"])) >= len(sent[sid]), within=60
            )
        await asyncio.sleep(0.5)  # a duplicate would land now
    finally:
        for p in started:
            await p.stop()

    assert fake.gateway.identify_refusals == []  # the restart's IDENTIFY went through the gate too
    for sid, g in guilds.items():
        assert_thread_shows(fake, g["thread"], comments)
        cards = _cards(fake, g["review"])
        assert len(cards) == len(sent[sid])  # one card per message, none twice
    logs = {sid: (tmp_path / f"shard{sid}.log").read_text() for sid in guilds}
    logs[1] += (tmp_path / "shard1-again.log").read_text()
    for sid in guilds:
        assert f"mirror: source {source_of[sid]}:" not in logs[1 - sid]  # never polled by the other process

    store = await Store.open(pg_url)
    try:
        scored = [r["message_id"] for r in await store.db.fetchall("SELECT message_id FROM message_scores")]
        every = sorted(m.id for ms in sent.values() for m in ms)
        assert sorted(scored) == every  # every member message scored exactly once
        for sid, g in guilds.items():
            cases = await store.cases.query(g["guild"].id, CaseFilter(), limit=1000)
            numbers = sorted(c.case_number for c in cases)
            assert numbers == list(range(1, len(numbers) + 1))  # dense per guild
            flags = [c for c in cases if c.action == "flag"]
            assert sorted(c.message_id for c in flags) == sorted(m.id for m in sent[sid])
    finally:
        await store.close()


async def _identify(fake: FakeDiscord, session: Any, shard: list[int] | None) -> dict[str, Any]:
    """A raw gateway client: HELLO, then IDENTIFY; the first frame the fake answers with."""
    ws = await session.ws_connect(fake.gateway_url + "?v=10&encoding=json")
    hello = await ws.receive_json(timeout=5)
    assert hello["op"] == 10
    data: dict[str, Any] = {"token": fake.token, "intents": 1 << 9, "properties": {}}
    if shard is not None:
        data["shard"] = shard
    await ws.send_json({"op": 2, "d": data})
    msg = await ws.receive(timeout=5)
    await ws.close()
    return (
        {"close": ws.close_code} if msg.type.name in ("CLOSE", "CLOSED", "CLOSING") else json.loads(msg.data)
    )


@pytest.mark.fake_discord(shards=(SHARDS, 1), identify_limit=(1, 5.0))
async def test_fake_discord_shards_like_discord(fake_discord: FakeDiscord, discord_world: Any) -> None:
    fake = fake_discord
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{fake.api_base}/gateway/bot", headers={"Authorization": f"Bot {fake.token}"}
        ) as r:
            info = await r.json(content_type=None)
        assert info["shards"] == SHARDS and info["session_start_limit"]["max_concurrency"] == 1
        assert (await _identify(fake, http, None)) == {"close": 4011}  # sharding required
        assert (await _identify(fake, http, [2, SHARDS])) == {"close": 4010}  # no such shard
        own = shard_of(discord_world.guild.id, SHARDS)
        ready = await _identify(fake, http, [own, SHARDS])
        assert ready["t"] == "READY" and [g["id"] for g in ready["d"]["guilds"]] == [
            str(discord_world.guild.id)
        ]
        # The other shard, in the same bucket, within 5 s: refused as Discord refuses it.
        assert (await _identify(fake, http, [1 - own, SHARDS]))["op"] == 9
    assert fake.gateway.identify_refusals and "bucket 0" in fake.gateway.identify_refusals[0]
    fake.gateway.identify_refusals.clear()  # provoked on purpose; any other refusal fails a test


@pytest.mark.fake_discord(shards=(SHARDS, 2))
async def test_fake_discord_routes_guild_events_to_their_shard_and_dms_to_shard_0(
    fake_discord: FakeDiscord, discord_world: Any
) -> None:
    fake, w = fake_discord, discord_world
    other = fake.create_guild("Other", shard=(1 - shard_of(w.guild.id, SHARDS), SHARDS))
    other_general = fake.create_text_channel(other, "general")
    other_member = fake.create_member(other, "oscar")
    async with aiohttp.ClientSession() as http:
        sockets = []
        for sid in range(SHARDS):
            ws = await http.ws_connect(fake.gateway_url + "?v=10&encoding=json")
            await ws.receive_json(timeout=5)
            intents = (1 << 0) | (1 << 9) | (1 << 12)  # guilds, guild messages, direct messages
            await ws.send_json(
                {"op": 2, "d": {"token": fake.token, "intents": intents, "shard": [sid, SHARDS]}}
            )
            sockets.append(ws)
        await fake.wait_until(lambda: len(fake.gateway.connected_sessions) == SHARDS, within=5)
        by_shard = {s.shard[0]: s for s in fake.gateway.connected_sessions}
        dm = Channel(id=fake.state.ids.next(), type=DM, guild_id=None, name="", recipients=[w.member.user])
        fake.state.channels[dm.id] = dm
        in_dm = await fake.send_message(dm, w.member.user, "a direct message")
        in_first = await fake.send_message(w.general, w.member, "in the first guild")
        in_other = await fake.send_message(other_general, other_member, "in the other guild")
        for ws in sockets:
            await ws.close()

    def seen(sid: int) -> set[int]:
        return {int(d["id"]) for e, d in by_shard[sid].received if e == "MESSAGE_CREATE"}

    first = shard_of(w.guild.id, SHARDS)
    assert seen(first) >= {in_first.id} and in_other.id not in seen(first)
    assert seen(1 - first) >= {in_other.id} and in_first.id not in seen(1 - first)
    assert in_dm.id in seen(0) and in_dm.id not in seen(1)
    created = {
        sid: {int(d["id"]) for e, d in by_shard[sid].received if e == "GUILD_CREATE"} for sid in by_shard
    }
    assert created[first] == {w.guild.id} and created[1 - first] == {other.id}
