"""Channels, messages (create/read/edit/delete, history, reactions) and threads, forum posts included."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..errors import ApiError, invalid_form
from ..httputil import Body, audit_reason, json_response, no_content, query_int, read_body
from ..messages import apply_body
from ..models import DM, FORUM, PRIVATE_THREAD, PUBLIC_THREAD, TEXT, Channel, Message
from ..permissions import Perm
from .common import RouteSpec, require

if TYPE_CHECKING:
    from ..server import FakeDiscord

AUDIT_MESSAGE_DELETE = 72
AUDIT_MESSAGE_BULK_DELETE = 73
_ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)


def _channel(fake: FakeDiscord, request: web.Request) -> Channel:
    return fake.state.channel(int(request.match_info["channel_id"]))


def _require_in(fake: FakeDiscord, channel: Channel, *perms: Perm) -> None:
    guild = fake.state.guild_of(channel)
    if guild is not None:
        require(fake, guild, channel, *perms)


async def get_channel(fake: FakeDiscord, request: web.Request) -> web.Response:
    channel = _channel(fake, request)
    _require_in(fake, channel)
    return json_response(channel.to_payload())


async def edit_channel(fake: FakeDiscord, request: web.Request) -> web.Response:
    channel = _channel(fake, request)
    body = (await read_body(request)).payload
    if channel.is_thread:
        if channel.owner_id != fake.bot_user.id or "locked" in body:
            _require_in(fake, channel, Perm.MANAGE_THREADS)
    else:
        _require_in(fake, channel, Perm.MANAGE_CHANNELS)
    for key in ("name", "topic", "archived", "locked", "auto_archive_duration"):
        if key in body:
            setattr(channel, key, body[key])
    if "applied_tags" in body:
        channel.applied_tags = [int(t) for t in body["applied_tags"]]
    if "permission_overwrites" in body:
        channel.permission_overwrites = body["permission_overwrites"]
    fake.gateway.dispatch("THREAD_UPDATE" if channel.is_thread else "CHANNEL_UPDATE", channel.to_payload())
    return json_response(channel.to_payload())


async def delete_channel(fake: FakeDiscord, request: web.Request) -> web.Response:
    channel = _channel(fake, request)
    _require_in(fake, channel, Perm.MANAGE_THREADS if channel.is_thread else Perm.MANAGE_CHANNELS)
    payload = channel.to_payload()
    del fake.state.channels[channel.id]
    guild = fake.state.guild_of(channel)
    if guild is not None:
        guild.channels.pop(channel.id, None)
    fake.gateway.dispatch("THREAD_DELETE" if channel.is_thread else "CHANNEL_DELETE", payload)
    return json_response(payload)


def check_can_post(fake: FakeDiscord, channel: Channel, body: Body) -> None:
    """Where a bot may post and what it needs (threads unarchive on post unless locked)."""
    if channel.type not in (TEXT, DM, PUBLIC_THREAD, PRIVATE_THREAD):
        raise ApiError(400, 50008, "Cannot send messages in a non-text channel")
    if channel.type == DM:
        if not channel.recipients[0].dms_open:
            raise ApiError(403, 50007, "Cannot send messages to this user")
        return
    needed = [Perm.SEND_MESSAGES_IN_THREADS if channel.is_thread else Perm.SEND_MESSAGES]
    if body.files:
        needed.append(Perm.ATTACH_FILES)
    _require_in(fake, channel, *needed)
    if channel.is_thread and channel.archived:
        if channel.locked:
            raise ApiError(400, 50083, "Thread is archived")
        channel.archived = False
        fake.gateway.dispatch("THREAD_UPDATE", channel.to_payload())


async def create_message(fake: FakeDiscord, request: web.Request) -> web.Response:
    channel = _channel(fake, request)
    body = await read_body(request)
    check_can_post(fake, channel, body)
    message = fake.bot_message(channel)
    reference = body.payload.get("message_reference")
    if reference:
        target = fake.state.message_index.get(int(reference.get("message_id", 0)))
        if target is None or target.deleted:
            if reference.get("fail_if_not_exists", True):
                raise invalid_form(
                    "message_reference", "Unknown message", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE"
                )
        else:
            message.type = 19
            message.message_reference = {
                "type": 0,
                "message_id": str(target.id),
                "channel_id": str(target.channel_id),
                **({"guild_id": str(target.guild_id)} if target.guild_id else {}),
            }
    apply_body(
        message,
        body,
        state=fake.state,
        guild=fake.state.guild_of(channel),
        url_for=fake.attachment_url,
        creating=True,
    )
    if message.ephemeral:
        raise invalid_form("flags", "Ephemeral messages can only be sent in interaction responses")
    fake.publish(message)
    return json_response(message.to_payload())


async def get_messages(fake: FakeDiscord, request: web.Request) -> web.Response:
    channel = _channel(fake, request)
    _require_in(fake, channel, Perm.READ_MESSAGE_HISTORY)
    limit = query_int(request, "limit") or 50
    if not 1 <= limit <= 100:
        raise invalid_form("limit", "int value should be less than or equal to 100.", "NUMBER_TYPE_MAX")
    before, after, around = (
        query_int(request, "before"),
        query_int(request, "after"),
        query_int(request, "around"),
    )
    messages = fake.state.channel_messages(channel.id)  # oldest first
    if around is not None:
        older = [m for m in messages if m.id <= around][-((limit + 1) // 2) :]
        newer = [m for m in messages if m.id > around][: limit // 2]
        picked = older + newer
    elif after is not None:
        picked = [m for m in messages if m.id > after and (before is None or m.id < before)][:limit]
    else:
        picked = [m for m in messages if before is None or m.id < before][-limit:]
    return json_response([fake.rest_message_payload(m) for m in reversed(picked)])


async def get_message(fake: FakeDiscord, request: web.Request) -> web.Response:
    channel = _channel(fake, request)
    _require_in(fake, channel, Perm.READ_MESSAGE_HISTORY)
    message = fake.state.message(channel.id, int(request.match_info["message_id"]))
    return json_response(fake.rest_message_payload(message))


async def edit_message(fake: FakeDiscord, request: web.Request) -> web.Response:
    channel = _channel(fake, request)
    message = fake.state.message(channel.id, int(request.match_info["message_id"]))
    body = await read_body(request)
    if message.author.id != fake.bot_user.id:
        if set(body.payload) - {"flags"} or body.files:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        _require_in(fake, channel, Perm.MANAGE_MESSAGES)
    apply_body(
        message,
        body,
        state=fake.state,
        guild=fake.state.guild_of(channel),
        url_for=fake.attachment_url,
        creating=False,
    )
    message.edited_at = time.time()
    fake.state.notify()
    fake.gateway.dispatch_message("MESSAGE_UPDATE", message)
    return json_response(message.to_payload())


async def delete_message(fake: FakeDiscord, request: web.Request) -> web.Response:
    channel = _channel(fake, request)
    message = fake.state.message(channel.id, int(request.match_info["message_id"]))
    guild = fake.state.guild_of(channel)
    if message.author.id != fake.bot_user.id and guild is not None:
        require(fake, guild, channel, Perm.MANAGE_MESSAGES)
        fake.audit(
            guild,
            AUDIT_MESSAGE_DELETE,
            message.author.id,
            audit_reason(request),
            options={"channel_id": str(channel.id), "count": "1"},
        )
    fake.delete(message)
    return no_content()


async def bulk_delete(fake: FakeDiscord, request: web.Request) -> web.Response:
    channel = _channel(fake, request)
    _require_in(fake, channel, Perm.MANAGE_MESSAGES)
    ids = [int(i) for i in (await read_body(request)).payload.get("messages") or []]
    if not 2 <= len(ids) <= 100:
        raise invalid_form("messages", "Must be between 2 and 100 in length.", "BASE_TYPE_BAD_LENGTH")
    messages = [fake.state.message(channel.id, i) for i in ids]
    for message in messages:
        fake.state.remove_message(message)
    payload: dict[str, Any] = {"ids": [str(i) for i in ids], "channel_id": str(channel.id)}
    if channel.guild_id:
        payload["guild_id"] = str(channel.guild_id)
    fake.gateway.dispatch("MESSAGE_DELETE_BULK", payload)
    return no_content()


async def add_reaction(fake: FakeDiscord, request: web.Request) -> web.Response:
    channel = _channel(fake, request)
    _require_in(fake, channel, Perm.ADD_REACTIONS, Perm.READ_MESSAGE_HISTORY)
    message = fake.state.message(channel.id, int(request.match_info["message_id"]))
    emoji = request.match_info["emoji"]
    users = message.reactions.setdefault(emoji, set())
    if fake.bot_user.id not in users:
        users.add(fake.bot_user.id)
        fake.state.notify()
        fake.gateway.dispatch("MESSAGE_REACTION_ADD", fake.reaction_payload(message, emoji, fake.bot_user.id))
    return no_content()


async def remove_own_reaction(fake: FakeDiscord, request: web.Request) -> web.Response:
    channel = _channel(fake, request)
    message = fake.state.message(channel.id, int(request.match_info["message_id"]))
    emoji = request.match_info["emoji"]
    if fake.bot_user.id in message.reactions.get(emoji, set()):
        message.reactions[emoji].discard(fake.bot_user.id)
        fake.state.notify()
        fake.gateway.dispatch(
            "MESSAGE_REACTION_REMOVE", fake.reaction_payload(message, emoji, fake.bot_user.id)
        )
    return no_content()


async def typing(fake: FakeDiscord, request: web.Request) -> web.Response:
    _require_in(fake, _channel(fake, request), Perm.SEND_MESSAGES)
    return no_content()


def _thread_fields(payload: dict[str, Any]) -> tuple[str, int]:
    name = payload.get("name") or ""
    if not 1 <= len(name) <= 100:
        raise invalid_form("name", "Must be between 1 and 100 in length.", "BASE_TYPE_BAD_LENGTH")
    duration = int(payload.get("auto_archive_duration") or 4320)
    if duration not in _ARCHIVE_DURATIONS:
        raise invalid_form(
            "auto_archive_duration", f"Value must be one of {_ARCHIVE_DURATIONS}.", "BASE_TYPE_CHOICES"
        )
    return name, duration


def _new_thread(
    fake: FakeDiscord, parent: Channel, thread_id: int, name: str, duration: int, kind: int
) -> Channel:
    thread = Channel(
        id=thread_id,
        type=kind,
        guild_id=parent.guild_id,
        name=name,
        parent_id=parent.id,
        owner_id=fake.bot_user.id,
        auto_archive_duration=duration,
    )
    fake.add_channel(thread, event=None)
    return thread


def _thread_create_payload(thread: Channel) -> dict[str, Any]:
    payload = thread.to_payload()
    payload["newly_created"] = True
    return payload


async def create_thread(fake: FakeDiscord, request: web.Request) -> web.Response:
    parent = _channel(fake, request)
    body = await read_body(request)
    if parent.type == FORUM:
        return await _create_forum_post(fake, parent, body)
    if parent.type != TEXT:
        raise ApiError(400, 50024, "Cannot execute action on this channel type")
    name, duration = _thread_fields(body.payload)
    kind = int(body.payload.get("type") or PRIVATE_THREAD)
    if kind not in (PUBLIC_THREAD, PRIVATE_THREAD):
        raise invalid_form("type", "Value must be one of {11, 12}.", "BASE_TYPE_CHOICES")
    _require_in(
        fake, parent, Perm.CREATE_PUBLIC_THREADS if kind == PUBLIC_THREAD else Perm.CREATE_PRIVATE_THREADS
    )
    thread = _new_thread(fake, parent, fake.state.ids.next(), name, duration, kind)
    fake.gateway.dispatch("THREAD_CREATE", _thread_create_payload(thread))
    return json_response(thread.to_payload())


async def _create_forum_post(fake: FakeDiscord, forum: Channel, body: Body) -> web.Response:
    name, duration = _thread_fields(body.payload)
    _require_in(fake, forum, Perm.SEND_MESSAGES)
    starter = body.payload.get("message")
    if not isinstance(starter, dict):
        raise invalid_form("message", "This field is required", "BASE_TYPE_REQUIRED")
    tags = [int(t) for t in body.payload.get("applied_tags") or []]
    known = {int(t["id"]) for t in forum.available_tags}
    if any(t not in known for t in tags):
        raise invalid_form("applied_tags", "Unknown tag")
    thread_id = fake.state.ids.next()
    message = Message(
        id=thread_id,
        channel_id=thread_id,
        guild_id=forum.guild_id,
        author=fake.bot_user,
        author_member=fake.bot_member_of(forum),
    )
    apply_body(
        message,
        Body(starter, body.files),
        state=fake.state,
        guild=fake.state.guild_of(forum),
        url_for=fake.attachment_url,
        creating=True,
    )
    thread = _new_thread(fake, forum, thread_id, name, duration, PUBLIC_THREAD)
    thread.applied_tags = tags
    fake.gateway.dispatch("THREAD_CREATE", _thread_create_payload(thread))
    fake.publish(message)
    payload = thread.to_payload()
    payload["message"] = message.to_payload()
    return json_response(payload)


async def create_thread_from_message(fake: FakeDiscord, request: web.Request) -> web.Response:
    parent = _channel(fake, request)
    message = fake.state.message(parent.id, int(request.match_info["message_id"]))
    if parent.type != TEXT:
        raise ApiError(400, 50024, "Cannot execute action on this channel type")
    if message.thread_id is not None:
        raise ApiError(400, 160004, "A thread has already been created for this message")
    _require_in(fake, parent, Perm.CREATE_PUBLIC_THREADS)
    name, duration = _thread_fields((await read_body(request)).payload)
    thread = _new_thread(fake, parent, message.id, name, duration, PUBLIC_THREAD)
    message.thread_id = thread.id
    fake.gateway.dispatch("THREAD_CREATE", _thread_create_payload(thread))
    return json_response(thread.to_payload())


async def join_thread(fake: FakeDiscord, request: web.Request) -> web.Response:
    channel = _channel(fake, request)
    if not channel.is_thread:
        raise ApiError(400, 50024, "Cannot execute action on this channel type")
    return no_content()


ROUTES = [
    RouteSpec("GET", "/channels/{channel_id}", get_channel),
    RouteSpec("PATCH", "/channels/{channel_id}", edit_channel, family="channel_edit", major=("channel_id",)),
    RouteSpec("DELETE", "/channels/{channel_id}", delete_channel),
    RouteSpec(
        "POST",
        "/channels/{channel_id}/messages",
        create_message,
        family="messages_create",
        major=("channel_id",),
    ),
    RouteSpec(
        "GET", "/channels/{channel_id}/messages", get_messages, family="messages_read", major=("channel_id",)
    ),
    RouteSpec(
        "POST",
        "/channels/{channel_id}/messages/bulk-delete",
        bulk_delete,
        family="messages_delete",
        major=("channel_id",),
    ),
    RouteSpec(
        "GET",
        "/channels/{channel_id}/messages/{message_id}",
        get_message,
        family="messages_read",
        major=("channel_id",),
    ),
    RouteSpec(
        "PATCH",
        "/channels/{channel_id}/messages/{message_id}",
        edit_message,
        family="messages_edit",
        major=("channel_id",),
    ),
    RouteSpec(
        "DELETE",
        "/channels/{channel_id}/messages/{message_id}",
        delete_message,
        family="messages_delete",
        major=("channel_id",),
    ),
    RouteSpec(
        "PUT",
        "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
        add_reaction,
        family="reactions",
        major=("channel_id",),
    ),
    RouteSpec(
        "DELETE",
        "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
        remove_own_reaction,
        family="reactions",
        major=("channel_id",),
    ),
    RouteSpec("POST", "/channels/{channel_id}/typing", typing),
    RouteSpec(
        "POST",
        "/channels/{channel_id}/threads",
        create_thread,
        family="threads_create",
        major=("channel_id",),
    ),
    RouteSpec(
        "POST",
        "/channels/{channel_id}/messages/{message_id}/threads",
        create_thread_from_message,
        family="threads_create",
        major=("channel_id",),
    ),
    RouteSpec("PUT", "/channels/{channel_id}/thread-members/@me", join_thread),
]
