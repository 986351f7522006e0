"""Auth service: users, OAuth 2.0 (PKCE, device grant), tokens with refresh families, sessions,
MFA and API keys."""
