"""Fault injection for the reliability tests: scripted 5xx/429 answers and slow responses.

Rules match ``METHOD`` and an fnmatch pattern on the path below ``/api/v10`` (``*`` crosses slashes),
e.g. ``fake.faults.fail_next("POST", "/webhooks/*", status=502, times=2)``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from aiohttp import web

from .httputil import json_response


@dataclass
class _Rule:
    method: str
    pattern: str
    remaining: int | None  # None = forever
    status: int | None = None
    delay: float = 0.0
    retry_after: float = 0.1

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and fnmatch.fnmatchcase(path, self.pattern)


@dataclass
class FaultInjector:
    rules: list[_Rule] = field(default_factory=list)
    injected: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status) served

    def fail_next(
        self, method: str, pattern: str, *, status: int = 500, times: int = 1, retry_after: float = 0.1
    ) -> None:
        """The next ``times`` matching requests answer ``status`` (429 answers carry ``retry_after``)."""
        self.rules.append(_Rule(method.upper(), pattern, times, status=status, retry_after=retry_after))

    def delay(self, method: str, pattern: str, seconds: float, *, times: int | None = None) -> None:
        """Matching requests wait ``seconds`` before being handled (all of them unless ``times``)."""
        self.rules.append(_Rule(method.upper(), pattern, times, delay=seconds))

    def clear(self) -> None:
        self.rules.clear()

    def take(self, method: str, path: str) -> tuple[float, web.Response | None]:
        """Delay to apply and the injected failure, if any rule matches this request."""
        delay = 0.0
        response = None
        for rule in list(self.rules):
            if not rule.matches(method, path):
                continue
            if rule.status is not None and response is not None:
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self.rules.remove(rule)
            if rule.status is None:
                delay += rule.delay
                continue
            self.injected.append((method, path, rule.status))
            response = _failure(rule)
        return delay, response


def _failure(rule: _Rule) -> web.Response:
    if rule.status == 429:
        return json_response(
            {"message": "You are being rate limited.", "retry_after": rule.retry_after, "global": False},
            status=429,
            headers={"Retry-After": "1", "Via": "1.1 google", "X-RateLimit-Scope": "shared"},
        )
    return json_response(
        {"message": f"{rule.status}: injected failure", "code": 0}, status=rule.status or 500
    )
