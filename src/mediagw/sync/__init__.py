"""Sync service: WebSocket sessions, CRDT state (HLC, LWW registers, OR-sets), presence."""
