"""Outgoing e-mail: the file outbox (read back by the harness) and SMTP to a real server."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import re
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from harness.backends.process import free_port
from harness.mailbox import Mailbox
from mediagw.auth.email import Email, FileOutboxEmailSender, SmtpEmailSender, email_sender
from mediagw.auth.settings import AuthSettings
from mediagw.common.settings import load_settings

pytestmark = pytest.mark.unit

SENDER = "Media Gateway <no-reply@media-gateway.invalid>"
VERIFY = Email(
    to="Ana@Example.org",
    subject="Confirm your e-mail address",
    text="Open https://media.example.org/verify?token=abc_DEF-123.xyz~9 within a day.\n",
    kind="verify_email",
)
RESET = Email(
    to="bo@example.org",
    subject="Reset your password",
    text="Reset: https://media.example.org/reset?x=1&token=R3set-Token_value\n",
    kind="password_reset",
)


# --- file outbox --------------------------------------------------------------------------


def test_outbox_writes_one_json_file_per_message(tmp_path: Path) -> None:
    outbox = tmp_path / "nested" / "outbox"
    sender = FileOutboxEmailSender(outbox)
    assert outbox.is_dir()
    asyncio.run(sender.send(VERIFY))
    asyncio.run(sender.send(RESET))
    files = sorted(outbox.iterdir())
    assert len(files) == 2
    assert all(path.suffix == ".json" and not path.name.startswith(".") for path in files)
    data = [json.loads(path.read_text()) for path in files]
    assert {d["kind"] for d in data} == {"verify_email", "password_reset"}
    first = next(d for d in data if d["kind"] == "verify_email")
    assert first["to"] == VERIFY.to
    assert first["subject"] == VERIFY.subject
    assert first["text"] == VERIFY.text
    assert isinstance(first["sent_at"], float)


def test_outbox_leaves_no_temporary_files(tmp_path: Path) -> None:
    sender = FileOutboxEmailSender(tmp_path)

    async def send_many() -> None:
        await asyncio.gather(*(sender.send(VERIFY) for _ in range(10)))

    asyncio.run(send_many())
    names = os.listdir(tmp_path)
    assert len(names) == 10
    assert not [name for name in names if name.startswith(".") or name.endswith(".tmp")]


def test_outbox_is_readable_by_the_harness_mailbox(tmp_path: Path) -> None:
    sender = FileOutboxEmailSender(tmp_path)
    asyncio.run(sender.send(VERIFY))
    asyncio.run(sender.send(RESET))
    mailbox = Mailbox(tmp_path)
    assert len(mailbox.messages()) == 2
    mail = mailbox.wait_for("ana@example.org", "verify_email", timeout=1)  # case-insensitive
    assert mail.subject == VERIFY.subject
    assert mail.path.parent == tmp_path
    assert mail.link_token() == "abc_DEF-123.xyz~9"
    reset = mailbox.wait_for(RESET.to, "password_reset", timeout=1)
    assert reset.link_token() == "R3set-Token_value"
    assert mailbox.messages(to=RESET.to, kind="verify_email") == []


def test_mailbox_times_out_naming_what_it_waited_for(tmp_path: Path) -> None:
    asyncio.run(FileOutboxEmailSender(tmp_path).send(VERIFY))
    with pytest.raises(
        TimeoutError, match=re.escape("no password_reset e-mail to ana@example.org")
    ):
        Mailbox(tmp_path).wait_for("ana@example.org", "password_reset", timeout=0.1)


def test_mail_without_a_token_link_says_so(tmp_path: Path) -> None:
    notice = Email("cy@example.org", "Someone tried to register", "No link here.", "account_exists")
    asyncio.run(FileOutboxEmailSender(tmp_path).send(notice))
    mail = Mailbox(tmp_path).wait_for("cy@example.org", "account_exists", timeout=1)
    with pytest.raises(LookupError, match="no token link in the account_exists e-mail"):
        mail.link_token()


# --- SMTP ---------------------------------------------------------------------------------


@dataclass
class Collector:
    """An aiosmtpd handler that keeps every delivered message, and AUTH attempts."""

    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    logins: list[tuple[str, str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 — aiosmtpd hook name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((mechanism, login, password))
        ok = (login, password) == ("mailer@example.org", "p@ss:word")
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


@pytest.fixture
def smtp_server() -> Iterator[tuple[Collector, int]]:
    collector = Collector()
    port = free_port()
    controller = Controller(
        collector,
        hostname="127.0.0.1",
        port=port,
        authenticator=collector.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield collector, port
    finally:
        controller.stop()
        controller.loop.close()


def test_smtp_delivers_the_message(smtp_server: tuple[Collector, int]) -> None:
    collector, port = smtp_server
    sender = SmtpEmailSender(f"smtp://127.0.0.1:{port}", SENDER)
    asyncio.run(sender.send(VERIFY))
    assert len(collector.messages) == 1
    mail_from, rcpt_tos, message = collector.messages[0]
    assert mail_from == "no-reply@media-gateway.invalid"
    assert rcpt_tos == [VERIFY.to]
    assert message["To"] == VERIFY.to
    assert message["From"] == SENDER
    assert message["Subject"] == VERIFY.subject
    assert message["X-Mediagw-Kind"] == "verify_email"
    body = message.get_body(("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == VERIFY.text
    assert collector.logins == []  # no credentials in the URL, no AUTH


def test_smtp_logs_in_with_the_url_credentials(smtp_server: tuple[Collector, int]) -> None:
    collector, port = smtp_server
    url = f"smtp://mailer%40example.org:p%40ss%3Aword@127.0.0.1:{port}"
    asyncio.run(SmtpEmailSender(url, SENDER).send(RESET))
    assert [(login, password) for _, login, password in collector.logins] == [
        ("mailer@example.org", "p@ss:word")
    ]
    assert len(collector.messages) == 1
    assert collector.messages[0][2]["X-Mediagw-Kind"] == "password_reset"


def test_smtp_with_wrong_credentials_raises(smtp_server: tuple[Collector, int]) -> None:
    collector, port = smtp_server
    sender = SmtpEmailSender(f"smtp://mailer%40example.org:wrong@127.0.0.1:{port}", SENDER)
    with pytest.raises(smtplib.SMTPAuthenticationError) as info:
        asyncio.run(sender.send(VERIFY))
    assert info.value.smtp_code == 535
    assert collector.logins
    assert collector.messages == []


def test_smtp_url_is_parsed() -> None:
    sender = SmtpEmailSender("smtp://u%2Bx:s%26t@mail.example.org:587?starttls=1", SENDER)
    assert (sender.host, sender.port) == ("mail.example.org", 587)
    assert (sender.username, sender.password) == ("u+x", "s&t")
    assert sender.starttls
    assert not sender.implicit_tls


@pytest.mark.parametrize(
    ("url", "port", "implicit_tls", "starttls"),
    [
        ("smtps://mail.example.org", 465, True, False),
        ("smtp://mail.example.org", 25, False, False),
        ("smtp://mail.example.org?starttls=true", 25, False, True),
        ("smtp://mail.example.org?starttls=0", 25, False, False),
    ],
)
def test_smtp_url_defaults(url: str, port: int, implicit_tls: bool, starttls: bool) -> None:
    sender = SmtpEmailSender(url, SENDER)
    assert sender.port == port
    assert sender.implicit_tls is implicit_tls
    assert sender.starttls is starttls
    assert sender.username is None
    assert sender.password is None


# --- choosing the sender ------------------------------------------------------------------


@pytest.fixture
def auth_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.upper().startswith("MG_") or name.upper() == "JWT_SECRET":
            monkeypatch.delenv(name)
    monkeypatch.setenv("JWT_SECRET", "k7F2pQ9xLm4R8sTv1WbZ6nYc3HdJ0gUe5AoKqXiVr-Mh")
    monkeypatch.setenv("MG_POSTGRES_URL", "postgresql://mg@127.0.0.1:5432/mg")
    monkeypatch.setenv("MG_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("MG_ENV", "test")
    return monkeypatch


def test_email_sender_is_smtp_when_smtp_url_is_set(
    auth_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    auth_env.setenv("MG_SMTP_URL", "smtp://mailer:pw@mail.example.org:2525")
    auth_env.setenv("MG_EMAIL_OUTBOX_DIR", str(tmp_path / "outbox"))  # SMTP wins over both
    auth_env.setenv("MG_EMAIL_FROM", "MG <mg@example.org>")
    sender = email_sender(load_settings(AuthSettings))
    assert isinstance(sender, SmtpEmailSender)
    assert (sender.host, sender.port, sender.username) == ("mail.example.org", 2525, "mailer")
    assert sender.sender == "MG <mg@example.org>"
    assert not (tmp_path / "outbox").exists()


def test_email_sender_is_the_outbox_without_smtp(
    auth_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    auth_env.setenv("MG_EMAIL_OUTBOX_DIR", str(tmp_path / "outbox"))
    sender = email_sender(load_settings(AuthSettings))
    assert isinstance(sender, FileOutboxEmailSender)
    assert sender.directory == tmp_path / "outbox"
    assert (tmp_path / "outbox").is_dir()
