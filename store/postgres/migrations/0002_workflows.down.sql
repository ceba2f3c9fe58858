-- Placeholder for the workflows migration's down step (see the up file).
SELECT 1;
