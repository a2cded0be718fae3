"""The member's journeys against in-memory fakes: create an account from the plan record, sign in,
link a represented member; what each first step sends, and what each second step does."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from auth.members.codes import CodeService, Refusal, Refused
from auth.members.journeys import EmailTaken, Finished, MemberHasAccount, SignInJourneys
from auth.members.tickets import TicketInvalid, TicketSealer
from domain.clinical import ClinicalRecord
from domain.matching import IdentityClaim
from domain.members import RepresentationKind
from domain.records import Record
from domain.signin import CodePurpose
from tests.builders import NOW, a_member, a_meta, a_representation, an_account, incoming
from tests.fakes import FakeClock, FakeUnitOfWork
from tests.signin_builders import TEST_KEY, RecordingComposer

MARY = IdentityClaim("Mary", "Nunez", date(1980, 2, 29), "MB-m1", "12345")
CHILD = IdentityClaim("Tom", "Nunez", date(2015, 6, 1), "MB-kid", "12345")


def a_related_person(parent_key: str = "m1") -> ClinicalRecord:
    return ClinicalRecord(
        kind="RelatedPerson",
        id="rp1",
        member_key="kid",
        content={
            "resourceType": "RelatedPerson",
            "id": "rp1",
            "patient": {"reference": "Patient/kid"},
            "extension": [{"valueReference": {"reference": f"Patient/{parent_key}"}}],
            "relationship": [{"coding": [{"code": "PRN"}]}],
        },
        meta=a_meta(),
    )


def store(uow: FakeUnitOfWork, record: Record) -> None:
    uow.records.save(record, is_new=True, rendition=incoming(record).rendition)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    store(uow, a_member("m1", meta=a_meta()))
    child = a_member(
        "kid",
        names=(replace(a_member().names[0], given=("Tom",)),),
        birth_date=date(2015, 6, 1),
        meta=a_meta(),
    )
    store(uow, child)
    store(uow, a_related_person())
    uow.commit()
    return uow


@pytest.fixture
def mail() -> RecordingComposer:
    return RecordingComposer()


@pytest.fixture
def journeys(uow: FakeUnitOfWork, mail: RecordingComposer) -> SignInJourneys:
    clock = FakeClock(NOW)
    codes = CodeService(lambda: uow, clock, TEST_KEY, mail)
    return SignInJourneys(lambda: uow, clock, codes, TicketSealer(TEST_KEY))


def sent(uow: FakeUnitOfWork) -> list[str]:
    return [m.to for m in reversed(uow.outbox.latest(50))]


def test_a_matching_member_gets_a_code_and_the_code_creates_the_account_and_a_session(
    journeys: SignInJourneys, uow: FakeUnitOfWork, mail: RecordingComposer
) -> None:
    ticket = journeys.start_enrollment(MARY, "Mary@Example.org", "es")

    done = journeys.finish(ticket, mail.last_code)

    assert sent(uow) == ["mary@example.org"]
    assert mail.messages[-1].language == "es"
    assert isinstance(done, Finished)
    assert done.purpose is CodePurpose.CREATE_ACCOUNT
    assert done.member_key == "m1"
    account = uow.accounts.get_by_email("mary@example.org")
    assert account is not None and account.id == done.account_id
    [link] = uow.representations.list_for_account(account.id)
    assert (link.member_key, link.kind, link.source) == (
        "m1",
        RepresentationKind.SELF,
        "Patient/m1",
    )
    assert done.session_id is not None
    assert [e.action for e in uow.access_events.rows] == ["account-created", "signed-in"]
    assert uow.access_events.rows[1].detail == "route=email-code"


def test_details_that_match_nobody_send_nothing_and_any_code_is_refused(
    journeys: SignInJourneys, uow: FakeUnitOfWork
) -> None:
    ticket = journeys.start_enrollment(replace(MARY, zip_code="99999"), "x@example.org", "en")

    refused = journeys.finish(ticket, "123456")

    assert sent(uow) == []
    assert refused == Refused(Refusal.INVALID)
    assert uow.accounts.get_by_email("x@example.org") is None
    assert len(uow.signin_failures.rows) == 1  # counted against the address


def test_an_email_with_an_account_is_refused_whatever_the_details(
    journeys: SignInJourneys, uow: FakeUnitOfWork
) -> None:
    uow.accounts.add(an_account("other", "taken@example.org"))
    uow.commit()

    for claim in (MARY, replace(MARY, member_id="nobody")):
        with pytest.raises(EmailTaken):
            journeys.start_enrollment(claim, " TAKEN@example.org", "en")
    assert sent(uow) == []


def test_a_member_record_with_its_own_account_gets_no_second_one(
    journeys: SignInJourneys, uow: FakeUnitOfWork, mail: RecordingComposer
) -> None:
    uow.accounts.add(an_account("first", "mary.first@example.org"))
    uow.representations.add(a_representation("first", "m1"))
    uow.commit()
    ticket = journeys.start_enrollment(MARY, "mary.second@example.org", "en")

    answer = journeys.finish(ticket, mail.last_code)

    assert answer == MemberHasAccount("m•••t@example.org")
    assert uow.accounts.get_by_email("mary.second@example.org") is None


def test_sign_in_sends_a_code_only_to_an_account_and_the_code_starts_a_session(
    journeys: SignInJourneys, uow: FakeUnitOfWork, mail: RecordingComposer
) -> None:
    uow.accounts.add(an_account("acct1", "mary@example.org"))
    uow.commit()

    unknown = journeys.start_sign_in("nobody@example.org", "en")
    known = journeys.start_sign_in("mary@example.org", "en")
    done = journeys.finish(known, mail.last_code)

    assert sent(uow) == ["mary@example.org"]
    assert journeys.pending(unknown).account_id is None
    assert isinstance(done, Finished)
    assert done.account_id == "acct1"
    assert len(uow.member_sessions.rows) == 1


def test_a_parent_the_plan_lists_links_the_child_after_entering_the_code(
    journeys: SignInJourneys, uow: FakeUnitOfWork, mail: RecordingComposer
) -> None:
    uow.accounts.add(an_account("parent", "mary@example.org"))
    uow.representations.add(a_representation("parent", "m1"))
    uow.commit()
    ticket = journeys.start_link("parent", CHILD, "en")

    done = journeys.finish(ticket, mail.last_code, session_account_id="parent")

    assert mail.messages[-1].purpose is CodePurpose.LINK_REPRESENTATIVE
    assert isinstance(done, Finished) and done.member_key == "kid"
    links = {r.member_key: r for r in uow.representations.list_for_account("parent")}
    assert links["kid"].kind is RepresentationKind.PARENT
    assert links["kid"].source == "RelatedPerson/rp1"


def test_someone_the_plan_does_not_list_gets_no_code_and_links_nothing(
    journeys: SignInJourneys, uow: FakeUnitOfWork
) -> None:
    uow.accounts.add(an_account("stranger", "stranger@example.org"))
    store(uow, a_member("m9", meta=a_meta()))
    uow.representations.add(a_representation("stranger", "m9"))
    uow.commit()
    ticket = journeys.start_link("stranger", CHILD, "en")

    refused = journeys.finish(ticket, "123456", session_account_id="stranger")

    assert sent(uow) == []
    assert refused == Refused(Refusal.INVALID)
    assert [r.member_key for r in uow.representations.list_for_account("stranger")] == ["m9"]


def test_a_link_ticket_works_only_in_the_session_of_its_account(
    journeys: SignInJourneys, uow: FakeUnitOfWork, mail: RecordingComposer
) -> None:
    uow.accounts.add(an_account("parent", "mary@example.org"))
    uow.representations.add(a_representation("parent", "m1"))
    uow.commit()
    ticket = journeys.start_link("parent", CHILD, "en")

    for someone_else in (None, "intruder"):
        with pytest.raises(TicketInvalid):
            journeys.finish(ticket, mail.last_code, session_account_id=someone_else)


def test_a_new_code_for_the_same_sign_in_cancels_the_first(
    journeys: SignInJourneys, uow: FakeUnitOfWork, mail: RecordingComposer
) -> None:
    uow.accounts.add(an_account("acct1", "mary@example.org"))
    uow.commit()
    ticket = journeys.start_sign_in("mary@example.org", "en")
    first = mail.last_code

    renewed = journeys.resend(ticket)
    second = mail.last_code

    if first != second:
        assert journeys.finish(renewed, first) == Refused(Refusal.INVALID)
    assert isinstance(journeys.finish(renewed, second), Finished)
