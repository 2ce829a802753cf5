"""`kill -9` for real: the bot runs in a subprocess (tests/crashbot.py) against the fake Discord served here,
and is killed at the worst moment (inside the fake, right after a post has landed and before the bot hears
back), then restarted on the same database. Compared with the source afterwards: nothing lost, nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.store import CaseFilter, Store
from tests.fakediscord import FakeDiscord
from tests.fakediscord.models import Message
from tests.test_mirror_discord import assert_thread_shows, spec, thread_file, wait_mirrored

REPO = Path(__file__).resolve().parents[1]
BACKFILL = 500
BURST = 30
AWAY = 10  # messages written while the bot is dead
START_WITHIN = 60.0  # a cold interpreter imports torch, transformers and discord.py


class BotProcess:
    """One run of tests/crashbot.py; its log is kept for the failure message."""

    def __init__(self, fake: FakeDiscord, database: Path, checkpoint: Any, log: Path) -> None:
        self.fake = fake
        self.config = {
            "api": fake.api_base,
            "gateway": fake.gateway_url,
            "token": fake.token,
            "database": str(database),
            "checkpoint": str(checkpoint.checkpoint),
            "config_dir": str(checkpoint.config_dir),
        }
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> BotProcess:
        identifies, syncs = self.fake.gateway.identifies, self.fake.state.command_syncs
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.crashbot",
                json.dumps(self.config),
                cwd=REPO,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        try:
            await self.fake.wait_until(
                lambda: (
                    self.exited()
                    or (
                        self.fake.gateway.identifies > identifies
                        and self.fake.state.command_syncs > syncs
                        and self.fake.gateway.connected_sessions
                    )
                ),
                within=START_WITHIN,
            )
        except TimeoutError:
            raise AssertionError(f"the bot did not start:\n{self.tail()}") from None
        assert not self.exited(), f"the bot exited:\n{self.tail()}"
        await asyncio.sleep(0.2)  # READY, then guild_ready_timeout
        return self

    def exited(self) -> bool:
        return self.proc is not None and self.proc.returncode is not None

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])

    def kill(self) -> None:
        assert self.proc is not None
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # dead already, reaped before asyncio noticed
                os.kill(self.proc.pid, signal.SIGKILL)

    async def wait_killed(self) -> None:
        assert self.proc is not None
        assert await asyncio.wait_for(self.proc.wait(), 10) == -signal.SIGKILL, self.tail()
        # The fake notices the dead socket; the next bot starts a new session.
        await self.fake.wait_until(lambda: not self.fake.gateway.connected_sessions, within=10)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
                raise AssertionError(f"the bot did not stop on SIGTERM:\n{self.tail()}") from None


@pytest.fixture
async def processes(
    fake_discord: FakeDiscord, detoxify_checkpoint: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    started: list[BotProcess] = []

    def make() -> BotProcess:
        started.append(
            BotProcess(fake_discord, tmp_path / "cw.db", detoxify_checkpoint, tmp_path / "bot.log")
        )
        return started[-1]

    yield make
    for process in started:
        if process.proc is not None:
            process.kill()
            await process.proc.wait()


@contextmanager
def kill_when(fake: FakeDiscord, process: BotProcess, landed: Callable[[Message], bool]) -> Iterator[None]:
    """SIGKILL the bot inside the fake, as soon as a message for which `landed` is true is stored: Discord has
    it, the bot never hears back."""
    real = fake.publish

    def publish(message: Message) -> None:
        real(message)
        if landed(message):
            process.kill()

    fake.publish = publish  # type: ignore[method-assign]
    try:
        yield
    finally:
        fake.publish = real  # type: ignore[method-assign]


def counter(predicate: Callable[[Message], bool], nth: int) -> Callable[[Message], bool]:
    seen = 0

    def landed(message: Message) -> bool:
        nonlocal seen
        if predicate(message):
            seen += 1
        return seen >= nth

    return landed


async def test_kill_9_twice_during_a_500_comment_backfill_loses_and_repeats_nothing(
    fake_discord: FakeDiscord, discord_world: Any, processes: Any, tmp_path: Path
) -> None:
    w = discord_world
    comments = [spec(n, n - 1 if n % 3 == 2 else None) for n in range(1, BACKFILL + 1)]
    path = thread_file(tmp_path, comments)

    def webhook_post(message: Message) -> bool:
        return message.webhook_id is not None

    first = await processes().start()
    with kill_when(fake_discord, first, counter(webhook_post, 12)):
        added = await fake_discord.invoke_slash(
            "mirror add", {"url": str(path), "channel": w.forum}, user=w.moderator, channel=w.general
        )
        assert "Mirroring source #1" in added.content, added.content
        await first.wait_killed()
    thread = fake_discord.state.threads_of(w.forum.id)[0]
    landed = len(fake_discord.messages(thread))

    second = processes()
    with kill_when(fake_discord, second, counter(webhook_post, 25)):
        await second.start()
        await second.wait_killed()
    assert len(fake_discord.messages(thread)) > landed  # the second run got further, then died too

    third = await processes().start()
    try:
        await wait_mirrored(fake_discord, BACKFILL, w.forum, within=60)
        await asyncio.sleep(0.3)  # anything posted twice would land now
    finally:
        await third.stop()
    assert_thread_shows(fake_discord, thread, comments)  # every comment exactly once, in order, links right
    posted = [m for m in fake_discord.state.message_index.values() if m.webhook_id is not None]
    assert not [m.id for m in posted if m.deleted]  # nothing had to be taken back either
    store = await Store.open(tmp_path / "cw.db")
    try:
        rows = await store.db.fetchall("SELECT external_id, message_id FROM comments")
        live = {m.id for m in posted}
        assert len(rows) == BACKFILL and all(r["message_id"] in live for r in rows)
    finally:
        await store.close()


async def test_kill_9_during_a_burst_of_flags_leaves_one_card_and_one_case_per_message(
    fake_discord: FakeDiscord, discord_world: Any, processes: Any, tmp_path: Path, detoxify_checkpoint: Any
) -> None:
    w = discord_world
    store = await Store.open(tmp_path / "cw.db")
    await store.guilds.update(w.guild.id, review_channel_id=w.review.id)
    await store.close()

    toxic = detoxify_checkpoint.toxic_word

    def card(message: Message) -> bool:
        return message.channel_id == w.review.id and bool(message.embeds)

    first = await processes().start()
    sent: list[Message] = []
    with kill_when(fake_discord, first, counter(card, 3)):
        for i in range(BURST):  # spread out, so the kill lands while the burst is still coming in
            sent.append(await fake_discord.send_message(w.general, w.member, f"hello {toxic} {i}"))
            await asyncio.sleep(0.02)
        await first.wait_killed()
    # Members keep writing while the bot is down: no gateway event ever reaches it for these.
    sent += [
        await fake_discord.send_message(w.general, w.member, f"you are {toxic} {i}") for i in range(AWAY)
    ]
    assert len([m for m in fake_discord.messages(w.review) if m.embeds]) < len(sent)

    second = await processes().start()
    try:
        await fake_discord.wait_until(
            lambda: len([m for m in fake_discord.messages(w.review) if m.embeds]) >= len(sent), within=30
        )
        await asyncio.sleep(0.5)  # a duplicate card would land now
    finally:
        await second.stop()
    cards = [m for m in fake_discord.messages(w.review) if m.embeds]
    links = [next(f["value"] for f in c.embeds[0]["fields"] if f["name"] == "Link") for c in cards]
    linked = sorted(int(link.rsplit("/", 1)[-1].rstrip(")")) for link in links)
    assert linked == sorted(m.id for m in sent)  # one card per message, none twice
    store = await Store.open(tmp_path / "cw.db")
    try:
        flags = await store.cases.query(w.guild.id, CaseFilter(action="flag"), limit=1000)
        assert sorted(c.message_id for c in flags) == sorted(m.id for m in sent)  # one case per message
        for flag in flags:
            row = await store.cases.card(w.guild.id, flag.case_number)
            assert row is not None and row.message_id in {c.id for c in cards}, flag.case_number
        scored = await store.db.fetchall("SELECT message_id FROM message_scores")
        assert sorted(r["message_id"] for r in scored) == sorted(m.id for m in sent)  # scored once each
    finally:
        await store.close()
