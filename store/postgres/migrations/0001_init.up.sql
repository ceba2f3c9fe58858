-- Gantry schema version 1. {schema} is replaced by the quoted schema name.
-- The migrator runs this file in one transaction under an advisory lock.

CREATE TABLE {schema}.jobs (
    id                uuid        PRIMARY KEY,
    kind              text        NOT NULL,
    queue             text        NOT NULL,
    state             text        NOT NULL CHECK (state IN ('waiting', 'scheduled', 'available',
                                      'running', 'retrying', 'succeeded', 'failed', 'cancelled')),
    -- args, result and checkpoint are kept byte-exact as the client sent
    -- them (see docs/decisions/0002-postgres-schema.md).
    args              bytea       NOT NULL,
    priority          smallint    NOT NULL,
    attempt           integer     NOT NULL DEFAULT 0,
    max_attempts      integer     NOT NULL,
    timeout_ns        bigint      NOT NULL DEFAULT 0,
    unique_key        text,
    depends_on        uuid[],
    parent_id         text,
    run_at            timestamptz NOT NULL,
    -- available_at orders the available jobs of a priority: when the job
    -- became available (its run_at when it was promoted from scheduled or
    -- retrying, the time of the change otherwise).
    available_at      timestamptz NOT NULL,
    created_at        timestamptz NOT NULL,
    started_at        timestamptz,
    finished_at       timestamptz,
    progress_percent  smallint,
    progress_message  text,
    result            bytea,
    errors            jsonb,
    checkpoint        bytea,
    cancel_reason     text,
    blob_key          text,
    blob_size         bigint,
    blob_sha256       text,
    blob_content_type text,
    lease_token       text,
    lease_expires_at  timestamptz,
    -- pending_deps counts the dependencies that have not succeeded yet.
    pending_deps      integer     NOT NULL DEFAULT 0
);

-- Claim: the available jobs of a queue in claim order.
CREATE INDEX jobs_claim_idx ON {schema}.jobs (queue, priority, available_at, id)
    WHERE state = 'available';
-- Promote, and the promotion of a queue's due jobs before each claim: due
-- scheduled and retrying jobs, oldest first. Due jobs are few and
-- short-lived (every claim and Promote turns them available), so one index
-- serves the per-queue promotion too, with a filter on queue.
CREATE INDEX jobs_due_idx ON {schema}.jobs (run_at)
    WHERE state IN ('scheduled', 'retrying');
-- Rescue: running jobs by the end of their lease.
CREATE INDEX jobs_lease_idx ON {schema}.jobs (lease_expires_at)
    WHERE state = 'running';
-- Prune: final jobs by when they finished.
CREATE INDEX jobs_finished_idx ON {schema}.jobs (finished_at)
    WHERE state IN ('succeeded', 'failed', 'cancelled');
-- List by state, newest first (ids are UUIDv7, so id order is time order).
CREATE INDEX jobs_state_id_idx ON {schema}.jobs (state, id);
-- List the children of a parent.
CREATE INDEX jobs_parent_idx ON {schema}.jobs (parent_id, id)
    WHERE parent_id IS NOT NULL;
-- At most one non-final job per unique key.
CREATE UNIQUE INDEX jobs_unique_key_idx ON {schema}.jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('waiting', 'scheduled', 'available', 'running', 'retrying');

-- job_deps holds the edges of the dependency graph: job_id waits for
-- depends_on_id to succeed. The index on depends_on_id finds the dependents
-- of a job that finished.
CREATE TABLE {schema}.job_deps (
    job_id        uuid NOT NULL REFERENCES {schema}.jobs (id) ON DELETE CASCADE,
    depends_on_id uuid NOT NULL REFERENCES {schema}.jobs (id) ON DELETE CASCADE,
    PRIMARY KEY (job_id, depends_on_id)
);
CREATE INDEX job_deps_depends_on_idx ON {schema}.job_deps (depends_on_id);

CREATE TABLE {schema}.queues (
    name   text    PRIMARY KEY,
    paused boolean NOT NULL DEFAULT false
);

-- Idempotency keys of Enqueue calls: the jobs the first call created (or
-- found as duplicates), kept until expires_at.
CREATE TABLE {schema}.idempotency_keys (
    key        text        PRIMARY KEY,
    hash       text        NOT NULL,
    job_ids    uuid[]      NOT NULL,
    duplicates boolean[]   NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX idempotency_keys_expires_idx ON {schema}.idempotency_keys (expires_at);
