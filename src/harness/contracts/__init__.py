"""Contract checks: OpenAPI documents and event schemas (JSON only; never imports mediagw)."""
