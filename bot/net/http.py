"""The one HTTP client every source uses, so every fetch gets the same defences.

Sources poll sites the bot's operators do not control: a site may be slow on purpose, send an endless
body, redirect into the LAN, rate-limit us or simply be down. `HttpClient` turns all of that into a
bounded, polite behaviour and a single exception type, `FetchError`, whose message is short enough to
show a moderator ("HTTP 500 after 3 tries").
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from bot.errors import WardenError
from bot.net.urlsafety import GuardedResolver, UnsafeUrlError, origin_of, validate_url

log = logging.getLogger(__name__)

USER_AGENT = "commentwarden/0.1 (+comment moderation bot)"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK_BYTES = 64 * 1024


class FetchError(WardenError):
    """A request failed for good; `reason` is one short human line (no credentials, no bodies)."""

    def __init__(
        self,
        reason: str,
        *,
        url: str | None = None,
        status: int | None = None,
        body: bytes = b"",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.url = url
        self.status = status
        self.body = body  # first bytes of an error response, for callers that parse API errors
        self.retry_after = retry_after  # seconds the server asked us to wait, when it did


@dataclass(frozen=True)
class Response:
    """A completed response whose body is already read (and within the size cap)."""

    url: str  # the final URL, after redirects
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    links: tuple[Mapping[str, str], ...] = field(default=())  # parsed `Link` headers: url, rel, type…

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()

    @property
    def validators(self) -> dict[str, str]:
        """What to send back next time for a conditional GET."""
        found = {"etag": self.headers.get("ETag"), "last_modified": self.headers.get("Last-Modified")}
        return {k: v for k, v in found.items() if v}

    def text(self) -> str:
        charset = "utf-8"
        for param in self.headers.get("Content-Type", "").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                charset = value.strip().strip('"')
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:  # a charset Python does not know
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:  # also a number over Python's 4,300-digit conversion limit
            raise FetchError(f"invalid JSON from {self.url}", url=self.url, status=self.status) from None
        except RecursionError:  # the C decoder stops at the recursion limit instead of exhausting the stack
            raise FetchError(
                f"JSON from {self.url} is nested too deeply", url=self.url, status=self.status
            ) from None


def _retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` is either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class _Transient(Exception):
    """A failure worth retrying (timeout, connection trouble); carries the human reason."""


class HttpClient:
    """aiohttp wrapper: safe URLs, bounded time and size, retries, manual redirects, conditional GET.

    `timeout` bounds connecting and each wait for data (so a stalled server fails fast); `deadline`
    bounds one whole attempt (so a server trickling a byte at a time fails too). Retries cover
    timeouts, connection errors, 5xx and 429; they also apply to POST, which is fine for the
    idempotent WordPress status changes we send. Basic auth is only ever sent to the origin of the
    URL it was given for, even across redirects.
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        timeout: float = 10.0,
        deadline: float | None = None,
        max_bytes: int = 10 * 1024 * 1024,
        attempts: int = 3,
        max_redirects: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_retry_after: float = 120.0,
        user_agent: str = USER_AGENT,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.allow_private = allow_private
        self.timeout = timeout
        self.deadline = deadline if deadline is not None else timeout * 6
        self.max_bytes = max_bytes
        self.attempts = attempts
        self.max_redirects = max_redirects
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.user_agent = user_agent
        self._sleep = sleep  # injectable so tests can see the delays without waiting them out
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(allow_private=self.allow_private), limit_per_host=4
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=self.deadline,
                    connect=self.timeout,
                    sock_connect=self.timeout,
                    sock_read=self.timeout,
                ),
                headers={"User-Agent": self.user_agent},
                cookie_jar=aiohttp.DummyCookieJar(),  # stateless: no site can track or steer us
                trust_env=False,  # never route through a proxy picked up from the environment
            )
        return self._session

    async def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        validators: Mapping[str, str | None] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Response:
        """GET `url`; with `validators` a 304 comes back as a `Response` with `not_modified`."""
        return await self.request(
            "GET", url, params=params, headers=headers, validators=validators, auth=auth
        )

    async def post(
        self,
        url: str,
        *,
        data: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Response:
        return await self.request("POST", url, data=data, json_body=json_body, headers=headers, auth=auth)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        json_body: Any = None,
        validators: Mapping[str, str | None] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Response:
        """Send with retries; return a 2xx (or 304) `Response`, else raise `FetchError`."""
        send_headers = CIMultiDict(headers or {})
        if validators:
            if validators.get("etag"):
                send_headers["If-None-Match"] = str(validators["etag"])
            if validators.get("last_modified"):
                send_headers["If-Modified-Since"] = str(validators["last_modified"])
        if params:
            url = str(URL(url).update_query(dict(params)))
        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            try:
                response = await self._follow(method, url, send_headers, data, json_body, auth)
            except _Transient as exc:
                if last:
                    raise FetchError(f"{exc} after {self.attempts} tries", url=url) from None
                log.info("%s %s: %s; retrying", method, url, exc)
                await self._sleep(self._backoff_delay(attempt))
                continue
            status = response.status
            if status == 429 or status >= 500:
                asked = _retry_after_seconds(response.headers.get("Retry-After"))
                if asked is not None and asked > self.max_retry_after:
                    raise FetchError(
                        f"HTTP {status}: server asked to wait {asked:.0f} s (more than {self.max_retry_after:.0f} s)",
                        url=url,
                        status=status,
                        body=response.body[:2048],
                        retry_after=asked,
                    )
                if last:
                    raise FetchError(
                        f"HTTP {status} after {self.attempts} tries",
                        url=url,
                        status=status,
                        body=response.body[:2048],
                        retry_after=asked,
                    )
                delay = asked if asked is not None else self._backoff_delay(attempt)
                log.info("%s %s: HTTP %d; retrying in %.1f s", method, url, status, delay)
                await self._sleep(delay)
                continue
            if status == 304 and validators:
                return response
            if not 200 <= status < 300:
                raise FetchError(
                    f"HTTP {status} from {response.url}",
                    url=response.url,
                    status=status,
                    body=response.body[:2048],
                )
            return response
        raise AssertionError("unreachable: the last attempt always returns or raises")

    def _backoff_delay(self, attempt: int) -> float:
        """Exponential backoff with jitter, so many sources failing together do not retry in step."""
        ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    async def _follow(
        self,
        method: str,
        url: str,
        headers: CIMultiDict[str],
        data: Mapping[str, str] | None,
        json_body: Any,
        auth: tuple[str, str] | None,
    ) -> Response:
        """One attempt: follow redirects by hand, re-checking every hop's URL."""
        auth_origin = origin_of(url)
        seen: set[str] = set()
        current = url
        for hop in range(self.max_redirects + 1):
            try:
                await validate_url(current, allow_private=self.allow_private)
            except UnsafeUrlError as exc:
                prefix = f"redirect to {current} refused: " if hop else ""
                raise FetchError(f"{prefix}{exc}", url=current) from None
            seen.add(current)
            hop_headers = headers.copy()
            if auth is not None and origin_of(current) == auth_origin:
                hop_headers["Authorization"] = aiohttp.encode_basic_auth(auth[0], auth[1])
            response = await self._send(method, current, hop_headers, data, json_body)
            if isinstance(response, Response):
                return response
            status, location = response
            target = urljoin(current, location)
            if target in seen:
                raise FetchError(f"redirect loop at {target}", url=url, status=status)
            log.debug("%s %s: HTTP %d redirect to %s", method, current, status, target)
            if status == 303 or (status in (301, 302) and method != "GET"):
                method, data, json_body = "GET", None, None
            current = target
        raise FetchError(f"too many redirects (more than {self.max_redirects}) from {url}", url=url)

    async def _send(
        self,
        method: str,
        url: str,
        headers: CIMultiDict[str],
        data: Mapping[str, str] | None,
        json_body: Any,
    ) -> Response | tuple[int, str]:
        """Send once; a redirect comes back as (status, location) without reading its body."""
        session = self._get_session()
        try:
            async with session.request(
                method, url, headers=headers, data=data, json=json_body, allow_redirects=False
            ) as resp:
                location = resp.headers.get("Location")
                if resp.status in REDIRECT_STATUSES and location:
                    return resp.status, location
                body = await self._read_capped(resp)
                links = tuple({str(k): str(v) for k, v in link.items()} for link in resp.links.values())
                log.debug("%s %s: HTTP %d, %d bytes", method, url, resp.status, len(body))
                return Response(
                    url=str(resp.url), status=resp.status, headers=resp.headers, body=body, links=links
                )
        except aiohttp.ConnectionTimeoutError:
            raise _Transient(f"connecting to {url} timed out") from None
        except aiohttp.SocketTimeoutError:
            raise _Transient(f"{url} sent no data for {self.timeout:g} s") from None
        except TimeoutError:
            raise _Transient(f"{url} took longer than {self.deadline:g} s") from None
        except aiohttp.ClientError as exc:
            raise _Transient(f"connection to {url} failed: {exc}") from None

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> bytes:
        declared = resp.content_length
        if declared is not None and declared > self.max_bytes:
            resp.close()
            raise FetchError(
                f"response from {resp.url} is {declared} bytes, over the {self.max_bytes} byte limit "
                "(MAX_RESPONSE_BYTES)",
                url=str(resp.url),
                status=resp.status,
            )
        chunks: list[bytes] = []
        total = 0
        async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
            total += len(chunk)
            if total > self.max_bytes:
                resp.close()  # drop the connection instead of draining an endless body
                raise FetchError(
                    f"response from {resp.url} exceeded the {self.max_bytes} byte limit (MAX_RESPONSE_BYTES); aborted",
                    url=str(resp.url),
                    status=resp.status,
                )
            chunks.append(chunk)
        return b"".join(chunks)
