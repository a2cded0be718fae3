"""The app registry's emails to developers, worded from their templates and delivered over real
SMTP (aiosmtpd) by the outbox worker, like the sign-in codes."""

from __future__ import annotations

from email.message import EmailMessage

from api.app_notices import RegistryEmailComposer
from api.email import SmtpTransport, deliver_pending
from auth.app_registry import AppRegistry, AppVetting
from auth.principal import StaffPrincipal
from domain.app_registry import Question, Submission
from domain.apps import AppStatus, ClientType
from domain.staff import StaffRole
from tests.builders import NOW
from tests.fakes import FakeClock, FakeUnitOfWork
from tests.smtp_inbox import smtp_server

PLAN = "Cascade Community Health Plan"
ADDRESS = "dev@wallet.example"


def text_of(message: EmailMessage, kind: str) -> str:
    part = message.get_body(preferencelist=(kind,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def test_the_developer_is_emailed_at_submission_and_at_each_decision_with_its_reason() -> None:
    uow, clock = FakeUnitOfWork(), FakeClock(NOW)
    compose = RegistryEmailComposer(PLAN, "https://plan.example")
    submission = Submission(
        name="Wallet <b>",
        description="Keeps records",
        developer="Wallet Inc.",
        contact_email=ADDRESS,
        redirect_uris=("https://wallet.example/cb",),
        client_type=ClientType.PUBLIC,
        scopes=("openid",),
        privacy_policy_url="https://wallet.example/privacy",
        attestation={q.value: True for q in Question},
    )
    registered = AppRegistry(lambda: uow, clock, compose).register(submission)
    vetting = AppVetting(
        StaffPrincipal("admin-1", StaffRole.ADMINISTRATOR),
        uow,
        clock=clock,
        compose=compose,
        check_policy=lambda _: (False, "answered 404"),
    )
    vetting.move(registered.registration.id, AppStatus.IN_REVIEW, "")
    vetting.run_checks(registered.registration.id)
    vetting.move(registered.registration.id, AppStatus.REJECTED, "The privacy policy answers 404.")
    uow.commit()

    with smtp_server() as (inbox, url):
        sent = deliver_pending(lambda: uow, SmtpTransport(url), clock=clock)
        messages = inbox.to(ADDRESS)

    assert sent.sent == 3
    by_subject = {m["Subject"]: m for m in messages}
    assert set(by_subject) == {
        f"{PLAN}: Wallet <b> was received",
        f"{PLAN}: Wallet <b> is being reviewed",
        f"{PLAN}: Wallet <b> was not approved",
    }
    rejected = by_subject[f"{PLAN}: Wallet <b> was not approved"]
    plain, html = text_of(rejected, "plain"), text_of(rejected, "html")
    assert "The reviewer's reason: The privacy policy answers 404." in plain
    assert "Its status is now: rejected." in plain
    assert "https://plan.example/developers/manage" in plain
    assert registered.registration.id in plain
    assert "Wallet &lt;b&gt;" in html and "<b>" not in html
    assert registered.management_token is not None
    assert all(registered.management_token not in text_of(m, "plain") for m in messages)
