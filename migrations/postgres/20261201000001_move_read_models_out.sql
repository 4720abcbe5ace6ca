-- The read models moved to a schema of their own (`read_models`, or the
-- database `--read-db` names), where their commits need not be durable.
-- What they left beside the log is derived data: dropped here, rebuilt there.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables
             WHERE schemaname = current_schema() AND tablename LIKE 'rm\_%'
    LOOP
        EXECUTE format('DROP TABLE %I', t.tablename);
    END LOOP;
END
$$;
DROP TABLE IF EXISTS parked_events;
DROP TABLE IF EXISTS projections;
