"""Forward-only schema migrations, applied in order and recorded in `PRAGMA user_version`.

A shipped migration is never edited: a database in the field has already run it. Append a new one.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the first schema.
    """
    CREATE TABLE guild_settings (
        guild_id            INTEGER PRIMARY KEY,
        review_channel_id   INTEGER,
        shadow_mode         INTEGER NOT NULL DEFAULT 1,
        mod_role_ids        TEXT    NOT NULL DEFAULT '[]',
        watched_channel_ids TEXT    NOT NULL DEFAULT '[]',
        act_timeout_minutes INTEGER NOT NULL DEFAULT 0,
        warn_expiry_days    INTEGER NOT NULL DEFAULT 30,
        warn_point_limit    INTEGER NOT NULL DEFAULT 3,
        warn_action         TEXT    NOT NULL DEFAULT 'timeout',
        warn_timeout_minutes INTEGER NOT NULL DEFAULT 60,
        removed_comment_mode TEXT   NOT NULL DEFAULT 'mark',
        updated_at          TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );

    -- channel_id 0 holds the guild-wide level; a row for a real channel overrides it.
    CREATE TABLE thresholds (
        guild_id   INTEGER NOT NULL,
        channel_id INTEGER NOT NULL DEFAULT 0,
        label      TEXT    NOT NULL,
        flag       REAL    NOT NULL CHECK (flag BETWEEN 0 AND 1),
        act        REAL             CHECK (act IS NULL OR (act BETWEEN 0 AND 1 AND act >= flag)),
        PRIMARY KEY (guild_id, channel_id, label)
    );

    CREATE TABLE sources (
        id             INTEGER PRIMARY KEY,
        guild_id       INTEGER NOT NULL,
        channel_id     INTEGER NOT NULL,
        kind           TEXT    NOT NULL,
        url            TEXT    NOT NULL,
        paused         INTEGER NOT NULL DEFAULT 0,
        status         TEXT    NOT NULL DEFAULT 'new',
        last_error     TEXT,
        failures       INTEGER NOT NULL DEFAULT 0,
        etag           TEXT,
        last_modified  TEXT,
        last_polled_at TEXT,
        next_poll_at   TEXT,
        created_by     INTEGER,
        created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        UNIQUE (guild_id, url)
    );

    CREATE TABLE articles (
        id              INTEGER PRIMARY KEY,
        source_id       INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
        external_id     TEXT    NOT NULL,
        title           TEXT    NOT NULL,
        url             TEXT,
        author          TEXT,
        published_at    TEXT,
        excerpt         TEXT    NOT NULL DEFAULT '',
        thread_id       INTEGER,
        card_message_id INTEGER,
        created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        UNIQUE (source_id, external_id)
    );

    CREATE TABLE comments (
        id                 INTEGER PRIMARY KEY,
        article_id         INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
        external_id        TEXT    NOT NULL,
        parent_external_id TEXT,
        author             TEXT    NOT NULL,
        avatar_url         TEXT,
        url                TEXT,
        posted_at          TEXT,
        text               TEXT    NOT NULL,
        content_hash       TEXT    NOT NULL,
        scores             TEXT,
        top_label          TEXT,
        top_score          REAL,
        evidence           TEXT,
        scored_hash        TEXT,
        message_id         INTEGER,
        message_ids        TEXT    NOT NULL DEFAULT '[]',
        status             TEXT    NOT NULL DEFAULT 'live' CHECK (status IN ('live', 'removed')),
        mirrored_at        TEXT,
        updated_at         TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        UNIQUE (article_id, external_id)
    );
    CREATE INDEX comments_message ON comments(message_id);
    CREATE INDEX comments_author ON comments(author);

    -- Scores of member messages (not mirrored comments), for /history and /stats.
    CREATE TABLE message_scores (
        id          INTEGER PRIMARY KEY,
        guild_id    INTEGER NOT NULL,
        channel_id  INTEGER NOT NULL,
        message_id  INTEGER NOT NULL,
        author_id   INTEGER NOT NULL,
        scores      TEXT    NOT NULL,
        top_label   TEXT,
        top_score   REAL    NOT NULL DEFAULT 0,
        flagged     INTEGER NOT NULL DEFAULT 0,
        created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE INDEX message_scores_author ON message_scores(guild_id, author_id, created_at);
    CREATE INDEX message_scores_time ON message_scores(guild_id, created_at);
    CREATE INDEX message_scores_message ON message_scores(message_id);

    -- The moderation log. Append-only: a correction is a new row whose ref_case names the case.
    CREATE TABLE cases (
        id             INTEGER PRIMARY KEY,
        guild_id       INTEGER NOT NULL,
        case_number    INTEGER NOT NULL,
        action         TEXT    NOT NULL,
        target_kind    TEXT    NOT NULL CHECK (target_kind IN ('member', 'comment', 'case')),
        target_id      TEXT    NOT NULL,
        target_name    TEXT,
        moderator_id   INTEGER,
        moderator_name TEXT    NOT NULL DEFAULT 'auto',
        reason         TEXT,
        scores         TEXT,
        label          TEXT,
        score          REAL,
        evidence       TEXT,
        link           TEXT,
        channel_id     INTEGER,
        message_id     INTEGER,
        ref_case       INTEGER,
        points         INTEGER,
        duration_seconds INTEGER,
        expires_at     TEXT,
        shadow         INTEGER NOT NULL DEFAULT 0,
        dedup_key      TEXT UNIQUE,
        created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        UNIQUE (guild_id, case_number)
    );
    CREATE INDEX cases_target ON cases(guild_id, target_id, created_at);
    CREATE INDEX cases_time ON cases(guild_id, created_at);
    CREATE INDEX cases_moderator ON cases(guild_id, moderator_id, created_at);
    CREATE INDEX cases_action ON cases(guild_id, action, created_at);
    CREATE INDEX cases_ref ON cases(guild_id, ref_case);
    CREATE TRIGGER cases_no_update BEFORE UPDATE ON cases
        BEGIN SELECT RAISE(ABORT, 'cases are append-only'); END;
    CREATE TRIGGER cases_no_delete BEFORE DELETE ON cases
        BEGIN SELECT RAISE(ABORT, 'cases are append-only'); END;

    -- The mutable side of a flag: where its review card is and who decided it.
    CREATE TABLE review_cards (
        guild_id     INTEGER NOT NULL,
        case_number  INTEGER NOT NULL,
        channel_id   INTEGER,
        message_id   INTEGER,
        decided_by   INTEGER,
        decided_name TEXT,
        decision     TEXT,
        decided_at   TEXT,
        PRIMARY KEY (guild_id, case_number)
    );
    CREATE INDEX review_cards_open ON review_cards(guild_id, decision);
    """,
    # 2: the mirror remembers which version of a comment is in Discord (so a crash between saving a
    # site edit and editing the message still leads to the edit), and who removed a comment (a
    # moderator's removal must stick; a removal on the site is undone when the comment comes back).
    """
    ALTER TABLE comments ADD COLUMN mirrored_hash TEXT;
    ALTER TABLE comments ADD COLUMN removed_by TEXT CHECK (removed_by IN ('site', 'moderator'));
    UPDATE comments SET mirrored_hash = content_hash WHERE message_id IS NOT NULL;
    """,
    # 3: which version of a mirrored comment moderation has judged against the flag levels. A version shown in
    # Discord but never judged (the process died, or the database refused the flag, between the post and the
    # case) is found again through the partial index, which holds only such versions, and flagged then. What
    # an earlier release mirrored counts as judged: it was, by that release.
    """
    ALTER TABLE comments ADD COLUMN judged_hash TEXT;
    UPDATE comments SET judged_hash = mirrored_hash WHERE message_id IS NOT NULL;
    CREATE INDEX comments_unjudged ON comments(mirrored_at)
        WHERE message_id IS NOT NULL AND judged_hash IS NOT mirrored_hash;
    """,
    # 4: the hash of the application-command payload last synced to Discord, per application and scope, so a
    # restart syncs only when the commands changed (Discord limits command creates per day).
    """
    CREATE TABLE command_sync (
        scope        TEXT PRIMARY KEY,
        payload_hash TEXT NOT NULL,
        synced_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    """,
    # 5: members told and forgiven. Per guild: whether members get a DM when they are warned, timed out,
    # kicked or banned (and the DM's template and appeal line), whether mirrored comments at an act level are
    # held for review before they appear (pre-moderation), and whether moderators' own messages are scored.
    # A comment withheld that way is `held`: its place in the thread shows a notice until it is approved.
    # A comment's `coverage` is how much of its text was scored (< 1 for huge ones), shown with its scores.
    """
    ALTER TABLE guild_settings ADD COLUMN dm_members INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE guild_settings ADD COLUMN dm_template TEXT;
    ALTER TABLE guild_settings ADD COLUMN appeal TEXT;
    ALTER TABLE guild_settings ADD COLUMN premod INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE guild_settings ADD COLUMN score_moderators INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE comments ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE comments ADD COLUMN coverage REAL NOT NULL DEFAULT 1;
    """,
]

LATEST_VERSION = len(MIGRATIONS)
