"""Small aiohttp servers on free loopback ports, for tests that need a misbehaving or simple site."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web


class LoopbackServers:
    def __init__(self) -> None:
        self._runners: list[web.AppRunner] = []

    async def start(self, app: web.Application) -> str:
        """Serve `app` on 127.0.0.1; returns its base URL (no trailing slash)."""
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def close(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    servers = LoopbackServers()
    try:
        yield await servers.start(app)
    finally:
        await servers.close()
