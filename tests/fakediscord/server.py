"""The fake Discord server: aiohttp app on loopback serving REST under ``/api/v10`` and the gateway at ``/ws``.

Every REST request goes through one wrapper that checks the bot token, applies injected faults and
delays, enforces rate limits, turns :class:`ApiError` into Discord's JSON errors and records the
request. Requests to routes the fake does not implement are answered 404 and recorded in
:attr:`FakeDiscord.unknown_routes`; a fake bug (an unexpected exception in a handler) is recorded in
:attr:`FakeDiscord.internal_errors` and answered 400 so the client fails fast instead of retrying.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from dataclasses import dataclass
from typing import Any

import yarl
from aiohttp import web

from .driver import DriverMixin
from .errors import ApiError
from .faults import FaultInjector
from .gateway import MESSAGE_CONTENT, PRIVILEGED, Gateway
from .httputil import audit_reason, json_response
from .interactions import FakeInteraction, InteractionBuilder
from .limits import UPLOAD_LIMIT, check_audit_reason
from .models import DM, Attachment, AuditEntry, Channel, Guild, Member, Message, User
from .permissions import channel_permissions
from .ratelimits import RateLimiter
from .routes import ALL_ROUTES
from .routes.common import RouteSpec
from .state import FakeState
from .world import DefaultWorld, WorldMixin

API_PREFIX = "/api/v10"
DEFAULT_TOKEN = "fake-bot-token.for-tests-only"

_FLAG_PRESENCE, _FLAG_MEMBERS, _FLAG_CONTENT = 1 << 12, 1 << 14, 1 << 18  # the "limited" gateway intent flags


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str  # below /api/v10
    query: dict[str, str]
    status: int
    at: float  # time.monotonic()


class FakeDiscord(WorldMixin, DriverMixin):
    def __init__(self, *, token: str = DEFAULT_TOKEN, privileged_intents: int = PRIVILEGED) -> None:
        self.token = token
        self.privileged_intents = privileged_intents  # what the developer portal has switched on
        self.state = FakeState()
        self.gateway = Gateway(self)
        self.ratelimits = RateLimiter()
        self.faults = FaultInjector()
        self.interactions: dict[int, FakeInteraction] = {}
        self.interaction_ack_deadline = 3.0
        self.unknown_routes: list[str] = []
        self.internal_errors: list[str] = []
        self.requests: list[RequestRecord] = []
        self._loose_attachments: list[Attachment] = []  # slash-command attachment options
        self.application_id = self.state.ids.next()
        self.bot_user = self._register(User(id=self.application_id, username="CommentWarden", bot=True))
        self.app_owner = self._register(User(id=self.state.ids.next(), username="app-owner"))
        self._builder = InteractionBuilder(self)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.world: DefaultWorld | None = None  # set by the fake_discord fixture

    def _register(self, user: User) -> User:
        self.state.users[user.id] = user
        return user

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on `port` (0: any free one); a fixed port lets a test bring the fake up where a client already retries."""
        # Bodies up to twice Discord's upload cap reach the handlers, so the cap itself answers (413, 40005).
        app = web.Application(middlewares=[self._unknown_route_middleware], client_max_size=2 * UPLOAD_LIMIT)
        for spec in ALL_ROUTES:
            app.router.add_route(spec.method, API_PREFIX + spec.path, self._wrap(spec))
        app.router.add_get("/ws", self.gateway.handle)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._serve_attachment)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.host = host

    async def stop(self) -> None:
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    def patch(self, monkeypatch: Any) -> None:
        """Point discord.py's REST base and default gateway at this fake (undone by monkeypatch)."""
        import discord.gateway
        import discord.http

        monkeypatch.setattr(discord.http.Route, "BASE", self.api_base)
        monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(self.gateway_url))

    @property
    def application_flags(self) -> int:
        flags = 0
        if self.privileged_intents & (1 << 8):
            flags |= _FLAG_PRESENCE
        if self.privileged_intents & (1 << 1):
            flags |= _FLAG_MEMBERS
        if self.privileged_intents & MESSAGE_CONTENT:
            flags |= _FLAG_CONTENT
        return flags

    def problems(self) -> list[str]:
        """Everything that should fail the test: unknown routes, fake bugs, gateway protocol errors."""
        return (
            [f"unknown route {r}" for r in self.unknown_routes]
            + [f"fake internal error: {e}" for e in self.internal_errors]
            + [f"gateway protocol error: {e}" for e in self.gateway.protocol_errors]
            + [f"identify refused: {e}" for e in self.gateway.identify_refusals]
        )

    # -- HTTP plumbing ----------------------------------------------------------------------------
    @web.middleware
    async def _unknown_route_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.match_info.http_exception is not None:
            self.unknown_routes.append(f"{request.method} {request.path_qs}")
            return json_response({"message": "404: Not Found", "code": 0}, status=404)
        return await handler(request)

    def _wrap(self, spec: RouteSpec) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            path = request.path[len(API_PREFIX) :]
            response = await self._handle(spec, request, path)
            self.requests.append(
                RequestRecord(request.method, path, dict(request.query), response.status, time.monotonic())
            )
            return response

        return handle

    async def _handle(self, spec: RouteSpec, request: web.Request, path: str) -> web.StreamResponse:
        if spec.auth and request.headers.get("Authorization") != f"Bot {self.token}":
            return json_response({"message": "401: Unauthorized", "code": 0}, status=401)
        delay, injected = self.faults.take(request.method, path)
        if delay:
            await asyncio.sleep(delay)
        if injected is not None:
            return injected
        major = "+".join(request.match_info[k] for k in spec.major)
        headers, limited = self.ratelimits.check(spec.family, major, exempt_global=spec.exempt_global)
        if limited is not None:
            return limited
        try:
            check_audit_reason(audit_reason(request))
            response = await spec.handler(self, request)
        except ApiError as exc:
            response = json_response(exc.body(), status=exc.status)
        except Exception:
            self.internal_errors.append(f"{request.method} {path}: {traceback.format_exc()}")
            response = json_response({"message": "fake discord internal error", "code": 0}, status=400)
        response.headers.update(headers)
        return response

    async def _serve_attachment(self, request: web.Request) -> web.StreamResponse:
        attachment_id = int(request.match_info["attachment_id"])
        for message in self.state.message_index.values():
            for attachment in message.attachments:
                if attachment.id == attachment_id:
                    return web.Response(
                        body=attachment.data,
                        headers={"Content-Type": attachment.content_type or "application/octet-stream"},
                    )
        for attachment in self._loose_attachments:
            if attachment.id == attachment_id:
                return web.Response(body=attachment.data)
        self.unknown_routes.append(f"GET {request.path} (unknown attachment)")
        return web.Response(status=404)

    def attachment_url(self, channel_id: int, attachment_id: int, filename: str) -> str:
        return f"{self.base_url}/attachments/{channel_id}/{attachment_id}/{filename}"

    # -- shared by routes and the driver ----------------------------------------------------------
    def bot_guilds(self) -> list[Guild]:
        return [g for g in self.state.guilds.values() if self.bot_user.id in g.members]

    def bot_member(self, guild: Guild) -> Member:
        return guild.members[self.bot_user.id]

    def bot_member_of(self, channel: Channel) -> Member | None:
        guild = self.state.guild_of(channel)
        return guild.members.get(self.bot_user.id) if guild else None

    def bot_permissions(self, guild: Guild, channel: Channel | None) -> int:
        return channel_permissions(guild, self.bot_member(guild), channel)

    def member_permissions(self, member: Member, channel: Channel | None) -> int:
        return channel_permissions(self.state.guild(member.guild_id), member, channel)

    def bot_message(self, channel: Channel) -> Message:
        """A new, unsaved message authored by the bot in ``channel``."""
        return Message(
            id=self.state.ids.next(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=self.bot_user,
            author_member=self.bot_member_of(channel),
        )

    def publish(self, message: Message) -> None:
        self.state.store_message(message)
        if not message.ephemeral:
            self.gateway.dispatch_message("MESSAGE_CREATE", message)

    def delete(self, message: Message) -> None:
        self.state.remove_message(message)
        if message.ephemeral:
            return
        payload = {"id": str(message.id), "channel_id": str(message.channel_id)}
        if message.guild_id:
            payload["guild_id"] = str(message.guild_id)
        self.gateway.dispatch("MESSAGE_DELETE", payload)

    def rest_message_payload(self, message: Message) -> dict[str, Any]:
        """REST reads blank content too when the portal has not granted the message-content intent."""
        channel = self.state.channels.get(message.channel_id)
        blank = not (
            self.privileged_intents & MESSAGE_CONTENT
            or (channel is not None and channel.type == DM)
            or message.author.id == self.bot_user.id
            or self.bot_user.id in message.mention_user_ids
        )
        return message.to_payload(blank_content=blank)

    def reaction_payload(self, message: Message, emoji: str, user_id: int) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "user_id": str(user_id),
            "channel_id": str(message.channel_id),
            "message_id": str(message.id),
            "emoji": {"id": None, "name": emoji},
            "type": 0,
            "burst": False,
        }
        if message.guild_id:
            payload["guild_id"] = str(message.guild_id)
            member = self.state.guilds[message.guild_id].members.get(user_id)
            if member is not None:
                payload["member"] = member.to_payload()
        return payload

    def audit(
        self,
        guild: Guild,
        action_type: int,
        target_id: int | None,
        reason: str | None,
        *,
        changes: list[dict[str, Any]] | None = None,
        options: dict[str, Any] | None = None,
        user_id: int | None = None,
    ) -> AuditEntry:
        entry = AuditEntry(
            id=self.state.ids.next(),
            guild_id=guild.id,
            action_type=action_type,
            user_id=user_id or self.bot_user.id,
            target_id=target_id,
            reason=reason,
            changes=changes or [],
            options=options,
        )
        guild.audit_log.append(entry)
        payload = entry.to_payload()
        payload["guild_id"] = str(guild.id)
        self.gateway.dispatch("GUILD_AUDIT_LOG_ENTRY_CREATE", payload)
        return entry

    def add_channel(self, channel: Channel, *, event: str | None = "CHANNEL_CREATE") -> Channel:
        self.state.channels[channel.id] = channel
        guild = self.state.guild_of(channel)
        if guild is not None:
            guild.channels[channel.id] = channel
        if event is not None:
            self.gateway.dispatch(event, channel.to_payload())
        self.state.notify()
        return channel

    def remove_member(self, guild: Guild, user: User) -> None:
        guild.members.pop(user.id, None)
        self.state.notify()
        self.gateway.dispatch("GUILD_MEMBER_REMOVE", {"guild_id": str(guild.id), "user": user.to_payload()})
