"""Whether a request already passed the edge: the all-in-one gateway's own edge layer.

The gateway sets ``PASSED_THE_EDGE`` in the scope of a request it hands to a service mounted in
its process. The edge's work (request id, security headers, header and body limits) was done
once at the gateway, so the service's own edge layer (``common.middleware.EdgeMiddleware``)
skips it instead of doing it a second time. Metrics and the last-resort error answer still
run: they are the service's own. A client cannot set the key: the ASGI scope is the server's.
"""

from __future__ import annotations

from starlette.types import Scope

PASSED_THE_EDGE = "mediagw.passed_the_edge"


def passed_the_edge(scope: Scope) -> bool:
    return bool(scope.get(PASSED_THE_EDGE))


__all__ = ["PASSED_THE_EDGE", "passed_the_edge"]
