-- service: auth
-- Adds TOTP MFA secrets with single-use recovery codes, and hashed personal API keys.

CREATE TABLE auth.mfa_secrets (
    user_id        uuid        NOT NULL,
    secret         text        NOT NULL,
    enabled_at     timestamptz,
    last_used_step bigint,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT mfa_secrets_pkey PRIMARY KEY (user_id),
    CONSTRAINT mfa_secrets_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT mfa_secrets_secret_not_empty CHECK (char_length(secret) > 0),
    CONSTRAINT mfa_secrets_last_used_step_nonnegative CHECK (last_used_step IS NULL OR last_used_step >= 0)
);
COMMENT ON TABLE auth.mfa_secrets IS 'Encrypted TOTP secret per user; MFA is active once enabled_at is set.';
COMMENT ON COLUMN auth.mfa_secrets.secret IS 'Opaque ciphertext of the TOTP seed (never the plain seed).';
COMMENT ON COLUMN auth.mfa_secrets.last_used_step IS 'Last accepted TOTP time step, so one code cannot be replayed.';

CREATE TABLE auth.mfa_recovery_codes (
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    user_id    uuid        NOT NULL,
    code_hash  text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz,
    CONSTRAINT mfa_recovery_codes_pkey PRIMARY KEY (id),
    CONSTRAINT mfa_recovery_codes_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT mfa_recovery_codes_user_id_code_hash_key UNIQUE (user_id, code_hash),
    CONSTRAINT mfa_recovery_codes_code_hash_not_empty CHECK (char_length(code_hash) > 0)
);
COMMENT ON TABLE auth.mfa_recovery_codes IS 'Hashed single-use MFA recovery codes.';

CREATE TABLE auth.api_keys (
    id           uuid        NOT NULL DEFAULT gen_random_uuid(),
    user_id      uuid        NOT NULL,
    name         text        NOT NULL,
    prefix       text        NOT NULL,
    key_hash     text        NOT NULL,
    scopes       text[]      NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT api_keys_prefix_key UNIQUE (prefix),
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash),
    CONSTRAINT api_keys_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT api_keys_prefix_format CHECK (prefix ~ '^[A-Za-z0-9_-]{4,32}$'),
    CONSTRAINT api_keys_expiry CHECK (expires_at IS NULL OR expires_at > created_at)
);
COMMENT ON TABLE auth.api_keys IS 'Personal API keys: a public prefix shown to the user plus the hash of the full key.';
CREATE INDEX api_keys_user_id_created_at_idx ON auth.api_keys (user_id, created_at DESC);
