-- Version 5: queue limits (store.LimitStore). A queue's row holds its
-- rate as written ("50/s"), the same in tokens a second, its burst, and
-- the token bucket every node's claim takes from: tokens as they were at
-- tokens_at (NULL: full). A claim of a limited queue locks the row, so the
-- limit is one across every node.
ALTER TABLE {schema}.queues
    ADD COLUMN rate       text,
    ADD COLUMN per_second double precision,
    ADD COLUMN burst      integer,
    ADD COLUMN tokens     double precision,
    ADD COLUMN tokens_at  timestamptz;
