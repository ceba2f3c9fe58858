-- Version 7: per-key limits (store.Limits.Key and the per-key settings).
-- A queue's row keeps its whole Limits as jsonb next to the rate columns
-- of version 5. A job of a keyed queue keeps the key it got at enqueue in
-- limit_key; jobs of other queues have NULL there (read as ""), so that
-- the indexes below hold keyed jobs only and unkeyed queues pay nothing.
ALTER TABLE {schema}.queues
    ADD COLUMN limits          jsonb,
    -- The per-key numbers claims use: PerKeyConcurrency (NULL: none), the
    -- per-key rate in tokens a second and its burst (NULL: no rate).
    ADD COLUMN key_concurrency integer,
    ADD COLUMN key_per_second  double precision,
    ADD COLUMN key_burst       integer;
ALTER TABLE {schema}.jobs ADD COLUMN limit_key text;

-- queue_keys holds one row a key of a keyed queue: its virtual pass in the
-- weighted round robin between keys, its token bucket (tokens as they
-- were at tokens_at; NULL: full) and whether it is active (has, or may
-- have, available jobs). Claims walk the active keys by pass.
CREATE TABLE {schema}.queue_keys (
    queue     text             NOT NULL,
    key       text             NOT NULL,
    pass      double precision NOT NULL DEFAULT 0,
    active    boolean          NOT NULL DEFAULT true,
    tokens    double precision,
    tokens_at timestamptz,
    PRIMARY KEY (queue, key)
);
CREATE INDEX queue_keys_pass_idx ON {schema}.queue_keys (queue, pass, key) WHERE active;

-- The available jobs of one key in claim order.
CREATE INDEX jobs_key_claim_idx ON {schema}.jobs (queue, limit_key, priority, available_at, id)
    WHERE state = 'available' AND limit_key IS NOT NULL;
-- The running jobs of one key, counted for PerKeyConcurrency.
CREATE INDEX jobs_key_running_idx ON {schema}.jobs (queue, limit_key)
    WHERE state = 'running' AND limit_key IS NOT NULL;
-- The head of a key's sequence (Order fifo): its earliest-enqueued
-- unfinished job that is not waiting.
CREATE INDEX jobs_key_head_idx ON {schema}.jobs (queue, limit_key, created_at, id)
    WHERE state IN ('available', 'scheduled', 'retrying', 'running') AND limit_key IS NOT NULL;

-- A keyed job that becomes available activates its key: a key that was
-- idle starts no lower than the smallest pass of the active keys, so idle
-- keys bank no credit. The trigger runs for keyed jobs only (WHEN).
CREATE FUNCTION {schema}.activate_limit_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM {schema}.queue_keys WHERE queue = NEW.queue AND key = NEW.limit_key AND active;
    IF NOT FOUND THEN
        INSERT INTO {schema}.queue_keys AS k (queue, key, pass)
            VALUES (NEW.queue, NEW.limit_key, coalesce((SELECT min(pass) FROM {schema}.queue_keys
                WHERE queue = NEW.queue AND active), 0))
            ON CONFLICT (queue, key) DO UPDATE SET active = true,
                pass = greatest(k.pass, coalesce((SELECT min(pass) FROM {schema}.queue_keys
                    WHERE queue = NEW.queue AND active), k.pass));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER jobs_key_insert AFTER INSERT ON {schema}.jobs FOR EACH ROW
    WHEN (NEW.state = 'available' AND NEW.limit_key IS NOT NULL)
    EXECUTE FUNCTION {schema}.activate_limit_key();
CREATE TRIGGER jobs_key_available AFTER UPDATE OF state ON {schema}.jobs FOR EACH ROW
    WHEN (NEW.state = 'available' AND OLD.state <> 'available' AND NEW.limit_key IS NOT NULL)
    EXECUTE FUNCTION {schema}.activate_limit_key();
