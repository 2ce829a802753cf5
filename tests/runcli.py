"""The real `commentwarden` command line in a process of its own, its Discord endpoints pointed at a fake
Discord that the test serves: `python -m tests.runcli API_BASE GATEWAY_URL [commentwarden args…]`.

Only the two URLs discord.py hard-codes are changed; settings, logging, start-up and exit code are the
product's own (`bot.cli.main`).
"""

from __future__ import annotations

import sys

import discord.gateway
import discord.http
import yarl

from bot.cli import main


def run() -> int:
    api, gateway, *argv = sys.argv[1:]
    discord.http.Route.BASE = api
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
    return main(argv)


if __name__ == "__main__":
    raise SystemExit(run())
