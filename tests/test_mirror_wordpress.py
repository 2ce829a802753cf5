"""The mirror against a real WordPress (tests/fixtures/wordpress.py) and the fake Discord: a 260-comment
thread mirrored through `/mirror add`, interrupted twice (a failed commit after a post landed, then a
shutdown mid-backfill), resumed by fresh bots on the same database, then edited, deleted and held on the
site; and write-back of a moderator's removal with the site's application password."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.mirror import hold_on_site, render
from bot.scoring import TextScore
from bot.sources.base import Article, Comment
from bot.store import Store, StoreError
from bot.store.mirror import MirrorStore
from tests.fakediscord import FakeDiscord
from tests.test_mirror_discord import (
    assert_nobody_pinged,
    assert_thread_shows,
    make_bot,
    mirrored,
    wait_mirrored,
)

pytestmark = pytest.mark.wordpress

COUNT = 260


def comment_specs() -> list[dict[str, Any]]:
    """Top-level comments with replies two levels deep, HTML, unicode, and one that tries to ping."""
    specs: list[dict[str, Any]] = []
    for i in range(COUNT):
        text = f'<p>Comment <strong>{i}</strong> about the <a href="https://site.example/x">article</a>.</p>'
        if i % 10 == 3:
            text = f"<p>Ünïcödé {i}: 漢字, emoji 🌱, עברית, and a\nline break</p>"
        spec: dict[str, Any] = {
            "content": text,
            "author": f"Reader {i % 13}",
            "date_gmt": f"2026-01-02 {10 + i // 60:02d}:{i % 60:02d}:00",
        }
        if i % 4 == 1:
            spec["parent_index"] = i - 1
        elif i % 4 == 2:
            spec["parent_index"] = i - 1  # a reply to a reply
        specs.append(spec)
    specs[7]["content"] = "<p>@everyone look at this, and you <@123456789012345678> too</p>"
    specs[8]["author"] = "@here"
    return specs


def expected(ids: list[int], specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": str(ids[i]),
            "parent": str(ids[s["parent_index"]]) if "parent_index" in s else None,
            "author": s["author"],
        }
        for i, s in enumerate(specs)
    ]


async def wait_for(condition: Any, within: float = 30.0) -> Any:
    """Poll a coroutine-returning condition (for state that lives in our database, not in the fake)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not (value := await condition()):
        if loop.time() > deadline:
            raise TimeoutError(f"condition not met within {within}s")
        await asyncio.sleep(0.02)
    return value


async def test_big_wordpress_thread_survives_crashes_edits_and_deletes(
    fake_discord: FakeDiscord,
    discord_world: Any,
    bot_runner: Any,
    wordpress_site: Any,
    tmp_path: Path,
    detoxify_checkpoint: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w, wp = discord_world, wordpress_site
    settings = Settings(
        database_path=tmp_path / "cw.db",
        allow_private_urls=True,
        poll_interval=3600,
        wordpress_credentials=wp.credentials,
        **detoxify_checkpoint.settings_kwargs(),
    )
    post = await asyncio.to_thread(wp.create_post, "A much discussed article", "<p>Body</p>")
    specs = comment_specs()
    ids = await asyncio.to_thread(wp.create_comments, post["id"], specs)
    comments = expected(ids, specs)

    # 1. The commit after the 6th post fails (disk full): that post is in Discord, not in the map.
    real_record = MirrorStore.record_mirrored
    calls = 0

    async def disk_full_once(
        self: MirrorStore,
        article_id: int,
        external_ids: list[str],
        message_ids: list[int],
        *,
        held: bool = False,
    ) -> None:
        nonlocal calls  # comments recorded: the transaction that records the sixth fails
        before, calls = calls, calls + len(external_ids)
        if before < 6 <= calls:
            raise StoreError("the database disk is full: nothing was written; free some space and retry")
        await real_record(self, article_id, external_ids, message_ids, held=held)

    monkeypatch.setattr(MirrorStore, "record_mirrored", disk_full_once)
    async with bot_runner(make_bot(settings)) as bot:
        added = await fake_discord.invoke_slash(
            "mirror add", {"url": post["link"], "channel": w.forum}, user=w.moderator, channel=w.general
        )
        assert "(wordpress)" in added.followups[-1].content, added.followups[-1].content
        failing = await wait_for(lambda: _failing(bot.store))
        assert "disk is full" in failing.last_error
    monkeypatch.setattr(MirrorStore, "record_mirrored", real_record)
    thread = fake_discord.state.threads_of(w.forum.id)[0]
    after_crash = len(mirrored(fake_discord, thread))
    assert after_crash >= 6

    # 2. A restarted bot resumes on its own; it is shut down in the middle of the backfill.
    store = await Store.open(settings.database_path)
    await store.db.execute("UPDATE sources SET next_poll_at = NULL")  # due now, as after the backoff
    await store.close()
    fake_discord.faults.delay("POST", "/webhooks/*", 0.02)
    async with bot_runner(make_bot(settings)):
        await fake_discord.wait_until(lambda: len(mirrored(fake_discord, thread)) >= after_crash + 40, 30)
    fake_discord.faults.clear()
    interrupted = len({cid for cid, *_ in mirrored(fake_discord, thread)})
    assert interrupted < COUNT

    # 3. Another fresh bot finishes the job: every comment exactly once, nothing ever posted twice.
    async with bot_runner(make_bot(settings)) as bot:
        await wait_mirrored(fake_discord, COUNT, w.forum, within=60)
        assert_thread_shows(fake_discord, thread, comments)
        assert_nobody_pinged(fake_discord, thread)
        ever = [
            m
            for m in fake_discord.state.message_index.values()
            if m.channel_id == thread.id and m.webhook_id is not None
        ]
        assert all(not m.deleted for m in ever), "a webhook message was posted twice and cleaned up"
        # Discord shows the last post a moment before the bot has recorded it.
        stored = await wait_for(lambda: _all_recorded(bot.store))
        assert len(stored) == COUNT and all(s.scored_hash == s.content_hash for s in stored.values())
        shown = {cid: embed for cid, _, embed, _ in mirrored(fake_discord, thread)}
        assert "Ünïcödé 3: 漢字, emoji 🌱, עברית" in shown[str(ids[3])]["description"]
        assert (
            "**7**" not in shown[str(ids[7])]["description"]
            and "@\u200beveryone" in shown[str(ids[7])]["description"]
        )
        assert "**0**" in shown[str(ids[0])]["description"]  # <strong> became markdown

        # 4. On the site: one comment edited, one deleted, one held; then /mirror sync.
        await asyncio.to_thread(wp.edit_comment, ids[20], "<p>Edited on the site, now <em>better</em>.</p>")
        await asyncio.to_thread(wp.delete_comment, ids[30])
        await asyncio.to_thread(wp.set_comment_status, ids[40], "hold")
        sync = await fake_discord.invoke_slash(
            "mirror sync", {"source": 1}, user=w.moderator, channel=w.general
        )
        assert "0 new, 1 edited, 2 removed" in sync.followups[-1].content, sync.followups[-1].content
        shown = {cid: (embed, message) for cid, _, embed, message in mirrored(fake_discord, thread)}
        assert "Edited on the site, now *better*." in shown[str(ids[20])][0]["description"]
        assert shown[str(ids[20])][1].edited_at is not None
        for gone in (ids[30], ids[40]):
            assert shown[str(gone)][0]["description"] == render.REMOVED_ON_SITE
        assert_thread_shows(fake_discord, thread, comments)
        assert_nobody_pinged(fake_discord, thread)

        # 5. A moderator removes a comment in Discord and on the site (what the moderation cog's Remove does).
        target = stored[str(ids[50])]
        assert await bot.get_cog("Mirror").engine.remove_comment(target.id)
        result = await hold_on_site(
            settings, bot.store, await bot.store.mirror.comment_row(target.id), "hold"
        )
        assert result.done, result.message
        assert await asyncio.to_thread(wp.comment_status, ids[50]) == "unapproved"
        shown = {cid: embed for cid, _, embed, _ in mirrored(fake_discord, thread)}
        assert shown[str(ids[50])]["description"] == render.REMOVED_BY_MODERATOR
        sync = await fake_discord.invoke_slash(
            "mirror sync", {"source": 1}, user=w.moderator, channel=w.general
        )
        assert "0 new, 0 edited, 0 removed" in sync.followups[-1].content
        shown = {cid: embed for cid, _, embed, _ in mirrored(fake_discord, thread)}
        assert shown[str(ids[50])]["description"] == render.REMOVED_BY_MODERATOR


async def _all_recorded(store: Store) -> Any:
    stored = await store.mirror.mirror_comments(1)
    return stored if len(stored) == COUNT and all(s.message_ids for s in stored.values()) else None


async def _failing(store: Store) -> Any:
    row = await store.mirror.source(1)
    return row if row is not None and row.status == "failing" else None


async def test_write_back_holds_and_trashes_on_the_site(wordpress_site: Any, tmp_path: Path) -> None:
    wp = wordpress_site
    post = await asyncio.to_thread(wp.create_post, "Write-back article")
    held, trashed = await asyncio.to_thread(
        wp.create_comments, post["id"], [{"content": "hold me"}, {"content": "trash me"}]
    )
    store = await Store.open(tmp_path / "wb.db")
    try:
        source = await store.mirror.add_source(1, 2, "wordpress", post["link"])
        feed = await store.mirror.add_source(1, 2, "feed", f"{wp.url}/?feed=comments-rss2")
        article = Article(str(post["id"]), "Write-back article", post["link"], None, None, "")
        score = TextScore({"toxicity": 0.1}, "toxicity", 0.1, "", None)
        base = Comment("0", None, "Reader", datetime(2026, 1, 2, tzinfo=UTC), "text")
        article_id = await store.mirror.upsert_article(source.id, article)
        await store.mirror.save_scored(
            article_id,
            [(replace(base, external_id=str(held)), score), (replace(base, external_id=str(trashed)), score)],
        )
        feed_article = await store.mirror.upsert_article(feed.id, article)
        await store.mirror.save_scored(feed_article, [(replace(base, external_id=str(held)), score)])
        rows = await store.mirror.mirror_comments(article_id)
        feed_row = next(iter((await store.mirror.mirror_comments(feed_article)).values()))

        without = Settings(allow_private_urls=True)
        result = await hold_on_site(without, store, rows[str(held)], "hold")
        assert not result.done and "can only act in Discord" in result.message
        assert await asyncio.to_thread(wp.comment_status, held) == "approved"

        settings = Settings(allow_private_urls=True, wordpress_credentials=wp.credentials)
        result = await hold_on_site(settings, store, feed_row, "hold")
        assert not result.done and "feed" in result.message

        result = await hold_on_site(settings, store, rows[str(held)], "hold")
        assert result.done and result.site_status == "hold", result
        assert await asyncio.to_thread(wp.comment_status, held) == "unapproved"
        result = await hold_on_site(settings, store, rows[str(trashed)], "trash")
        assert result.done and result.site_status == "trash", result
        assert await asyncio.to_thread(wp.comment_status, trashed) == "trash"

        wrong = Settings(
            allow_private_urls=True, wordpress_credentials={wp.origin: (wp.admin_user, "wrong pw")}
        )
        result = await hold_on_site(wrong, store, rows[str(held)], "trash")
        assert not result.done and "Discord only" in result.message
        assert await asyncio.to_thread(wp.comment_status, held) == "unapproved"
    finally:
        await store.close()
