-- Where each read model stands. A row per projection, and a second one
-- (`<name>@shadow`) while a rebuild fills shadow tables.
CREATE TABLE projections (
    name             TEXT    PRIMARY KEY,
    version          BIGINT  NOT NULL,
    position         BIGINT  NOT NULL,             -- the last global position applied
    state            TEXT    NOT NULL,             -- running | rebuilding | failed | stopped
    failed_position  BIGINT,
    error            TEXT,
    updated_at       TEXT    NOT NULL              -- RFC 3339, UTC
);
