-- service: content
-- Keeps each title's embedding and its normalised title in PostgreSQL: the embedding so an embedded (in-memory) vector index can be rebuilt after a restart without re-embedding, the normalised title for entity resolution across platforms.

ALTER TABLE content.content ADD COLUMN normalized_title text;
CREATE INDEX content_normalized_title_year_idx ON content.content (normalized_title, release_year);
CREATE INDEX content_updated_at_idx ON content.content (updated_at);

CREATE TABLE content.embeddings (
    content_id uuid        NOT NULL,
    model      text        NOT NULL,
    dim        integer     NOT NULL,
    vector     real[]      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT embeddings_pkey PRIMARY KEY (content_id),
    CONSTRAINT embeddings_content_id_fkey FOREIGN KEY (content_id) REFERENCES content.content (id) ON DELETE CASCADE,
    CONSTRAINT embeddings_dim_matches CHECK (array_ndims(vector) = 1 AND cardinality(vector) = dim),
    CONSTRAINT embeddings_model_length CHECK (char_length(model) BETWEEN 1 AND 100)
);
CREATE INDEX embeddings_updated_at_idx ON content.embeddings (updated_at);
COMMENT ON TABLE content.embeddings IS 'One embedding per title (source of truth for the vector index).';
