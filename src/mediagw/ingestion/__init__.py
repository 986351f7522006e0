"""Ingestion: platform feeds → normalised, resolved catalogue entries, vectors and Kafka events."""
