-- service: users
-- Creates the users schema: per-user profile (region, language), stated preferences used for cold-start recommendations, and registered devices.

CREATE SCHEMA users;
COMMENT ON SCHEMA users IS 'Users service: profiles, preferences, devices.';

CREATE TABLE users.profiles (
    user_id      uuid        NOT NULL,
    display_name text,
    region       char(2)     NOT NULL DEFAULT 'US',
    language     text        NOT NULL DEFAULT 'en',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT profiles_pkey PRIMARY KEY (user_id),
    CONSTRAINT profiles_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT profiles_display_name_length CHECK (display_name IS NULL OR char_length(display_name) BETWEEN 1 AND 100),
    CONSTRAINT profiles_region_format CHECK (region ~ '^[A-Z]{2}$'),
    CONSTRAINT profiles_language_format CHECK (language ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$')
);
COMMENT ON TABLE users.profiles IS 'Public profile per user: display name, region (for availability) and language.';

CREATE TABLE users.preferences (
    user_id         uuid        NOT NULL,
    genres          text[]      NOT NULL DEFAULT '{}',
    moods           text[]      NOT NULL DEFAULT '{}',
    platforms       text[]      NOT NULL DEFAULT '{}',
    maturity_rating text,
    extras          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT preferences_pkey PRIMARY KEY (user_id),
    CONSTRAINT preferences_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT preferences_maturity_rating_length CHECK (maturity_rating IS NULL OR char_length(maturity_rating) BETWEEN 1 AND 16),
    CONSTRAINT preferences_extras_object CHECK (jsonb_typeof(extras) = 'object'),
    CONSTRAINT preferences_list_sizes CHECK (cardinality(genres) <= 100 AND cardinality(moods) <= 100 AND cardinality(platforms) <= 100)
);
COMMENT ON TABLE users.preferences IS 'Stated preferences (genres, moods, subscribed platforms, maturity) used by SONA cold start and search filters.';
COMMENT ON COLUMN users.preferences.platforms IS 'content.platforms ids the user subscribes to (not a foreign key: arrays cannot reference).';

CREATE TABLE users.devices (
    id           uuid        NOT NULL DEFAULT gen_random_uuid(),
    user_id      uuid        NOT NULL,
    device_key   text        NOT NULL,
    type         text        NOT NULL,
    name         text,
    platform     text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT devices_pkey PRIMARY KEY (id),
    CONSTRAINT devices_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT devices_user_id_device_key_key UNIQUE (user_id, device_key),
    CONSTRAINT devices_device_key_length CHECK (char_length(device_key) BETWEEN 1 AND 128),
    CONSTRAINT devices_type_check CHECK (type IN ('tv', 'phone', 'tablet', 'web', 'desktop')),
    CONSTRAINT devices_name_length CHECK (name IS NULL OR char_length(name) BETWEEN 1 AND 200),
    CONSTRAINT devices_platform_length CHECK (platform IS NULL OR char_length(platform) BETWEEN 1 AND 64)
);
COMMENT ON TABLE users.devices IS 'Devices a user has registered; device_key is the client-chosen device id used by sync, playback and sessions.';
