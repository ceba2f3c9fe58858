-- Undoes version 6: drops the jobs' trace context.
ALTER TABLE {schema}.jobs DROP COLUMN IF EXISTS trace_parent;
