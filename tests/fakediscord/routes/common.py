"""What every route module shares: the route spec and the bot-permission check."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from ..errors import missing_access, missing_permissions
from ..models import Channel, Guild
from ..permissions import Perm

if TYPE_CHECKING:
    from ..server import FakeDiscord

Handler = Callable[["FakeDiscord", web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str  # below /api/v10, aiohttp pattern syntax
    handler: Handler
    family: str | None = None  # rate-limit family (see ratelimits.DEFAULT_LIMITS)
    major: tuple[str, ...] = ()  # match_info keys forming the bucket's major parameters
    auth: bool = True  # needs "Authorization: Bot <token>"
    exempt_global: bool = False  # interaction endpoints are outside the global limit


def require(fake: FakeDiscord, guild: Guild, channel: Channel | None, *perms: Perm) -> None:
    """403 like Discord when the bot lacks any of ``perms`` (50001 when it cannot even see the channel)."""
    have = fake.bot_permissions(guild, channel)
    if channel is not None and not have & Perm.VIEW_CHANNEL:
        raise missing_access()
    for perm in perms:
        if not have & perm:
            raise missing_permissions()
