"""Read the e-mails the stack sent (the auth service's file outbox), e.g. to follow a link."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

TOKEN_IN_LINK = re.compile(r"[?&]token=([A-Za-z0-9_\-.~]+)")


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    kind: str
    path: Path

    def link_token(self) -> str:
        match = TOKEN_IN_LINK.search(self.text)
        if match is None:
            raise LookupError(f"no token link in the {self.kind} e-mail to {self.to}")
        return match.group(1)


class Mailbox:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def messages(self, to: str | None = None, kind: str | None = None) -> list[Mail]:
        found = []
        for path in sorted(self.directory.glob("*.json")):
            data = json.loads(path.read_text())
            mail = Mail(data["to"], data["subject"], data["text"], data["kind"], path)
            if (to is None or mail.to.lower() == to.lower()) and (
                kind is None or mail.kind == kind
            ):
                found.append(mail)
        return found

    def wait_for(self, to: str, kind: str, timeout: float = 10.0) -> Mail:
        """The newest message of ``kind`` to ``to``, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            matches = self.messages(to, kind)
            if matches:
                return matches[-1]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {kind} e-mail to {to} within {timeout:.0f}s")
            time.sleep(0.05)
