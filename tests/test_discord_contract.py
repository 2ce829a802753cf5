"""The one private discord.py detail the bot leans on (bot/factory.py overrides `Client._schedule_event` to
track running event handlers for a clean shutdown): fail loudly when an upgrade changes it."""

from __future__ import annotations

import asyncio
import inspect

import discord

from bot.config import Settings
from bot.factory import create_bot


def test_schedule_event_keeps_the_signature_the_override_was_written_for():
    params = list(inspect.signature(discord.Client._schedule_event).parameters)
    assert params == ["self", "coro", "event_name", "args", "kwargs"]


async def test_a_dispatched_listener_runs_as_a_tracked_task_until_it_finishes():
    bot = create_bot(Settings())
    release = asyncio.Event()
    started = asyncio.Event()

    async def on_something(value: int) -> None:
        started.set()
        await release.wait()

    bot.add_listener(on_something)
    async with bot:  # sets the loop up; nothing connects
        bot.dispatch("something", 1)
        await asyncio.wait_for(started.wait(), 5)
        (task,) = bot._event_tasks
        assert not task.done()
        release.set()
        assert await bot.drain_events() == set()
        assert task.done() and not bot._event_tasks
