"""Gather items that arrive close together and hand them on as one batch.

A raid or a lively channel produces dozens of messages a second; scoring each alone would queue one model
call per message. Items arriving within `window` seconds of the first one are handled together (one
`scorer.score` call, one `scores.add_many` commit), up to `max_size` per batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class Batcher(Generic[T]):
    def __init__(
        self, handle: Callable[[list[T]], Awaitable[None]], *, window: float = 0.05, max_size: int = 64
    ) -> None:
        self._handle = handle
        self.window = window
        self.max_size = max_size
        self._pending: list[T] = []
        self._flusher: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    def submit(self, item: T) -> None:
        """Queue an item; the batch goes out after the window, or at once when it is full."""
        self._pending.append(item)
        if len(self._pending) >= self.max_size:
            self._dispatch()
        elif self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.window)
        self._flusher = None
        self._dispatch()

    def _dispatch(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        batch, self._pending = self._pending, []
        if batch:
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[T]) -> None:
        try:
            await self._handle(batch)
        except Exception:
            # One bad batch must not stop the watcher; the error is logged with its traceback.
            log.exception("handling a batch of %d items failed", len(batch))

    async def drain(self) -> None:
        """Handle whatever is pending and wait for batches in flight (shutdown, tests)."""
        self._dispatch()
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)
