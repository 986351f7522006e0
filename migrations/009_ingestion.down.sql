-- service: ingestion
-- Reverses 009_ingestion: drops the outbox, runs and the ingestion schema.

DROP TABLE ingestion.outbox;
DROP TABLE ingestion.runs;
DROP SCHEMA ingestion;
