-- service: auth
-- Reverses 001_auth_users: drops the audit log, token tables, credentials, users and the auth schema.

DROP TABLE auth.audit_log;
DROP TABLE auth.password_resets;
DROP TABLE auth.email_verifications;
DROP TABLE auth.credentials;
DROP TABLE auth.users;
DROP SCHEMA auth;
