-- Undoes version 1: drops every object it created, and the jobs with them.
DROP TABLE IF EXISTS {schema}.idempotency_keys;
DROP TABLE IF EXISTS {schema}.job_deps;
DROP TABLE IF EXISTS {schema}.queues;
DROP TABLE IF EXISTS {schema}.jobs;
