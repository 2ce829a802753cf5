"""Comment sources behind one interface (see ARCHITECTURE.md): files, WordPress, RSS/Atom feeds."""

from bot.sources.base import Article, Comment, Source, SourceError, Thread
from bot.sources.registry import KINDS, open_source

__all__ = ["KINDS", "Article", "Comment", "Source", "SourceError", "Thread", "open_source"]
