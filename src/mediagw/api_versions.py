"""The version of each service's API contract: ``info.version`` of its OpenAPI document.

Separate from the package version: a document's major changes exactly when a client written
against the previous one can break (``mgh contracts check --base REV`` refuses a breaking change
that keeps the major). auth and sync went to 1.0.0 when their documents started stating rules the
services already enforced (password policy, printable names, the device-code body): documented
input narrowed, so existing clients generated from 0.1 may now be refused by their own
validation. The gateway's document contains theirs, so it moved with them.

auth and sync 2.0.0, discovery, ingestion and playback 1.0.0 (gateway 2.0.0 with them): the
documents state every input rule the services enforce, so that a request the document admits
is never refused with 400/422 (patterns for passwords, redirect URIs, scopes, feed names and
URLs, typed text; ``oneOf``/``if``-``then`` for one-of and depends-on rules), and rules that
depend on the server's state or configuration answer 403/404 instead of 400/422. Id path
parameters carry their UUID pattern: an id of another shape is no resource (404).
"""

API_VERSIONS = {
    "gateway": "2.0.0",
    "auth": "2.0.0",
    "discovery": "1.0.0",
    "sona": "0.1.0",
    "sync": "2.0.0",
    "playback": "1.0.0",
    "ingestion": "1.0.0",
}
