"""The gateway websocket: HELLO, heartbeats, IDENTIFY → READY + GUILD_CREATE, RESUME → replay + RESUMED.

Sessions outlive their connection so a dropped socket can RESUME and receive every event it missed,
which is what the reliability tests exercise. Frames are zlib-stream compressed per connection (one
compressor, each frame ended by a sync flush) when the client asks for it, plain text otherwise, and
they leave through one writer task per connection so the compressed stream stays in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .models import DM, Message

if TYPE_CHECKING:
    from .server import FakeDiscord

_log = logging.getLogger(__name__)

GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_MODERATION = 1 << 2
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
AUTO_MODERATION_CONFIGURATION = 1 << 20
AUTO_MODERATION_EXECUTION = 1 << 21
PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

EVENT_INTENTS: dict[str, int] = {
    "GUILD_CREATE": GUILDS,
    "GUILD_UPDATE": GUILDS,
    "GUILD_DELETE": GUILDS,
    "GUILD_ROLE_CREATE": GUILDS,
    "GUILD_ROLE_UPDATE": GUILDS,
    "GUILD_ROLE_DELETE": GUILDS,
    "CHANNEL_CREATE": GUILDS,
    "CHANNEL_UPDATE": GUILDS,
    "CHANNEL_DELETE": GUILDS,
    "THREAD_CREATE": GUILDS,
    "THREAD_UPDATE": GUILDS,
    "THREAD_DELETE": GUILDS,
    "THREAD_LIST_SYNC": GUILDS,
    "GUILD_MEMBER_ADD": GUILD_MEMBERS,
    "GUILD_MEMBER_UPDATE": GUILD_MEMBERS,
    "GUILD_MEMBER_REMOVE": GUILD_MEMBERS,
    "GUILD_BAN_ADD": GUILD_MODERATION,
    "GUILD_BAN_REMOVE": GUILD_MODERATION,
    "GUILD_AUDIT_LOG_ENTRY_CREATE": GUILD_MODERATION,
    "MESSAGE_REACTION_ADD": GUILD_MESSAGE_REACTIONS,
    "MESSAGE_REACTION_REMOVE": GUILD_MESSAGE_REACTIONS,
    "AUTO_MODERATION_ACTION_EXECUTION": AUTO_MODERATION_EXECUTION,
    "AUTO_MODERATION_RULE_CREATE": AUTO_MODERATION_CONFIGURATION,
    "AUTO_MODERATION_RULE_UPDATE": AUTO_MODERATION_CONFIGURATION,
    "AUTO_MODERATION_RULE_DELETE": AUTO_MODERATION_CONFIGURATION,
}

_CLOSE = object()


class Connection:
    """One websocket; everything sent goes through a queue so compression order matches send order."""

    def __init__(self, ws: web.WebSocketResponse, compress: bool) -> None:
        self.ws = ws
        self._zlib = zlib.compressobj() if compress else None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write())

    def send(self, frame: dict[str, Any]) -> None:
        self._queue.put_nowait(frame)

    def close(self, code: int) -> None:
        self._queue.put_nowait((_CLOSE, code))

    async def _write(self) -> None:
        while True:
            item = await self._queue.get()
            if isinstance(item, tuple) and item and item[0] is _CLOSE:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.ws.close(code=item[1])
                return
            data = json.dumps(item)
            try:
                if self._zlib is not None:
                    await self.ws.send_bytes(
                        self._zlib.compress(data.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                    )
                else:
                    await self.ws.send_str(data)
            except (ConnectionError, RuntimeError):
                return

    async def stop(self) -> None:
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer


@dataclass
class Session:
    id: str
    intents: int
    seq: int = 0
    conn: Connection | None = None
    invalid: bool = False
    shard: tuple[int, int] | None = None  # [shard_id, num_shards] from IDENTIFY
    buffer: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=5000))
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def send_dispatch(self, event: str, data: dict[str, Any]) -> None:
        self.seq += 1
        frame = {"op": 0, "t": event, "s": self.seq, "d": data}
        self.buffer.append(frame)
        self.received.append((event, data))
        if self.conn is not None:
            self.conn.send(frame)


class Gateway:
    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.sessions: dict[str, Session] = {}
        self.connections: set[Connection] = set()
        self.heartbeat_interval_ms = 41250
        self.identifies = 0
        self.resumes = 0
        self.replayed = 0  # frames re-sent on RESUME
        self.heartbeats = 0
        self.member_requests: list[dict[str, Any]] = []
        self.protocol_errors: list[str] = []
        self.reject_next_resume = False
        # Sharding, as Discord does it: `shard_count` is what /gateway/bot recommends (and, above 1, requires);
        # a guild's events go to shard (guild_id >> 22) % num_shards, DMs to shard 0. With `identify_limit`
        # = (max_concurrency, seconds), an IDENTIFY in a bucket (shard_id % max_concurrency) sooner than
        # `seconds` after the last one is refused with INVALID_SESSION and recorded in `identify_refusals`.
        self.shard_count = 1
        self.max_concurrency = 1
        self.identify_limit: tuple[int, float] | None = None
        self.identify_refusals: list[str] = []
        self._last_identify: dict[int, float] = {}

    # -- test-facing -----------------------------------------------------------------------------
    @property
    def live_sessions(self) -> list[Session]:
        return [s for s in self.sessions.values() if not s.invalid]

    @property
    def connected_sessions(self) -> list[Session]:
        return [s for s in self.live_sessions if s.conn is not None]

    def dispatch(self, event: str, data: dict[str, Any] | Callable[[Session], dict[str, Any] | None]) -> int:
        """Send a DISPATCH to every live session (buffered while disconnected); returns how many got it."""
        required = EVENT_INTENTS.get(event, 0)
        sent = 0
        for session in self.live_sessions:
            if required and not session.intents & required:
                continue
            payload = data(session) if callable(data) else data
            if payload is None or not self._routes_to(session, event, payload):
                continue
            session.send_dispatch(event, payload)
            sent += 1
        self.fake.state.notify()
        return sent

    @staticmethod
    def shard_of(guild_id: int | None, num_shards: int) -> int:
        """Discord's routing: a guild's shard; events of no guild (DMs) go to shard 0."""
        return 0 if guild_id is None else (guild_id >> 22) % num_shards

    def _routes_to(self, session: Session, event: str, payload: dict[str, Any]) -> bool:
        if session.shard is None:
            return True
        guild = (
            payload.get("id")
            if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE")
            else payload.get("guild_id")
        )
        shard_id, num_shards = session.shard
        return self.shard_of(int(guild) if guild is not None else None, num_shards) == shard_id

    def dispatch_message(self, event: str, message: Message) -> int:
        """MESSAGE_CREATE/UPDATE with Discord's intent rules (guild vs DM, message-content blanking)."""
        channel = self.fake.state.channels.get(message.channel_id)
        is_dm = channel is not None and channel.type == DM
        bot_id = self.fake.bot_user.id

        def build(session: Session) -> dict[str, Any] | None:
            if not session.intents & (DIRECT_MESSAGES if is_dm else GUILD_MESSAGES):
                return None
            blank = not (
                session.intents & MESSAGE_CONTENT
                or is_dm
                or message.author.id == bot_id
                or bot_id in message.mention_user_ids
            )
            return message.to_payload(blank_content=blank)

        return self.dispatch(event, build)

    def disconnect(self, code: int = 4000) -> None:
        """Drop every socket as a network failure would; sessions stay resumable.

        Sessions are detached at once, so anything dispatched from here on reaches the client only by
        RESUME replay. ``await wait_disconnected()`` to wait for the sockets to be closed.
        """
        for session in self.live_sessions:
            session.conn = None
        for conn in list(self.connections):
            conn.close(code)

    async def wait_disconnected(self) -> None:
        await self.fake.state.wait_until(lambda: not self.connections, within=5)

    async def invalidate_sessions(self, *, resumable: bool = False) -> None:
        """Send INVALID_SESSION; with ``resumable=False`` the client must IDENTIFY again."""
        for session in self.live_sessions:
            if session.conn is not None:
                session.conn.send({"op": 9, "d": resumable, "s": None, "t": None})
            if not resumable:
                session.invalid = True

    def request_reconnect(self) -> None:
        """Send op 7 RECONNECT: the client closes and RESUMEs."""
        for session in self.connected_sessions:
            session.conn.send({"op": 7, "d": None, "s": None, "t": None})  # type: ignore[union-attr]

    async def close_all(self) -> None:
        for conn in list(self.connections):
            conn.close(1001)
            await conn.stop()

    # -- websocket -------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        compress = request.query.get("compress")
        if request.query.get("v") != "10" or request.query.get("encoding", "json") != "json":
            self.protocol_errors.append(f"unexpected gateway query {dict(request.query)}")
        if compress not in (None, "zlib-stream"):
            self.protocol_errors.append(f"unsupported compression {compress}")
        conn = Connection(ws, compress == "zlib-stream")
        self.connections.add(conn)
        conn.send({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None})
        session: Session | None = None
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    self.protocol_errors.append(f"non-text frame from client: {msg.type}")
                    continue
                session = self._on_frame(conn, session, json.loads(msg.data))
        finally:
            self.connections.discard(conn)
            await conn.stop()
            if session is not None and session.conn is conn:
                session.conn = None
                if ws.close_code in (1000, 1001):
                    session.invalid = True
            self.fake.state.notify()
        return ws

    def _on_frame(self, conn: Connection, session: Session | None, frame: dict[str, Any]) -> Session | None:
        op, data = frame.get("op"), frame.get("d")
        if op == 1:
            self.heartbeats += 1
            conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            return self._identify(conn, session, data or {})
        elif op == 6:
            return self._resume(conn, data or {})
        elif op == 8:
            if session is None:
                conn.close(4003)
            else:
                self._member_chunk(session, data or {})
        elif op in (3, 4):
            pass  # presence / voice state: accepted, nothing to do
        else:
            self.protocol_errors.append(f"unknown opcode {op}")
            conn.close(4001)
        return session

    def _identify(self, conn: Connection, session: Session | None, data: dict[str, Any]) -> Session | None:
        if session is not None:
            conn.close(4005)
            return session
        if data.get("token") != self.fake.token:
            conn.close(4004)
            return None
        intents = int(data.get("intents", 0))
        if intents & PRIVILEGED & ~self.fake.privileged_intents:
            conn.close(4014)
            return None
        shard = data.get("shard")
        if shard is None and self.shard_count > 1:
            conn.close(4011)  # Sharding required
            return None
        if shard is not None:
            if (
                not isinstance(shard, list)
                or len(shard) != 2
                or not all(isinstance(x, int) for x in shard)
                or not 0 <= shard[0] < shard[1]
                or (self.shard_count > 1 and shard[1] != self.shard_count)
            ):
                conn.close(4010)  # Invalid shard
                return None
        if not self._identify_allowed(shard[0] if shard else 0):
            conn.send({"op": 9, "d": False, "s": None, "t": None})
            return None
        self.identifies += 1
        session = Session(
            id=uuid.uuid4().hex, intents=intents, conn=conn, shard=(shard[0], shard[1]) if shard else None
        )
        self.sessions[session.id] = session
        guilds = [
            g
            for g in self.fake.bot_guilds()
            if session.shard is None or self.shard_of(g.id, session.shard[1]) == session.shard[0]
        ]
        ready: dict[str, Any] = {
            "v": 10,
            "user": self.fake.bot_user.to_payload(),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.fake.gateway_url,
            "application": {"id": str(self.fake.application_id), "flags": self.fake.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
        }
        if "shard" in data:
            ready["shard"] = data["shard"]
        session.send_dispatch("READY", ready)
        for guild in guilds:
            members = (
                list(guild.members.values())
                if intents & GUILD_MEMBERS
                else [guild.members[self.fake.bot_user.id]]
            )
            session.send_dispatch("GUILD_CREATE", guild.to_payload(members=members))
        self.fake.state.notify()
        return session

    def _identify_allowed(self, shard_id: int) -> bool:
        """Discord's session start limit: one IDENTIFY per max_concurrency bucket per window."""
        if self.identify_limit is None:
            return True
        concurrency, window = self.identify_limit
        bucket = shard_id % concurrency
        now = asyncio.get_running_loop().time()
        last = self._last_identify.get(bucket)
        if last is not None and now - last < window:
            self.identify_refusals.append(
                f"shard {shard_id} identified {now - last:.2f}s after the last "
                f"identify in bucket {bucket} (limit: one per {window}s)"
            )
            return False
        self._last_identify[bucket] = now
        return True

    def _resume(self, conn: Connection, data: dict[str, Any]) -> Session | None:
        if data.get("token") != self.fake.token:
            conn.close(4004)
            return None
        session = self.sessions.get(str(data.get("session_id")))
        seq = int(data.get("seq") or 0)
        oldest = session.buffer[0]["s"] if session and session.buffer else 1
        if session is None or session.invalid or self.reject_next_resume or seq < oldest - 1:
            self.reject_next_resume = False
            conn.send({"op": 9, "d": False, "s": None, "t": None})
            if session is not None:
                session.invalid = True
            return None
        if session.conn is not None and session.conn is not conn:
            session.conn.close(4009)
        self.resumes += 1
        session.conn = conn
        for frame in session.buffer:
            if frame["s"] > seq:
                self.replayed += 1
                conn.send(frame)
        session.send_dispatch("RESUMED", {})
        self.fake.state.notify()
        return session

    def _member_chunk(self, session: Session, data: dict[str, Any]) -> None:
        self.member_requests.append(data)
        guild = self.fake.state.guilds.get(int(data.get("guild_id", 0)))
        if guild is None:
            return
        members = list(guild.members.values())
        if data.get("user_ids"):
            wanted = {int(u) for u in data["user_ids"]}
            members = [m for m in members if m.user.id in wanted]
        elif data.get("query"):
            query = data["query"].lower()
            members = [m for m in members if m.user.username.lower().startswith(query)]
        limit = int(data.get("limit") or 0)
        if limit:
            members = members[:limit]
        chunk = {
            "guild_id": str(guild.id),
            "members": [m.to_payload() for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        session.send_dispatch("GUILD_MEMBERS_CHUNK", chunk)
