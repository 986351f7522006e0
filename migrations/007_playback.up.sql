-- service: playback
-- Creates the playback schema: latest progress per user and title (continue watching) and the history of playback sessions.

CREATE SCHEMA playback;
COMMENT ON SCHEMA playback IS 'Playback service: progress and history (live sessions are in Redis).';

CREATE TABLE playback.progress (
    user_id          uuid        NOT NULL,
    content_id       uuid        NOT NULL,
    position_seconds integer     NOT NULL,
    duration_seconds integer     NOT NULL,
    completed        boolean     NOT NULL DEFAULT false,
    device_id        text,
    session_id       uuid,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT progress_pkey PRIMARY KEY (user_id, content_id),
    CONSTRAINT progress_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT progress_content_id_fkey FOREIGN KEY (content_id) REFERENCES content.content (id) ON DELETE CASCADE,
    CONSTRAINT progress_position_nonnegative CHECK (position_seconds >= 0),
    CONSTRAINT progress_duration_positive CHECK (duration_seconds > 0),
    CONSTRAINT progress_position_within_duration CHECK (position_seconds <= duration_seconds),
    CONSTRAINT progress_device_id_length CHECK (device_id IS NULL OR char_length(device_id) BETWEEN 1 AND 128)
);
COMMENT ON TABLE playback.progress IS 'Latest playback position per user and content item; source of continue watching.';
CREATE INDEX progress_user_id_updated_at_idx ON playback.progress (user_id, updated_at DESC);
CREATE INDEX progress_content_id_idx ON playback.progress (content_id);

CREATE TABLE playback.history (
    id               bigint      GENERATED ALWAYS AS IDENTITY,
    session_id       uuid        NOT NULL,
    user_id          uuid        NOT NULL,
    content_id       uuid        NOT NULL,
    device_id        text,
    platform         text,
    started_at       timestamptz NOT NULL DEFAULT now(),
    ended_at         timestamptz,
    position_seconds integer     NOT NULL DEFAULT 0,
    duration_seconds integer,
    completed        boolean     NOT NULL DEFAULT false,
    CONSTRAINT history_pkey PRIMARY KEY (id),
    CONSTRAINT history_session_id_key UNIQUE (session_id),
    CONSTRAINT history_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT history_content_id_fkey FOREIGN KEY (content_id) REFERENCES content.content (id) ON DELETE CASCADE,
    CONSTRAINT history_position_nonnegative CHECK (position_seconds >= 0),
    CONSTRAINT history_duration_positive CHECK (duration_seconds IS NULL OR duration_seconds > 0),
    CONSTRAINT history_position_within_duration CHECK (duration_seconds IS NULL OR position_seconds <= duration_seconds),
    CONSTRAINT history_ended_after_started CHECK (ended_at IS NULL OR ended_at >= started_at),
    CONSTRAINT history_device_id_length CHECK (device_id IS NULL OR char_length(device_id) BETWEEN 1 AND 128)
);
COMMENT ON TABLE playback.history IS 'One row per playback session (start, stop, last position), for GET /playback/history.';
CREATE INDEX history_user_id_started_at_idx ON playback.history (user_id, started_at DESC);
CREATE INDEX history_content_id_idx ON playback.history (content_id);
