"""The `commentwarden` command line: scan a thread, run the bot, look after the database.

Every failure a user can cause or fix (bad setting, missing checkpoint, malformed thread, unreachable
site, locked database) ends as one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from dataclasses import replace
from importlib import resources
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings
from bot.export import write_cases
from bot.logging_setup import configure_logging
from bot.model import open_scorer
from bot.net.http import FetchError
from bot.net.urlsafety import UnsafeUrlError
from bot.report import ProgressBar, render_table, to_json
from bot.scan import scan_thread
from bot.scoring import ScoringError
from bot.sources import SourceError, open_source
from bot.store import Store, StoreError
from bot.terminal import terminal_line

log = logging.getLogger("commentwarden")

USER_ERRORS = (ConfigError, StoreError, ScoringError, SourceError, FetchError, UnsafeUrlError)


def sample_thread() -> Path:
    """The embedded default thread, so `commentwarden scan` shows the product with no input at all."""
    return Path(str(resources.files("bot") / "data" / "sample-thread.json"))


async def cmd_scan(args: argparse.Namespace, settings: Settings) -> int:
    spec = args.source or str(sample_thread())
    # Read the thread before loading the model: a bad file or URL fails in a second, not after a model load.
    async with await open_source(spec, settings=settings) as source:
        thread = await source.fetch()
    store = await Store.open(settings.database_path)
    try:
        scorer = await open_scorer(settings)
        try:
            report = await scan_thread(
                thread,
                source.kind,
                source.url,
                settings=settings,
                store=store,
                scorer=scorer,
                progress=None if args.json else ProgressBar(),
            )
        finally:
            await scorer.close()
    finally:
        await store.close()
    print(to_json(report) if args.json else render_table(report))
    return 0


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.discord_token:
        raise ConfigError(
            "DISCORD_TOKEN is not set: put the bot token in .env or the environment (see .env.example)"
        )
    from bot.connect import run_client  # imported here so `scan` never pays for discord.py
    from bot.factory import create_bot

    bot = create_bot(settings)
    async with bot:
        await run_client(bot, settings.discord_token)
    return 0


async def cmd_db_migrate(args: argparse.Namespace, settings: Settings) -> int:
    store = await Store.open(settings.database_path)
    version = await store.schema_version()
    await store.close()
    print(f"{settings.database_path}: schema version {version}")
    return 0


async def cmd_db_export(args: argparse.Namespace, settings: Settings) -> int:
    store = await Store.open(settings.database_path)
    try:
        # A one-shot CLI command owns its event loop: a blocking local file write stalls nothing else.
        try:
            out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout  # noqa: ASYNC230
        except OSError as exc:
            raise ConfigError(f"--output {args.output}: cannot write there: {exc.strerror or exc}") from None
        try:
            count = await write_cases(store.cases.iterate(args.guild), out, args.format)
        finally:
            if out is not sys.stdout:
                out.close()
        print(f"exported {count} cases to {args.output or 'stdout'}", file=sys.stderr)
    finally:
        await store.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="commentwarden", description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", help="settings file; it must exist (default: .env if present)")
    parser.add_argument("--db", type=Path, help="database path (overrides DATABASE_PATH)")
    sub = parser.add_subparsers(dest="command", required=True)

    scan = sub.add_parser("scan", help="score every comment of a thread and log the flags")
    scan.add_argument(
        "source",
        nargs="?",
        help="thread file, WordPress post URL or comment feed URL (default: the built-in sample thread)",
    )
    scan.add_argument("--json", action="store_true", help="machine-readable output")
    scan.set_defaults(handler=cmd_scan)

    run = sub.add_parser("run", help="start the Discord bot (needs DISCORD_TOKEN)")
    run.set_defaults(handler=cmd_run)

    db = sub.add_parser("db", help="database maintenance")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    migrate = dbsub.add_parser("migrate", help="create or upgrade the database schema")
    migrate.set_defaults(handler=cmd_db_migrate)
    export = dbsub.add_parser("export", help="export a guild's case log")
    export.add_argument("--guild", type=int, default=0, help="guild id (0: cases from CLI scans)")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    export.set_defaults(handler=cmd_db_export)
    return parser


def say(message: str) -> None:
    """One line on stderr; the message may carry a stranger's text (a file name, a feed's reason)."""
    print(f"commentwarden: {terminal_line(message)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Exit codes: 0 done, 2 something to fix (the line says what), 130 interrupted, 141 output closed."""
    args = build_parser().parse_args(argv)
    try:
        if args.env_file is None:
            settings = load_settings(".env")
        else:
            settings = load_settings(args.env_file, env_file_required=True)
        for warning in settings.warnings:
            say(f"warning: {warning}")
        if args.db is not None:
            settings = replace(settings, database_path=args.db)
        configure_logging(settings.log_level if args.command == "run" else "WARNING", settings.secrets())
        code = asyncio.run(args.handler(args, settings))
        sys.stdout.flush()  # here, not at interpreter exit, so a closed pipe is caught below
        return code
    except USER_ERRORS as exc:
        say(str(exc))
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `commentwarden scan | head`: the reader left. Point stdout at /dev/null so the interpreter's
        # final flush does not raise again, and exit like a process killed by SIGPIPE.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
