-- The event log. One row per event; rows are never updated or deleted.
CREATE TABLE events (
    position     INTEGER PRIMARY KEY,          -- global order, from 1, no gaps
    event_id     TEXT    NOT NULL UNIQUE,      -- hyphenated UUID, makes appends idempotent
    stream_name  TEXT    NOT NULL,
    revision     INTEGER NOT NULL,             -- order within the stream, from 0, no gaps
    category     TEXT    NOT NULL,             -- stream name up to the first '-'
    event_type   TEXT    NOT NULL,
    data         TEXT    NOT NULL,             -- JSON
    metadata     TEXT    NOT NULL,             -- JSON object
    recorded_at  INTEGER NOT NULL,             -- microseconds since the Unix epoch, UTC
    UNIQUE (stream_name, revision)
);

CREATE INDEX events_by_category ON events (category, position);
CREATE INDEX events_by_type ON events (event_type, position);

CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

-- Where named subscribers (projections, feeds) have got to in $all.
CREATE TABLE subscription_checkpoints (
    subscriber  TEXT    PRIMARY KEY,
    position    INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL               -- microseconds since the Unix epoch, UTC
) WITHOUT ROWID;
