"""`kill -9` for real: the bot runs in a subprocess (tests/crashbot.py) against the fake Discord served here,
and is killed at the worst moment (inside the fake, right after a post has landed and before the bot hears
back), then restarted on the same database. Compared with the source afterwards: nothing lost, nothing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bot.store import CaseFilter, Store
from tests.fakediscord import FakeDiscord
from tests.fakediscord.models import Message
from tests.fixtures.botprocess import BotProcess
from tests.test_mirror_discord import assert_thread_shows, spec, thread_file, wait_mirrored

BACKFILL = 500
BURST = 30
AWAY = 10  # messages written while the bot is dead


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
