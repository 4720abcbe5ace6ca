-- The read models moved to a database of their own (`<log>.read.db`, or
-- `--read-db`), where their commits need not be durable. What they left in
-- the log's file is derived data: dropped here, rebuilt there.
DROP TABLE IF EXISTS rm_case_views;
DROP TABLE IF EXISTS rm_case_views_tags;
DROP TABLE IF EXISTS rm_case_views__shadow;
DROP TABLE IF EXISTS rm_case_views__shadow_tags;
DROP TABLE IF EXISTS rm_case_views__verify;
DROP TABLE IF EXISTS rm_case_views__verify_tags;
DROP TABLE IF EXISTS rm_ledger;
DROP TABLE IF EXISTS rm_ledger_tags;
DROP TABLE IF EXISTS rm_ledger__shadow;
DROP TABLE IF EXISTS rm_ledger__shadow_tags;
DROP TABLE IF EXISTS rm_ledger__verify;
DROP TABLE IF EXISTS rm_ledger__verify_tags;
DROP TABLE IF EXISTS rm_reports;
DROP TABLE IF EXISTS rm_reports_tags;
DROP TABLE IF EXISTS rm_reports__shadow;
DROP TABLE IF EXISTS rm_reports__shadow_tags;
DROP TABLE IF EXISTS rm_reports__verify;
DROP TABLE IF EXISTS rm_reports__verify_tags;
DROP TABLE IF EXISTS rm_schedule;
DROP TABLE IF EXISTS rm_schedule_tags;
DROP TABLE IF EXISTS rm_schedule__shadow;
DROP TABLE IF EXISTS rm_schedule__shadow_tags;
DROP TABLE IF EXISTS rm_schedule__verify;
DROP TABLE IF EXISTS rm_schedule__verify_tags;
DROP TABLE IF EXISTS parked_events;
DROP TABLE IF EXISTS projections;
