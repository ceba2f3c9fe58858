-- Undoes version 4: drops the jobs' snooze count.
ALTER TABLE {schema}.jobs DROP COLUMN IF EXISTS first_snoozed_at, DROP COLUMN IF EXISTS snoozes;
