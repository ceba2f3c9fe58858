-- Undoes version 2: drops the workflows and the workflow columns of jobs.
DROP TRIGGER IF EXISTS jobs_workflow_counts_update ON {schema}.jobs;
DROP TRIGGER IF EXISTS jobs_workflow_counts_insert ON {schema}.jobs;
DROP FUNCTION IF EXISTS {schema}.workflow_counts_update();
DROP FUNCTION IF EXISTS {schema}.workflow_counts_insert();
DROP TABLE IF EXISTS {schema}.workflows;
DROP INDEX IF EXISTS {schema}.jobs_workflow_idx;
ALTER TABLE {schema}.jobs DROP COLUMN IF EXISTS has_waits, DROP COLUMN IF EXISTS if_dependency_fails, DROP COLUMN IF EXISTS ref,
    DROP COLUMN IF EXISTS workflow_id;
