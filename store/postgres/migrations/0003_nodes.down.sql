-- Undoes version 3.
DROP TABLE IF EXISTS {schema}.nodes;
