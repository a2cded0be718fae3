"""The console's view of member sign-in: which methods are active and when PAI last reached
the plan's IdP and portal API (read from what every process records)."""

from __future__ import annotations

from datetime import timedelta

from auth.members.sign_in_methods import sign_in_methods
from domain.federation import SignInRoute
from tests.builders import NOW
from tests.fakes import FakeUnitOfWork

ISSUER = "https://login.plan.example"


def test_every_method_is_listed_with_whether_it_is_active() -> None:
    listed = sign_in_methods(FakeUnitOfWork(), email=True, idp_issuer=ISSUER, portal_api_url=None)

    assert [(m.method, m.active, m.remote) for m in listed] == [
        (SignInRoute.EMAIL_CODE, True, None),
        (SignInRoute.OPENID_CONNECT, True, ISSUER),
        (SignInRoute.PORTAL_API, False, None),
    ]
    assert all(m.reachable is None for m in listed)  # never reached yet


def test_the_last_contact_with_the_idp_is_shown_and_a_later_failure_wins() -> None:
    uow = FakeUnitOfWork()
    uow.external_auth_status.reached(SignInRoute.OPENID_CONNECT, NOW)
    [_, reached, _] = sign_in_methods(uow, email=True, idp_issuer=ISSUER, portal_api_url=None)
    assert reached.last_reached_at == NOW and reached.reachable is True

    later = NOW + timedelta(minutes=5)
    uow.external_auth_status.failed(SignInRoute.OPENID_CONNECT, later, "did not answer in time")
    [_, failing, _] = sign_in_methods(uow, email=True, idp_issuer=ISSUER, portal_api_url=None)

    assert failing.reachable is False
    assert (failing.last_reached_at, failing.last_failure_at) == (NOW, later)
    assert failing.last_failure == "did not answer in time"
