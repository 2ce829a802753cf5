"""Log the bot in and keep it connected, turning what the operator must fix into one line.

discord.py raises a wrong token and missing privileged intents as exceptions with long tracebacks, and
gives up on the first login when the network is down. Here a wrong token and refused intents each end
the run with one line saying what to change in the Developer Portal; an unreachable Discord is retried
with jittered backoff, one log line per attempt, for as long as the process runs.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import discord

from bot.backoff import backoff_delay
from bot.config import ConfigError

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 2.0
MAX_RETRY_SECONDS = 300.0
# What "Discord cannot be reached right now" looks like; anything else is not retried.
UNREACHABLE = (
    OSError,
    aiohttp.ClientError,
    asyncio.TimeoutError,
    discord.GatewayNotFound,
    discord.DiscordServerError,
)

TOKEN_REFUSED = (
    "Discord refused DISCORD_TOKEN (401 Unauthorized): copy the bot token again from the Developer Portal "
    "(your application > Bot > Reset Token) into .env or the environment"
)
INTENTS_REFUSED = (
    "Discord refused the privileged intents (gateway close 4014): enable Server Members Intent and "
    "Message Content Intent in the Developer Portal (your application > Bot > Privileged Gateway Intents)"
)


class OneLineReconnects(logging.Filter):
    """discord.py logs each gateway reconnect with a full traceback; keep it to one line naming the cause."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.getMessage().startswith("Attempting a reconnect"):
            error = record.exc_info[1]
            record.msg = f"{record.getMessage()}: {type(error).__name__}: {error}".rstrip(": ")
            record.args, record.exc_info, record.exc_text = None, None, None
        return True


async def login_with_retries(client: discord.Client, token: str) -> None:
    """`client.login`, retried while Discord is unreachable (until the client is closed); a refused token
    is a ConfigError.

    Only the network part is retried: once `setup_hook` has begun (it opens the database), a failure is
    not a reachability problem and is raised as it is.
    """
    attempt = 0
    while True:
        try:
            await client.login(token)
            return
        except discord.LoginFailure:
            raise ConfigError(TOKEN_REFUSED) from None
        except UNREACHABLE as exc:
            if getattr(client, "store", None) is not None:  # setup_hook ran: not a login failure
                raise
            attempt += 1
            delay = (
                backoff_delay(FIRST_RETRY_SECONDS, attempt - 1, MAX_RETRY_SECONDS)
                if attempt > 1
                else FIRST_RETRY_SECONDS
            )
            log.warning(
                "cannot reach Discord (%s); retrying in %.0f s (attempt %d)", _reason(exc), delay, attempt
            )
            # The next login opens a fresh session; closing this one closed its connector too.
            await client.http.close()
            client.http.connector = discord.utils.MISSING
            if await _closed_within(client, delay):
                return


async def _closed_within(client: discord.Client, seconds: float) -> bool:
    """Sleep up to `seconds`, waking early (True) when the client is closed: a shutdown never waits
    out a five-minute retry delay."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        if client.is_closed():
            return True
        await asyncio.sleep(min(left, 0.5))
    return client.is_closed()


async def run_client(client: discord.Client, token: str) -> None:
    """Log in (retrying while Discord is unreachable) and stay connected until the client closes."""
    quiet = OneLineReconnects()
    discord_log = logging.getLogger("discord.client")
    discord_log.addFilter(quiet)
    try:
        await login_with_retries(client, token)
        if not client.is_closed():
            await client.connect(reconnect=True)
    except discord.PrivilegedIntentsRequired:
        raise ConfigError(INTENTS_REFUSED) from None
    finally:
        discord_log.removeFilter(quiet)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
