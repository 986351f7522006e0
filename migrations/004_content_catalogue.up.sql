-- service: content
-- Creates the content schema: the canonical catalogue with a weighted full-text search vector, external ids, platforms and per-region availability.

CREATE SCHEMA content;
COMMENT ON SCHEMA content IS 'Catalogue owned by ingestion and read by discovery: content, external ids, platforms, availability.';

-- Trigram matching for autocomplete. If pg_trgm is already installed elsewhere it is reused as is.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA content;

-- array_to_string is only STABLE; for text[] it is immutable, which a generated column requires.
CREATE FUNCTION content.text_array_to_string(text[]) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN array_to_string($1, ' ');
COMMENT ON FUNCTION content.text_array_to_string(text[]) IS 'Immutable space-joined text[] for the content.search generated column.';

CREATE TABLE content.content (
    id              uuid             NOT NULL DEFAULT gen_random_uuid(),
    type            text             NOT NULL,
    title           text             NOT NULL,
    original_title  text,
    overview        text,
    release_date    date,
    release_year    smallint,
    runtime_minutes integer,
    genres          text[]           NOT NULL DEFAULT '{}',
    moods           text[]           NOT NULL DEFAULT '{}',
    cast_members    text[]           NOT NULL DEFAULT '{}',
    directors       text[]           NOT NULL DEFAULT '{}',
    rating          numeric(3,1),
    rating_count    integer          NOT NULL DEFAULT 0,
    popularity      double precision NOT NULL DEFAULT 0,
    series_id       uuid,
    season_number   smallint,
    episode_number  smallint,
    language        text,
    search          tsvector         GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
        || setweight(to_tsvector('english'::regconfig, coalesce(original_title, '')), 'B')
        || setweight(to_tsvector('english'::regconfig, coalesce(overview, '')), 'C')
        || setweight(to_tsvector('english'::regconfig,
               coalesce(content.text_array_to_string(cast_members), '') || ' '
               || coalesce(content.text_array_to_string(directors), '') || ' '
               || coalesce(content.text_array_to_string(genres), '') || ' '
               || coalesce(content.text_array_to_string(moods), '')), 'D')
    ) STORED,
    created_at      timestamptz      NOT NULL DEFAULT now(),
    updated_at      timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT content_pkey PRIMARY KEY (id),
    CONSTRAINT content_series_id_fkey FOREIGN KEY (series_id) REFERENCES content.content (id) ON DELETE CASCADE,
    CONSTRAINT content_type_check CHECK (type IN ('movie', 'series', 'episode', 'documentary', 'special')),
    CONSTRAINT content_title_length CHECK (char_length(title) BETWEEN 1 AND 500),
    CONSTRAINT content_original_title_length CHECK (original_title IS NULL OR char_length(original_title) BETWEEN 1 AND 500),
    CONSTRAINT content_overview_length CHECK (overview IS NULL OR char_length(overview) <= 20000),
    CONSTRAINT content_release_year_bounds CHECK (release_year IS NULL OR release_year BETWEEN 1870 AND 2200),
    CONSTRAINT content_release_year_matches_date CHECK (
        release_date IS NULL OR release_year IS NULL OR release_year = extract(year FROM release_date)
    ),
    CONSTRAINT content_runtime_bounds CHECK (runtime_minutes IS NULL OR runtime_minutes BETWEEN 1 AND 10000),
    CONSTRAINT content_rating_bounds CHECK (rating IS NULL OR rating BETWEEN 0 AND 10),
    CONSTRAINT content_rating_count_nonnegative CHECK (rating_count >= 0),
    CONSTRAINT content_popularity_bounds CHECK (popularity BETWEEN 0 AND 1e15),
    CONSTRAINT content_series_only_for_episodes CHECK (series_id IS NULL OR type = 'episode'),
    CONSTRAINT content_not_own_series CHECK (series_id IS NULL OR series_id <> id),
    CONSTRAINT content_episode_numbers_only_for_episodes CHECK (
        type = 'episode' OR (season_number IS NULL AND episode_number IS NULL)
    ),
    CONSTRAINT content_season_number_bounds CHECK (season_number IS NULL OR season_number >= 0),
    CONSTRAINT content_episode_number_bounds CHECK (episode_number IS NULL OR episode_number >= 1),
    CONSTRAINT content_language_format CHECK (language IS NULL OR language ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$')
);
COMMENT ON TABLE content.content IS 'Canonical catalogue entries (movies, series, episodes, documentaries, specials) after entity resolution.';
COMMENT ON COLUMN content.content.search IS 'Weighted english tsvector: title A, original title B, overview C, cast/directors/genres/moods D; query with the english config.';
COMMENT ON COLUMN content.content.series_id IS 'For episodes: the series they belong to.';
CREATE INDEX content_search_idx ON content.content USING gin (search);
CREATE INDEX content_genres_idx ON content.content USING gin (genres);
CREATE INDEX content_moods_idx ON content.content USING gin (moods);
CREATE INDEX content_release_year_idx ON content.content (release_year);
CREATE INDEX content_popularity_idx ON content.content (popularity DESC);
CREATE INDEX content_type_idx ON content.content (type);
CREATE UNIQUE INDEX content_series_episode_key ON content.content (series_id, season_number, episode_number)
    WHERE series_id IS NOT NULL;

-- Trigram index on lower(title); the operator class is looked up wherever pg_trgm lives.
DO $$
DECLARE
    trgm_schema name;
BEGIN
    SELECT n.nspname INTO STRICT trgm_schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_trgm';
    EXECUTE format('CREATE INDEX content_title_trgm_idx ON content.content USING gin (lower(title) %I.gin_trgm_ops)',
                   trgm_schema);
END
$$;

CREATE TABLE content.platforms (
    id               text        NOT NULL,
    name             text        NOT NULL,
    web_url_template text,
    app_url_template text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT platforms_pkey PRIMARY KEY (id),
    CONSTRAINT platforms_id_format CHECK (id ~ '^[a-z0-9][a-z0-9_]{0,63}$'),
    CONSTRAINT platforms_name_length CHECK (char_length(name) BETWEEN 1 AND 100)
);
COMMENT ON TABLE content.platforms IS 'Streaming platforms with web and app deep-link templates.';
COMMENT ON COLUMN content.platforms.web_url_template IS 'Deep-link template for browsers, e.g. https://www.netflix.com/title/{platform_id}.';
COMMENT ON COLUMN content.platforms.app_url_template IS 'Deep-link template for native apps (phones, TVs), e.g. nflx://www.netflix.com/title/{platform_id}.';

CREATE TABLE content.external_ids (
    platform    text        NOT NULL,
    platform_id text        NOT NULL,
    content_id  uuid        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT external_ids_pkey PRIMARY KEY (platform, platform_id),
    CONSTRAINT external_ids_content_id_fkey FOREIGN KEY (content_id) REFERENCES content.content (id) ON DELETE CASCADE,
    CONSTRAINT external_ids_platform_format CHECK (platform ~ '^[a-z0-9][a-z0-9_]{0,63}$'),
    CONSTRAINT external_ids_platform_id_length CHECK (char_length(platform_id) BETWEEN 1 AND 256)
);
COMMENT ON TABLE content.external_ids IS 'Maps a platform''s (or catalogue''s, e.g. imdb, tmdb) own id to the canonical content id.';
CREATE INDEX external_ids_content_id_idx ON content.external_ids (content_id);

CREATE TABLE content.availability (
    id              bigint        GENERATED ALWAYS AS IDENTITY,
    content_id      uuid          NOT NULL,
    platform        text          NOT NULL,
    region          char(2)       NOT NULL,
    offer_type      text          NOT NULL,
    price           numeric(10,2),
    currency        char(3),
    deep_link       text,
    available_from  timestamptz,
    available_until timestamptz,
    created_at      timestamptz   NOT NULL DEFAULT now(),
    updated_at      timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT availability_pkey PRIMARY KEY (id),
    CONSTRAINT availability_content_id_fkey FOREIGN KEY (content_id) REFERENCES content.content (id) ON DELETE CASCADE,
    CONSTRAINT availability_platform_fkey FOREIGN KEY (platform) REFERENCES content.platforms (id) ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT availability_offer_key UNIQUE (content_id, platform, region, offer_type),
    CONSTRAINT availability_region_format CHECK (region ~ '^[A-Z]{2}$'),
    CONSTRAINT availability_offer_type_check CHECK (offer_type IN ('subscription', 'rent', 'buy', 'free')),
    CONSTRAINT availability_price_nonnegative CHECK (price IS NULL OR price >= 0),
    CONSTRAINT availability_currency_format CHECK (currency IS NULL OR currency ~ '^[A-Z]{3}$'),
    CONSTRAINT availability_price_has_currency CHECK (price IS NULL OR currency IS NOT NULL),
    CONSTRAINT availability_window CHECK (available_from IS NULL OR available_until IS NULL OR available_until > available_from)
);
COMMENT ON TABLE content.availability IS 'Where and how content can be watched: platform, region, offer type, price, deep link and window.';
CREATE INDEX availability_platform_region_idx ON content.availability (platform, region, content_id);
CREATE INDEX availability_region_content_id_idx ON content.availability (region, content_id);
CREATE INDEX availability_available_until_idx ON content.availability (available_until) WHERE available_until IS NOT NULL;
