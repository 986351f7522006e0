-- service: auth
-- Adds OAuth 2 clients, PKCE authorization codes, device codes, rotating refresh-token families and the durable session record.

CREATE TABLE auth.oauth_clients (
    client_id          text        NOT NULL,
    client_secret_hash text,
    name               text        NOT NULL,
    redirect_uris      text[]      NOT NULL DEFAULT '{}',
    allowed_scopes     text[]      NOT NULL DEFAULT '{}',
    grant_types        text[]      NOT NULL,
    is_public          boolean     NOT NULL,
    created_by         uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT oauth_clients_pkey PRIMARY KEY (client_id),
    CONSTRAINT oauth_clients_created_by_fkey FOREIGN KEY (created_by) REFERENCES auth.users (id) ON DELETE SET NULL,
    CONSTRAINT oauth_clients_client_id_format CHECK (client_id ~ '^[A-Za-z0-9._~-]{3,128}$'),
    CONSTRAINT oauth_clients_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    CONSTRAINT oauth_clients_secret_iff_confidential CHECK (is_public = (client_secret_hash IS NULL)),
    CONSTRAINT oauth_clients_grant_types_check CHECK (
        cardinality(grant_types) >= 1
        AND grant_types <@ ARRAY['authorization_code', 'refresh_token', 'device_code',
                                 'urn:ietf:params:oauth:grant-type:device_code', 'client_credentials']::text[]
    ),
    CONSTRAINT oauth_clients_redirect_uris_required CHECK (
        NOT ('authorization_code' = ANY (grant_types)) OR cardinality(redirect_uris) >= 1
    )
);
COMMENT ON TABLE auth.oauth_clients IS 'Registered OAuth clients with their exact redirect URIs, scopes and grant types.';
COMMENT ON COLUMN auth.oauth_clients.redirect_uris IS 'Exact-match redirect URIs; required (non-empty) when the client may use authorization_code.';

CREATE TABLE auth.authorization_codes (
    code_hash             text        NOT NULL,
    client_id             text        NOT NULL,
    user_id               uuid        NOT NULL,
    redirect_uri          text        NOT NULL,
    scope                 text        NOT NULL DEFAULT '',
    code_challenge        text        NOT NULL,
    code_challenge_method text        NOT NULL DEFAULT 'S256',
    created_at            timestamptz NOT NULL DEFAULT now(),
    expires_at            timestamptz NOT NULL,
    used_at               timestamptz,
    CONSTRAINT authorization_codes_pkey PRIMARY KEY (code_hash),
    CONSTRAINT authorization_codes_client_id_fkey FOREIGN KEY (client_id) REFERENCES auth.oauth_clients (client_id) ON DELETE CASCADE,
    CONSTRAINT authorization_codes_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT authorization_codes_code_challenge_format CHECK (code_challenge ~ '^[A-Za-z0-9_-]{43}$'),
    CONSTRAINT authorization_codes_code_challenge_method_check CHECK (code_challenge_method = 'S256'),
    CONSTRAINT authorization_codes_expiry CHECK (expires_at > created_at),
    CONSTRAINT authorization_codes_used_after_created CHECK (used_at IS NULL OR used_at >= created_at)
);
COMMENT ON TABLE auth.authorization_codes IS 'Single-use PKCE (S256) authorization codes, stored as hashes, valid about 60 s.';
CREATE INDEX authorization_codes_client_id_idx ON auth.authorization_codes (client_id);
CREATE INDEX authorization_codes_user_id_idx ON auth.authorization_codes (user_id);
CREATE INDEX authorization_codes_expires_at_idx ON auth.authorization_codes (expires_at);

CREATE TABLE auth.device_codes (
    device_code_hash text        NOT NULL,
    user_code        text        NOT NULL,
    client_id        text        NOT NULL,
    scope            text        NOT NULL DEFAULT '',
    user_id          uuid,
    status           text        NOT NULL DEFAULT 'pending',
    interval_seconds integer     NOT NULL DEFAULT 5,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    last_polled_at   timestamptz,
    approved_at      timestamptz,
    used_at          timestamptz,
    CONSTRAINT device_codes_pkey PRIMARY KEY (device_code_hash),
    CONSTRAINT device_codes_user_code_key UNIQUE (user_code),
    CONSTRAINT device_codes_client_id_fkey FOREIGN KEY (client_id) REFERENCES auth.oauth_clients (client_id) ON DELETE CASCADE,
    CONSTRAINT device_codes_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT device_codes_user_code_format CHECK (user_code ~ '^[A-Z0-9-]{6,16}$'),
    CONSTRAINT device_codes_status_check CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
    CONSTRAINT device_codes_approved_has_user CHECK (status <> 'approved' OR (user_id IS NOT NULL AND approved_at IS NOT NULL)),
    CONSTRAINT device_codes_used_only_when_approved CHECK (used_at IS NULL OR status = 'approved'),
    CONSTRAINT device_codes_interval_bounds CHECK (interval_seconds BETWEEN 1 AND 60),
    CONSTRAINT device_codes_expiry CHECK (expires_at > created_at)
);
COMMENT ON TABLE auth.device_codes IS 'Device authorization grant (RFC 8628) requests: device code hash, user code, approval state and polling.';
COMMENT ON COLUMN auth.device_codes.used_at IS 'Set when tokens were issued for this approved code; a code is exchanged at most once.';
CREATE INDEX device_codes_client_id_idx ON auth.device_codes (client_id);
CREATE INDEX device_codes_user_id_idx ON auth.device_codes (user_id);
CREATE INDEX device_codes_expires_at_idx ON auth.device_codes (expires_at);

CREATE TABLE auth.refresh_token_families (
    id             uuid        NOT NULL DEFAULT gen_random_uuid(),
    user_id        uuid        NOT NULL,
    client_id      text,
    device_id      text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_reason text,
    CONSTRAINT refresh_token_families_pkey PRIMARY KEY (id),
    CONSTRAINT refresh_token_families_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT refresh_token_families_client_id_fkey FOREIGN KEY (client_id) REFERENCES auth.oauth_clients (client_id) ON DELETE CASCADE,
    CONSTRAINT refresh_token_families_device_id_length CHECK (device_id IS NULL OR char_length(device_id) BETWEEN 1 AND 128),
    CONSTRAINT refresh_token_families_reason_needs_revocation CHECK (revoked_reason IS NULL OR revoked_at IS NOT NULL),
    CONSTRAINT refresh_token_families_reason_length CHECK (revoked_reason IS NULL OR char_length(revoked_reason) BETWEEN 1 AND 200)
);
COMMENT ON TABLE auth.refresh_token_families IS 'One lineage of rotated refresh tokens per login; revoking the family (e.g. on reuse) kills every token in it.';
COMMENT ON COLUMN auth.refresh_token_families.revoked_reason IS 'Why the family was revoked, e.g. logout, reuse_detected, password_reset, session_revoked.';
CREATE INDEX refresh_token_families_user_id_idx ON auth.refresh_token_families (user_id);
CREATE INDEX refresh_token_families_client_id_idx ON auth.refresh_token_families (client_id);

CREATE TABLE auth.refresh_tokens (
    token_hash  text        NOT NULL,
    family_id   uuid        NOT NULL,
    parent_hash text,
    user_id     uuid        NOT NULL,
    scope       text        NOT NULL DEFAULT '',
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz,
    revoked_at  timestamptz,
    CONSTRAINT refresh_tokens_pkey PRIMARY KEY (token_hash),
    CONSTRAINT refresh_tokens_family_id_fkey FOREIGN KEY (family_id) REFERENCES auth.refresh_token_families (id) ON DELETE CASCADE,
    CONSTRAINT refresh_tokens_parent_hash_fkey FOREIGN KEY (parent_hash) REFERENCES auth.refresh_tokens (token_hash) ON DELETE SET NULL,
    CONSTRAINT refresh_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT refresh_tokens_not_own_parent CHECK (parent_hash IS NULL OR parent_hash <> token_hash),
    CONSTRAINT refresh_tokens_expiry CHECK (expires_at > issued_at),
    CONSTRAINT refresh_tokens_rotated_after_issue CHECK (rotated_at IS NULL OR rotated_at >= issued_at)
);
COMMENT ON TABLE auth.refresh_tokens IS 'Refresh tokens (hashes only) with their family and parent; a rotated token presented again is reuse.';
COMMENT ON COLUMN auth.refresh_tokens.parent_hash IS 'The token this one replaced; unique, so a token can be rotated only once even under concurrent refreshes.';
CREATE INDEX refresh_tokens_family_id_idx ON auth.refresh_tokens (family_id);
CREATE UNIQUE INDEX refresh_tokens_parent_hash_key ON auth.refresh_tokens (parent_hash);
CREATE INDEX refresh_tokens_user_id_idx ON auth.refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_at_idx ON auth.refresh_tokens (expires_at);

CREATE TABLE auth.sessions (
    id             uuid        NOT NULL DEFAULT gen_random_uuid(),
    user_id        uuid        NOT NULL,
    family_id      uuid,
    device_id      text,
    device_name    text,
    user_agent     text,
    ip             inet,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz,
    revoked_at     timestamptz,
    revoked_reason text,
    CONSTRAINT sessions_pkey PRIMARY KEY (id),
    CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT sessions_family_id_fkey FOREIGN KEY (family_id) REFERENCES auth.refresh_token_families (id) ON DELETE CASCADE,
    CONSTRAINT sessions_device_id_length CHECK (device_id IS NULL OR char_length(device_id) BETWEEN 1 AND 128),
    CONSTRAINT sessions_device_name_length CHECK (device_name IS NULL OR char_length(device_name) <= 200),
    CONSTRAINT sessions_last_seen_after_created CHECK (last_seen_at >= created_at),
    CONSTRAINT sessions_expiry CHECK (expires_at IS NULL OR expires_at > created_at),
    CONSTRAINT sessions_reason_needs_revocation CHECK (revoked_reason IS NULL OR revoked_at IS NOT NULL)
);
COMMENT ON TABLE auth.sessions IS 'Durable record of login sessions for listing and audit; live session state is in Redis (session:{id}).';
CREATE INDEX sessions_user_id_created_at_idx ON auth.sessions (user_id, created_at DESC);
CREATE INDEX sessions_family_id_idx ON auth.sessions (family_id);
