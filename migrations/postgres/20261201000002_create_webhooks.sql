-- The signing secrets of webhook subscriptions. They stay out of the log,
-- which is kept forever: a removed secret is deleted here for good. They
-- are kept as they are (HMAC signing needs the secret itself), so this
-- database is as confidential as the secrets.
CREATE TABLE webhook_secrets (
    webhook_id  TEXT NOT NULL,
    secret_id   TEXT NOT NULL,
    secret      TEXT NOT NULL,           -- whsec_<base64>
    created_at  TEXT NOT NULL,           -- RFC 3339, UTC
    PRIMARY KEY (webhook_id, secret_id)
);

-- Every attempt to deliver an event to a subscription, kept for the
-- configured period. The delivery checkpoint itself is a row of
-- subscription_checkpoints, written in the same transaction.
CREATE TABLE webhook_deliveries (
    id           BIGSERIAL PRIMARY KEY,
    webhook_id   TEXT    NOT NULL,
    message_id   TEXT    NOT NULL,
    position     BIGINT  NOT NULL,
    event_type   TEXT    NOT NULL,
    attempt      BIGINT  NOT NULL,
    outcome      TEXT    NOT NULL,       -- delivered | failed | gone
    http_status  BIGINT,
    error        TEXT,
    latency_ms   DOUBLE PRECISION NOT NULL,
    at           BIGINT  NOT NULL        -- microseconds since the Unix epoch, UTC
);

CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (at);
