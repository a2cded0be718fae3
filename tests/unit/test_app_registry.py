"""Registering and vetting apps: every status change, what it does to the app's clients, and
what it does to the tokens and grants members gave them."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta

import pytest

from auth.app_registry import (
    AppRegistry,
    AppVetting,
    Credentials,
    NotPermitted,
    RegistryNotice,
    TooManyRegistrations,
)
from auth.members.consent import ConsentRefused, record_consent
from auth.principal import StaffPrincipal, app_principal
from auth.tokens import mint_access_token, mint_refresh_token
from domain.app_registry import (
    TRANSITIONS,
    InvalidRegistration,
    Question,
    Submission,
    TransitionRefused,
    check_transition,
    redirect_uri_problem,
)
from domain.apps import AppEnvironment, AppStatus, ClientType, GrantStatus
from domain.audit import Outcome
from domain.outbox import EmailContent
from domain.staff import StaffRole
from tests.builders import NOW, a_grant, a_representation, an_account
from tests.fakes import FakeClock, FakeUnitOfWork

ADMIN = StaffPrincipal("admin-1", StaffRole.ADMINISTRATOR)
REP = StaffPrincipal("rep-1", StaffRole.MEMBER_SERVICES)
SCOPES = ("launch/patient", "openid", "patient/*.rs")
ALL_YES = {q.value: True for q in Question}


def a_submission(**changes: object) -> Submission:
    values: dict[str, object] = {
        "name": "Wallet",
        "description": "Keeps your records",
        "developer": "Wallet Inc.",
        "contact_email": "dev@wallet.example",
        "redirect_uris": ("https://wallet.example/callback",),
        "client_type": ClientType.PUBLIC,
        "scopes": SCOPES,
        "privacy_policy_url": "https://wallet.example/privacy",
        "attestation": ALL_YES,
    } | changes
    return Submission(**values)  # type: ignore[arg-type]


def compose(notice: RegistryNotice) -> EmailContent:
    return EmailContent(
        subject=f"{notice.app_name}: {notice.event}",
        text=f"{notice.status.value} {notice.reason}",
        html="<p></p>",
        language="en",
    )


class Policies:
    """Privacy policy URLs and whether each answers (a fake of the HTTPS check)."""

    def __init__(self) -> None:
        self.reachable = True
        self.checked: list[str] = []

    def __call__(self, url: str) -> tuple[bool, str]:
        self.checked.append(url)
        return self.reachable, "answered 200" if self.reachable else "answered 404"


@pytest.fixture
def uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.accounts.add(an_account("acct1"))
    uow.representations.add(a_representation("acct1", "m1"))
    uow.commit()
    return uow


@pytest.fixture
def policies() -> Policies:
    return Policies()


@pytest.fixture
def registry(uow: FakeUnitOfWork) -> AppRegistry:
    return AppRegistry(lambda: uow, FakeClock(NOW), compose)


def vetting(uow: FakeUnitOfWork, policies: Policies, principal: object = ADMIN) -> AppVetting:
    return AppVetting(
        principal,  # type: ignore[arg-type]
        uow,
        clock=FakeClock(NOW),
        compose=compose,
        check_policy=policies,
        client_address="10.0.0.9",
    )


def approved(registry: AppRegistry, uow: FakeUnitOfWork, policies: Policies) -> Credentials:
    registered = registry.register(a_submission())
    desk = vetting(uow, policies)
    desk.move(registered.registration.id, AppStatus.IN_REVIEW, "")
    desk.run_checks(registered.registration.id)
    desk.move(registered.registration.id, AppStatus.APPROVED, "meets the criteria")
    uow.commit()
    return registered


def test_registering_makes_a_sandbox_client_that_works_nowhere_until_approved(
    registry: AppRegistry, uow: FakeUnitOfWork
) -> None:
    registered = registry.register(a_submission(client_type=ClientType.CONFIDENTIAL_SYMMETRIC))

    app = uow.apps.rows[registered.client_id]
    assert app.environment is AppEnvironment.SANDBOX
    assert app.status is AppStatus.SUBMITTED and not app.may_receive_data
    assert registered.client_secret and app.client_secret_hash
    assert registered.client_secret not in app.client_secret_hash
    stored = uow.app_registrations.rows[registered.registration.id]
    assert registered.management_token
    assert stored.management_token_hash != registered.management_token
    assert [e.action for e in uow.app_registrations.history] == ["submitted"]
    assert [m.to for m in uow.outbox.rows.values()] == ["dev@wallet.example"]
    assert [e.action for e in uow.access_events.rows] == ["app-registration"]


@pytest.mark.parametrize(
    ("uri", "allowed"),
    [
        ("https://wallet.example/callback", True),
        ("http://127.0.0.1/callback", True),
        ("http://127.0.0.1:8765/callback", True),
        ("http://[::1]:8765/callback", True),
        ("http://localhost/callback", True),
        ("http://wallet.example/callback", False),
        ("http://127.0.0.1.evil.example/callback", False),
        ("com.wallet.app:/callback", False),
        ("https://wallet.example/callback#fragment", False),
        ("https://user:pw@wallet.example/callback", False),
        ("javascript:alert(1)", False),
    ],
)
def test_redirect_uris_are_https_or_loopback_for_native_apps(uri: str, allowed: bool) -> None:
    assert (redirect_uri_problem(uri) is None) is allowed


def test_a_submission_with_problems_is_refused_field_by_field_and_nothing_is_stored(
    registry: AppRegistry, uow: FakeUnitOfWork
) -> None:
    with pytest.raises(InvalidRegistration) as refused:
        registry.register(
            a_submission(
                name=" ",
                contact_email="nobody",
                redirect_uris=("http://wallet.example/cb",),
                privacy_policy_url="http://wallet.example/privacy",
                client_type=ClientType.CONFIDENTIAL_ASYMMETRIC,
                attestation={"mystery": True},
            )
        )
    assert set(refused.value.problems) == {
        "name",
        "contact_email",
        "redirect_uris",
        "privacy_policy_url",
        "jwks_uri",
        "attestation",
    }
    assert not uow.apps.rows and not uow.app_registrations.rows and not uow.outbox.rows


@pytest.mark.parametrize(
    ("current", "target"),
    [(a, b) for a, b in itertools.product(AppStatus, AppStatus) if b not in TRANSITIONS[a]],
)
def test_every_transition_outside_the_workflow_is_refused(
    current: AppStatus, target: AppStatus
) -> None:
    with pytest.raises(TransitionRefused):
        check_transition(current, target)


def test_the_whole_workflow_moves_every_client_and_emails_and_audits_each_step(
    registry: AppRegistry, uow: FakeUnitOfWork, policies: Policies
) -> None:
    registered = approved(registry, uow, policies)
    registration_id = registered.registration.id
    assert uow.apps.rows[registered.client_id].status is AppStatus.APPROVED

    production = registry.promote(registration_id, registered.management_token or "")
    assert uow.apps.rows[production.client_id].environment is AppEnvironment.PRODUCTION
    assert uow.apps.rows[production.client_id].status is AppStatus.APPROVED

    desk = vetting(uow, policies)
    desk.move(registration_id, AppStatus.SUSPENDED, "leaked tokens reported")
    for client_id in (registered.client_id, production.client_id):
        assert uow.apps.rows[client_id].status is AppStatus.SUSPENDED
    desk.move(registration_id, AppStatus.APPROVED, "fixed")
    desk.move(registration_id, AppStatus.RETIRED, "the developer asked")
    uow.commit()

    events = uow.app_registrations.events(registration_id)
    assert [(e.action, e.to_status) for e in events] == [
        ("submitted", AppStatus.SUBMITTED),
        ("review started", AppStatus.IN_REVIEW),
        ("checked", AppStatus.IN_REVIEW),
        ("approved", AppStatus.APPROVED),
        ("promoted", AppStatus.APPROVED),
        ("suspended", AppStatus.SUSPENDED),
        ("reinstated", AppStatus.APPROVED),
        ("retired", AppStatus.RETIRED),
    ]
    assert {e.actor for e in events[1:4] + events[5:]} == {"admin-1"}
    stored = uow.app_registrations.rows[registration_id]
    assert (stored.decided_by, stored.decision_reason) == ("admin-1", "the developer asked")
    subjects = [m.subject for m in uow.outbox.rows.values()]
    assert len(subjects) == 7 and all(
        m.to == "dev@wallet.example" for m in uow.outbox.rows.values()
    )
    vetted = [e for e in uow.access_events.rows if e.action == "app-vetting"]
    assert len(vetted) == 6 and all(e.actor == "admin-1" for e in vetted)
    desk.registrations()
    desk.registration(registration_id)
    reads = [e for e in uow.access_events.rows if e.action == "staff-admin-read"]
    assert [(e.actor, e.query, e.record_count) for e in reads] == [
        ("admin-1", None, 1),
        ("admin-1", f"registration={registration_id}", 1),
    ]
    assert all(uow.apps.rows[c].status is AppStatus.RETIRED for c in stored.client_ids)
    with pytest.raises(TransitionRefused):
        desk.move(registration_id, AppStatus.APPROVED, "again")


def test_suspending_stops_every_grant_at_once_and_reinstating_restores_those_not_revoked(
    registry: AppRegistry, uow: FakeUnitOfWork, policies: Policies
) -> None:
    registered = approved(registry, uow, policies)
    production = registry.promote(registered.registration.id, registered.management_token or "")
    client_id = production.client_id
    kept, revoked = a_grant("kept", client_id=client_id), a_grant("gone", client_id=client_id)
    uow.grants.add(kept)
    uow.grants.add(replace(revoked, status=GrantStatus.REVOKED, revoked_at=NOW))
    _, kept_token = mint_access_token(kept, SCOPES, now=NOW)
    _, refresh = mint_refresh_token(kept, SCOPES, now=NOW)
    _, revoked_token = mint_access_token(kept, SCOPES, now=NOW)
    uow.access_tokens.add(kept_token)
    uow.refresh_tokens.add(refresh)
    uow.access_tokens.add(replace(revoked_token, grant_id="gone"))
    uow.commit()
    assert app_principal(uow, kept_token, at=NOW) is not None

    desk = vetting(uow, policies)
    desk.move(registered.registration.id, AppStatus.SUSPENDED, "under investigation")
    assert app_principal(uow, kept_token, at=NOW) is None
    with pytest.raises(ConsentRefused):
        record_consent(uow, "acct1", "m1", client_id, NOW)

    desk.move(registered.registration.id, AppStatus.APPROVED, "cleared")
    assert app_principal(uow, kept_token, at=NOW) is not None
    assert app_principal(uow, replace(revoked_token, grant_id="gone"), at=NOW) is None
    # Suspension revoked nothing: the grant and its refresh token are as they were.
    assert uow.grants.rows["kept"].is_active
    assert uow.refresh_tokens.rows[refresh.token_hash].revoked_at is None


def test_approval_needs_the_checks_run_and_passed(
    registry: AppRegistry, uow: FakeUnitOfWork, policies: Policies
) -> None:
    registered = registry.register(a_submission())
    desk = vetting(uow, policies)
    registration_id = registered.registration.id
    desk.move(registration_id, AppStatus.IN_REVIEW, "")
    with pytest.raises(TransitionRefused, match="run the security checks"):
        desk.move(registration_id, AppStatus.APPROVED, "ok")

    policies.reachable = False
    checked = desk.run_checks(registration_id)
    assert policies.checked == ["https://wallet.example/privacy"]
    assert checked.checks.failed == ("the privacy policy could not be reached over HTTPS",)
    with pytest.raises(TransitionRefused, match="privacy policy"):
        desk.move(registration_id, AppStatus.APPROVED, "ok")
    assert uow.apps.rows[registered.client_id].status is AppStatus.IN_REVIEW

    rejected = desk.move(registration_id, AppStatus.REJECTED, "the privacy policy is missing")
    assert rejected.status is AppStatus.REJECTED
    assert uow.apps.rows[registered.client_id].status is AppStatus.REJECTED


def test_an_app_without_a_failed_check_or_security_finding_cannot_be_rejected(
    registry: AppRegistry, uow: FakeUnitOfWork, policies: Policies
) -> None:
    registered = registry.register(a_submission(attestation={}))
    desk = vetting(uow, policies)
    registration_id = registered.registration.id
    desk.move(registration_id, AppStatus.IN_REVIEW, "")
    checked = desk.run_checks(registration_id)
    # No attestation is shown to members; it is not a reason to refuse.
    assert checked.attestation_complete is False and checked.checks.failed == ()
    with pytest.raises(TransitionRefused, match="only for a security risk"):
        desk.move(registration_id, AppStatus.REJECTED, "we do not like it")
    with pytest.raises(TransitionRefused, match="reason is required"):
        desk.move(registration_id, AppStatus.REJECTED, " ", notes="stores tokens in clear text")
    refused = desk.move(
        registration_id, AppStatus.REJECTED, "insecure storage", notes="stores tokens in clear"
    )
    assert refused.security_notes == "stores tokens in clear"


def test_only_administrators_vet_and_a_refusal_is_audited(
    registry: AppRegistry, uow: FakeUnitOfWork, policies: Policies
) -> None:
    registered = registry.register(a_submission())
    desk = vetting(uow, policies, REP)
    with pytest.raises(NotPermitted):
        desk.move(registered.registration.id, AppStatus.IN_REVIEW, "")
    with pytest.raises(NotPermitted):
        desk.registrations()
    denied = [e for e in uow.access_events.rows if e.outcome is Outcome.DENIED]
    assert [(e.actor, e.action) for e in denied] == [("rep-1", "app-vetting")] * 2
    assert uow.apps.rows[registered.client_id].status is AppStatus.SUBMITTED


def test_the_management_token_alone_follows_and_promotes_a_registration(
    registry: AppRegistry, uow: FakeUnitOfWork, policies: Policies
) -> None:
    registered = registry.register(a_submission(client_type=ClientType.CONFIDENTIAL_SYMMETRIC))
    registration_id = registered.registration.id
    token = registered.management_token or ""
    assert registry.find(registration_id, "wrong") is None
    assert registry.find(registration_id, token) is not None
    with pytest.raises(TransitionRefused, match="only an approved app"):
        registry.promote(registration_id, token)

    desk = vetting(uow, policies)
    desk.move(registration_id, AppStatus.IN_REVIEW, "")
    desk.run_checks(registration_id)
    desk.move(registration_id, AppStatus.APPROVED, "ok")
    uow.commit()
    first = registry.promote(registration_id, token)
    again = registry.promote(registration_id, token)
    assert first.client_id == again.client_id
    assert (
        first.client_secret and again.client_secret and first.client_secret != again.client_secret
    )
    production = uow.apps.rows[first.client_id]
    assert production.client_secret_hash is not None
    assert production.client_secret_hash != uow.apps.rows[registered.client_id].client_secret_hash


def test_a_sandbox_client_reads_only_sandbox_members(
    registry: AppRegistry, uow: FakeUnitOfWork, policies: Policies
) -> None:
    registered = approved(registry, uow, policies)
    sandbox = registered.client_id
    with pytest.raises(ConsentRefused, match="sandbox"):
        record_consent(uow, "acct1", "m1", sandbox, NOW)
    real = a_grant("real", client_id=sandbox)
    uow.grants.add(real)
    _, token = mint_access_token(real, SCOPES, now=NOW)
    assert app_principal(uow, token, at=NOW) is None

    uow.sandbox_members.add(["m1"], NOW)
    assert app_principal(uow, token, at=NOW) is not None
    assert record_consent(uow, "acct1", "m1", sandbox, NOW).client_id == sandbox


def test_registrations_are_throttled_per_contact_email_and_per_client_address(
    uow: FakeUnitOfWork,
) -> None:
    registry = AppRegistry(lambda: uow, FakeClock(NOW), compose, per_hour=2)
    registry.register(a_submission(contact_email="Dev@Wallet.example"), "10.0.0.1")
    registry.register(a_submission(contact_email="dev@wallet.example"), "10.0.0.2")
    with pytest.raises(TooManyRegistrations):
        registry.register(a_submission(contact_email="DEV@wallet.example"), "10.0.0.3")
    registry.register(a_submission(contact_email="other@wallet.example"), "10.0.0.1")
    with pytest.raises(TooManyRegistrations):
        registry.register(a_submission(contact_email="third@wallet.example"), "10.0.0.1")
    assert len(uow.app_registrations.rows) == 3 and len(uow.outbox.rows) == 3

    later = AppRegistry(lambda: uow, FakeClock(NOW + timedelta(hours=1, seconds=1)), compose)
    later.register(a_submission(contact_email="dev@wallet.example"), "10.0.0.1")


def test_a_reopened_review_checks_the_criteria_again_before_approval(
    registry: AppRegistry, uow: FakeUnitOfWork, policies: Policies
) -> None:
    registered = registry.register(a_submission())
    desk = vetting(uow, policies)
    registration_id = registered.registration.id
    desk.move(registration_id, AppStatus.IN_REVIEW, "")
    desk.run_checks(registration_id, policy=(True, "answered 200"))
    assert policies.checked == []  # the caller's fetch was used
    desk.move(registration_id, AppStatus.REJECTED, "tokens in logs", notes="logs tokens")

    reopened = desk.move(registration_id, AppStatus.IN_REVIEW, "fixed, says the developer")

    assert reopened.checked_at is None and reopened.https_redirect_uris is None
    with pytest.raises(TransitionRefused, match="run the security checks"):
        desk.move(registration_id, AppStatus.APPROVED, "ok")
    desk.run_checks(registration_id)
    assert desk.move(registration_id, AppStatus.APPROVED, "ok").status is AppStatus.APPROVED
    actions = [e.action for e in uow.app_registrations.events(registration_id)]
    assert actions[-4:] == ["rejected", "review reopened", "checked", "approved"]
