-- Version 6: the W3C traceparent of the request that enqueued a job
-- (store.Job.TraceParent), so that its attempts join the enqueuer's trace.
-- NULL for jobs enqueued without one and for every job written before.
ALTER TABLE {schema}.jobs ADD COLUMN trace_parent text;
