"""Per-route rate-limit buckets with Discord's real headers, and the 429s they produce.

Off by default so ordinary tests run at full speed; the performance tests turn it on and read
:attr:`RateLimiter.served_429` to prove the bot paces itself instead of leaning on retries.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field

from aiohttp import web

from .httputil import json_response

# family -> (limit, window seconds); the values Discord documents or is observed to use.
DEFAULT_LIMITS: dict[str, tuple[int, float]] = {
    "webhook_execute": (5, 2.0),  # per webhook (id + token)
    "messages_create": (5, 5.0),  # per channel
    "messages_edit": (5, 5.0),  # per channel
    "messages_delete": (5, 1.0),  # per channel
    "member_edit": (10, 10.0),  # per guild
}
GLOBAL_LIMIT = (50, 1.0)


@dataclass
class _Window:
    limit: int
    per: float
    started: float = 0.0
    count: int = 0

    def hit(self, now: float) -> bool:
        if now >= self.started + self.per:
            self.started = now
            self.count = 0
        self.count += 1
        return self.count <= self.limit

    def reset_after(self, now: float) -> float:
        return max(0.0, self.started + self.per - now)


@dataclass
class RateLimiter:
    enabled: bool = False
    limits: dict[str, tuple[int, float]] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    global_limit: tuple[int, float] = GLOBAL_LIMIT
    served_429: int = 0
    served_429_by_family: dict[str, int] = field(default_factory=dict)
    _windows: dict[tuple[str, str], _Window] = field(default_factory=dict)
    _global: _Window | None = None

    def enable(
        self,
        limits: dict[str, tuple[int, float]] | None = None,
        *,
        global_limit: tuple[int, float] | None = None,
    ) -> None:
        """Turn limits on; ``limits`` overrides or adds families (e.g. ``{"webhook_execute": (2, 0.3)}``)."""
        self.enabled = True
        self.limits.update(limits or {})
        if global_limit is not None:
            self.global_limit = global_limit
        self._windows.clear()
        self._global = None

    def disable(self) -> None:
        self.enabled = False

    def check(
        self, family: str | None, major: str, *, exempt_global: bool
    ) -> tuple[dict[str, str], web.Response | None]:
        """Headers to add to the response, and a 429 response when this request is over a limit."""
        if not self.enabled:
            return {}, None
        now = time.monotonic()
        if not exempt_global:
            if self._global is None:
                self._global = _Window(*self.global_limit)
            if not self._global.hit(now):
                retry = math.ceil(self._global.reset_after(now) * 1000) / 1000
                return {}, self._too_many("global", retry, is_global=True, headers={})
        if family is None or family not in self.limits:
            return {}, None
        key = (family, major)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(*self.limits[family])
        allowed = window.hit(now)
        # Rounded up: a client sleeping exactly Reset-After must land in the next window, not 1 ms early.
        reset_after = math.ceil(window.reset_after(now) * 1000) / 1000
        headers = {
            "X-RateLimit-Limit": str(window.limit),
            "X-RateLimit-Remaining": str(max(0, window.limit - window.count)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": hashlib.sha1(family.encode()).hexdigest()[:16],
        }
        if allowed:
            return headers, None
        return headers, self._too_many(family, reset_after, is_global=False, headers=headers)

    def _too_many(
        self, family: str, retry_after: float, *, is_global: bool, headers: dict[str, str]
    ) -> web.Response:
        self.served_429 += 1
        self.served_429_by_family[family] = self.served_429_by_family.get(family, 0) + 1
        all_headers = dict(headers)
        all_headers.update(
            {
                "Retry-After": str(max(1, math.ceil(retry_after))),
                "X-RateLimit-Scope": "global" if is_global else "user",
                "Via": "1.1 google",  # discord.py treats a 429 without Via as a Cloudflare ban
            }
        )
        if is_global:
            all_headers["X-RateLimit-Global"] = "true"
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
        return json_response(body, status=429, headers=all_headers)
