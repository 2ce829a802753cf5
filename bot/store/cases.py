"""The append-only moderation log and the review cards that point into it.

On SQLite case numbers are allocated inside the INSERT itself, under the one-writer lock BEGIN IMMEDIATE
holds. PostgreSQL has many writers at once, so there every case insert first locks its guild's row in
`case_counters` (`INSERT … ON CONFLICT DO UPDATE … RETURNING`): numbers stay dense and unique across
processes, and what is read after the lock (a dedup key, a member's warning points) is what the next
writer will see too. A `dedup_key` makes a retried write (after a crash or a Discord error) return the case
already written instead of logging it twice.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import aiosqlite

from bot.store.database import Record, StoreError
from bot.store.engines import Engine
from bot.timestamps import utcnow_iso

AUTO = "auto"


@dataclass(frozen=True)
class NewCase:
    """What a caller knows when it logs something; the store adds the number and the time."""

    guild_id: int
    action: str
    target_kind: str
    target_id: str
    target_name: str | None = None
    moderator_id: int | None = None
    moderator_name: str = AUTO
    reason: str | None = None
    scores: dict[str, float] | None = None
    label: str | None = None
    score: float | None = None
    evidence: str | None = None
    link: str | None = None
    channel_id: int | None = None
    message_id: int | None = None
    ref_case: int | None = None
    points: int | None = None
    duration_seconds: int | None = None
    expires_at: str | None = None
    shadow: bool = False
    dedup_key: str | None = None
    created_at: str | None = None


@dataclass(frozen=True)
class Case(NewCase):
    case_number: int = 0
    created_at: str = field(default="")

    @classmethod
    def from_row(cls, row: Record) -> Case:
        data: dict[str, Any] = {f.name: row[f.name] for f in fields(cls)}
        data["scores"] = json.loads(data["scores"]) if data["scores"] else None
        data["shadow"] = bool(data["shadow"])
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_COLUMNS = [f.name for f in fields(NewCase) if f.name != "created_at"]
# Built once from the dataclass fields (fixed identifiers, no user input).
_SELECT = (
    "SELECT guild_id, case_number, "  # noqa: S608
    + ", ".join(c for c in _COLUMNS if c != "guild_id")
    + ", created_at FROM cases"
)


@dataclass(frozen=True)
class ReviewCard:
    """The mutable side of a flag: where its review card was posted, and who decided it, when."""

    guild_id: int
    case_number: int
    channel_id: int | None
    message_id: int | None
    decision: str | None
    decided_by: int | None
    decided_name: str | None
    decided_at: str | None

    @classmethod
    def from_row(cls, row: Record) -> ReviewCard:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class CaseFilter:
    """The /modlog filters; every one is optional."""

    target_id: str | None = None
    moderator_id: int | None = None
    action: str | None = None
    since: str | None = None
    until: str | None = None
    target_name: str | None = None  # a mirrored comment's author, who has no Discord id

    def where(self, guild_id: int) -> tuple[str, list[Any]]:
        clauses: list[str] = ["guild_id = ?"]
        params: list[Any] = [guild_id]
        for column, value in (
            ("target_id", self.target_id),
            ("moderator_id", self.moderator_id),
            ("action", self.action),
            ("target_name", self.target_name),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.since is not None:
            clauses.append("created_at >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append("created_at < ?")
            params.append(self.until)
        return " AND ".join(clauses), params


def _row(case: NewCase, columns: list[str]) -> list[Any]:
    """A case's values in column order, as SQLite stores them (scores as JSON, shadow as 0/1)."""
    values = asdict(case)
    values["scores"] = json.dumps(case.scores, sort_keys=True) if case.scores is not None else None
    values["shadow"] = int(case.shadow)
    return [values[c] for c in columns]


# A warning withdrawn by `/unwarn` has an 'unwarn' case referring to it (served by the cases_ref index).
_NOT_WITHDRAWN = (
    "NOT EXISTS (SELECT 1 FROM cases u WHERE u.guild_id = cases.guild_id AND u.ref_case = cases.case_number "
    "AND u.action = 'unwarn')"
)
_ACTIVE_POINTS = (
    "SELECT COALESCE(SUM(points), 0) FROM cases WHERE guild_id = ? AND target_id = ? AND action = 'warn' "  # noqa: S608
    "AND (expires_at IS NULL OR expires_at > ?) AND " + _NOT_WITHDRAWN
)


def _dialect(conn: aiosqlite.Connection) -> str:
    """The engine behind a transaction's connection: the PostgreSQL adapter names itself, aiosqlite does not."""
    return str(getattr(conn, "dialect", "sqlite"))


async def lock_guild(conn: aiosqlite.Connection, guild_id: int) -> int | None:
    """PostgreSQL: lock the guild's counter row until the transaction ends; the last case number handed out.

    A guild's first counter starts from the cases already there (a copied or seeded history). SQLite needs
    no counter (BEGIN IMMEDIATE already serialises writers) and gets None.
    """
    if _dialect(conn) != "postgresql":
        return None
    async with conn.execute(
        "INSERT INTO case_counters (guild_id, last) "
        "VALUES (?, (SELECT COALESCE(MAX(case_number), 0) FROM cases WHERE guild_id = ?)) "
        "ON CONFLICT (guild_id) DO UPDATE SET last = case_counters.last RETURNING last",
        (guild_id, guild_id),
    ) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _advance(conn: aiosqlite.Connection, guild_id: int, last: int) -> None:
    if _dialect(conn) == "postgresql":
        await conn.execute("UPDATE case_counters SET last = ? WHERE guild_id = ?", (last, guild_id))


async def insert_case(conn: aiosqlite.Connection, case: NewCase) -> Case:
    """Log one case inside an open transaction, numbering it in the INSERT itself (SQLite) or from the
    guild's counter row (PostgreSQL).

    For the store's own compound writes (a warning with its points, a batch of scores with its flags).
    """
    last = await lock_guild(conn, case.guild_id)
    if case.dedup_key is not None:
        async with conn.execute(_SELECT + " WHERE dedup_key = ?", (case.dedup_key,)) as cur:
            existing = await cur.fetchone()
        if existing is not None:
            return Case.from_row(existing)
    stamped = replace(case, created_at=case.created_at or utcnow_iso())
    columns = [*_COLUMNS, "created_at"]
    if last is not None:
        await conn.execute(
            f"INSERT INTO cases (case_number, {', '.join(columns)}) VALUES (?, "  # noqa: S608
            + ", ".join("?" for _ in columns)
            + ")",
            (last + 1, *_row(stamped, columns)),
        )
        await _advance(conn, case.guild_id, last + 1)
        return Case(**asdict(stamped) | {"case_number": last + 1})
    sql = (
        f"INSERT INTO cases (case_number, {', '.join(columns)}) VALUES ("  # noqa: S608
        "(SELECT COALESCE(MAX(case_number), 0) + 1 FROM cases WHERE guild_id = ?), "
        + ", ".join("?" for _ in columns)
        + ") RETURNING case_number"
    )
    async with conn.execute(sql, (case.guild_id, *_row(stamped, columns))) as cur:
        row = await cur.fetchone()
    if row is None:
        raise StoreError(f"the database numbered no case for guild {case.guild_id}: nothing was logged")
    return Case(**asdict(stamped) | {"case_number": row[0]})


class CaseStore:
    def __init__(self, db: Engine) -> None:
        self.db = db

    async def add(self, case: NewCase) -> Case:
        """Log a case (or, for a dedup key already logged, return that case unchanged)."""
        async with self.db.transaction() as tx:
            return await insert_case(tx, case)

    async def add_many(self, cases: Iterable[NewCase]) -> list[Case]:
        """Bulk logging in one transaction and one `executemany`: a scan's flags land together or not at all.

        Numbers are allocated once per guild under the write lock that BEGIN IMMEDIATE holds, so they are
        as safe as the per-row allocation in `add`; cases whose dedup key exists come back unchanged.
        """
        cases = list(cases)
        async with self.db.transaction() as tx:
            # PostgreSQL: lock every guild's counter first, in one order (no deadlock between two batches).
            locked = {g: await lock_guild(tx, g) for g in sorted({c.guild_id for c in cases})}
            existing = await self._existing(tx, [c.dedup_key for c in cases if c.dedup_key is not None])
            next_number: dict[int, int] = {g: last + 1 for g, last in locked.items() if last is not None}
            result: list[Case] = []
            fresh: list[Case] = []
            for case in cases:
                if case.dedup_key is not None and case.dedup_key in existing:
                    result.append(existing[case.dedup_key])
                    continue
                if case.guild_id not in next_number:
                    async with tx.execute(
                        "SELECT COALESCE(MAX(case_number), 0) + 1 FROM cases WHERE guild_id = ?",
                        (case.guild_id,),
                    ) as cur:
                        row = await cur.fetchone()
                    next_number[case.guild_id] = int(row[0]) if row else 1
                stored = Case(
                    **asdict(case)
                    | {
                        "case_number": next_number[case.guild_id],
                        "created_at": case.created_at or utcnow_iso(),
                    }
                )
                next_number[case.guild_id] += 1
                if stored.dedup_key is not None:
                    existing[stored.dedup_key] = stored
                result.append(stored)
                fresh.append(stored)
            columns = ["case_number", *_COLUMNS, "created_at"]
            await tx.executemany(
                f"INSERT INTO cases ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",  # noqa: S608
                [_row(case, columns) for case in fresh],
            )
            for guild_id, number in next_number.items():
                await _advance(tx, guild_id, number - 1)
        return result

    async def _existing(self, conn: aiosqlite.Connection, keys: list[str]) -> dict[str, Case]:
        found: dict[str, Case] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            async with conn.execute(
                _SELECT + f" WHERE dedup_key IN ({', '.join('?' for _ in chunk)})",
                chunk,  # noqa: S608
            ) as cur:
                for row in await cur.fetchall():
                    found[row["dedup_key"]] = Case.from_row(row)
        return found

    async def get(self, guild_id: int, case_number: int) -> Case | None:
        row = await self.db.fetchone(
            _SELECT + " WHERE guild_id = ? AND case_number = ?", (guild_id, case_number)
        )
        return Case.from_row(row) if row else None

    async def amendments(self, guild_id: int, case_number: int) -> list[Case]:
        """The corrections that reference a case, oldest first."""
        rows = await self.db.fetchall(
            _SELECT + " WHERE guild_id = ? AND ref_case = ? ORDER BY case_number", (guild_id, case_number)
        )
        return [Case.from_row(r) for r in rows]

    async def query(self, guild_id: int, flt: CaseFilter, *, limit: int = 10, offset: int = 0) -> list[Case]:
        """Newest first; every filter combination is served by one of the (guild, x, created_at) indexes."""
        where, params = flt.where(guild_id)
        rows = await self.db.fetchall(
            f"{_SELECT} WHERE {where} ORDER BY created_at DESC, case_number DESC LIMIT ? OFFSET ?",  # noqa: S608
            (*params, limit, offset),
        )
        return [Case.from_row(r) for r in rows]

    async def count(self, guild_id: int, flt: CaseFilter) -> int:
        where, params = flt.where(guild_id)
        row = await self.db.fetchone(f"SELECT COUNT(*) FROM cases WHERE {where}", params)  # noqa: S608
        return int(row[0]) if row else 0

    async def iterate(
        self, guild_id: int, flt: CaseFilter | None = None, batch: int = 1000
    ) -> AsyncIterator[Case]:
        """Oldest first, in pages, for exports that may cover the whole log."""
        where, params = (flt or CaseFilter()).where(guild_id)
        last = 0
        while True:
            rows = await self.db.fetchall(
                f"{_SELECT} WHERE {where} AND case_number > ? ORDER BY case_number LIMIT ?",  # noqa: S608
                (*params, last, batch),
            )
            if not rows:
                return
            for row in rows:
                yield Case.from_row(row)
            last = rows[-1]["case_number"]

    async def active_points(self, guild_id: int, member_id: str, now: str | None = None) -> int:
        """Warning points that have not expired yet."""
        row = await self.db.fetchone(_ACTIVE_POINTS, (guild_id, member_id, now or utcnow_iso()))
        return int(row[0]) if row else 0

    async def add_warning(self, case: NewCase) -> tuple[Case, int]:
        """Log a warning and return the member's active points just before it.

        Both happen under one write lock, so two moderators warning the same member at the same moment
        see each other's points and the limit is crossed by exactly one of the warnings.
        """
        async with self.db.transaction() as tx:
            await lock_guild(tx, case.guild_id)  # PostgreSQL: the next warning waits for this one
            async with tx.execute(_ACTIVE_POINTS, (case.guild_id, case.target_id, utcnow_iso())) as cur:
                row = await cur.fetchone()
            return await insert_case(tx, case), int(row[0]) if row else 0

    # Review cards: the only mutable moderation state, kept apart from the append-only log.

    async def set_card(
        self, guild_id: int, case_number: int, channel_id: int | None, message_id: int | None
    ) -> None:
        await self.db.execute(
            "INSERT INTO review_cards (guild_id, case_number, channel_id, message_id) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (guild_id, case_number) DO UPDATE SET channel_id = excluded.channel_id, "
            "message_id = excluded.message_id",
            (guild_id, case_number, channel_id, message_id),
        )

    async def card(self, guild_id: int, case_number: int) -> ReviewCard | None:
        row = await self.db.fetchone(
            "SELECT * FROM review_cards WHERE guild_id = ? AND case_number = ?", (guild_id, case_number)
        )
        return ReviewCard.from_row(row) if row else None

    async def uncarded_flags(self, guild_id: int, since: str, *, limit: int = 100) -> list[Case]:
        """Flags logged since `since` whose review card was never recorded: the bot died between the two."""
        rows = await self.db.fetchall(
            f"{_SELECT} WHERE guild_id = ? AND action = 'flag' AND created_at >= ? AND NOT EXISTS ("  # noqa: S608
            "SELECT 1 FROM review_cards r WHERE r.guild_id = cases.guild_id AND r.case_number = cases.case_number) "
            "ORDER BY case_number LIMIT ?",
            (guild_id, since, limit),
        )
        return [Case.from_row(r) for r in rows]

    async def open_flags_of(self, guild_id: int, target_kind: str, target_id: str) -> list[Case]:
        """A target's flags still waiting for a decision (carded or queued), oldest first."""
        rows = await self.db.fetchall(
            f"{_SELECT} WHERE guild_id = ? AND action = 'flag' AND target_kind = ? AND target_id = ? "  # noqa: S608
            "AND EXISTS (SELECT 1 FROM review_cards r WHERE r.guild_id = cases.guild_id "
            "AND r.case_number = cases.case_number AND r.decision IS NULL) ORDER BY case_number",
            (guild_id, target_kind, target_id),
        )
        return [Case.from_row(r) for r in rows]

    async def queued_flags(self, guild_id: int, *, limit: int = 100) -> list[Case]:
        """Open flags logged while the guild had no review channel: in the queue, but without a card message."""
        rows = await self.db.fetchall(
            f"{_SELECT} WHERE guild_id = ? AND action = 'flag' AND EXISTS ("  # noqa: S608
            "SELECT 1 FROM review_cards r WHERE r.guild_id = cases.guild_id AND r.case_number = cases.case_number "
            "AND r.message_id IS NULL AND r.decision IS NULL) ORDER BY case_number LIMIT ?",
            (guild_id, limit),
        )
        return [Case.from_row(r) for r in rows]

    async def decide(
        self, guild_id: int, case_number: int, decision: str, moderator_id: int, moderator_name: str
    ) -> bool:
        """Claim a card for one decision, atomically; False when someone already decided it (a second click)."""
        sql = (
            "UPDATE review_cards SET decision = ?, decided_by = ?, decided_name = ?, decided_at = ? "
            "WHERE guild_id = ? AND case_number = ? AND decision IS NULL"
        )
        params = (decision, moderator_id, moderator_name, utcnow_iso(), guild_id, case_number)
        async with self.db.transaction() as tx, tx.execute(sql, params) as cur:
            return cur.rowcount == 1

    async def release(self, guild_id: int, case_number: int, decision: str, moderator_id: int) -> None:
        """Undo a claim whose Discord action failed, so another moderator (or a retry) can decide the card."""
        await self.db.execute(
            "UPDATE review_cards SET decision = NULL, decided_by = NULL, decided_name = NULL, decided_at = NULL "
            "WHERE guild_id = ? AND case_number = ? AND decision = ? AND decided_by = ?",
            (guild_id, case_number, decision, moderator_id),
        )

    async def cards(
        self, guild_id: int, status: str = "open", *, limit: int = 10, offset: int = 0
    ) -> list[Case]:
        """Flags with a review card: "open" (undecided), "decided" or "all"; newest first."""
        rows = await self.db.fetchall(
            "SELECT c.guild_id, c.case_number, "  # noqa: S608 (column names are constants)
            + ", ".join(f"c.{col}" for col in _COLUMNS if col != "guild_id")
            + ", c.created_at FROM review_cards r JOIN cases c "
            "ON c.guild_id = r.guild_id AND c.case_number = r.case_number "
            "WHERE r.guild_id = ? AND (? = 'all' OR (r.decision IS NULL) = (? = 'open')) "
            "ORDER BY c.case_number DESC LIMIT ? OFFSET ?",
            (guild_id, status, status, limit, offset),
        )
        return [Case.from_row(r) for r in rows]

    async def count_cards(self, guild_id: int, status: str = "open") -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) FROM review_cards r WHERE r.guild_id = ? "
            "AND (? = 'all' OR (r.decision IS NULL) = (? = 'open'))",
            (guild_id, status, status),
        )
        return int(row[0]) if row else 0

    async def latest(self, guild_id: int, target_id: str, action: str) -> Case | None:
        """The newest case of one kind against a target, so a reversal (unban) can reference it."""
        row = await self.db.fetchone(
            _SELECT
            + " WHERE guild_id = ? AND target_id = ? AND action = ? ORDER BY case_number DESC LIMIT 1",
            (guild_id, target_id, action),
        )
        return Case.from_row(row) if row else None

    async def warnings(
        self, guild_id: int, target_id: str, now: str | None = None, *, include_expired: bool = False
    ) -> list[Case]:
        """A member's warnings, newest first; by default only those still counting toward the limit (not
        expired, not withdrawn)."""
        sql = _SELECT + " WHERE guild_id = ? AND target_id = ? AND action = 'warn'"
        params: list[Any] = [guild_id, target_id]
        if not include_expired:
            sql += " AND (expires_at IS NULL OR expires_at > ?) AND " + _NOT_WITHDRAWN
            params.append(now or utcnow_iso())
        rows = await self.db.fetchall(sql + " ORDER BY case_number DESC", params)
        return [Case.from_row(r) for r in rows]

    async def withdrawn(self, guild_id: int, target_id: str) -> set[int]:
        """Numbers of a member's warnings that `/unwarn` withdrew, to mark them in listings."""
        rows = await self.db.fetchall(
            "SELECT ref_case FROM cases WHERE guild_id = ? AND target_id = ? AND action = 'unwarn'",
            (guild_id, target_id),
        )
        return {int(r["ref_case"]) for r in rows if r["ref_case"] is not None}

    async def decided_flags(
        self, guild_id: int, decisions: Iterable[str]
    ) -> list[tuple[dict[str, float], str]]:
        """(scores, decision) of every flag a moderator decided, the evidence `/tune` replays."""
        wanted = list(decisions)
        marks = ", ".join("?" for _ in wanted)
        sql = (
            "SELECT c.scores, r.decision FROM review_cards r JOIN cases c "  # noqa: S608 (only ? marks)
            "ON c.guild_id = r.guild_id AND c.case_number = r.case_number "
            f"WHERE r.guild_id = ? AND r.decision IN ({marks}) AND c.scores IS NOT NULL"
        )
        rows = await self.db.fetchall(sql, (guild_id, *wanted))
        return [(json.loads(r["scores"]), r["decision"]) for r in rows]

    async def per_day(self, guild_id: int, since: str, actions: Iterable[str]) -> dict[str, int]:
        """Cases of the given kinds per UTC day (YYYY-MM-DD), for /stats."""
        wanted = list(actions)
        marks = ", ".join("?" for _ in wanted)
        sql = (
            "SELECT substr(created_at, 1, 10) AS day, COUNT(*) AS n FROM cases "  # noqa: S608 (only ? marks)
            f"WHERE guild_id = ? AND created_at >= ? AND action IN ({marks}) GROUP BY day"
        )
        rows = await self.db.fetchall(sql, (guild_id, since, *wanted))
        return {r["day"]: int(r["n"]) for r in rows}

    async def flag_labels(self, guild_id: int, since: str) -> dict[str, int]:
        rows = await self.db.fetchall(
            "SELECT label, COUNT(*) AS n FROM cases WHERE guild_id = ? AND action = 'flag' AND created_at >= ? "
            "AND label IS NOT NULL GROUP BY label",
            (guild_id, since),
        )
        return {r["label"]: int(r["n"]) for r in rows}

    async def top_flag_channels(self, guild_id: int, since: str, limit: int = 5) -> list[tuple[int, int]]:
        """(channel id, flags): a mirrored comment's channel is its article thread, so articles rank too."""
        rows = await self.db.fetchall(
            "SELECT channel_id, COUNT(*) AS n FROM cases WHERE guild_id = ? AND action = 'flag' AND created_at >= ? "
            "AND channel_id IS NOT NULL GROUP BY channel_id ORDER BY n DESC, channel_id LIMIT ?",
            (guild_id, since, limit),
        )
        return [(int(r["channel_id"]), int(r["n"])) for r in rows]
