-- Undoes version 7: drops the per-key limits.
DROP TRIGGER IF EXISTS jobs_key_available ON {schema}.jobs;
DROP TRIGGER IF EXISTS jobs_key_insert ON {schema}.jobs;
DROP FUNCTION IF EXISTS {schema}.activate_limit_key();
DROP INDEX IF EXISTS {schema}.jobs_key_head_idx;
DROP INDEX IF EXISTS {schema}.jobs_key_running_idx;
DROP INDEX IF EXISTS {schema}.jobs_key_claim_idx;
DROP TABLE IF EXISTS {schema}.queue_keys;
ALTER TABLE {schema}.jobs DROP COLUMN IF EXISTS limit_key;
ALTER TABLE {schema}.queues DROP COLUMN IF EXISTS limits, DROP COLUMN IF EXISTS key_concurrency,
    DROP COLUMN IF EXISTS key_per_second, DROP COLUMN IF EXISTS key_burst;
