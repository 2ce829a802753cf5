"""SQL-looking input through every path that reaches a query: slash-command options, modal reasons, the
ids, authors, texts and titles a source sends, the source path itself, and member messages. Every value is
stored and shown verbatim (it was a parameter, never SQL), and the database is intact afterwards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.store import CaseFilter
from tests.fakediscord import FakeDiscord
from tests.test_hostile_input import settled
from tests.test_mirror_discord import make_bot, wait_mirrored
from tests.test_mirror_wordpress import wait_for
from tests.test_moderation_bot import case_of, decide, wait_card

INJECTIONS = [
    "x'; DROP TABLE cases; --",
    "Robert'); DELETE FROM sources WHERE ('1'='1",
    "\" OR 1=1; UPDATE review_cards SET decision = 'approve'; --",
    "1 UNION SELECT name, sql FROM sqlite_master --",
    "%' OR '%'='",
]


@pytest.fixture
def settings(tmp_path: Path, detoxify_checkpoint: Any) -> Settings:
    return Settings(
        database_path=tmp_path / "cw.db",
        allow_private_urls=True,
        poll_interval=3600,
        **detoxify_checkpoint.settings_kwargs(),
    )


async def schema(bot: Any) -> list[tuple[str, str]]:
    return [
        tuple(r) for r in await bot.store.db.fetchall("SELECT name, sql FROM sqlite_master ORDER BY name")
    ]


async def test_sql_looking_input_everywhere_is_data(
    fake_discord: FakeDiscord,
    discord_world: Any,
    bot_runner: Any,
    settings: Settings,
    tmp_path: Path,
    detoxify_checkpoint: Any,
) -> None:
    w = discord_world
    toxic = detoxify_checkpoint.toxic_word
    folder = tmp_path / "it's; DROP TABLE sources; --"
    folder.mkdir()
    path = folder / "thread'--.json"
    comments = [
        {
            "id": text,
            "parent": None,
            "author": text,
            "date": "2026-01-02T11:00:00Z",
            "text": f"{text} {toxic}",
            "url": None,
            "avatar_url": None,
        }
        for text in INJECTIONS
    ]
    path.write_text(
        json.dumps(
            {
                "article": {"id": INJECTIONS[0], "title": INJECTIONS[1], "body": INJECTIONS[2]},
                "comments": comments,
            }
        )
    )
    async with bot_runner(make_bot(settings)) as bot:
        shape = await schema(bot)
        await bot.store.guilds.update(w.guild.id, review_channel_id=w.review.id)
        added = await fake_discord.invoke_slash(
            "mirror add", {"url": str(path), "channel": w.forum}, user=w.moderator, channel=w.general
        )
        assert "Mirroring source #1" in added.content, added.content
        await wait_mirrored(fake_discord, len(INJECTIONS), w.forum)
        await wait_for(lambda: settled(bot, w.guild.id))
        stored = await bot.store.db.fetchall("SELECT external_id, author, text FROM comments ORDER BY id")
        assert [(r["external_id"], r["author"]) for r in stored] == [(t, t) for t in INJECTIONS]
        assert (await bot.store.mirror.source(1)).url == str(path)

        for text in INJECTIONS:
            await fake_discord.send_message(w.general, w.member, f"{text} {toxic}")
        await wait_card(fake_discord, w, 2 * len(INJECTIONS))
        card = await wait_card(fake_discord, w)
        await decide(fake_discord, w, card, case_of(card), "remove", {"reason": INJECTIONS[2]})
        for i, text in enumerate(INJECTIONS):
            warned = await fake_discord.invoke_slash(
                "warn", {"member": w.member, "reason": text, "points": 1}, user=w.moderator, channel=w.general
            )
            assert "active points" in warned.content, warned.content
            amended = await fake_discord.invoke_slash(
                "case reason", {"number": 1 + i, "reason": text}, user=w.moderator, channel=w.general
            )
            assert "logged as case #" in amended.content, amended.content
            history = await fake_discord.invoke_slash(
                "history", {"author": text}, user=w.moderator, channel=w.general
            )
            assert history.embeds and "`flag`" in history.embeds[0]["description"], (text, history.content)
            log = await fake_discord.invoke_slash(
                "modlog show", {"since": text}, user=w.moderator, channel=w.general
            )
            assert "not a date or an age" in log.content
            label = await fake_discord.invoke_slash(
                "thresholds set", {"label": text, "flag": 0.5}, user=w.moderator, channel=w.general
            )
            assert "no label" in label.content, label.content
            tune = await fake_discord.invoke_slash(
                "tune", {"label": text}, user=w.moderator, channel=w.general
            )
            assert tune.ephemeral
            for command in ("mirror pause", "mirror remove"):
                with pytest.raises(ValueError):  # integer options: Discord itself refuses text there
                    await fake_discord.invoke_slash(
                        command, {"source": text}, user=w.moderator, channel=w.general
                    )

        assert await schema(bot) == shape
        assert (await bot.store.db.fetchone("PRAGMA integrity_check"))[0] == "ok"
        assert len(await bot.store.mirror.sources(w.guild.id)) == 1
        reasons = [c.reason for c in await bot.store.cases.query(w.guild.id, CaseFilter(action="warn"))]
        assert sorted(reasons) == sorted(INJECTIONS)
        corrections = [c.reason for c in await bot.store.cases.query(w.guild.id, CaseFilter(action="reason"))]
        assert sorted(corrections) == sorted(INJECTIONS)
        removal = (await bot.store.cases.query(w.guild.id, CaseFilter(action="remove")))[0]
        assert removal.reason == INJECTIONS[2]
        flagged = {c.target_name for c in await bot.store.cases.query(w.guild.id, CaseFilter(action="flag"))}
        assert set(INJECTIONS) <= flagged  # the comment authors, verbatim
        open_cards = await bot.store.cases.cards(w.guild.id, "open")
        assert len(open_cards) == 2 * len(INJECTIONS) - 1  # only the one decided card is decided
