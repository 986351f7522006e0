-- service: ingestion
-- Creates the ingestion schema: ingestion runs with their counters, and the transactional outbox that feeds Kafka.

CREATE SCHEMA ingestion;
COMMENT ON SCHEMA ingestion IS 'Ingestion service: runs and the event outbox.';

CREATE TABLE ingestion.runs (
    id             uuid        NOT NULL DEFAULT gen_random_uuid(),
    platform       text        NOT NULL,
    source         text        NOT NULL,
    status         text        NOT NULL DEFAULT 'queued',
    requested_by   uuid,
    fetched_count  integer     NOT NULL DEFAULT 0,
    new_count      integer     NOT NULL DEFAULT 0,
    updated_count  integer     NOT NULL DEFAULT 0,
    merged_count   integer     NOT NULL DEFAULT 0,
    failed_count   integer     NOT NULL DEFAULT 0,
    events_pending integer     NOT NULL DEFAULT 0,
    events_sent    integer     NOT NULL DEFAULT 0,
    error          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT runs_pkey PRIMARY KEY (id),
    CONSTRAINT runs_requested_by_fkey FOREIGN KEY (requested_by) REFERENCES auth.users (id) ON DELETE SET NULL,
    CONSTRAINT runs_platform_format CHECK (platform ~ '^[a-z0-9][a-z0-9_]{0,63}$'),
    CONSTRAINT runs_source_length CHECK (char_length(source) BETWEEN 1 AND 2048),
    CONSTRAINT runs_status_check CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    CONSTRAINT runs_counts_nonnegative CHECK (
        fetched_count >= 0 AND new_count >= 0 AND updated_count >= 0 AND merged_count >= 0
        AND failed_count >= 0 AND events_pending >= 0 AND events_sent >= 0
    ),
    CONSTRAINT runs_started_when_running CHECK (status NOT IN ('running', 'succeeded') OR started_at IS NOT NULL),
    CONSTRAINT runs_finished_iff_terminal CHECK ((finished_at IS NOT NULL) = (status IN ('succeeded', 'failed'))),
    CONSTRAINT runs_finished_after_started CHECK (finished_at IS NULL OR started_at IS NULL OR finished_at >= started_at)
);
COMMENT ON TABLE ingestion.runs IS 'One ingestion run of a platform feed: status and fetched/new/updated/merged/failed and event counters.';
COMMENT ON COLUMN ingestion.runs.source IS 'Feed source of the run (adapter name, file path or URL).';
CREATE INDEX runs_status_created_at_idx ON ingestion.runs (status, created_at);
CREATE INDEX runs_platform_created_at_idx ON ingestion.runs (platform, created_at DESC);

CREATE TABLE ingestion.outbox (
    event_id        uuid        NOT NULL DEFAULT gen_random_uuid(),
    run_id          uuid,
    topic           text        NOT NULL,
    event_type      text        NOT NULL,
    key             text        NOT NULL,
    payload         jsonb       NOT NULL,
    schema_version  integer     NOT NULL DEFAULT 1,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT outbox_pkey PRIMARY KEY (event_id),
    CONSTRAINT outbox_run_id_fkey FOREIGN KEY (run_id) REFERENCES ingestion.runs (id) ON DELETE SET NULL,
    CONSTRAINT outbox_topic_format CHECK (topic ~ '^[A-Za-z0-9._-]{1,249}$'),
    CONSTRAINT outbox_event_type_length CHECK (char_length(event_type) BETWEEN 1 AND 128),
    CONSTRAINT outbox_key_length CHECK (char_length(key) BETWEEN 1 AND 256),
    CONSTRAINT outbox_schema_version_positive CHECK (schema_version >= 1),
    CONSTRAINT outbox_attempts_nonnegative CHECK (attempts >= 0),
    CONSTRAINT outbox_sent_after_created CHECK (sent_at IS NULL OR sent_at >= created_at)
);
COMMENT ON TABLE ingestion.outbox IS 'Transactional outbox of Kafka events (content.ingested, content.updated, availability.changed); a relay publishes rows and sets sent_at.';
COMMENT ON COLUMN ingestion.outbox.topic IS 'Kafka topic; free-form (Kafka naming rules) so tests can use unique topic names.';
CREATE INDEX outbox_unsent_created_at_idx ON ingestion.outbox (created_at) WHERE sent_at IS NULL;
CREATE INDEX outbox_run_id_idx ON ingestion.outbox (run_id);
