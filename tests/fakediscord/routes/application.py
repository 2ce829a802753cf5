"""Login, application info, gateway discovery, DMs and application-command sync."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .. import errors
from ..errors import ApiError, invalid_form
from ..httputil import json_response, read_body
from ..limits import check_choices, check_command_size
from ..models import DM, Channel
from .common import RouteSpec

if TYPE_CHECKING:
    from ..server import FakeDiscord

_CHAT_NAME = re.compile(r"^[-_'\w]{1,32}$")
_SUBCOMMAND, _GROUP = 1, 2


async def get_me(fake: FakeDiscord, request: web.Request) -> web.Response:
    payload = fake.bot_user.to_payload()
    payload.update(verified=True, mfa_enabled=False, flags=0, locale="en-US")
    return json_response(payload)


async def get_application(fake: FakeDiscord, request: web.Request) -> web.Response:
    return json_response(
        {
            "id": str(fake.application_id),
            "name": fake.bot_user.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": fake.app_owner.to_payload(),
            "team": None,
            "verify_key": "0" * 64,
            "flags": fake.application_flags,
            "bot": fake.bot_user.to_payload(),
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
        }
    )


async def get_gateway(fake: FakeDiscord, request: web.Request) -> web.Response:
    return json_response({"url": fake.gateway_url})


async def get_gateway_bot(fake: FakeDiscord, request: web.Request) -> web.Response:
    return json_response(
        {
            "url": fake.gateway_url,
            "shards": fake.gateway.shard_count,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 0,
                "max_concurrency": fake.gateway.max_concurrency,
            },
        }
    )


async def get_user(fake: FakeDiscord, request: web.Request) -> web.Response:
    return json_response(fake.state.user(int(request.match_info["user_id"])).to_payload())


async def create_dm(fake: FakeDiscord, request: web.Request) -> web.Response:
    body = await read_body(request)
    user = fake.state.user(int(body.payload.get("recipient_id", 0)))
    channel = fake.state.dm_channel(user.id)
    if channel is None:
        channel = Channel(id=fake.state.ids.next(), type=DM, guild_id=None, name="", recipients=[user])
        fake.state.channels[channel.id] = channel
    return json_response(channel.to_payload())


def _check_app(fake: FakeDiscord, request: web.Request) -> None:
    if request.match_info["application_id"] != str(fake.application_id):
        raise ApiError(403, 20012, "You are not authorized to perform this action on this application")


def _guild_key(fake: FakeDiscord, request: web.Request) -> int | None:
    guild_id = request.match_info.get("guild_id")
    if guild_id is None:
        return None
    return fake.state.guild(int(guild_id)).id


async def get_commands(fake: FakeDiscord, request: web.Request) -> web.Response:
    _check_app(fake, request)
    return json_response(fake.state.commands.get(_guild_key(fake, request), []))


async def put_commands(fake: FakeDiscord, request: web.Request) -> web.Response:
    _check_app(fake, request)
    key = _guild_key(fake, request)
    body = await read_body(request)
    commands = body.payload.get("__list__")
    if not isinstance(commands, list):
        raise invalid_form("_root", "Expected an array of commands")
    if len(commands) > 100:
        raise invalid_form("_root", "Must be 100 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
    existing = {(c["name"], c["type"]): c for c in fake.state.commands.get(key, [])}
    seen: set[tuple[str, int]] = set()
    stored: list[dict[str, Any]] = []
    for index, command in enumerate(commands):
        kind = int(command.get("type", 1))
        _validate_command(f"{index}", command, kind)
        ident = (command["name"], kind)
        if ident in seen:
            raise invalid_form(
                f"{index}.name",
                "Application command names must be unique",
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
            )
        seen.add(ident)
        previous = existing.get(ident)
        stored.append(
            {
                "id": previous["id"] if previous else str(fake.state.ids.next()),
                "application_id": str(fake.application_id),
                "version": str(fake.state.ids.next()),
                "type": kind,
                "name": command["name"],
                "name_localizations": command.get("name_localizations"),
                "description": command.get("description", ""),
                "description_localizations": command.get("description_localizations"),
                "options": command.get("options") or [],
                "default_member_permissions": command.get("default_member_permissions"),
                "dm_permission": command.get("dm_permission", True),
                "contexts": command.get("contexts"),
                "integration_types": command.get("integration_types") or [0],
                "nsfw": bool(command.get("nsfw", False)),
                **({"guild_id": str(key)} if key is not None else {}),
            }
        )
    fake.state.commands[key] = stored
    fake.state.command_syncs += 1
    fake.state.notify()
    return json_response(stored)


def _validate_command(path: str, command: dict[str, Any], kind: int) -> None:
    name = command.get("name") or ""
    if kind == 1:
        if not _CHAT_NAME.match(name) or name != name.lower():
            raise invalid_form(f"{path}.name", "Command name is invalid", "APPLICATION_COMMAND_INVALID_NAME")
        description = command.get("description") or ""
        if not 1 <= len(description) <= 100:
            raise invalid_form(
                f"{path}.description", "Must be between 1 and 100 in length.", "BASE_TYPE_BAD_LENGTH"
            )
        _validate_options(f"{path}.options", command.get("options") or [], depth=0)
        check_command_size(path, command)
    else:
        if not 1 <= len(name) <= 32:
            raise invalid_form(f"{path}.name", "Must be between 1 and 32 in length.", "BASE_TYPE_BAD_LENGTH")
        if command.get("description"):
            raise invalid_form(f"{path}.description", "Context menu commands cannot have a description")


def _validate_options(path: str, options: list[dict[str, Any]], depth: int) -> None:
    if len(options) > 25:
        raise invalid_form(path, "Must be 25 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
    names: set[str] = set()
    optional_seen = False
    for index, option in enumerate(options):
        where = f"{path}.{index}"
        name = option.get("name") or ""
        if not _CHAT_NAME.match(name) or name != name.lower():
            raise invalid_form(f"{where}.name", "Command name is invalid", "APPLICATION_COMMAND_INVALID_NAME")
        if name in names:
            raise invalid_form(
                f"{where}.name",
                "Option names must be unique",
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
            )
        names.add(name)
        if not 1 <= len(option.get("description") or "") <= 100:
            raise invalid_form(
                f"{where}.description", "Must be between 1 and 100 in length.", "BASE_TYPE_BAD_LENGTH"
            )
        kind = int(option.get("type", 0))
        if kind in (_SUBCOMMAND, _GROUP):
            if kind == _GROUP and depth > 0 or depth > 1:
                raise invalid_form(f"{where}.type", "Subcommands nested too deeply")
            _validate_options(f"{where}.options", option.get("options") or [], depth + 1)
            continue
        if option.get("required"):
            if optional_seen:
                raise invalid_form(
                    where,
                    "Required options must be placed before non-required options",
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                )
        else:
            optional_seen = True
        check_choices(f"{where}.choices", option.get("choices") or [])


async def get_command(fake: FakeDiscord, request: web.Request) -> web.Response:
    _check_app(fake, request)
    for command in fake.state.commands.get(_guild_key(fake, request), []):
        if command["id"] == request.match_info["command_id"]:
            return json_response(command)
    raise errors.unknown("application command", errors.UNKNOWN_COMMAND)


ROUTES = [
    RouteSpec("GET", "/users/@me", get_me),
    RouteSpec("POST", "/users/@me/channels", create_dm),
    RouteSpec("GET", "/users/{user_id}", get_user),
    RouteSpec("GET", "/oauth2/applications/@me", get_application),
    RouteSpec("GET", "/gateway", get_gateway, auth=False),
    RouteSpec("GET", "/gateway/bot", get_gateway_bot),
    RouteSpec("GET", "/applications/{application_id}/commands", get_commands),
    RouteSpec("PUT", "/applications/{application_id}/commands", put_commands, family="commands"),
    RouteSpec("GET", "/applications/{application_id}/commands/{command_id}", get_command),
    RouteSpec("GET", "/applications/{application_id}/guilds/{guild_id}/commands", get_commands),
    RouteSpec(
        "PUT",
        "/applications/{application_id}/guilds/{guild_id}/commands",
        put_commands,
        family="commands",
        major=("guild_id",),
    ),
    RouteSpec("GET", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}", get_command),
]
