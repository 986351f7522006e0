"""The version of each service's API contract: ``info.version`` of its OpenAPI document.

Separate from the package version: a document's major changes exactly when a client written
against the previous one can break (``mgh contracts check --base REV`` refuses a breaking change
that keeps the major). auth and sync went to 1.0.0 when their documents started stating rules the
services already enforced (password policy, printable names, the device-code body): documented
input narrowed, so existing clients generated from 0.1 may now be refused by their own
validation. The gateway's document contains theirs, so it moved with them.
"""

API_VERSIONS = {
    "gateway": "1.0.0",
    "auth": "1.0.0",
    "discovery": "0.1.0",
    "sona": "0.1.0",
    "sync": "1.0.0",
    "playback": "0.1.0",
    "ingestion": "0.1.0",
}
