"""What was last synced to Discord's application commands, so a restart with unchanged commands syncs nothing."""

from __future__ import annotations

from bot.store.engines import Engine
from bot.timestamps import utcnow_iso


class CommandSyncStore:
    """One row per sync scope (an application's global commands, or one guild's): the payload's hash."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    async def synced_hash(self, scope: str) -> str | None:
        row = await self.db.fetchone("SELECT payload_hash FROM command_sync WHERE scope = ?", (scope,))
        return str(row["payload_hash"]) if row else None

    async def record(self, scope: str, payload_hash: str) -> None:
        """Called only after Discord accepted the sync: a failed sync must be retried on the next start."""
        await self.db.execute(
            "INSERT INTO command_sync (scope, payload_hash, synced_at) VALUES (?, ?, ?) ON CONFLICT (scope) "
            "DO UPDATE SET payload_hash = excluded.payload_hash, synced_at = excluded.synced_at",
            (scope, payload_hash, utcnow_iso()),
        )
