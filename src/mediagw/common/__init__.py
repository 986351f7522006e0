"""What every service shares: settings, errors, middleware, metrics, tokens, storage clients."""
