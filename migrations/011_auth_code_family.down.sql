-- service: auth
-- Reverses 011: drops the authorization code's link to the session it started.

DROP INDEX auth.authorization_codes_family_id_idx;
ALTER TABLE auth.authorization_codes DROP CONSTRAINT authorization_codes_family_id_fkey;
ALTER TABLE auth.authorization_codes DROP COLUMN family_id;
