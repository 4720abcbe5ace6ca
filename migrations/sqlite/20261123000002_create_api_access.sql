-- Bearer tokens of integrations and front ends. Only a SHA-256 digest of
-- each token is kept: the token itself is shown once, when it is issued.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    categories  TEXT,                    -- JSON array of case categories, NULL: all
    token_hash  TEXT NOT NULL UNIQUE,    -- hex SHA-256 of the token
    created_at  TEXT NOT NULL,           -- RFC 3339, UTC
    revoked_at  TEXT
);

-- The first answer to each (key, Idempotency-Key), so that a retried
-- command gets it again instead of running twice. `status` is NULL while
-- the first request is still being handled.
CREATE TABLE idempotency_keys (
    api_key_id    TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        INTEGER,
    headers       TEXT,
    body          BLOB,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (api_key_id, key)
);
