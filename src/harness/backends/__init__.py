"""Backends behind one interface: resolve each by env URL → container → process → embedded.

>>> from harness.backends import resolve, SPECS
>>> with resolve(SPECS["redis"]) as redis_backend:
...     print(redis_backend.mode, redis_backend.url)
"""

from harness.backends import influxdb, kafka, postgres, qdrant, redis
from harness.backends.base import (
    RESOLUTION_ORDER,
    Backend,
    BackendSpec,
    BackendUnavailable,
    BackendUnhealthy,
    FaultNotSupported,
    Mode,
    resolve,
)

SPECS: dict[str, BackendSpec] = {
    spec.name: spec for spec in (postgres.SPEC, redis.SPEC, kafka.SPEC, qdrant.SPEC, influxdb.SPEC)
}
"""Every backend the harness provides, by name: the reference stack's four, and InfluxDB for
load results."""

__all__ = [
    "RESOLUTION_ORDER",
    "SPECS",
    "Backend",
    "BackendSpec",
    "BackendUnavailable",
    "BackendUnhealthy",
    "FaultNotSupported",
    "Mode",
    "resolve",
]
