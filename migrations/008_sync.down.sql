-- service: sync
-- Reverses 008_sync: drops the op log, OR-set tags, CRDT state and the sync schema.

DROP TABLE sync.op_log;
DROP TABLE sync.or_set_tags;
DROP TABLE sync.crdt_state;
DROP SCHEMA sync;
