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
from dataclasses import fields, replace
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from bot.config import ConfigError, Settings, load_settings
from bot.export import write_cases
from bot.health import heartbeat_path, problem
from bot.logging_setup import configure_logging
from bot.model import open_scorer
from bot.net.http import FetchError
from bot.net.urlsafety import UnsafeUrlError
from bot.report import ProgressBar, loading_line, render_table, to_json
from bot.scan import scan_thread
from bot.scoring import ScoringError
from bot.sources import SourceError, open_source
from bot.store import Store, StoreError
from bot.store.engines import is_postgres_url, missing_driver, redact
from bot.terminal import terminal_line

log = logging.getLogger("commentwarden")

USER_ERRORS = (ConfigError, StoreError, ScoringError, SourceError, FetchError, UnsafeUrlError)


def version() -> str:
    try:
        return metadata.version("commentwarden")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def resolve_paths(settings: Settings) -> Settings:
    """Make every path setting absolute once, at start-up, and log them: what a relative DATABASE_PATH means
    must not depend on where a later step happens to run, and the operator sees which files are used."""
    resolved: dict[str, Any] = {
        f.name: value.absolute()
        for f in fields(settings)
        if isinstance(value := getattr(settings, f.name), Path)
    }
    settings = replace(settings, **resolved)
    log.info("paths: %s", ", ".join(f"{name}={path}" for name, path in resolved.items()))
    return settings


def sample_thread() -> Path:
    """The embedded default thread, so `commentwarden scan` shows the product with no input at all."""
    return Path(str(resources.files("bot") / "data" / "sample-thread.json"))


async def cmd_scan(args: argparse.Namespace, settings: Settings) -> int:
    spec = args.source or str(sample_thread())
    # Read the thread before loading the model: a bad file or URL fails in a second, not after a model load.
    async with await open_source(spec, settings=settings) as source:
        thread = await source.fetch()
    store = await Store.open(settings.database_target)
    try:
        loading_line()
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
    if args.json:
        print(to_json(report, flagged_only=args.flagged_only))
    else:
        print(render_table(report, flagged_only=args.flagged_only))
    return 0


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.factory import create_bot, serve  # imported here so `scan` never pays for discord.py

    await serve(create_bot(settings), settings.discord_token or "")
    return 0


async def cmd_sync_commands(args: argparse.Namespace, settings: Settings) -> int:
    """Log in, sync the application commands even if unchanged, and stop (no gateway connection)."""
    from bot.connect import login_with_retries
    from bot.factory import create_bot

    async with create_bot(settings, force_command_sync=True) as bot:
        await login_with_retries(bot, settings.discord_token or "")  # runs setup_hook, which syncs
    print("application commands synced", file=sys.stderr)
    return 0


async def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when the running bot's heartbeat is fresh (for HEALTHCHECK and monitoring), 1 otherwise."""
    issue = problem(heartbeat_path(settings.database_path))
    if issue is not None:
        print(f"commentwarden: unhealthy: {issue}", file=sys.stderr)
        return 1
    print("healthy")
    return 0


async def cmd_db_migrate(args: argparse.Namespace, settings: Settings) -> int:
    store = await Store.open(settings.database_target)
    version = await store.schema_version()
    await store.close()
    print(f"{store.location}: schema version {version}")
    return 0


async def cmd_db_backup(args: argparse.Namespace, settings: Settings) -> int:
    """An online copy: safe while the bot runs. The database is copied as it is, without migrating it."""
    store = await Store.open(settings.database_target, create=False, migrate=False)
    try:
        await store.backup(args.path)
        version = await store.schema_version()
    finally:
        await store.close()
    print(
        f"backed up {settings.database_path} (schema version {version}) to {args.path.absolute()}",
        file=sys.stderr,
    )
    return 0


async def cmd_db_export(args: argparse.Namespace, settings: Settings) -> int:
    store = await Store.open(settings.database_target, create=False)
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


async def cmd_serve_scoring(args: argparse.Namespace, settings: Settings) -> int:
    import signal

    from bot.model import resolve_model
    from bot.scoring.service import ServiceOptions, start_service, stop_service  # needs the `serve` extra

    options = ServiceOptions(host=args.host, port=args.port, replicas=args.replicas, address=args.address)
    settings = await resolve_model(settings)
    await asyncio.to_thread(start_service, settings, options)
    try:
        # Installed after Ray's start-up, which replaces SIGTERM's handler with one that aborts.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(
            f"scoring service ready at http://{options.host}:{options.port} ({options.replicas} "
            "replica(s)); point SCORER_URL at it",
            flush=True,
        )
        await stop.wait()
    finally:
        await asyncio.to_thread(stop_service)
    return 0


async def cmd_db_copy(args: argparse.Namespace, settings: Settings) -> int:
    if not is_postgres_url(args.to):
        raise ConfigError("--to is not valid: expected postgresql://user:password@host/dbname")
    try:
        from bot.store.copy import copy_sqlite_to_postgres  # psycopg is the optional `postgres` extra
    except ImportError:
        raise StoreError(missing_driver()) from None

    report = await copy_sqlite_to_postgres(
        settings.database_path,
        args.to,
        progress=lambda table, n: print(f"  {table}: {n:,} rows", file=sys.stderr),
    )
    print(
        f"copied {settings.database_path} to {redact(args.to)}: {report.rows['cases']:,} cases in "
        f"{report.guilds} guilds, {sum(report.rows.values()):,} rows; counts and case numbers match"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="commentwarden", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"commentwarden {version()}")
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
    scan.add_argument("--flagged-only", action="store_true", help="list only the flagged comments")
    scan.set_defaults(handler=cmd_scan)

    run = sub.add_parser("run", help="start the Discord bot (needs DISCORD_TOKEN)")
    run.set_defaults(handler=cmd_run, needs_token=True)

    sync = sub.add_parser("sync-commands", help="sync the slash commands to Discord now, even if unchanged")
    sync.set_defaults(handler=cmd_sync_commands, needs_token=True)

    health = sub.add_parser("health", help="exit 0 if the running bot is connected (its heartbeat is fresh)")
    health.set_defaults(handler=cmd_health)

    service = sub.add_parser(
        "serve-scoring", help="serve the model to every process that sets SCORER_URL (Ray Serve)"
    )
    service.add_argument("--address", help="join this Ray cluster (default: start Ray here, on loopback)")
    service.add_argument("--host", default="127.0.0.1", help="HTTP address to listen on (default: 127.0.0.1)")
    service.add_argument("--port", type=int, default=8000, help="HTTP port (default: 8000)")
    service.add_argument("--replicas", type=int, default=1, help="model replicas (default: 1)")
    service.set_defaults(handler=cmd_serve_scoring)

    db = sub.add_parser("db", help="database maintenance")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    migrate = dbsub.add_parser("migrate", help="create or upgrade the database schema")
    migrate.set_defaults(handler=cmd_db_migrate)
    export = dbsub.add_parser("export", help="export a guild's case log")
    export.add_argument("--guild", type=int, default=0, help="guild id (0: cases from CLI scans)")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    export.set_defaults(handler=cmd_db_export)
    backup = dbsub.add_parser("backup", help="copy the database consistently, also while the bot runs")
    backup.add_argument("path", type=Path, help="file to write (replaced if it exists)")
    backup.set_defaults(handler=cmd_db_backup)
    copy = dbsub.add_parser("copy", help="copy the whole SQLite history into an empty PostgreSQL database")
    copy.add_argument("--to", required=True, metavar="postgresql://…", help="the PostgreSQL database to fill")
    copy.set_defaults(handler=cmd_db_copy)
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
            settings = replace(settings, database_path=args.db, database_url=None)  # an explicit file wins
        if getattr(args, "needs_token", False) and not settings.discord_token:
            raise ConfigError(
                "DISCORD_TOKEN is not set: put the bot token in .env or the environment (see .env.example)"
            )
        # LOG_LEVEL applies to every command; unset, the bot logs its running and one-shot commands stay quiet.
        configure_logging(
            settings.log_level or ("INFO" if args.command in {"run", "serve-scoring"} else "WARNING"),
            settings.secrets(),
        )
        settings = resolve_paths(settings)
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
