-- Gantry schema version 2: workflows. {schema} is replaced by the quoted
-- schema name. Adding nullable columns without defaults rewrites no rows.

ALTER TABLE {schema}.jobs
    ADD COLUMN workflow_id uuid,
    ADD COLUMN ref text,
    ADD COLUMN if_dependency_fails text CHECK (if_dependency_fails IN ('cancel', 'run')),
    -- has_waits marks a job that waits (or waited) for others, so that a
    -- claim reads dependency outcomes only for those.
    ADD COLUMN has_waits boolean NOT NULL DEFAULT false;

-- The jobs of a workflow, newest first, and the pruning of whole workflows.
CREATE INDEX jobs_workflow_idx ON {schema}.jobs (workflow_id, id) WHERE workflow_id IS NOT NULL;

-- One row per workflow, with the number of its jobs in each state, kept
-- by the triggers below in the same statements that change the jobs.
CREATE TABLE {schema}.workflows (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL,
    state       text        NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'cancelled')),
    created_at  timestamptz NOT NULL,
    finished_at timestamptz,
    n_waiting   bigint      NOT NULL DEFAULT 0,
    n_scheduled bigint      NOT NULL DEFAULT 0,
    n_available bigint      NOT NULL DEFAULT 0,
    n_running   bigint      NOT NULL DEFAULT 0,
    n_retrying  bigint      NOT NULL DEFAULT 0,
    n_succeeded bigint      NOT NULL DEFAULT 0,
    n_failed    bigint      NOT NULL DEFAULT 0,
    n_cancelled bigint      NOT NULL DEFAULT 0
);
CREATE INDEX workflows_state_idx ON {schema}.workflows (state, id);

-- The triggers add, per statement, the change in each workflow's counts
-- (new rows minus old rows) and derive its state: running while a job is
-- not final, then failed if one failed, cancelled if one was cancelled,
-- succeeded otherwise; finished_at is the latest finish among the rows of
-- the statement that made it final. Statements that move no workflow's
-- counts (heartbeats, jobs outside workflows) update nothing.
CREATE FUNCTION {schema}.workflow_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE {schema}.workflows w SET
        n_waiting = w.n_waiting + d.waiting, n_scheduled = w.n_scheduled + d.scheduled,
        n_available = w.n_available + d.available, n_running = w.n_running + d.running,
        n_retrying = w.n_retrying + d.retrying, n_succeeded = w.n_succeeded + d.succeeded,
        n_failed = w.n_failed + d.failed, n_cancelled = w.n_cancelled + d.cancelled,
        state = CASE
            WHEN w.n_waiting + d.waiting + w.n_scheduled + d.scheduled + w.n_available + d.available
                + w.n_running + d.running + w.n_retrying + d.retrying > 0 THEN 'running'
            WHEN w.n_failed + d.failed > 0 THEN 'failed'
            WHEN w.n_cancelled + d.cancelled > 0 THEN 'cancelled'
            ELSE 'succeeded' END,
        finished_at = CASE
            WHEN w.n_waiting + d.waiting + w.n_scheduled + d.scheduled + w.n_available + d.available
                + w.n_running + d.running + w.n_retrying + d.retrying > 0 THEN NULL
            ELSE coalesce(w.finished_at, d.last, w.created_at) END
    FROM (SELECT workflow_id,
            count(*) FILTER (WHERE state = 'waiting') AS waiting,
            count(*) FILTER (WHERE state = 'scheduled') AS scheduled,
            count(*) FILTER (WHERE state = 'available') AS available,
            count(*) FILTER (WHERE state = 'running') AS running,
            count(*) FILTER (WHERE state = 'retrying') AS retrying,
            count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
            count(*) FILTER (WHERE state = 'failed') AS failed,
            count(*) FILTER (WHERE state = 'cancelled') AS cancelled,
            max(finished_at) AS last
        FROM new_rows WHERE workflow_id IS NOT NULL GROUP BY workflow_id) d
    WHERE w.id = d.workflow_id;
    RETURN NULL;
END $$;

CREATE FUNCTION {schema}.workflow_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE {schema}.workflows w SET
        n_waiting = w.n_waiting + d.waiting, n_scheduled = w.n_scheduled + d.scheduled,
        n_available = w.n_available + d.available, n_running = w.n_running + d.running,
        n_retrying = w.n_retrying + d.retrying, n_succeeded = w.n_succeeded + d.succeeded,
        n_failed = w.n_failed + d.failed, n_cancelled = w.n_cancelled + d.cancelled,
        state = CASE
            WHEN w.n_waiting + d.waiting + w.n_scheduled + d.scheduled + w.n_available + d.available
                + w.n_running + d.running + w.n_retrying + d.retrying > 0 THEN 'running'
            WHEN w.n_failed + d.failed > 0 THEN 'failed'
            WHEN w.n_cancelled + d.cancelled > 0 THEN 'cancelled'
            ELSE 'succeeded' END,
        finished_at = CASE
            WHEN w.n_waiting + d.waiting + w.n_scheduled + d.scheduled + w.n_available + d.available
                + w.n_running + d.running + w.n_retrying + d.retrying > 0 THEN NULL
            ELSE coalesce(w.finished_at, d.last, w.created_at) END
    FROM (SELECT workflow_id,
            coalesce(sum(n) FILTER (WHERE state = 'waiting'), 0) AS waiting,
            coalesce(sum(n) FILTER (WHERE state = 'scheduled'), 0) AS scheduled,
            coalesce(sum(n) FILTER (WHERE state = 'available'), 0) AS available,
            coalesce(sum(n) FILTER (WHERE state = 'running'), 0) AS running,
            coalesce(sum(n) FILTER (WHERE state = 'retrying'), 0) AS retrying,
            coalesce(sum(n) FILTER (WHERE state = 'succeeded'), 0) AS succeeded,
            coalesce(sum(n) FILTER (WHERE state = 'failed'), 0) AS failed,
            coalesce(sum(n) FILTER (WHERE state = 'cancelled'), 0) AS cancelled,
            max(finished_at) AS last
        FROM (SELECT workflow_id, state, 1 AS n, finished_at FROM new_rows WHERE workflow_id IS NOT NULL
            UNION ALL
            SELECT workflow_id, state, -1, NULL FROM old_rows WHERE workflow_id IS NOT NULL) x
        GROUP BY workflow_id) d
    WHERE w.id = d.workflow_id
        AND (d.waiting, d.scheduled, d.available, d.running, d.retrying, d.succeeded, d.failed, d.cancelled)
            <> (0, 0, 0, 0, 0, 0, 0, 0);
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_workflow_counts_insert AFTER INSERT ON {schema}.jobs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {schema}.workflow_counts_insert();
CREATE TRIGGER jobs_workflow_counts_update AFTER UPDATE ON {schema}.jobs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {schema}.workflow_counts_update();
