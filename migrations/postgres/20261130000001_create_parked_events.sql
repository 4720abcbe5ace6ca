-- Events a read model could not decode or apply, set aside so that it goes
-- on with the next event (`aftersales projections parked | retry | skip`).
CREATE TABLE parked_events (
    projection  TEXT    NOT NULL,   -- the status row's name: `<name>`, `<name>@shadow`, ...
    position    BIGINT  NOT NULL,   -- the event's global position
    event_id    TEXT    NOT NULL,
    stream      TEXT    NOT NULL,
    event_type  TEXT    NOT NULL,
    error       TEXT    NOT NULL,
    attempts    BIGINT  NOT NULL,   -- how often it failed: parked, then each retry
    parked_at   TEXT    NOT NULL,   -- RFC 3339, UTC, of the last failure
    PRIMARY KEY (projection, position)
);

-- Bumped by anything that changes a read model's tables behind the runner
-- that writes them (a retry of parked events): the runner's next commit
-- fails and it reloads instead of overwriting the change.
ALTER TABLE projections ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
