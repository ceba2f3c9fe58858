-- Gantry schema version 3: the nodes that work the schema, kept by their
-- heartbeats (store.Nodes), so that every node, GET /v1/nodes and the
-- dashboard can tell which serve.
CREATE TABLE {schema}.nodes (
    id           text        PRIMARY KEY,
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    workers      integer     NOT NULL CHECK (workers >= 0),
    running      integer     NOT NULL CHECK (running >= 0)
);
