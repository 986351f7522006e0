-- service: content
-- Reverses 010: drops the embeddings table and the normalised-title column with their indexes.

DROP TABLE content.embeddings;
DROP INDEX content.content_updated_at_idx;
DROP INDEX content.content_normalized_title_year_idx;
ALTER TABLE content.content DROP COLUMN normalized_title;
