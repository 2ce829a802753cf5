"""Polls every mirrored source on its interval, backing off from the ones that fail.

One source failing (site down, Discord permission missing, a bug) is recorded on that source with its
reason and retried later with exponential backoff; it never delays or stops the others.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.backoff import MAX_BACKOFF, backoff_delay
from bot.mirror.engine import MirrorEngine, SyncFailed, SyncReport
from bot.store import SourceRow, Store, StoreError
from bot.timestamps import to_iso

log = logging.getLogger(__name__)

TICK = 30.0  # longest sleep between looks at the sources table (new or resumed sources wake it sooner)
CONCURRENCY = 4


def _at(delay: float) -> str:
    return to_iso(datetime.now(UTC) + timedelta(seconds=delay))


class MirrorScheduler:
    def __init__(
        self,
        store: Store,
        engine: MirrorEngine,
        *,
        interval: float,
        max_backoff: float = MAX_BACKOFF,
        concurrency: int = CONCURRENCY,
        tick: float = TICK,
        ready: Callable[[], Awaitable[object]] | None = None,
        owns: Callable[[int], bool] | None = None,
    ) -> None:
        self.store = store
        # Sharded: this process polls only the sources of guilds on its shards (another process polls the rest).
        self.owns = owns
        self.ready = ready  # awaited before the first poll (the Discord connection being up)
        self.engine = engine
        self.interval = interval
        self.max_backoff = max_backoff
        self.tick = tick
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._running: dict[int, asyncio.Task[SyncReport | None]] = {}
        self._manual: set[asyncio.Task[object]] = set()  # `/mirror sync` handlers, stopped on shutdown
        # Source id -> loop time before which it is not polled, for when even the outcome of a poll could not
        # be written (a full disk): its stored next_poll_at stays in the past and would make it due at once.
        self._held: dict[int, float] = {}

    def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._loop(), name="mirror-scheduler")

    def wake(self) -> None:
        """Look at the sources now (one was added or resumed)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop polling and manual syncs; an in-flight post finishes and is recorded before its sync stops."""
        tasks = [t for t in (self._loop_task, *self._running.values(), *self._manual) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop_task = None
        self._running.clear()

    async def cancel(self, source_id: int) -> None:
        """Stop a source's running sync (before removing it)."""
        task = self._running.get(source_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def sync_now(self, row: SourceRow) -> SyncReport:
        """Sync one source at once (`/mirror sync`); records the outcome like a scheduled poll.

        Raises `SyncFailed` with the reason after recording it.
        """
        task = asyncio.current_task()
        if task is not None:
            self._manual.add(task)
        try:
            return await self._poll(row)
        finally:
            self._manual.discard(task)

    async def _loop(self) -> None:
        if self.ready is not None:
            await self.ready()
        while True:
            self._wake.clear()  # before looking, so a wake-up during the look is not lost
            try:
                await self._start_due()
            except Exception:
                log.exception("mirror scheduler: could not read the sources; retrying")
            timeout = await self._sleep_for()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    async def _start_due(self) -> None:
        now = to_iso(datetime.now(UTC))
        clock = asyncio.get_running_loop().time()
        for row in await self._sources():
            if (
                row.paused
                or row.id in self._running
                or (row.next_poll_at is not None and row.next_poll_at > now)
            ):
                continue
            if self._held.get(row.id, 0.0) > clock:
                continue
            task = asyncio.create_task(self._scheduled(row), name=f"mirror-source-{row.id}")
            self._running[row.id] = task
            task.add_done_callback(functools.partial(self._on_done, row.id))

    def _on_done(self, source_id: int, _task: asyncio.Task[Any]) -> None:
        self._finished(source_id)

    async def _sources(self) -> list[SourceRow]:
        rows = await self.store.mirror.sources()
        return rows if self.owns is None else [r for r in rows if self.owns(r.guild_id)]

    def _finished(self, source_id: int) -> None:
        self._running.pop(source_id, None)
        self._wake.set()  # its next poll time is known now

    async def _sleep_for(self) -> float:
        """Until the next source is due, at most `tick`."""
        try:
            rows = await self._sources()
        except Exception:
            return self.tick
        now = datetime.now(UTC)
        clock = asyncio.get_running_loop().time()
        waits = [
            max(
                (datetime.fromisoformat(r.next_poll_at) - now).total_seconds(),
                self._held.get(r.id, clock) - clock,
            )
            for r in rows
            if not r.paused and r.id not in self._running and r.next_poll_at is not None
        ]
        return max(0.05, min([self.tick, *waits]))

    async def _scheduled(self, row: SourceRow) -> SyncReport | None:
        async with self._slots:
            try:
                return await self._poll(row)
            except SyncFailed:
                return None  # already recorded on the source
            except StoreError as exc:  # the outcome itself could not be written; held off in memory instead
                log.warning("mirror: source %s: could not record the poll: %s", row.id, exc)
                return None

    async def _poll(self, row: SourceRow) -> SyncReport:
        try:
            report = await self.engine.sync(row)
        except SyncFailed as exc:
            await self._failed(row, exc.reason)
            raise
        except StoreError as exc:  # already one line an operator can act on (disk full, locked)
            reason = f"database problem: {exc}"
            await self._failed(row, reason)
            raise SyncFailed(reason) from exc
        except Exception as exc:
            log.exception("mirror: source %s (%s) failed", row.id, row.url)
            reason = f"internal error ({type(exc).__name__}); see the bot's log"
            await self._failed(row, reason)
            raise SyncFailed(reason) from exc
        await self._record(row, self.interval, ok=True, validators=report.validators)
        log.info("mirror: source %s: %s", row.id, report.summary())
        return report

    async def _failed(self, row: SourceRow, reason: str) -> None:
        delay = backoff_delay(self.interval, row.failures + 1, self.max_backoff)
        log.warning("mirror: source %s (%s) failing: %s; next try in %.0f s", row.id, row.url, reason, delay)
        await self._record(row, delay, ok=False, error=reason)

    async def _record(self, row: SourceRow, delay: float, **outcome: Any) -> None:
        """Store the poll's outcome and next time; if the database refuses, hold the source off in memory."""
        try:
            await self.store.mirror.record_poll(row.id, next_poll_at=_at(delay), **outcome)
        except StoreError:
            self._held[row.id] = asyncio.get_running_loop().time() + delay
            raise
        self._held.pop(row.id, None)
