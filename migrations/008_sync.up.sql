-- service: sync
-- Creates the sync schema: HLC-ordered LWW registers, OR-set tags for the watchlist, and the per-user op log used for catch-up and dedup.

CREATE SCHEMA sync;
COMMENT ON SCHEMA sync IS 'Sync service: CRDT state (LWW registers, OR-sets) and the op log.';

CREATE TABLE sync.crdt_state (
    user_id      uuid        NOT NULL,
    key          text        NOT NULL,
    value        jsonb,
    tombstone    boolean     NOT NULL DEFAULT false,
    hlc_physical bigint      NOT NULL,
    hlc_logical  integer     NOT NULL,
    hlc_node     text        NOT NULL,
    op_id        uuid        NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT crdt_state_pkey PRIMARY KEY (user_id, key),
    CONSTRAINT crdt_state_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT crdt_state_key_format CHECK (char_length(key) BETWEEN 1 AND 256 AND key !~ '[[:cntrl:]]'),
    CONSTRAINT crdt_state_value_unless_tombstone CHECK (tombstone OR value IS NOT NULL),
    CONSTRAINT crdt_state_hlc_bounds CHECK (hlc_physical >= 0 AND hlc_logical >= 0),
    CONSTRAINT crdt_state_hlc_node_length CHECK (char_length(hlc_node) BETWEEN 1 AND 128)
);
COMMENT ON TABLE sync.crdt_state IS 'LWW registers per user and key (progress/{content_id}, settings/{key}); the op with the highest HLC wins.';
COMMENT ON COLUMN sync.crdt_state.hlc_physical IS 'HLC physical part in ms since the epoch; order is (hlc_physical, hlc_logical, hlc_node).';

CREATE TABLE sync.or_set_tags (
    user_id             uuid        NOT NULL,
    set_name            text        NOT NULL,
    element             text        NOT NULL,
    tag                 uuid        NOT NULL,
    add_hlc_physical    bigint,
    add_hlc_logical     integer,
    add_hlc_node        text,
    add_op_id           uuid,
    remove_hlc_physical bigint,
    remove_hlc_logical  integer,
    remove_hlc_node     text,
    remove_op_id        uuid,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT or_set_tags_pkey PRIMARY KEY (user_id, set_name, tag),
    CONSTRAINT or_set_tags_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT or_set_tags_set_name_format CHECK (set_name ~ '^[a-z][a-z0-9_]{0,63}$'),
    CONSTRAINT or_set_tags_element_length CHECK (char_length(element) BETWEEN 1 AND 256),
    CONSTRAINT or_set_tags_add_hlc_complete CHECK (
        (add_hlc_physical IS NULL) = (add_hlc_logical IS NULL)
        AND (add_hlc_physical IS NULL) = (add_hlc_node IS NULL)
        AND (add_hlc_physical IS NULL) = (add_op_id IS NULL)
    ),
    CONSTRAINT or_set_tags_remove_hlc_complete CHECK (
        (remove_hlc_physical IS NULL) = (remove_hlc_logical IS NULL)
        AND (remove_hlc_physical IS NULL) = (remove_hlc_node IS NULL)
        AND (remove_hlc_physical IS NULL) = (remove_op_id IS NULL)
    ),
    CONSTRAINT or_set_tags_add_or_remove CHECK (add_hlc_physical IS NOT NULL OR remove_hlc_physical IS NOT NULL),
    CONSTRAINT or_set_tags_hlc_bounds CHECK (
        (add_hlc_physical IS NULL OR (add_hlc_physical >= 0 AND add_hlc_logical >= 0))
        AND (remove_hlc_physical IS NULL OR (remove_hlc_physical >= 0 AND remove_hlc_logical >= 0))
    )
);
COMMENT ON TABLE sync.or_set_tags IS 'OR-set (e.g. watchlist) add tags per element; a tag is live while it has an add and no remove. A remove seen before its add is kept as a tombstone.';
CREATE INDEX or_set_tags_live_idx ON sync.or_set_tags (user_id, set_name, element)
    WHERE add_hlc_physical IS NOT NULL AND remove_hlc_physical IS NULL;

CREATE TABLE sync.op_log (
    seq          bigint      GENERATED ALWAYS AS IDENTITY,
    user_id      uuid        NOT NULL,
    op_id        uuid        NOT NULL,
    device_id    text,
    op_type      text        NOT NULL,
    key          text        NOT NULL,
    op           jsonb       NOT NULL,
    hlc_physical bigint      NOT NULL,
    hlc_logical  integer     NOT NULL,
    hlc_node     text        NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT op_log_pkey PRIMARY KEY (seq),
    CONSTRAINT op_log_user_id_op_id_key UNIQUE (user_id, op_id),
    CONSTRAINT op_log_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT op_log_op_type_check CHECK (op_type IN ('lww_set', 'or_add', 'or_remove')),
    CONSTRAINT op_log_key_length CHECK (char_length(key) BETWEEN 1 AND 256),
    CONSTRAINT op_log_op_object CHECK (jsonb_typeof(op) = 'object'),
    CONSTRAINT op_log_hlc_bounds CHECK (hlc_physical >= 0 AND hlc_logical >= 0),
    CONSTRAINT op_log_hlc_node_length CHECK (char_length(hlc_node) BETWEEN 1 AND 128),
    CONSTRAINT op_log_device_id_length CHECK (device_id IS NULL OR char_length(device_id) BETWEEN 1 AND 128)
);
COMMENT ON TABLE sync.op_log IS 'Every accepted CRDT op per user, deduplicated by op_id, replayed to devices catching up.';
COMMENT ON COLUMN sync.op_log.key IS 'The LWW key (lww_set) or the set name (or_add, or_remove).';
CREATE INDEX op_log_user_id_seq_idx ON sync.op_log (user_id, seq);
CREATE INDEX op_log_user_id_hlc_idx ON sync.op_log (user_id, hlc_physical, hlc_logical, hlc_node);
