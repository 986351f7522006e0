"""API gateway: one public entry routing ``/api/v1/...`` to the services."""
