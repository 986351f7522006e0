-- service: content
-- Reverses 004_content_catalogue: drops availability, external ids, platforms, content, the search helper, pg_trgm if this migration installed it, and the content schema.

DROP TABLE content.availability;
DROP TABLE content.external_ids;
DROP TABLE content.platforms;
DROP TABLE content.content;
DROP FUNCTION content.text_array_to_string(text[]);

-- pg_trgm is dropped only when it lives in the content schema, i.e. when 004 installed it.
DO $$
BEGIN
    IF EXISTS (SELECT 1
                 FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                WHERE e.extname = 'pg_trgm' AND n.nspname = 'content') THEN
        DROP EXTENSION pg_trgm;
    END IF;
END
$$;

DROP SCHEMA content;
