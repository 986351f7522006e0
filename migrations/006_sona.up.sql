-- service: sona
-- Creates the sona schema: idempotent user interactions, precomputed user profile vectors and item-item neighbours for fast recommendations.

CREATE SCHEMA sona;
COMMENT ON SCHEMA sona IS 'SONA recommendation service: interactions, user vectors, item similarity.';

CREATE TABLE sona.interactions (
    id          bigint           GENERATED ALWAYS AS IDENTITY,
    event_id    uuid             NOT NULL DEFAULT gen_random_uuid(),
    user_id     uuid             NOT NULL,
    content_id  uuid             NOT NULL,
    kind        text             NOT NULL,
    value       double precision,
    occurred_at timestamptz      NOT NULL,
    created_at  timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT interactions_pkey PRIMARY KEY (id),
    CONSTRAINT interactions_event_id_key UNIQUE (event_id),
    CONSTRAINT interactions_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT interactions_content_id_fkey FOREIGN KEY (content_id) REFERENCES content.content (id) ON DELETE CASCADE,
    CONSTRAINT interactions_kind_check CHECK (kind IN ('view', 'complete', 'rate', 'skip', 'watchlist_add', 'watchlist_remove')),
    CONSTRAINT interactions_rate_value CHECK (kind <> 'rate' OR (value IS NOT NULL AND value BETWEEN 0 AND 5)),
    CONSTRAINT interactions_fraction_value CHECK (kind = 'rate' OR value IS NULL OR value BETWEEN 0 AND 1)
);
COMMENT ON TABLE sona.interactions IS 'User signals (view, complete, rate, skip, watchlist add/remove); event_id makes ingestion idempotent.';
COMMENT ON COLUMN sona.interactions.value IS 'Rating 0..5 for kind rate; otherwise an optional fraction 0..1 (e.g. share watched).';
CREATE INDEX interactions_user_id_occurred_at_idx ON sona.interactions (user_id, occurred_at DESC);
CREATE INDEX interactions_content_id_idx ON sona.interactions (content_id);

CREATE TABLE sona.user_vectors (
    user_id           uuid        NOT NULL,
    vector            real[]      NOT NULL,
    model_version     text        NOT NULL,
    interaction_count integer     NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_vectors_pkey PRIMARY KEY (user_id),
    CONSTRAINT user_vectors_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT user_vectors_shape CHECK (array_ndims(vector) = 1 AND cardinality(vector) BETWEEN 1 AND 4096),
    CONSTRAINT user_vectors_finite CHECK (
        array_position(vector, NULL) IS NULL
        AND NOT ('NaN'::real = ANY (vector))
        AND NOT ('Infinity'::real = ANY (vector))
        AND NOT ('-Infinity'::real = ANY (vector))
    ),
    CONSTRAINT user_vectors_model_version_length CHECK (char_length(model_version) BETWEEN 1 AND 64),
    CONSTRAINT user_vectors_interaction_count_nonnegative CHECK (interaction_count >= 0)
);
COMMENT ON TABLE sona.user_vectors IS 'Precomputed user profile vectors (same space as content embeddings), refreshed from interactions.';

CREATE TABLE sona.item_similarity (
    content_id    uuid        NOT NULL,
    neighbour_id  uuid        NOT NULL,
    score         real        NOT NULL,
    model_version text,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT item_similarity_pkey PRIMARY KEY (content_id, neighbour_id),
    CONSTRAINT item_similarity_content_id_fkey FOREIGN KEY (content_id) REFERENCES content.content (id) ON DELETE CASCADE,
    CONSTRAINT item_similarity_neighbour_id_fkey FOREIGN KEY (neighbour_id) REFERENCES content.content (id) ON DELETE CASCADE,
    CONSTRAINT item_similarity_not_self CHECK (content_id <> neighbour_id),
    CONSTRAINT item_similarity_score_bounds CHECK (score BETWEEN -1 AND 1)
);
COMMENT ON TABLE sona.item_similarity IS 'Precomputed item-item neighbours (co-occurrence/similarity score in -1..1) for collaborative scoring.';
CREATE INDEX item_similarity_content_id_score_idx ON sona.item_similarity (content_id, score DESC) INCLUDE (neighbour_id);
CREATE INDEX item_similarity_neighbour_id_idx ON sona.item_similarity (neighbour_id);
