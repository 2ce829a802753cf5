"""Discord's documented limits that are not about message length: URLs, names, colours, timestamps,
components, modals, commands, autocomplete answers, ``allowed_mentions``, audit-log reasons and uploads.

Each check raises the :class:`ApiError` the real API answers with, so a bot that sends what Discord would
refuse fails its tests here instead of in production (see ``shared/notes/discord-limits.md``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from .errors import ApiError, invalid_form

UPLOAD_LIMIT = 10 * 1024 * 1024  # bytes over all files of one request, on a server without boosts
AUDIT_REASON_LIMIT = 512
COMMAND_CHARACTERS = 4000  # name, description, options and choices of one command together
MAX_COLOUR = 0xFFFFFF
COMPONENTS_V2 = 1 << 15

ACTION_ROW, BUTTON, TEXT_INPUT, LABEL = 1, 2, 4, 18
SELECTS = (3, 5, 6, 7, 8)
LINK_STYLE, PREMIUM_STYLE = 5, 6

# Webhook names: not "everyone"/"here"/"system message", and never containing these (any case).
_FORBIDDEN_WEBHOOK_SUBSTRINGS = ("discord", "clyde", "```")
_FORBIDDEN_WEBHOOK_NAMES = ("everyone", "here", "system message")
_ALLOWED_PARSE = {"roles", "users", "everyone"}
_INVISIBLE_OR_SPACE = re.compile(r"[\s\x00-\x1f\x7f]")


def too_long(field: str, limit: int) -> ApiError:
    return invalid_form(field, f"Must be {limit} or fewer in length.", "BASE_TYPE_MAX_LENGTH")


def bad_length(field: str, low: int, high: int) -> ApiError:
    return invalid_form(field, f"Must be between {low} and {high} in length.", "BASE_TYPE_BAD_LENGTH")


def check_length(field: str, value: Any, low: int, high: int) -> None:
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise bad_length(field, low, high)


# -- URLs ------------------------------------------------------------------------------------------


def check_url(field: str, value: Any, schemes: Iterable[str]) -> None:
    """A well-formed absolute URL of an allowed scheme: Discord answers "Not a well formed URL." otherwise."""
    text = str(value)
    scheme = text.split(":", 1)[0].lower() if ":" in text else ""
    if scheme not in schemes:
        raise invalid_form(
            field,
            f'Scheme "{scheme}" is not supported. Scheme must be one of {tuple(schemes)}.',
            "URL_TYPE_INVALID_SCHEME",
        )
    try:
        parts = urlsplit(text)
        port_ok = parts.port != 0
    except ValueError:
        port_ok = False
    well_formed = (
        port_ok
        and not _INVISIBLE_OR_SPACE.search(text)
        and (bool(parts.hostname) if scheme in ("http", "https") else bool(text.split("://", 1)[-1]))
    )
    if not well_formed:
        raise invalid_form(field, "Not a well formed URL.", "URL_TYPE_INVALID_URL")


# -- names -----------------------------------------------------------------------------------------


def check_webhook_name(field: str, name: Any) -> None:
    """Webhook names (create) and execute-time usernames: 1-80 and none of Discord's reserved words."""
    check_length(field, name, 1, 80)
    folded = " ".join(name.split()).casefold()
    for word in _FORBIDDEN_WEBHOOK_SUBSTRINGS:
        if word in folded:
            raise invalid_form(field, f'Username cannot contain "{word}"', "USERNAME_INVALID_CONTAINS")
    if folded in _FORBIDDEN_WEBHOOK_NAMES:
        raise invalid_form(field, f'Username cannot be "{folded}"', "USERNAME_INVALID")


# -- embeds ----------------------------------------------------------------------------------------


def check_colour(field: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COLOUR:
        raise invalid_form(
            field, f"int value should be less than or equal to {MAX_COLOUR}.", "NUMBER_TYPE_MAX"
        )


def check_timestamp(field: str, value: Any) -> None:
    if value is None:
        return
    try:
        datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise invalid_form(field, "Could not parse timestamp.", "DATE_TIME_TYPE_PARSE") from None


# -- components ------------------------------------------------------------------------------------


def check_components(components: list[dict[str, Any]], flags: int) -> None:
    """Message components: at most 5 action rows of at most 5 buttons (or one select); labels, ids, URLs."""
    if flags & COMPONENTS_V2:
        return  # the layout components have their own rules, which this bot does not use
    if len(components) > 5:
        raise too_long("components", 5)
    for index, row in enumerate(components):
        where = f"components.{index}"
        if row.get("type") != ACTION_ROW:
            raise invalid_form(
                f"{where}.type", "Top-level components must be action rows", "COMPONENT_LAYOUT_WIDTH_EXCEEDED"
            )
        children = row.get("components") or []
        if not children:
            raise bad_length(f"{where}.components", 1, 5)
        buttons = [c for c in children if c.get("type") == BUTTON]
        if len(buttons) > 5 or len(children) > 5:
            raise invalid_form(f"{where}.components", "Must be 5 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
        if len(children) > 1 and any(c.get("type") in SELECTS for c in children):
            raise invalid_form(
                f"{where}.components",
                "A select menu takes a whole action row",
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
            )
        for ci, child in enumerate(children):
            check_component(f"{where}.components.{ci}", child)


def check_component(where: str, component: dict[str, Any]) -> None:
    kind = component.get("type")
    custom_id = component.get("custom_id")
    if custom_id is not None:
        check_length(f"{where}.custom_id", custom_id, 1, 100)
    if kind == BUTTON:
        style = component.get("style")
        label = component.get("label")
        if label is not None and len(label) > 80:
            raise too_long(f"{where}.label", 80)
        if style == LINK_STYLE:
            check_url(f"{where}.url", component.get("url") or "", ("http", "https", "discord"))
            if custom_id is not None:
                raise invalid_form(f"{where}.custom_id", "Link buttons cannot have a custom_id")
        elif style != PREMIUM_STYLE:
            if custom_id is None:
                raise invalid_form(f"{where}.custom_id", "This field is required", "BASE_TYPE_REQUIRED")
            if not label and not component.get("emoji"):
                raise invalid_form(
                    f"{where}.label", "A button needs a label or an emoji", "BASE_TYPE_REQUIRED"
                )
    elif kind in SELECTS:
        placeholder = component.get("placeholder")
        if placeholder is not None and len(placeholder) > 150:
            raise too_long(f"{where}.placeholder", 150)
        options = component.get("options") or []
        if len(options) > 25:
            raise too_long(f"{where}.options", 25)
        for oi, option in enumerate(options):
            check_length(f"{where}.options.{oi}.label", option.get("label"), 1, 100)
            check_length(f"{where}.options.{oi}.value", option.get("value"), 1, 100)
    elif kind == TEXT_INPUT:
        check_text_input(where, component)


def check_text_input(where: str, component: dict[str, Any], *, label: str | None = None) -> None:
    """A modal's text input: label 1-45, placeholder <= 100, lengths 0-4000, value within max_length."""
    label = component.get("label") if label is None else label
    if label is not None:
        check_length(f"{where}.label", label, 1, 45)
    if component.get("custom_id") is None:
        raise invalid_form(f"{where}.custom_id", "This field is required", "BASE_TYPE_REQUIRED")
    check_length(f"{where}.custom_id", component["custom_id"], 1, 100)
    placeholder = component.get("placeholder")
    if placeholder is not None and len(placeholder) > 100:
        raise too_long(f"{where}.placeholder", 100)
    low, high = component.get("min_length"), component.get("max_length")
    if low is not None and not 0 <= int(low) <= 4000:
        raise invalid_form(
            f"{where}.min_length", "int value should be between 0 and 4000.", "NUMBER_TYPE_MAX"
        )
    if high is not None and not 1 <= int(high) <= 4000:
        raise invalid_form(
            f"{where}.max_length", "int value should be between 1 and 4000.", "NUMBER_TYPE_MAX"
        )
    value = component.get("value")
    if value is not None and len(value) > (int(high) if high is not None else 4000):
        raise too_long(f"{where}.value", int(high) if high is not None else 4000)


def check_modal_inputs(components: list[dict[str, Any]]) -> None:
    """A modal's rows: an action row holds exactly one text input; a label (type 18) wraps one component and
    names it. Other top-level components (text displays) carry no input to check."""
    for index, row in enumerate(components):
        where = f"data.components.{index}"
        if row.get("type") == LABEL:
            check_length(f"{where}.label", row.get("label"), 1, 45)
            inner = row.get("component") or {}
            if inner.get("type") == TEXT_INPUT:
                check_text_input(f"{where}.component", inner, label=row.get("label"))
            else:
                check_component(f"{where}.component", inner)
        elif row.get("type") == ACTION_ROW:
            children = row.get("components") or []
            if len(children) != 1 or children[0].get("type") != TEXT_INPUT:
                raise invalid_form(
                    where,
                    "A modal action row holds exactly one text input",
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                )
            check_text_input(f"{where}.components.0", children[0])


# -- commands and autocomplete ---------------------------------------------------------------------


def check_choices(where: str, choices: list[dict[str, Any]]) -> None:
    """Command option choices and autocomplete answers: at most 25, name 1-100, string value at most 100."""
    if len(choices) > 25:
        raise too_long(where, 25)
    for index, choice in enumerate(choices):
        check_length(f"{where}.{index}.name", choice.get("name"), 1, 100)
        value = choice.get("value")
        if isinstance(value, str) and len(value) > 100:
            raise too_long(f"{where}.{index}.value", 100)


def command_characters(command: dict[str, Any]) -> int:
    """What Discord counts against a command's 4,000: its name and description, and every option's and
    choice's, however deeply nested."""
    total = len(command.get("name") or "") + len(command.get("description") or "")
    for option in command.get("options") or []:
        total += command_characters(option)
        for choice in option.get("choices") or []:
            total += len(str(choice.get("name") or "")) + len(str(choice.get("value") or ""))
    return total


def check_command_size(where: str, command: dict[str, Any]) -> None:
    if command_characters(command) > COMMAND_CHARACTERS:
        raise invalid_form(
            where, f"Command exceeds maximum size ({COMMAND_CHARACTERS})", "APPLICATION_COMMAND_TOO_LARGE"
        )


# -- allowed_mentions, audit-log reasons, uploads ---------------------------------------------------


def check_allowed_mentions(value: Any) -> None:
    """`parse` ⊆ {roles, users, everyone}; `users`/`roles` lists of at most 100 ids; a type may not be both
    parsed and listed."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise invalid_form("allowed_mentions", "Must be an object", "DICT_TYPE_CONVERT")
    parse = value.get("parse") or []
    if not isinstance(parse, list) or any(p not in _ALLOWED_PARSE for p in parse):
        raise invalid_form(
            "allowed_mentions.parse", f"Value must be one of {sorted(_ALLOWED_PARSE)}.", "BASE_TYPE_CHOICES"
        )
    for key in ("users", "roles"):
        listed = value.get(key)
        if listed is None:
            continue
        if not isinstance(listed, list) or not all(str(i).isdigit() for i in listed):
            raise invalid_form(f"allowed_mentions.{key}", "Value is not snowflake.", "NUMBER_TYPE_COERCE")
        if len(listed) > 100:
            raise too_long(f"allowed_mentions.{key}", 100)
        if listed and key in parse:
            raise invalid_form(
                "allowed_mentions",
                f'parse:["{key}"] and {key}: [ids...] are mutually exclusive.',
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
            )
    replied = value.get("replied_user")
    if replied is not None and not isinstance(replied, bool):
        raise invalid_form("allowed_mentions.replied_user", "Must be a boolean", "BOOLEAN_TYPE_COERCE")


def check_audit_reason(reason: str | None) -> None:
    if reason is not None and len(reason) > AUDIT_REASON_LIMIT:
        raise too_long("reason", AUDIT_REASON_LIMIT)


def check_upload_size(total: int) -> None:
    if total > UPLOAD_LIMIT:
        raise ApiError(413, 40005, "Request entity too large")
