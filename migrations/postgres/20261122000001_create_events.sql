-- The event log. One row per event; rows are never updated or deleted.
CREATE TABLE events (
    position     BIGINT      PRIMARY KEY,      -- global order, from 1, no gaps
    event_id     UUID        NOT NULL UNIQUE,  -- makes appends idempotent
    stream_name  TEXT        NOT NULL,
    revision     BIGINT      NOT NULL,         -- order within the stream, from 0, no gaps
    category     TEXT        NOT NULL,         -- stream name up to the first '-'
    event_type   TEXT        NOT NULL,
    data         JSONB       NOT NULL,
    metadata     JSONB       NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (stream_name, revision)
);

CREATE INDEX events_by_category ON events (category, position);
CREATE INDEX events_by_type ON events (event_type, position);

CREATE FUNCTION events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only';
END;
$$;

CREATE TRIGGER events_are_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_append_only();

CREATE TRIGGER events_are_never_truncated
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_append_only();

-- Where named subscribers (projections, feeds) have got to in $all.
CREATE TABLE subscription_checkpoints (
    subscriber  TEXT        PRIMARY KEY,
    position    BIGINT      NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
