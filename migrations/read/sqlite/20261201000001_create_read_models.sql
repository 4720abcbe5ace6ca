-- The read models' own database (or, on PostgreSQL, their own schema):
-- derived data, rebuilt from the log whenever it is lost. Each read model's
-- documents live in `rm_<name>` and `rm_<name>_tags`, created by the runner.

-- Where each read model stands. A row per projection, and a second one
-- (`<name>@shadow`, `<name>@verify`) while a rebuild or a verify fills its
-- own tables.
CREATE TABLE projections (
    name             TEXT    PRIMARY KEY,
    version          INTEGER  NOT NULL,
    position         INTEGER  NOT NULL,             -- the last global position applied
    state            TEXT    NOT NULL,             -- running | rebuilding | failed | stopped
    failed_position  INTEGER,
    error            TEXT,
    updated_at       TEXT    NOT NULL,             -- RFC 3339, UTC
    -- Bumped by anything that changes a read model's tables behind the
    -- runner that writes them (a reset, a swapped-in rebuild, a retry of
    -- parked events): the runner's next commit fails and it reloads.
    epoch            INTEGER  NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Events a read model could not decode or apply, set aside so that it goes
-- on with the next event (`aftersales projections parked | retry | skip`).
CREATE TABLE parked_events (
    projection  TEXT    NOT NULL,   -- the status row's name: `<name>`, `<name>@shadow`, ...
    position    INTEGER  NOT NULL,   -- the event's global position
    event_id    TEXT    NOT NULL,
    stream      TEXT    NOT NULL,
    event_type  TEXT    NOT NULL,
    error       TEXT    NOT NULL,
    attempts    INTEGER  NOT NULL,   -- how often it failed: parked, then each retry
    parked_at   TEXT    NOT NULL,   -- RFC 3339, UTC, of the last failure
    PRIMARY KEY (projection, position)
);
