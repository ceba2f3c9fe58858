-- Version 4: the snooze cap (store.MaxSnoozes, store.MaxSnoozeAge). A job
-- counts the snoozes it had without spending an attempt and keeps when the
-- first was; jobs written before read as never snoozed.
ALTER TABLE {schema}.jobs
    ADD COLUMN snoozes          integer NOT NULL DEFAULT 0,
    ADD COLUMN first_snoozed_at timestamptz;
