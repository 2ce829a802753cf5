"""Request parsing and response building with Discord's exact wire conventions.

discord.py only decodes a body as JSON when ``Content-Type`` is exactly ``application/json`` (aiohttp's
``json_response`` appends ``; charset=utf-8``), so every JSON answer goes through :func:`json_response`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from .errors import ApiError, invalid_form
from .limits import UPLOAD_LIMIT, check_upload_size

_FILE_FIELD = re.compile(r"^files\[(\d+)\]$")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    all_headers = {"Content-Type": "application/json"}
    all_headers.update(headers or {})
    return web.Response(body=json.dumps(data).encode(), status=status, headers=all_headers)


def no_content(headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=204, headers=headers or {})


@dataclass(frozen=True)
class UploadedFile:
    index: int
    filename: str
    data: bytes
    content_type: str | None


@dataclass(frozen=True)
class Body:
    payload: dict[str, Any]
    files: dict[int, UploadedFile]


async def read_body(request: web.Request) -> Body:
    """JSON or multipart (``payload_json`` + ``files[n]``), the two ways discord.py sends a body."""
    content_type = request.content_type
    try:
        if content_type == "multipart/form-data":
            return await _read_multipart(request)
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:  # past the app's client_max_size, which is above Discord's cap
        check_upload_size(UPLOAD_LIMIT + 1)
        raise
    if not raw:
        return Body({}, {})
    if content_type != "application/json":
        raise ApiError(400, 50109, "The request body contains invalid JSON.")
    try:
        payload = json.loads(raw)
    except ValueError:
        raise ApiError(400, 50109, "The request body contains invalid JSON.") from None
    if not isinstance(payload, dict):
        return Body({"__list__": payload}, {})
    return Body(payload, {})


async def _read_multipart(request: web.Request) -> Body:
    reader = await request.multipart()
    payload: dict[str, Any] = {}
    files: dict[int, UploadedFile] = {}
    async for part in reader:
        name = part.name or ""
        data = await part.read(decode=False)
        if name == "payload_json":
            payload = json.loads(data)
            continue
        match = _FILE_FIELD.match(name)
        if match is None:
            raise invalid_form(name, "Unexpected multipart field")
        index = int(match.group(1))
        files[index] = UploadedFile(
            index, part.filename or f"file{index}", bytes(data), part.headers.get("Content-Type")
        )
        check_upload_size(sum(len(f.data) for f in files.values()))
    return Body(payload, files)


def query_flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true")


def query_int(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise invalid_form(name, "Value is not snowflake.", "NUMBER_TYPE_COERCE") from None


def audit_reason(request: web.Request) -> str | None:
    """The URL-encoded ``X-Audit-Log-Reason`` header, decoded (its length is checked for every request by the
    server, before any handler changes state)."""
    reason = request.headers.get("X-Audit-Log-Reason")
    return unquote(reason) if reason else None
