"""What every service shares: settings, errors, middleware, metrics, tokens, storage clients."""

# Registers the `uuid_text` path convertor before any service declares a route with it.
from mediagw.common import paths as _paths  # noqa: F401 — imported for its registration
