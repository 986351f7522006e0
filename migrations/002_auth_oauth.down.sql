-- service: auth
-- Reverses 002_auth_oauth: drops sessions, refresh tokens and families, device and authorization codes, and OAuth clients.

DROP TABLE auth.sessions;
DROP TABLE auth.refresh_tokens;
DROP TABLE auth.refresh_token_families;
DROP TABLE auth.device_codes;
DROP TABLE auth.authorization_codes;
DROP TABLE auth.oauth_clients;
