-- An append in one round trip: the writer plans a batch against the head and
-- revisions it committed itself, and this function writes it only if the log
-- has not moved since (no other process appended). In one statement, so the
-- lock, the check, the insert, the announcement and the commit cost the
-- writer a single round trip. Returns false, having written nothing, when
-- the head has moved; the writer then reads the log's state and plans again.
CREATE FUNCTION append_if_head(
    append_lock BIGINT,
    expected_head BIGINT,
    head_channel TEXT,
    positions BIGINT[],
    event_ids UUID[],
    stream_names TEXT[],
    revisions BIGINT[],
    categories TEXT[],
    event_types TEXT[],
    data TEXT[],
    metadata TEXT[],
    recorded_at TIMESTAMPTZ[]
) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(append_lock);
    -- Each statement of a volatile function sees what committed before it
    -- began, so this head includes every append that held the lock before.
    IF (SELECT COALESCE(MAX(position), 0) FROM events) <> expected_head THEN
        RETURN false;
    END IF;
    INSERT INTO events (position, event_id, stream_name, revision, category, event_type, data, metadata, recorded_at)
    SELECT p, i, s, r, c, t, d::jsonb, m::jsonb, a
    FROM UNNEST(positions, event_ids, stream_names, revisions, categories, event_types, data, metadata, recorded_at)
         AS u(p, i, s, r, c, t, d, m, a);
    PERFORM pg_notify(head_channel, positions[array_upper(positions, 1)]::text);
    RETURN true;
END;
$$;
