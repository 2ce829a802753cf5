"""The mirror: article comment threads copied into Discord threads, scored, and kept up to date."""

from bot.mirror.engine import MirrorEngine, SyncFailed, SyncReport
from bot.mirror.events import CommentRemoved, CommentScored, EventHub
from bot.mirror.publisher import MessageGone, PostedMessage, Publisher, PublishError, ThreadGone, ThreadRef
from bot.mirror.scheduler import MirrorScheduler
from bot.mirror.writeback import WritebackResult, hold_on_site

__all__ = [
    "CommentRemoved",
    "CommentScored",
    "EventHub",
    "MessageGone",
    "MirrorEngine",
    "MirrorScheduler",
    "PostedMessage",
    "PublishError",
    "Publisher",
    "SyncFailed",
    "SyncReport",
    "ThreadGone",
    "ThreadRef",
    "WritebackResult",
    "hold_on_site",
]
