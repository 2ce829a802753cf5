"""Channel webhooks: create/list/delete, execute (``wait``, ``thread_id``, ``thread_name``) and message edits.

``/webhooks/{application_id}/{token}`` is also where interaction follow-ups live; those requests are
handed to :mod:`.interactions`.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

from aiohttp import web

from ..errors import ApiError, invalid_form, unknown
from ..httputil import Body, audit_reason, json_response, no_content, query_flag, query_int, read_body
from ..limits import check_url, check_webhook_name
from ..messages import apply_body
from ..models import FORUM, PUBLIC_THREAD, TEXT, Channel, Message, User, Webhook
from ..permissions import Perm
from . import interactions
from .channels import check_can_post
from .common import RouteSpec, require

if TYPE_CHECKING:
    from ..server import FakeDiscord

MAX_WEBHOOKS_PER_CHANNEL = 15


async def create_webhook(fake: FakeDiscord, request: web.Request) -> web.Response:
    channel = fake.state.channel(int(request.match_info["channel_id"]))
    if channel.type not in (TEXT, FORUM):
        raise ApiError(400, 50024, "Cannot execute action on this channel type")
    guild = fake.state.guild(channel.guild_id or 0)
    require(fake, guild, channel, Perm.MANAGE_WEBHOOKS)
    payload = (await read_body(request)).payload
    name = payload.get("name") or ""
    check_webhook_name("name", name)
    if sum(1 for w in fake.state.webhooks.values() if w.channel_id == channel.id) >= MAX_WEBHOOKS_PER_CHANNEL:
        raise ApiError(400, 30007, "Maximum number of webhooks reached (15)")
    webhook = Webhook(
        id=fake.state.ids.next(),
        channel_id=channel.id,
        guild_id=guild.id,
        name=name,
        token=secrets.token_urlsafe(51),
        creator=fake.bot_user,
        application_id=fake.application_id,
    )
    fake.state.webhooks[webhook.id] = webhook
    fake.audit(guild, 50, webhook.id, audit_reason(request))
    fake.gateway.dispatch("WEBHOOKS_UPDATE", {"guild_id": str(guild.id), "channel_id": str(channel.id)})
    return json_response(webhook.to_payload())


async def channel_webhooks(fake: FakeDiscord, request: web.Request) -> web.Response:
    channel = fake.state.channel(int(request.match_info["channel_id"]))
    require(fake, fake.state.guild(channel.guild_id or 0), channel, Perm.MANAGE_WEBHOOKS)
    return json_response([w.to_payload() for w in fake.state.webhooks.values() if w.channel_id == channel.id])


async def guild_webhooks(fake: FakeDiscord, request: web.Request) -> web.Response:
    guild = fake.state.guild(int(request.match_info["guild_id"]))
    require(fake, guild, None, Perm.MANAGE_WEBHOOKS)
    return json_response([w.to_payload() for w in fake.state.webhooks.values() if w.guild_id == guild.id])


def _webhook(fake: FakeDiscord, request: web.Request, *, with_token: bool) -> Webhook:
    token = request.match_info.get("webhook_token") if with_token else None
    return fake.state.webhook(int(request.match_info["webhook_id"]), token)


async def get_webhook(fake: FakeDiscord, request: web.Request) -> web.Response:
    return json_response(
        _webhook(fake, request, with_token="webhook_token" in request.match_info).to_payload()
    )


async def delete_webhook(fake: FakeDiscord, request: web.Request) -> web.Response:
    with_token = "webhook_token" in request.match_info
    webhook = _webhook(fake, request, with_token=with_token)
    guild = fake.state.guild(webhook.guild_id)
    if not with_token:
        require(fake, guild, None, Perm.MANAGE_WEBHOOKS)
    del fake.state.webhooks[webhook.id]
    fake.audit(guild, 52, webhook.id, audit_reason(request))
    fake.gateway.dispatch(
        "WEBHOOKS_UPDATE", {"guild_id": str(guild.id), "channel_id": str(webhook.channel_id)}
    )
    return no_content()


def _is_interaction(fake: FakeDiscord, request: web.Request) -> bool:
    return request.match_info["webhook_id"] == str(fake.application_id)


def _target_channel(fake: FakeDiscord, webhook: Webhook, thread_id: int | None) -> Channel:
    channel = fake.state.channel(webhook.channel_id)
    if thread_id is None:
        return channel
    thread = fake.state.channels.get(thread_id)
    if thread is None or not thread.is_thread or thread.parent_id != channel.id:
        raise unknown("Channel", 10003)
    return thread


async def execute(fake: FakeDiscord, request: web.Request) -> web.Response:
    if _is_interaction(fake, request):
        return await interactions.create_followup(fake, request)
    webhook = _webhook(fake, request, with_token=True)
    body = await read_body(request)
    thread_id = query_int(request, "thread_id")
    thread_name = body.payload.get("thread_name")
    channel = _target_channel(fake, webhook, thread_id)
    if channel.type == FORUM:
        if not thread_name:
            raise ApiError(
                400, 220001, "Webhooks posted to forum channels must have a thread_name or thread_id"
            )
    elif thread_name:
        raise ApiError(400, 220003, "Webhooks can only create threads in forum channels")
    username = body.payload.get("username")
    if username is not None:
        check_webhook_name("username", username)
    if body.payload.get("avatar_url") is not None:
        check_url("avatar_url", body.payload["avatar_url"], ("http", "https"))
    author = User(id=webhook.id, username=username or webhook.name, bot=True)
    guild = fake.state.guild(webhook.guild_id)
    if channel.type == FORUM:
        thread = Channel(
            id=fake.state.ids.next(),
            type=PUBLIC_THREAD,
            guild_id=guild.id,
            name=thread_name,
            parent_id=channel.id,
            owner_id=webhook.id,
        )
        message = Message(id=thread.id, channel_id=thread.id, guild_id=guild.id, author=author)
    else:
        thread = None
        if channel.is_thread and channel.archived:
            check_can_post(fake, channel, Body({}, {}))
        message = Message(id=fake.state.ids.next(), channel_id=channel.id, guild_id=guild.id, author=author)
    message.webhook_id = webhook.id
    message.application_id = webhook.application_id
    message.avatar_url = body.payload.get("avatar_url")
    apply_body(message, body, state=fake.state, guild=guild, url_for=fake.attachment_url, creating=True)
    if message.ephemeral:
        raise invalid_form("flags", "Webhook messages cannot be ephemeral")
    if thread is not None:
        fake.add_channel(thread, event=None)
        payload = thread.to_payload()
        payload["newly_created"] = True
        fake.gateway.dispatch("THREAD_CREATE", payload)
    fake.publish(message)
    if query_flag(request, "wait"):
        return json_response(message.to_payload())
    return no_content()


def _webhook_message(fake: FakeDiscord, request: web.Request, webhook: Webhook) -> Message:
    channel = _target_channel(fake, webhook, query_int(request, "thread_id"))
    message = fake.state.message(channel.id, int(request.match_info["message_id"]))
    if message.webhook_id != webhook.id:
        raise unknown("Message", 10008)
    return message


async def get_message(fake: FakeDiscord, request: web.Request) -> web.Response:
    if _is_interaction(fake, request):
        return await interactions.get_message(fake, request)
    webhook = _webhook(fake, request, with_token=True)
    return json_response(_webhook_message(fake, request, webhook).to_payload())


async def edit_message(fake: FakeDiscord, request: web.Request) -> web.Response:
    if _is_interaction(fake, request):
        return await interactions.edit_message(fake, request)
    webhook = _webhook(fake, request, with_token=True)
    message = _webhook_message(fake, request, webhook)
    body = await read_body(request)
    apply_body(
        message,
        body,
        state=fake.state,
        guild=fake.state.guild(webhook.guild_id),
        url_for=fake.attachment_url,
        creating=False,
    )
    message.edited_at = time.time()
    fake.state.notify()
    fake.gateway.dispatch_message("MESSAGE_UPDATE", message)
    return json_response(message.to_payload())


async def delete_message(fake: FakeDiscord, request: web.Request) -> web.Response:
    if _is_interaction(fake, request):
        return await interactions.delete_message(fake, request)
    webhook = _webhook(fake, request, with_token=True)
    fake.delete(_webhook_message(fake, request, webhook))
    return no_content()


_HOOK = "/webhooks/{webhook_id}/{webhook_token}"
_MAJOR = ("webhook_id", "webhook_token")

ROUTES = [
    RouteSpec(
        "POST",
        "/channels/{channel_id}/webhooks",
        create_webhook,
        family="webhooks_manage",
        major=("channel_id",),
    ),
    RouteSpec("GET", "/channels/{channel_id}/webhooks", channel_webhooks),
    RouteSpec("GET", "/guilds/{guild_id}/webhooks", guild_webhooks),
    RouteSpec("GET", "/webhooks/{webhook_id}", get_webhook),
    RouteSpec("DELETE", "/webhooks/{webhook_id}", delete_webhook),
    RouteSpec("GET", _HOOK, get_webhook, auth=False),
    RouteSpec("DELETE", _HOOK, delete_webhook, auth=False),
    RouteSpec("POST", _HOOK, execute, family="webhook_execute", major=_MAJOR, auth=False),
    RouteSpec("GET", _HOOK + "/messages/{message_id}", get_message, auth=False),
    RouteSpec(
        "PATCH",
        _HOOK + "/messages/{message_id}",
        edit_message,
        family="webhook_edit",
        major=_MAJOR,
        auth=False,
    ),
    RouteSpec(
        "DELETE",
        _HOOK + "/messages/{message_id}",
        delete_message,
        family="webhook_edit",
        major=_MAJOR,
        auth=False,
    ),
]
