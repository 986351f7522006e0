-- service: auth
-- Remembers the session (refresh-token family) each authorization code started, so that a second use of the code revokes it and every token issued from it (RFC 6749 §4.1.2).

ALTER TABLE auth.authorization_codes ADD COLUMN family_id uuid;
ALTER TABLE auth.authorization_codes ADD CONSTRAINT authorization_codes_family_id_fkey FOREIGN KEY (family_id) REFERENCES auth.refresh_token_families (id) ON DELETE SET NULL;
CREATE INDEX authorization_codes_family_id_idx ON auth.authorization_codes (family_id);
COMMENT ON COLUMN auth.authorization_codes.family_id IS 'The session this code started; revoked if the code is presented again.';
