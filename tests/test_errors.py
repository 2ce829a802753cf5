"""One error family: every domain error is a WardenError, and the command tree shows its line as it is."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from discord import app_commands

from bot.config import ConfigError, Settings
from bot.errors import WardenError
from bot.factory import create_bot
from bot.mirror.engine import SyncFailed
from bot.mirror.publisher import MessageGone, PublishError, ThreadGone
from bot.moderation.durations import DurationError
from bot.net.http import FetchError
from bot.net.urlsafety import UnsafeUrlError
from bot.scoring import ScoringError
from bot.sources.base import SourceError
from bot.store import StoreError
from cogs.moderation._service import ActionError

FAMILY = [
    ConfigError,
    SyncFailed,
    MessageGone,
    PublishError,
    ThreadGone,
    DurationError,
    FetchError,
    UnsafeUrlError,
    ScoringError,
    SourceError,
    StoreError,
    ActionError,
]


@pytest.mark.parametrize("error", FAMILY, ids=lambda e: e.__name__)
def test_every_domain_error_is_a_warden_error(error: type[Exception]) -> None:
    assert issubclass(error, WardenError)


class Response:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bool]] = []

    def is_done(self) -> bool:
        return False

    async def send_message(self, content: str, *, ephemeral: bool = False) -> None:
        self.sent.append((content, ephemeral))


async def shown(error: Exception) -> list[tuple[str, bool]]:
    """What the tree answers when a command raised `error`."""
    interaction: Any = SimpleNamespace(response=Response(), command=None)
    command: Any = SimpleNamespace(name="toxicity")
    tree = create_bot(Settings()).tree
    await tree.on_error(interaction, app_commands.CommandInvokeError(command, error))
    return interaction.response.sent


async def test_a_scoring_error_in_a_command_is_shown_as_it_is() -> None:
    line = "the scoring model is not loaded: set DETOXIFY_CHECKPOINT and restart"
    assert await shown(ScoringError(line)) == [(line, True)]


async def test_a_database_error_names_the_database() -> None:
    sent = await shown(
        StoreError("the database disk is full: nothing was written; free some space and retry")
    )
    assert sent == [
        ("Database problem: the database disk is full: nothing was written; free some space and retry", True)
    ]


async def test_anything_else_stays_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    assert await shown(KeyError("secret internals")) == [
        ("Something went wrong; the error is in the bot's log.", True)
    ]
    assert "secret internals" in caplog.text
