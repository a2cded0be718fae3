"""Code email over real SMTP: an aiosmtpd server on loopback, with STARTTLS, implicit TLS and AUTH;
English and Spanish messages as text and HTML; failures retried; the code never logged."""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from api.email import (
    CodeEmailComposer,
    Delivery,
    OutboxOnly,
    SmtpTransport,
    deliver_forever,
    deliver_pending,
    language_of,
    transport_for,
)
from auth.members.codes import CodeService
from domain.signin import CodePurpose, SignInSubject
from persistence.unit_of_work import SqlUnitOfWork
from tests.builders import NOW, an_account
from tests.fakes import FakeClock, FakeUnitOfWork
from tests.signin_builders import TEST_KEY, RecordingComposer

PLAN = "Cascade Community Health Plan"
USER, PASSWORD = "pai@plan.example", "s3cret:p@ss/word"
URL_CREDENTIALS = "pai%40plan.example:s3cret%3Ap%40ss%2Fword"
SIGN_IN = SignInSubject(CodePurpose.SIGN_IN, "mary@example.org", account_id="acct1")


class Inbox:
    """An aiosmtpd handler that keeps what it receives, and the logins it was offered."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.logins: list[tuple[str, bool, bool]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        valid = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        self.logins.append((mechanism, valid, session.ssl is not None))
        return AuthResult(success=valid, handled=False)

    @property
    def messages(self) -> list[EmailMessage]:
        parsed = []
        for envelope in self.envelopes:
            assert isinstance(envelope.content, bytes)
            message = email.message_from_bytes(envelope.content, policy=default_policy)
            assert isinstance(message, EmailMessage)
            parsed.append(message)
        return parsed


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A self-signed certificate for 127.0.0.1 and localhost: cert file, key file, PEM text."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(pem)
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return folder / "cert.pem", folder / "key.pem", pem.decode()


def server_context(certificate: tuple[Path, Path, str]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate[0], certificate[1])
    return context


def trusting(certificate: tuple[Path, Path, str]) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=certificate[2])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


ServerFactory = Callable[..., int]


@pytest.fixture
def smtp_server(inbox: Inbox) -> Iterator[ServerFactory]:
    """Starts aiosmtpd servers on loopback (keyword arguments go to aiosmtpd); gives the port."""
    started: list[Controller] = []

    def start(**options: Any) -> int:
        port = free_port()
        controller = Controller(
            inbox, hostname="127.0.0.1", port=port, server_hostname="smtp.test", **options
        )
        controller.start()
        started.append(controller)
        return port

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.accounts.add(an_account("acct1", "mary@example.org"))
    uow.commit()
    return uow


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


def queue_code(uow: FakeUnitOfWork, clock: FakeClock, language: str = "en") -> str:
    """Send a code through the real composer; the code, as the recording composer saw it."""
    composer = CodeEmailComposer(PLAN)
    recorder = RecordingComposer()

    def compose(message: Any) -> Any:
        recorder(message)
        return composer(message)

    CodeService(lambda: uow, clock, TEST_KEY, compose).send_code(SIGN_IN, language)
    return recorder.last_code


def body(message: EmailMessage, kind: str) -> str:
    part = message.get_body(preferencelist=(kind,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def test_a_code_email_goes_out_over_smtp_as_text_and_html(
    smtp_server: ServerFactory, inbox: Inbox, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    port = smtp_server()
    code = queue_code(uow, clock)
    transport = SmtpTransport(f"smtp://127.0.0.1:{port}?from=no-reply@plan.example&timeout=5")
    assert deliver_pending(lambda: uow, transport, clock=clock) == Delivery(sent=1)
    [message] = inbox.messages
    assert inbox.envelopes[0].rcpt_tos == ["mary@example.org"]
    assert message["From"] == "no-reply@plan.example"
    assert message["To"] == "mary@example.org"
    assert message["Subject"] == f"Your {PLAN} code"
    assert message["Content-Language"] == "en"
    assert message["Message-ID"].endswith("@plan.example>")
    assert f"Your code is: {code}" in body(message, "plain")
    html = body(message, "html")
    assert code in html
    assert '<html lang="en">' in html
    [sent] = uow.outbox.rows.values()
    assert sent.sent_at == NOW
    assert code not in sent.text + sent.html


def test_a_spanish_speaking_member_gets_the_spanish_message(
    smtp_server: ServerFactory, inbox: Inbox, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    port = smtp_server()
    code = queue_code(uow, clock, language="es-MX")
    deliver_pending(lambda: uow, SmtpTransport(f"smtp://127.0.0.1:{port}"), clock=clock)
    [message] = inbox.messages
    assert message["Subject"] == f"Su código de {PLAN}"
    assert message["Content-Language"] == "es"
    text = body(message, "plain")
    assert f"Su código es: {code}" in text
    assert "Ingrese este código para iniciar sesión." in text
    assert "10 minutos" in text
    html = body(message, "html")
    assert '<html lang="es">' in html
    assert "Su código es:" in html
    assert code in html


def test_starttls_comes_before_the_login_and_the_message(
    smtp_server: ServerFactory,
    inbox: Inbox,
    uow: FakeUnitOfWork,
    clock: FakeClock,
    certificate: tuple[Path, Path, str],
) -> None:
    port = smtp_server(
        tls_context=server_context(certificate),
        require_starttls=True,
        authenticator=inbox.authenticate,
        auth_required=True,
    )
    code = queue_code(uow, clock)
    transport = SmtpTransport(
        f"smtp://{URL_CREDENTIALS}@127.0.0.1:{port}?starttls=true",
        ssl_context=trusting(certificate),
    )
    assert deliver_pending(lambda: uow, transport, clock=clock) == Delivery(sent=1)
    assert [(valid, over_tls) for _, valid, over_tls in inbox.logins] == [(True, True)]
    assert code in body(inbox.messages[0], "plain")


def test_smtps_speaks_tls_from_the_start(
    smtp_server: ServerFactory,
    inbox: Inbox,
    uow: FakeUnitOfWork,
    clock: FakeClock,
    certificate: tuple[Path, Path, str],
) -> None:
    # aiosmtpd cannot tell that implicit TLS is on, so it must not insist on STARTTLS for AUTH.
    port = smtp_server(
        ssl_context=server_context(certificate),
        authenticator=inbox.authenticate,
        auth_require_tls=False,
    )
    queue_code(uow, clock)
    transport = SmtpTransport(
        f"smtps://{URL_CREDENTIALS}@127.0.0.1:{port}", ssl_context=trusting(certificate)
    )
    assert deliver_pending(lambda: uow, transport, clock=clock) == Delivery(sent=1)
    assert [valid for _, valid, _ in inbox.logins] == [True]
    assert len(inbox.messages) == 1


def test_a_wrong_password_is_a_failed_delivery_tried_again_later(
    smtp_server: ServerFactory,
    inbox: Inbox,
    uow: FakeUnitOfWork,
    clock: FakeClock,
    certificate: tuple[Path, Path, str],
) -> None:
    port = smtp_server(
        tls_context=server_context(certificate),
        require_starttls=True,
        authenticator=inbox.authenticate,
        auth_required=True,
    )
    code = queue_code(uow, clock)
    transport = SmtpTransport(
        f"smtp://{USER}:wrong@127.0.0.1:{port}?starttls=true", ssl_context=trusting(certificate)
    )
    with structlog.testing.capture_logs() as logs:
        assert deliver_pending(lambda: uow, transport, clock=clock) == Delivery(failed=1)
    [failed] = uow.outbox.rows.values()
    assert failed.attempts == 1
    assert failed.last_error is not None
    assert failed.last_error.startswith("SMTPAuthenticationError")
    assert failed.claimed_until == NOW + dt.timedelta(seconds=15)
    assert code in failed.text  # kept for the next try
    assert inbox.envelopes == []
    assert code not in repr(logs)
    assert PASSWORD not in repr(logs) + failed.last_error
    assert deliver_pending(lambda: uow, transport, clock=clock) == Delivery()  # not due yet


def test_no_message_goes_in_clear_text_when_starttls_is_asked_but_not_offered(
    smtp_server: ServerFactory, inbox: Inbox, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    port = smtp_server()
    queue_code(uow, clock)
    transport = SmtpTransport(f"smtp://127.0.0.1:{port}?starttls=true")
    assert deliver_pending(lambda: uow, transport, clock=clock) == Delivery(failed=1)
    [failed] = uow.outbox.rows.values()
    assert failed.last_error is not None
    assert failed.last_error.startswith("SMTPNotSupportedError")
    assert inbox.envelopes == []


def test_an_untrusted_certificate_is_refused(
    smtp_server: ServerFactory,
    inbox: Inbox,
    uow: FakeUnitOfWork,
    clock: FakeClock,
    certificate: tuple[Path, Path, str],
) -> None:
    port = smtp_server(tls_context=server_context(certificate), require_starttls=True)
    queue_code(uow, clock)
    transport = SmtpTransport(f"smtp://127.0.0.1:{port}?starttls=true")
    assert deliver_pending(lambda: uow, transport, clock=clock) == Delivery(failed=1)
    [failed] = uow.outbox.rows.values()
    assert failed.last_error is not None
    assert failed.last_error.startswith("SSLCertVerificationError")
    assert inbox.envelopes == []


def test_a_silent_server_times_out(uow: FakeUnitOfWork, clock: FakeClock) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        queue_code(uow, clock)
        transport = SmtpTransport(f"smtp://127.0.0.1:{port}?timeout=0.5")
        started = time.monotonic()
        assert deliver_pending(lambda: uow, transport, clock=clock) == Delivery(failed=1)
        assert time.monotonic() - started < 5
    [failed] = uow.outbox.rows.values()
    assert failed.last_error is not None
    assert "timed out" in failed.last_error


def test_credentials_are_never_sent_without_tls() -> None:
    with pytest.raises(ValueError, match="TLS"):
        SmtpTransport("smtp://user:password@mail.example:25")
    with pytest.raises(ValueError, match="SMTP URL"):
        SmtpTransport("http://mail.example")


def test_port_587_means_starttls_and_the_password_stays_out_of_the_repr() -> None:
    submission = SmtpTransport(f"smtp://{URL_CREDENTIALS}@mail.example:587")
    assert repr(submission) == "SmtpTransport(smtp://mail.example:587?starttls=true)"
    assert repr(SmtpTransport("smtps://mail.example")) == "SmtpTransport(smtps://mail.example:465)"
    assert repr(SmtpTransport("smtp://mail.example")) == "SmtpTransport(smtp://mail.example:25)"


def test_without_an_smtp_url_messages_stay_in_the_outbox_for_the_demo(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    code = queue_code(uow, clock)
    transport = transport_for(None)
    assert isinstance(transport, OutboxOnly)
    assert deliver_pending(lambda: uow, transport, clock=clock) == Delivery()
    [waiting] = uow.outbox.pending(5)
    assert code in waiting.text
    assert isinstance(transport_for("smtp://mail.example"), SmtpTransport)


def test_the_code_is_never_logged_when_mail_goes_out(
    smtp_server: ServerFactory, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    port = smtp_server()
    code = queue_code(uow, clock)
    with structlog.testing.capture_logs() as logs:
        deliver_pending(lambda: uow, SmtpTransport(f"smtp://127.0.0.1:{port}"), clock=clock)
    assert [entry["event"] for entry in logs] == ["email sent"]
    assert code not in repr(logs)


def test_languages_fall_back_to_english() -> None:
    assert [language_of(tag) for tag in ("es", "es-MX", "ES_us", "en-US", "fr", "", None)] == [
        "es",
        "es",
        "es",
        "en",
        "en",
        "en",
        "en",
    ]


def test_the_worker_delivers_the_sql_outbox(
    smtp_server: ServerFactory,
    inbox: Inbox,
    unit_of_work: Callable[[], SqlUnitOfWork],
) -> None:
    with unit_of_work() as uow:
        uow.accounts.add(an_account("acct1", "mary@example.org"))
        uow.commit()
    clock = FakeClock(NOW)
    composer = CodeEmailComposer(PLAN)
    codes = CodeService(unit_of_work, clock, TEST_KEY, composer)
    codes.send_code(SIGN_IN, "es")
    port = smtp_server()
    transport = SmtpTransport(f"smtp://127.0.0.1:{port}")
    assert deliver_pending(unit_of_work, transport, clock=clock) == Delivery(sent=1)
    assert deliver_pending(unit_of_work, transport, clock=clock) == Delivery()
    assert len(inbox.messages) == 1
    with unit_of_work() as uow:
        [sent] = uow.outbox.latest(5)
    assert (sent.sent_at, sent.text, sent.html) == (NOW, "", "")


def test_the_delivery_loop_sends_in_the_background_and_survives_a_failed_pass(
    smtp_server: ServerFactory, inbox: Inbox, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    port = smtp_server()
    code = queue_code(uow, clock)
    calls = 0

    def flaky_unit_of_work() -> FakeUnitOfWork:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("the database is restarting")
        return uow

    stop = threading.Event()
    transport = SmtpTransport(f"smtp://127.0.0.1:{port}")
    with structlog.testing.capture_logs() as logs:
        worker = threading.Thread(
            target=deliver_forever,
            args=(flaky_unit_of_work, transport, stop),
            kwargs={"interval": 0.05},
            daemon=True,
        )
        worker.start()
        deadline = time.monotonic() + 10
        while not inbox.envelopes and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        worker.join(timeout=10)
    assert not worker.is_alive()
    assert code in body(inbox.messages[0], "plain")
    assert [entry["event"] for entry in logs][:2] == ["email delivery pass failed", "email sent"]
