"""Interaction callbacks (``?with_response=1`` answers ``{interaction, resource}``), follow-ups and the
``@original`` message, with Discord's rules: one acknowledgement (40060), three seconds to give it
(10062), follow-ups only after it, and the first follow-up of a thinking deferral replaces the
"thinking…" message.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..errors import ApiError, invalid_form, unknown
from ..httputil import Body, json_response, no_content, query_flag, read_body
from ..interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    MESSAGE_COMPONENT,
    MODAL,
    MODAL_SUBMIT,
    UPDATE_MESSAGE,
    FakeInteraction,
)
from ..limits import check_choices, check_length, check_modal_inputs
from ..messages import apply_body
from ..models import MESSAGE_FLAG_EPHEMERAL, MESSAGE_FLAG_LOADING, Message
from .common import RouteSpec

if TYPE_CHECKING:
    from ..server import FakeDiscord

_ALLOWED: dict[int, set[int]] = {
    APPLICATION_COMMAND: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL},
    MESSAGE_COMPONENT: {
        CHANNEL_MESSAGE,
        DEFERRED_CHANNEL_MESSAGE,
        DEFERRED_UPDATE_MESSAGE,
        UPDATE_MESSAGE,
        MODAL,
    },
    MODAL_SUBMIT: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE},
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
}


def _by_token(fake: FakeDiscord, token: str) -> FakeInteraction:
    for interaction in fake.interactions.values():
        if interaction.token == token:
            return interaction
    raise unknown("Webhook", 10015)


def _response_message(fake: FakeDiscord, interaction: FakeInteraction, flags: int) -> Message:
    message = fake.bot_message(fake.state.channel(interaction.channel_id))
    message.webhook_id = fake.application_id
    message.application_id = fake.application_id
    message.type = 20 if interaction.command_type == 1 else 23 if interaction.command_type else 0
    message.interaction_metadata = interaction.interaction_metadata()
    message.flags = flags
    return message


async def callback(fake: FakeDiscord, request: web.Request) -> web.Response:
    interaction = fake.interactions.get(int(request.match_info["interaction_id"]))
    if interaction is None or interaction.token != request.match_info["interaction_token"]:
        raise ApiError(404, 10062, "Unknown interaction")
    body = await read_body(request)
    interaction.callbacks.append(body.payload)
    if time.monotonic() - interaction.created > fake.interaction_ack_deadline:
        raise ApiError(404, 10062, "Unknown interaction")
    if interaction.acknowledged:
        raise ApiError(400, 40060, "Interaction has already been acknowledged.")
    kind = int(body.payload.get("type", 0))
    if kind not in _ALLOWED[interaction.type]:
        raise invalid_form(
            "type", f"Callback type {kind} is not valid for interaction type {interaction.type}"
        )
    data = body.payload.get("data") or {}
    resource: dict[str, Any] = {"type": kind}
    if kind in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
        flags = int(data.get("flags") or 0)
        if kind == DEFERRED_CHANNEL_MESSAGE:
            flags = (flags & MESSAGE_FLAG_EPHEMERAL) | MESSAGE_FLAG_LOADING
        message = _response_message(fake, interaction, flags)
        if kind == CHANNEL_MESSAGE:
            apply_body(
                message,
                Body(data, body.files),
                state=fake.state,
                guild=fake.state.guilds.get(interaction.guild_id or 0),
                url_for=fake.attachment_url,
                creating=True,
            )
        interaction.original = message
        fake.publish(message)
        resource["message"] = message.to_payload()
    elif kind == UPDATE_MESSAGE:
        source = _source(interaction)
        apply_body(
            source,
            Body(data, body.files),
            state=fake.state,
            guild=fake.state.guilds.get(interaction.guild_id or 0),
            url_for=fake.attachment_url,
            creating=False,
        )
        source.edited_at = time.time()
        interaction.original = source
        _announce_edit(fake, source)
        resource["message"] = source.to_payload()
    elif kind == DEFERRED_UPDATE_MESSAGE:
        interaction.original = _source(interaction)
    elif kind == MODAL:
        _validate_modal(data)
        interaction.modal = data
    elif kind == AUTOCOMPLETE_RESULT:
        choices = data.get("choices") or []
        check_choices("data.choices", choices)
        interaction.choices = choices
    interaction.response_type = kind
    fake.state.notify()
    if not query_flag(request, "with_response"):
        return no_content()
    original = interaction.original
    summary: dict[str, Any] = {"id": str(interaction.id), "type": interaction.type}
    if original is not None and kind in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
        summary.update(
            response_message_id=str(original.id),
            response_message_loading=original.loading,
            response_message_ephemeral=original.ephemeral,
        )
    return json_response({"interaction": summary, "resource": resource})


def _source(interaction: FakeInteraction) -> Message:
    if interaction.source_message is None:
        raise ApiError(400, 50035, "Interaction has no source message to update")
    return interaction.source_message


def _validate_modal(data: dict[str, Any]) -> None:
    if not data.get("custom_id"):
        raise invalid_form("data.custom_id", "This field is required", "BASE_TYPE_REQUIRED")
    check_length("data.custom_id", data["custom_id"], 1, 100)
    check_length("data.title", data.get("title") or "", 1, 45)
    components = data.get("components") or []
    if not 1 <= len(components) <= 5:
        raise invalid_form("data.components", "Must be between 1 and 5 in length.", "BASE_TYPE_BAD_LENGTH")
    check_modal_inputs(components)


def _announce_edit(fake: FakeDiscord, message: Message) -> None:
    fake.state.notify()
    if not message.ephemeral:
        fake.gateway.dispatch_message("MESSAGE_UPDATE", message)


async def create_followup(fake: FakeDiscord, request: web.Request) -> web.Response:
    interaction = _by_token(fake, request.match_info["webhook_token"])
    if not interaction.acknowledged or interaction.response_type in (MODAL, AUTOCOMPLETE_RESULT):
        raise unknown("Webhook", 10015)
    body = await read_body(request)
    original = interaction.original
    guild = fake.state.guilds.get(interaction.guild_id or 0)
    if original is not None and original.loading and interaction.response_type == DEFERRED_CHANNEL_MESSAGE:
        apply_body(original, body, state=fake.state, guild=guild, url_for=fake.attachment_url, creating=False)
        original.flags &= ~MESSAGE_FLAG_LOADING
        interaction.followups.append(original)
        _announce_edit(fake, original)
        return json_response(original.to_payload())
    message = _response_message(fake, interaction, 0)
    apply_body(message, body, state=fake.state, guild=guild, url_for=fake.attachment_url, creating=True)
    interaction.followups.append(message)
    fake.publish(message)
    return json_response(message.to_payload())


def _interaction_message(fake: FakeDiscord, request: web.Request) -> tuple[FakeInteraction, Message]:
    interaction = _by_token(fake, request.match_info["webhook_token"])
    ref = request.match_info["message_id"]
    candidates = ([interaction.original] if interaction.original else []) + interaction.followups
    if ref == "@original":
        found = interaction.original
    else:
        found = next((m for m in candidates if str(m.id) == ref), None)
    if found is None or found.deleted:
        raise unknown("Message", 10008)
    return interaction, found


async def get_message(fake: FakeDiscord, request: web.Request) -> web.Response:
    return json_response(_interaction_message(fake, request)[1].to_payload())


async def edit_message(fake: FakeDiscord, request: web.Request) -> web.Response:
    interaction, message = _interaction_message(fake, request)
    body = await read_body(request)
    apply_body(
        message,
        body,
        state=fake.state,
        guild=fake.state.guilds.get(interaction.guild_id or 0),
        url_for=fake.attachment_url,
        creating=False,
    )
    message.flags &= ~MESSAGE_FLAG_LOADING
    message.edited_at = time.time()
    _announce_edit(fake, message)
    return json_response(message.to_payload())


async def delete_message(fake: FakeDiscord, request: web.Request) -> web.Response:
    _, message = _interaction_message(fake, request)
    fake.delete(message)
    return no_content()


ROUTES = [
    RouteSpec(
        "POST",
        "/interactions/{interaction_id}/{interaction_token}/callback",
        callback,
        auth=False,
        exempt_global=True,
    ),
]
