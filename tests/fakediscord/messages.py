"""Turning a message body (JSON or multipart) into a stored :class:`Message`, with Discord's limits.

Shared by channel messages, webhook executions, interaction responses and forum posts, so every path
a bot can post through enforces the same limits (2000 chars, 10 embeds, 6000 embed chars, URL schemes)
and computes who would really be pinged under the ``allowed_mentions`` the bot sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import ApiError, invalid_form
from .httputil import Body
from .limits import check_allowed_mentions, check_colour, check_components, check_timestamp, check_url
from .models import Attachment, Guild, Message, User
from .state import FakeState

ALLOWED_FLAGS = (
    (1 << 2) | (1 << 6) | (1 << 12) | (1 << 15)
)  # suppress embeds, ephemeral, silent, components v2
_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_URL_KEYS = {
    "url": ("http", "https"),
    "image.url": ("http", "https", "attachment"),
    "thumbnail.url": ("http", "https", "attachment"),
    "author.url": ("http", "https"),
    "author.icon_url": ("http", "https", "attachment"),
    "footer.icon_url": ("http", "https", "attachment"),
}

AttachmentUrl = Callable[[int, int, str], str]


def has_message_body(payload: dict[str, Any], files: dict) -> bool:
    return bool(
        payload.get("content")
        or payload.get("embeds")
        or files
        or payload.get("components")
        or payload.get("sticker_ids")
        or payload.get("poll")
    )


def validate_message_payload(payload: dict[str, Any], files: dict, *, creating: bool) -> None:
    if creating and not has_message_body(payload, files):
        raise ApiError(400, 50006, "Cannot send an empty message")
    content = payload.get("content")
    if content is not None and len(str(content)) > 2000:
        raise invalid_form("content", "Must be 2000 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
    embeds = payload.get("embeds") or []
    if len(embeds) > 10:
        raise invalid_form("embeds", "Must be 10 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
    total = 0
    for index, embed in enumerate(embeds):
        total += _validate_embed(index, embed)
    if total > 6000:
        raise invalid_form("embeds", "Embed size exceeds maximum size of 6000", "MAX_EMBED_SIZE_EXCEEDED")
    if payload.get("flags") is not None and int(payload["flags"]) & ~ALLOWED_FLAGS:
        raise invalid_form("flags", "Invalid flags")
    check_allowed_mentions(payload.get("allowed_mentions"))
    check_components(payload.get("components") or [], int(payload.get("flags") or 0))
    _validate_components(payload.get("components") or [])


def _validate_embed(index: int, embed: dict[str, Any]) -> int:
    prefix = f"embeds.{index}"
    limits = {"title": 256, "description": 4096}
    size = 0
    for key, limit in limits.items():
        value = embed.get(key)
        if value is not None:
            if len(value) > limit:
                raise invalid_form(
                    f"{prefix}.{key}", f"Must be {limit} or fewer in length.", "BASE_TYPE_MAX_LENGTH"
                )
            size += len(value)
    fields = embed.get("fields") or []
    if len(fields) > 25:
        raise invalid_form(f"{prefix}.fields", "Must be 25 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
    for fi, fld in enumerate(fields):
        for key, limit in (("name", 256), ("value", 1024)):
            value = fld.get(key)
            if not value or not value.strip():  # whitespace-only counts as empty (shared notes)
                raise invalid_form(
                    f"{prefix}.fields.{fi}.{key}", "This field is required", "BASE_TYPE_REQUIRED"
                )
            if len(value) > limit:
                raise invalid_form(
                    f"{prefix}.fields.{fi}.{key}",
                    f"Must be {limit} or fewer in length.",
                    "BASE_TYPE_MAX_LENGTH",
                )
            size += len(value)
    for key, limit in (("footer.text", 2048), ("author.name", 256)):
        outer, inner = key.split(".")
        value = (embed.get(outer) or {}).get(inner)
        if value is not None:
            if len(value) > limit:
                raise invalid_form(
                    f"{prefix}.{key}", f"Must be {limit} or fewer in length.", "BASE_TYPE_MAX_LENGTH"
                )
            size += len(value)
    for key, schemes in _URL_KEYS.items():
        parts = key.split(".")
        value: Any = embed
        for part in parts:
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            check_url(f"{prefix}.{key}", value, schemes)
    check_colour(f"{prefix}.color", embed.get("color"))
    check_timestamp(f"{prefix}.timestamp", embed.get("timestamp"))
    return size


def iter_components(components: list[dict[str, Any]]):
    """Every component, however nested (action rows, containers, sections, labels)."""
    for component in components:
        yield component
        yield from iter_components(component.get("components") or [])
        for key in ("accessory", "component"):
            if isinstance(component.get(key), dict):
                yield from iter_components([component[key]])


def _validate_components(components: list[dict[str, Any]]) -> None:
    """custom_ids unique over the whole message, however nested (the per-component rules are in limits)."""
    seen: set[str] = set()
    for component in iter_components(components):
        custom_id = component.get("custom_id")
        if custom_id is None:
            continue
        if len(custom_id) > 100:
            raise invalid_form(
                "components", "custom_id must be 100 or fewer in length.", "BASE_TYPE_MAX_LENGTH"
            )
        if custom_id in seen:
            raise invalid_form(
                "components", "Component custom id cannot be duplicated", "COMPONENT_CUSTOM_ID_DUPLICATED"
            )
        seen.add(custom_id)


def resolve_mentions(message: Message, state: FakeState, guild: Guild | None) -> None:
    """Who Discord would ping for this content under the sent ``allowed_mentions`` (default: parse all)."""
    allowed = message.allowed_mentions
    parse = {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse") or [])
    explicit_users = {int(u) for u in (allowed or {}).get("users") or []}
    explicit_roles = {int(r) for r in (allowed or {}).get("roles") or []}
    content = message.content or ""
    users: list[int] = []
    for raw in _USER_MENTION.findall(content):
        uid = int(raw)
        if ("users" in parse or uid in explicit_users) and uid in state.users and uid not in users:
            users.append(uid)
    roles: list[int] = []
    for raw in _ROLE_MENTION.findall(content):
        rid = int(raw)
        if (
            ("roles" in parse or rid in explicit_roles)
            and guild is not None
            and rid in guild.roles
            and rid not in roles
        ):
            roles.append(rid)
    message.mention_user_ids = users
    message.mentioned_users = [state.users[u] for u in users]
    message.mention_role_ids = roles
    message.mention_everyone = "everyone" in parse and ("@everyone" in content or "@here" in content)


def build_attachments(
    body: Body, existing: list[Attachment], *, ids: Callable[[], int], url_for: Callable[[int, str], str]
) -> list[Attachment]:
    """Discord's rule: ``attachments`` lists what the message keeps (old ids) and what is new (file indexes)."""
    by_id = {a.id: a for a in existing}
    result: list[Attachment] = []
    used: set[int] = set()
    entries = body.payload.get("attachments")
    if entries is None:
        entries = (
            [{"id": index} for index in sorted(body.files)]
            if body.files
            else [{"id": a.id} for a in existing]
        )
    for entry in entries:
        ref = int(entry["id"])
        if ref in by_id:
            result.append(by_id[ref])
            continue
        upload = body.files.get(ref)
        if upload is None:
            raise invalid_form("attachments", f"Unknown attachment reference {ref}", "ATTACHMENT_NOT_FOUND")
        used.add(ref)
        attachment_id = ids()
        filename = entry.get("filename") or upload.filename
        result.append(
            Attachment(
                id=attachment_id,
                filename=filename,
                data=upload.data,
                url=url_for(attachment_id, filename),
                content_type=_guess_type(filename, upload.content_type),
                description=entry.get("description"),
            )
        )
    for index in sorted(body.files):
        if index not in used:
            raise invalid_form(
                f"files[{index}]", "File is not referenced by attachments", "ATTACHMENT_NOT_FOUND"
            )
    return result


def _guess_type(filename: str, sent: str | None) -> str | None:
    lowered = filename.lower()
    for suffix, kind in (
        (".png", "image/png"),
        (".csv", "text/csv; charset=utf-8"),
        (".json", "application/json"),
        (".txt", "text/plain; charset=utf-8"),
        (".jpg", "image/jpeg"),
        (".gif", "image/gif"),
    ):
        if lowered.endswith(suffix):
            return kind
    return sent


def apply_body(
    message: Message,
    body: Body,
    *,
    state: FakeState,
    guild: Guild | None,
    url_for: AttachmentUrl,
    creating: bool,
) -> None:
    """Apply a create/edit body to ``message`` after validating it (edits keep what they do not name)."""
    payload = body.payload
    validate_message_payload(payload, body.files, creating=creating)
    if "content" in payload or creating:
        message.content = payload.get("content") or ""
    if "embeds" in payload or creating:
        message.embeds = list(payload.get("embeds") or [])
    if "components" in payload or creating:
        message.components = list(payload.get("components") or [])
    if "flags" in payload and payload["flags"] is not None:
        keep_loading = message.flags & (1 << 7) if creating else 0
        message.flags = int(payload["flags"]) | keep_loading
    if "allowed_mentions" in payload or creating:
        message.allowed_mentions = payload.get("allowed_mentions")
    if creating or "attachments" in payload or body.files:
        message.attachments = build_attachments(
            body,
            message.attachments,
            ids=state.ids.next,
            url_for=lambda aid, name: url_for(message.channel_id, aid, name),
        )
    resolve_mentions(message, state, guild)
    if not creating and not has_message_body(
        {"content": message.content, "embeds": message.embeds, "components": message.components},
        {a.id: a for a in message.attachments},
    ):
        raise ApiError(400, 50006, "Cannot send an empty message")


def new_message(
    state: FakeState, channel_id: int, guild_id: int | None, author: User, **fields: Any
) -> Message:
    return Message(id=state.ids.next(), channel_id=channel_id, guild_id=guild_id, author=author, **fields)
