"""Outgoing e-mail behind one interface: SMTP for real deployments, a file outbox elsewhere.

The file outbox writes one JSON file per message (atomically: temp file + rename) so tests and
local users can read what would have been sent. Neither is a mock: both deliver the message to
its destination — a mail server, or a directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import smtplib
import ssl
import time
import uuid
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from mediagw.auth.settings import AuthSettings


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    kind: str
    """What the message is for: verify_email, password_reset, account_exists …"""


class EmailSender(Protocol):
    async def send(self, email: Email) -> None: ...


class SmtpEmailSender:
    """``smtp://user:password@host:587?starttls=1`` or ``smtps://host:465``."""

    def __init__(self, url: str, sender: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "localhost"
        self.implicit_tls = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.implicit_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.starttls = parse_qs(parts.query).get("starttls", ["0"])[0] in {"1", "true"}
        self.sender = sender

    async def send(self, email: Email) -> None:
        await asyncio.to_thread(self._send, email)

    def _send(self, email: Email) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message["X-Mediagw-Kind"] = email.kind
        message.set_content(email.text)
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.implicit_tls:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=10, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=10)
        with smtp:
            if self.starttls:
                smtp.starttls(context=context)
            if self.username and self.password:
                smtp.login(self.username, self.password)
            smtp.send_message(message)


class FileOutboxEmailSender:
    """Writes each message as ``<outbox>/<epoch-ns>-<id>.json``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def send(self, email: Email) -> None:
        await asyncio.to_thread(self._write, email)

    def _write(self, email: Email) -> None:
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex}.json"  # names sort in sending order
        temporary = self.directory / f".{name}.tmp"
        temporary.write_text(json.dumps({**asdict(email), "sent_at": time.time()}))
        os.replace(temporary, self.directory / name)


def email_sender(settings: AuthSettings) -> EmailSender:
    if settings.smtp_url:
        return SmtpEmailSender(settings.smtp_url, settings.email_from)
    assert settings.email_outbox_dir is not None  # AuthSettings requires one of the two
    return FileOutboxEmailSender(settings.email_outbox_dir)
