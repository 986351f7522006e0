-- service: auth
-- Reverses 003_auth_mfa_api_keys: drops API keys, MFA recovery codes and MFA secrets.

DROP TABLE auth.api_keys;
DROP TABLE auth.mfa_recovery_codes;
DROP TABLE auth.mfa_secrets;
