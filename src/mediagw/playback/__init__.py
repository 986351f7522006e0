"""The playback service: sessions, progress, continue watching, history and deep links."""
