"""Guild reads and moderation actions: members (timeouts, roles, nicknames), kicks, bans, audit log."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..errors import invalid_form, missing_permissions, unknown
from ..httputil import audit_reason, json_response, no_content, query_int, read_body
from ..models import Guild, Member, User
from ..permissions import Perm, base_permissions
from ..snowflakes import snowflake_time
from .common import RouteSpec, require

if TYPE_CHECKING:
    from ..server import FakeDiscord

AUDIT_MEMBER_KICK = 20
AUDIT_MEMBER_BAN_ADD = 22
AUDIT_MEMBER_BAN_REMOVE = 23
AUDIT_MEMBER_UPDATE = 24
AUDIT_MEMBER_ROLE_UPDATE = 25
MAX_TIMEOUT = dt.timedelta(days=28)


def _guild(fake: FakeDiscord, request: web.Request) -> Guild:
    guild = fake.state.guild(int(request.match_info["guild_id"]))
    if fake.bot_user.id not in guild.members:
        raise unknown("Guild", 10004)
    return guild


def _check_target(fake: FakeDiscord, guild: Guild, target_id: int) -> None:
    """The bot cannot act on the owner, on administrators, or on itself."""
    target = guild.members.get(target_id)
    if target_id == guild.owner_id or target_id == fake.bot_user.id:
        raise missing_permissions()
    if target is not None and base_permissions(guild, target) & Perm.ADMINISTRATOR:
        raise missing_permissions()


async def get_guild(fake: FakeDiscord, request: web.Request) -> web.Response:
    guild = _guild(fake, request)
    payload = guild.to_payload(members=[])
    for key in (
        "members",
        "channels",
        "threads",
        "presences",
        "voice_states",
        "member_count",
        "joined_at",
        "large",
    ):
        payload.pop(key, None)
    payload.update(approximate_member_count=len(guild.members), approximate_presence_count=0)
    return json_response(payload)


async def get_channels(fake: FakeDiscord, request: web.Request) -> web.Response:
    guild = _guild(fake, request)
    return json_response([c.to_payload() for c in guild.channels.values() if not c.is_thread])


async def active_threads(fake: FakeDiscord, request: web.Request) -> web.Response:
    guild = _guild(fake, request)
    threads = [c.to_payload() for c in guild.channels.values() if c.is_thread and not c.archived]
    return json_response({"threads": threads, "members": []})


async def get_roles(fake: FakeDiscord, request: web.Request) -> web.Response:
    return json_response([r.to_payload() for r in _guild(fake, request).roles.values()])


async def get_member(fake: FakeDiscord, request: web.Request) -> web.Response:
    guild = _guild(fake, request)
    return json_response(fake.state.member(guild, int(request.match_info["user_id"])).to_payload())


async def list_members(fake: FakeDiscord, request: web.Request) -> web.Response:
    guild = _guild(fake, request)
    limit = query_int(request, "limit") or 1
    after = query_int(request, "after") or 0
    if not 1 <= limit <= 1000:
        raise invalid_form("limit", "int value should be less than or equal to 1000.", "NUMBER_TYPE_MAX")
    members = sorted((m for m in guild.members.values() if m.user.id > after), key=lambda m: m.user.id)
    return json_response([m.to_payload() for m in members[:limit]])


def member_update_payload(guild: Guild, member: Member) -> dict[str, Any]:
    payload = member.to_payload()
    payload["guild_id"] = str(guild.id)
    return payload


async def edit_member(fake: FakeDiscord, request: web.Request) -> web.Response:
    guild = _guild(fake, request)
    member = fake.state.member(guild, int(request.match_info["user_id"]))
    body = (await read_body(request)).payload
    reason = audit_reason(request)
    changes: list[dict[str, Any]] = []
    if "communication_disabled_until" in body:
        require(fake, guild, None, Perm.MODERATE_MEMBERS)
        _check_target(fake, guild, member.user.id)
        until = body["communication_disabled_until"]
        if until is not None:
            when = dt.datetime.fromisoformat(until)
            if when - dt.datetime.now(dt.UTC) > MAX_TIMEOUT + dt.timedelta(seconds=5):
                raise invalid_form(
                    "communication_disabled_until",
                    "Timeout must be 28 days or less",
                    "COMMUNICATION_DISABLED_UNTIL_INVALID",
                )
        changes.append(
            {
                "key": "communication_disabled_until",
                "old_value": member.communication_disabled_until,
                "new_value": until,
            }
        )
        member.communication_disabled_until = until
    if "nick" in body:
        require(fake, guild, None, Perm.MANAGE_NICKNAMES)
        changes.append({"key": "nick", "old_value": member.nick, "new_value": body["nick"]})
        member.nick = body["nick"]
    if changes:
        fake.audit(guild, AUDIT_MEMBER_UPDATE, member.user.id, reason, changes=changes)
    if "roles" in body:
        require(fake, guild, None, Perm.MANAGE_ROLES)
        new_roles = [int(r) for r in body["roles"]]
        if any(r not in guild.roles for r in new_roles):
            raise invalid_form("roles", "Unknown role")
        added = [r for r in new_roles if r not in member.role_ids]
        removed = [r for r in member.role_ids if r not in new_roles]
        member.role_ids = new_roles
        role_changes = []
        if added:
            role_changes.append(
                {"key": "$add", "new_value": [{"id": str(r), "name": guild.roles[r].name} for r in added]}
            )
        if removed:
            role_changes.append(
                {
                    "key": "$remove",
                    "new_value": [{"id": str(r), "name": guild.roles[r].name} for r in removed],
                }
            )
        if role_changes:
            fake.audit(guild, AUDIT_MEMBER_ROLE_UPDATE, member.user.id, reason, changes=role_changes)
    fake.state.notify()
    fake.gateway.dispatch("GUILD_MEMBER_UPDATE", member_update_payload(guild, member))
    return json_response(member.to_payload())


async def kick(fake: FakeDiscord, request: web.Request) -> web.Response:
    guild = _guild(fake, request)
    require(fake, guild, None, Perm.KICK_MEMBERS)
    member = fake.state.member(guild, int(request.match_info["user_id"]))
    _check_target(fake, guild, member.user.id)
    fake.remove_member(guild, member.user)
    fake.audit(guild, AUDIT_MEMBER_KICK, member.user.id, audit_reason(request))
    return no_content()


async def ban(fake: FakeDiscord, request: web.Request) -> web.Response:
    guild = _guild(fake, request)
    require(fake, guild, None, Perm.BAN_MEMBERS)
    user = fake.state.user(int(request.match_info["user_id"]))
    _check_target(fake, guild, user.id)
    body = (await read_body(request)).payload
    seconds = int(body.get("delete_message_seconds") or 0)
    if not 0 <= seconds <= 604800:
        raise invalid_form(
            "delete_message_seconds", "int value should be less than or equal to 604800.", "NUMBER_TYPE_MAX"
        )
    reason = audit_reason(request)
    guild.bans[user.id] = {"reason": reason, "delete_message_seconds": seconds}
    if user.id in guild.members:
        fake.remove_member(guild, user)
    if seconds:
        _purge_messages(fake, guild, user, seconds)
    fake.audit(guild, AUDIT_MEMBER_BAN_ADD, user.id, reason)
    fake.gateway.dispatch("GUILD_BAN_ADD", {"guild_id": str(guild.id), "user": user.to_payload()})
    return no_content()


def _purge_messages(fake: FakeDiscord, guild: Guild, user: User, seconds: int) -> None:
    cutoff = time.time() - seconds
    for channel_id in list(guild.channels):
        for message in fake.state.channel_messages(channel_id):
            if message.author.id == user.id and snowflake_time(message.id) >= cutoff:
                fake.delete(message)


async def unban(fake: FakeDiscord, request: web.Request) -> web.Response:
    guild = _guild(fake, request)
    require(fake, guild, None, Perm.BAN_MEMBERS)
    user = fake.state.user(int(request.match_info["user_id"]))
    if guild.bans.pop(user.id, None) is None:
        raise unknown("Ban", 10026)
    fake.audit(guild, AUDIT_MEMBER_BAN_REMOVE, user.id, audit_reason(request))
    fake.gateway.dispatch("GUILD_BAN_REMOVE", {"guild_id": str(guild.id), "user": user.to_payload()})
    return no_content()


async def get_ban(fake: FakeDiscord, request: web.Request) -> web.Response:
    guild = _guild(fake, request)
    require(fake, guild, None, Perm.BAN_MEMBERS)
    user = fake.state.user(int(request.match_info["user_id"]))
    if user.id not in guild.bans:
        raise unknown("Ban", 10026)
    return json_response({"reason": guild.bans[user.id]["reason"], "user": user.to_payload()})


async def list_bans(fake: FakeDiscord, request: web.Request) -> web.Response:
    guild = _guild(fake, request)
    require(fake, guild, None, Perm.BAN_MEMBERS)
    return json_response(
        [
            {"reason": b["reason"], "user": fake.state.users[uid].to_payload()}
            for uid, b in sorted(guild.bans.items())
        ]
    )


async def audit_logs(fake: FakeDiscord, request: web.Request) -> web.Response:
    guild = _guild(fake, request)
    require(fake, guild, None, Perm.VIEW_AUDIT_LOG)
    limit = query_int(request, "limit") or 50
    before, after = query_int(request, "before"), query_int(request, "after")
    user_id, action = query_int(request, "user_id"), query_int(request, "action_type")
    entries = [
        e
        for e in guild.audit_log
        if (user_id is None or e.user_id == user_id) and (action is None or e.action_type == action)
    ]
    if after is not None and before is None:
        picked = [e for e in entries if e.id > after][:limit]  # oldest first, as Discord answers `after`
    else:
        picked = list(reversed([e for e in entries if before is None or e.id < before]))[:limit]
    user_ids = {e.user_id for e in picked} | {e.target_id for e in picked}
    return json_response(
        {
            "audit_log_entries": [e.to_payload() for e in picked],
            "users": [fake.state.users[u].to_payload() for u in user_ids if u in fake.state.users],
            "webhooks": [w.to_payload() for w in fake.state.webhooks.values() if w.guild_id == guild.id],
            "integrations": [],
            "threads": [],
            "application_commands": [],
            "auto_moderation_rules": [],
            "guild_scheduled_events": [],
        }
    )


_MEMBER = "/guilds/{guild_id}/members/{user_id}"
_BAN = "/guilds/{guild_id}/bans/{user_id}"
_G = ("guild_id",)

ROUTES = [
    RouteSpec("GET", "/guilds/{guild_id}", get_guild),
    RouteSpec("GET", "/guilds/{guild_id}/channels", get_channels),
    RouteSpec("GET", "/guilds/{guild_id}/threads/active", active_threads),
    RouteSpec("GET", "/guilds/{guild_id}/roles", get_roles),
    RouteSpec("GET", "/guilds/{guild_id}/members", list_members),
    RouteSpec("GET", _MEMBER, get_member),
    RouteSpec("PATCH", _MEMBER, edit_member, family="member_edit", major=_G),
    RouteSpec("DELETE", _MEMBER, kick, family="member_kick", major=_G),
    RouteSpec("GET", "/guilds/{guild_id}/bans", list_bans),
    RouteSpec("GET", _BAN, get_ban),
    RouteSpec("PUT", _BAN, ban, family="ban", major=_G),
    RouteSpec("DELETE", _BAN, unban, family="ban", major=_G),
    RouteSpec("GET", "/guilds/{guild_id}/audit-logs", audit_logs),
]
