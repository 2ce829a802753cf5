"""Sync application commands to Discord only when they changed since the last sync.

Every sync counts against Discord's daily command-create budget, and discord.py's maintainers advise against
syncing on every start. The payload that `CommandTree.sync()` would send is hashed and compared with the hash
stored after the last successful sync. This is the one place that decides; a sharded deployment calls it
from one process only.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Literal

from discord import app_commands

from bot.store import CommandSyncStore

log = logging.getLogger(__name__)

SyncOutcome = Literal["synced", "unchanged"]


def payload_hash(payload: list[dict[str, Any]]) -> str:
    """Stable across runs: keys sorted, no whitespace."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def global_payload(tree: app_commands.CommandTree[Any]) -> list[dict[str, Any]]:
    """The body `tree.sync()` sends for the global commands (slash commands and context menus)."""
    return [command.to_dict(tree) for command in tree.get_commands()]


async def sync_if_changed(
    tree: app_commands.CommandTree[Any], store: CommandSyncStore, application_id: int, *, force: bool = False
) -> SyncOutcome:
    """Sync the global commands when their payload differs from the last synced one, or when forced
    (`commentwarden sync-commands`); record the hash only after Discord accepted them."""
    scope = f"{application_id}:global"
    digest = payload_hash(global_payload(tree))
    previous = await store.synced_hash(scope)
    if previous == digest and not force:
        log.info("application commands unchanged since the last sync (%s): not synced", digest[:12])
        return "unchanged"
    reason = "forced by sync-commands" if force else "first sync" if previous is None else "commands changed"
    synced = await tree.sync()
    await store.record(scope, digest)
    log.info("synced %d application commands (%s; %s)", len(synced), reason, digest[:12])
    return "synced"
