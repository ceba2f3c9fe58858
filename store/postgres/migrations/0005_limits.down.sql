-- Undoes version 5: drops the queue limits.
ALTER TABLE {schema}.queues DROP COLUMN IF EXISTS rate, DROP COLUMN IF EXISTS per_second, DROP COLUMN IF EXISTS burst,
    DROP COLUMN IF EXISTS tokens, DROP COLUMN IF EXISTS tokens_at;
