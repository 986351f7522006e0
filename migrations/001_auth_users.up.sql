-- service: auth
-- Creates the auth schema with user accounts, argon2id credentials, email verification and password reset tokens, and the security audit log.

CREATE SCHEMA auth;
COMMENT ON SCHEMA auth IS 'Auth service: users, credentials, OAuth clients, codes, tokens, sessions, MFA, API keys.';

CREATE TABLE auth.users (
    id                uuid        NOT NULL DEFAULT gen_random_uuid(),
    email             text        NOT NULL,
    display_name      text,
    email_verified_at timestamptz,
    status            text        NOT NULL DEFAULT 'active',
    roles             text[]      NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_email_format CHECK (char_length(email) <= 320 AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    CONSTRAINT users_display_name_length CHECK (display_name IS NULL OR char_length(display_name) BETWEEN 1 AND 100),
    CONSTRAINT users_status_check CHECK (status IN ('active', 'disabled')),
    CONSTRAINT users_roles_check CHECK (roles <@ ARRAY['admin']::text[])
);
COMMENT ON TABLE auth.users IS 'One row per account; email is unique case-insensitively.';
COMMENT ON COLUMN auth.users.roles IS 'Elevated roles; ''admin'' lets the user obtain the admin scope (client registration, ingestion).';
CREATE UNIQUE INDEX users_email_lower_key ON auth.users (lower(email));

CREATE TABLE auth.credentials (
    user_id       uuid        NOT NULL,
    password_hash text        NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT credentials_pkey PRIMARY KEY (user_id),
    CONSTRAINT credentials_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT credentials_password_hash_argon2id CHECK (password_hash LIKE '$argon2id$%')
);
COMMENT ON TABLE auth.credentials IS 'Password hash (argon2id PHC string) per user.';

CREATE TABLE auth.email_verifications (
    token_hash text        NOT NULL,
    user_id    uuid        NOT NULL,
    email      text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    CONSTRAINT email_verifications_pkey PRIMARY KEY (token_hash),
    CONSTRAINT email_verifications_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT email_verifications_token_hash_length CHECK (char_length(token_hash) BETWEEN 32 AND 256),
    CONSTRAINT email_verifications_expiry CHECK (expires_at > created_at),
    CONSTRAINT email_verifications_used_after_created CHECK (used_at IS NULL OR used_at >= created_at)
);
COMMENT ON TABLE auth.email_verifications IS 'Single-use email verification tokens, stored only as hashes.';
CREATE INDEX email_verifications_user_id_idx ON auth.email_verifications (user_id);
CREATE INDEX email_verifications_expires_at_idx ON auth.email_verifications (expires_at);

CREATE TABLE auth.password_resets (
    token_hash text        NOT NULL,
    user_id    uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    CONSTRAINT password_resets_pkey PRIMARY KEY (token_hash),
    CONSTRAINT password_resets_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT password_resets_token_hash_length CHECK (char_length(token_hash) BETWEEN 32 AND 256),
    CONSTRAINT password_resets_expiry CHECK (expires_at > created_at),
    CONSTRAINT password_resets_used_after_created CHECK (used_at IS NULL OR used_at >= created_at)
);
COMMENT ON TABLE auth.password_resets IS 'Single-use password reset tokens, stored only as hashes.';
CREATE INDEX password_resets_user_id_idx ON auth.password_resets (user_id);
CREATE INDEX password_resets_expires_at_idx ON auth.password_resets (expires_at);

CREATE TABLE auth.audit_log (
    id         bigint      GENERATED ALWAYS AS IDENTITY,
    user_id    uuid,
    event      text        NOT NULL,
    detail     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    ip         inet,
    user_agent text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_log_pkey PRIMARY KEY (id),
    CONSTRAINT audit_log_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE SET NULL,
    CONSTRAINT audit_log_event_format CHECK (event ~ '^[a-z][a-z0-9_.]{0,99}$'),
    CONSTRAINT audit_log_detail_object CHECK (jsonb_typeof(detail) = 'object')
);
COMMENT ON TABLE auth.audit_log IS 'Append-only security events (logins, failures, token reuse, revocations); kept after user deletion.';
COMMENT ON COLUMN auth.audit_log.event IS 'Dotted lowercase event name, e.g. login.succeeded, refresh.reuse_detected.';
CREATE INDEX audit_log_user_id_created_at_idx ON auth.audit_log (user_id, created_at DESC);
CREATE INDEX audit_log_event_created_at_idx ON auth.audit_log (event, created_at DESC);
CREATE INDEX audit_log_created_at_idx ON auth.audit_log (created_at);
