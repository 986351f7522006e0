"""Keep BLAS single-threaded in the serving process.

SONA's request-path math is small (a 3,000 x 384 matrix-vector product, a few hundred dot
products). Multi-threaded OpenBLAS splits even those across cores and its threads spin and
contend with the event loop, PostgreSQL and Redis for two cores: measured here, recommendation
p95 went from ≈ 1.4 ms to ≈ 9 ms with jitter. The server gets its parallelism from concurrent
requests instead, so BLAS is limited to one thread (``MG_BLAS_THREADS``; 0 leaves it alone).

numpy offers no API for this; the OpenBLAS libraries loaded in the process are found in
``/proc/self/maps`` and told through their exported setter (what ``threadpoolctl`` does).
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

log = logging.getLogger("mediagw.sona")
SETTERS = (
    "openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
)
GETTERS = (
    "openblas_get_num_threads",
    "openblas_get_num_threads64_",
    "scipy_openblas_get_num_threads64_",
    "scipy_openblas_get_num_threads",
)


def _openblas_libraries() -> list[str]:
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:  # not Linux: nothing to do
        return []
    paths = {
        fields[-1]
        for line in maps.splitlines()
        if len(fields := line.split()) >= 6 and "openblas" in fields[-1].lower()
    }
    return sorted(path for path in paths if path.startswith("/") and ".so" in path)


def _call(path: str, names: tuple[str, ...], *args: int) -> int | None:
    try:
        library = ctypes.CDLL(path)
    except OSError:
        return None
    for name in names:
        function = getattr(library, name, None)
        if function is not None:
            result = function(*args)
            return int(result) if result is not None else 0
    return None


def blas_threads() -> dict[str, int]:
    """Thread count of each OpenBLAS loaded in this process, by library path."""
    counts = {}
    for path in _openblas_libraries():
        count = _call(path, GETTERS)
        if count is not None:
            counts[path] = count
    return counts


def limit_blas_threads(count: int) -> list[str]:
    """Set every loaded OpenBLAS to ``count`` threads; returns the libraries changed."""
    changed = []
    for path in _openblas_libraries():
        if _call(path, SETTERS, count) is not None:
            changed.append(path)
    if changed:
        log.info("BLAS limited to %d thread(s): %s", count, ", ".join(changed))
    return changed
