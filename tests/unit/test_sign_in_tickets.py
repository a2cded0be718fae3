"""Sealed sign-in tickets: they tell nothing, cannot be edited or forged, expire with the code."""

from __future__ import annotations

from datetime import timedelta

import pytest

from auth.members.tickets import SignInTicket, TicketInvalid, TicketSealer
from auth.secret_key import SecretKey
from domain.signin import CodePurpose
from tests.builders import NOW
from tests.signin_builders import TEST_KEY


def a_ticket(**overrides: object) -> SignInTicket:
    values: dict[str, object] = {
        "purpose": CodePurpose.CREATE_ACCOUNT,
        "email": "Mary@Example.org",
        "account_id": None,
        "member_key": "m1",
        "language": "es",
        "issued_at": NOW,
    } | overrides
    return SignInTicket(**values)  # type: ignore[arg-type]


def test_a_sealed_ticket_opens_to_what_was_sealed_with_the_email_normalized() -> None:
    sealer = TicketSealer(TEST_KEY)

    opened = sealer.open(sealer.seal(a_ticket()), NOW + timedelta(minutes=1))

    assert opened == a_ticket(email="mary@example.org")


def test_a_match_and_no_match_seal_to_tickets_of_the_same_length_that_never_repeat() -> None:
    sealer = TicketSealer(TEST_KEY)
    matched = sealer.seal(a_ticket(member_key="8296c5d8-1c3c-4a1e-9d3f-3b8f0e1a2b3c"))
    nobody = sealer.seal(a_ticket(member_key=None))
    again = sealer.seal(a_ticket(member_key=None))

    assert len(matched) == len(nobody) == len(again)
    assert nobody != again
    # Sealed, not merely encoded: neither the member key nor the address shows through.
    assert "8296c5d8" not in matched and "mary@example" not in matched.lower()


def test_an_edited_or_foreign_ticket_is_refused() -> None:
    sealer = TicketSealer(TEST_KEY)
    sealed = sealer.seal(a_ticket())
    edited = sealed[:40] + ("A" if sealed[40] != "A" else "B") + sealed[41:]
    foreign = TicketSealer(SecretKey(b"another server's secret key, long enough")).seal(a_ticket())

    for bad in (edited, foreign, "", "not base64 at all!", sealed[:-4]):
        with pytest.raises(TicketInvalid):
            sealer.open(bad, NOW)


def test_a_ticket_expires_with_its_code_ten_minutes_after_it_was_issued() -> None:
    sealer = TicketSealer(TEST_KEY)
    sealed = sealer.seal(a_ticket())

    assert sealer.open(sealed, NOW + timedelta(minutes=9, seconds=59)).member_key == "m1"
    with pytest.raises(TicketInvalid, match="expired"):
        sealer.open(sealed, NOW + timedelta(minutes=10))
    with pytest.raises(TicketInvalid, match="expired"):
        sealer.open(sealed, NOW - timedelta(minutes=2))
