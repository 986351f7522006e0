"""HTTP routes of the auth service, one module per concern."""
