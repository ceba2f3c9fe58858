-- Placeholder: version 2 is the workflows migration, written on another
-- branch; at merge that branch's 0002_workflows files replace these two.
-- Until then version 2 changes nothing, so that version 3 follows it.
SELECT 1;
