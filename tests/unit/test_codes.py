"""Emailed sign-in codes (SECURITY B.14-B.17): random digits stored as keyed hashes, one open
code per subject, single use for ten minutes, five guesses, lockout after ten failures in fifteen
minutes, throttled sending."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

import pytest

from auth.members.codes import (
    LOCKOUT_ACTION,
    CodeLimits,
    CodeService,
    Refusal,
    Refused,
    TooManyCodes,
    Verified,
    clear_lockout,
    new_code,
)
from auth.secret_key import SECRET_NAME, SecretKey, load_secret_key
from domain.audit import Outcome
from domain.signin import CodePurpose, SignInSubject
from tests.builders import NOW, an_account
from tests.fakes import FakeClock, FakeUnitOfWork
from tests.signin_builders import TEST_KEY, RecordingComposer

SIGN_IN = SignInSubject(CodePurpose.SIGN_IN, "Mary@Example.org ", account_id="acct1")
CREATE = SignInSubject(CodePurpose.CREATE_ACCOUNT, "new@example.org", member_key="m2")
UNKNOWN = SignInSubject(CodePurpose.SIGN_IN, "nobody@example.org")


@pytest.fixture
def uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.accounts.add(an_account("acct1", "mary@example.org"))
    uow.commit()
    return uow


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def mail() -> RecordingComposer:
    return RecordingComposer()


@pytest.fixture
def codes(uow: FakeUnitOfWork, clock: FakeClock, mail: RecordingComposer) -> CodeService:
    return CodeService(lambda: uow, clock, TEST_KEY, mail)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def fail(codes: CodeService, subject: SignInSubject, times: int) -> list[Verified | Refused]:
    return [codes.verify(subject, "not a code") for _ in range(times)]


def test_a_code_is_six_random_digits_and_only_its_keyed_hash_is_stored(
    codes: CodeService, uow: FakeUnitOfWork, mail: RecordingComposer
) -> None:
    codes.send_code(SIGN_IN, "en")
    code = mail.last_code
    assert re.fullmatch(r"\d{6}", code)
    [stored] = uow.email_codes.rows.values()
    assert stored.code_hash == codes.hash_code(stored.id, code)
    assert stored.code_hash != hashlib.sha256(code.encode()).hexdigest()
    assert code not in repr(uow.email_codes.rows)
    assert (stored.email_norm, stored.account_id) == ("mary@example.org", "acct1")
    assert stored.expires_at == NOW + timedelta(minutes=10)


def test_codes_come_from_the_secrets_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "randbelow", lambda bound: 42)
    assert new_code() == "000042"
    assert new_code(8) == "00000042"


def test_equal_codes_hash_apart_and_the_key_matters(
    uow: FakeUnitOfWork, clock: FakeClock, mail: RecordingComposer
) -> None:
    other_key = SecretKey(b"another secret key, also long enough")
    mine = CodeService(lambda: uow, clock, TEST_KEY, mail)
    theirs = CodeService(lambda: uow, clock, other_key, mail)
    assert mine.hash_code("a", "123456") != mine.hash_code("b", "123456")
    assert mine.hash_code("a", "123456") != theirs.hash_code("a", "123456")


def test_the_email_is_queued_with_the_code_in_the_same_transaction(
    codes: CodeService, uow: FakeUnitOfWork, mail: RecordingComposer
) -> None:
    codes.send_code(SIGN_IN, "es", client_address="203.0.113.7")
    [email] = uow.outbox.rows.values()
    assert email.to == "mary@example.org"
    assert mail.last_code in email.text
    assert email.sent_at is None
    assert mail.messages[-1].language == "es"
    assert mail.messages[-1].lifetime == timedelta(minutes=10)
    assert uow.commits == 2


def test_the_right_code_verifies_once(codes: CodeService, mail: RecordingComposer) -> None:
    codes.send_code(SIGN_IN, "en")
    result = codes.verify(SIGN_IN, mail.last_code)
    assert isinstance(result, Verified)
    assert result.subject == SIGN_IN
    assert codes.verify(SIGN_IN, mail.last_code) == Refused(Refusal.INVALID)


def test_a_code_may_be_typed_with_spaces_or_a_dash(
    codes: CodeService, mail: RecordingComposer
) -> None:
    codes.send_code(SIGN_IN, "en")
    code = mail.last_code
    assert isinstance(codes.verify(SIGN_IN, f" {code[:3]} - {code[3:]} "), Verified)


def test_a_new_code_cancels_the_previous_one(codes: CodeService, mail: RecordingComposer) -> None:
    codes.send_code(SIGN_IN, "en")
    first = mail.last_code
    codes.send_code(SIGN_IN, "en")
    second = mail.last_code
    if first != second:
        assert codes.verify(SIGN_IN, first) == Refused(Refusal.INVALID)
    assert isinstance(codes.verify(SIGN_IN, second), Verified)


def test_a_code_works_for_ten_minutes_only(
    codes: CodeService, clock: FakeClock, mail: RecordingComposer
) -> None:
    codes.send_code(SIGN_IN, "en")
    clock.advance(minutes=9, seconds=59)
    assert isinstance(codes.verify(SIGN_IN, mail.last_code), Verified)
    codes.send_code(SIGN_IN, "en")
    clock.advance(minutes=10)
    assert codes.verify(SIGN_IN, mail.last_code) == Refused(Refusal.INVALID)


def test_a_code_is_bound_to_its_step_address_and_subject(
    codes: CodeService, uow: FakeUnitOfWork, mail: RecordingComposer
) -> None:
    codes.send_code(CREATE, "en")
    code = mail.last_code
    other_address = SignInSubject(CodePurpose.CREATE_ACCOUNT, "eve@example.org", member_key="m2")
    other_member = SignInSubject(CodePurpose.CREATE_ACCOUNT, "new@example.org", member_key="m3")
    for subject in (other_address, other_member):
        assert codes.verify(subject, code) == Refused(Refusal.INVALID)
    [stored] = uow.email_codes.rows.values()
    assert stored.attempts == 0  # guesses for another step do not wear out this code
    assert isinstance(codes.verify(CREATE, code), Verified)


def test_four_wrong_guesses_leave_the_code_usable(
    codes: CodeService, mail: RecordingComposer
) -> None:
    codes.send_code(SIGN_IN, "en")
    for _ in range(4):
        assert codes.verify(SIGN_IN, wrong(mail.last_code)) == Refused(Refusal.INVALID)
    assert isinstance(codes.verify(SIGN_IN, mail.last_code), Verified)


def test_the_fifth_wrong_guess_cancels_the_code(
    codes: CodeService, uow: FakeUnitOfWork, clock: FakeClock, mail: RecordingComposer
) -> None:
    codes.send_code(SIGN_IN, "en")
    for _ in range(5):
        assert codes.verify(SIGN_IN, wrong(mail.last_code)) == Refused(Refusal.INVALID)
    [stored] = uow.email_codes.rows.values()
    assert (stored.attempts, stored.cancelled_at) == (5, NOW)
    assert codes.verify(SIGN_IN, mail.last_code) == Refused(Refusal.INVALID)


def test_ten_failures_in_fifteen_minutes_lock_the_account_with_retry_after(
    codes: CodeService, uow: FakeUnitOfWork, clock: FakeClock, mail: RecordingComposer
) -> None:
    results = []
    for _ in range(2):
        codes.send_code(SIGN_IN, "en")
        for _ in range(5):
            clock.advance(minutes=1)
            results.append(codes.verify(SIGN_IN, wrong(mail.last_code), client_address="192.0.2.1"))
    assert results[:9] == [Refused(Refusal.INVALID)] * 9
    assert results[9] == Refused(Refusal.LOCKED, retry_after=900)
    locked_at = clock()
    assert uow.accounts.rows["acct1"].locked_until == locked_at + timedelta(minutes=15)
    [event] = uow.access_events.rows
    assert (event.action, event.outcome, event.actor_kind, event.actor) == (
        LOCKOUT_ACTION,
        Outcome.DENIED,
        "account",
        "acct1",
    )
    assert event.client_address == "192.0.2.1"
    assert mail.last_code not in repr(event)


def test_a_locked_account_is_refused_even_the_right_code_until_the_lock_ends(
    codes: CodeService, clock: FakeClock, mail: RecordingComposer
) -> None:
    fail(codes, SIGN_IN, 10)
    clock.advance(minutes=5)
    codes.send_code(SIGN_IN, "en")
    assert len(mail.messages) == 0  # a locked subject gets no code, silently
    assert codes.verify(SIGN_IN, "123456") == Refused(Refusal.LOCKED, retry_after=600)
    clock.advance(minutes=10)
    codes.send_code(SIGN_IN, "en")
    assert isinstance(codes.verify(SIGN_IN, mail.last_code), Verified)


def test_failures_older_than_fifteen_minutes_do_not_count(
    codes: CodeService, clock: FakeClock
) -> None:
    fail(codes, SIGN_IN, 9)
    clock.advance(minutes=15, seconds=1)
    assert fail(codes, SIGN_IN, 9) == [Refused(Refusal.INVALID)] * 9
    assert codes.verify(SIGN_IN, "000000").reason is Refusal.LOCKED  # type: ignore[union-attr]


def test_failures_count_per_account_whatever_the_code_or_client(
    codes: CodeService, mail: RecordingComposer
) -> None:
    results = []
    for client in range(5):
        codes.send_code(SIGN_IN, "en")
        for guess in range(2):
            address = f"198.51.100.{client * 2 + guess}"
            results.append(codes.verify(SIGN_IN, wrong(mail.last_code), client_address=address))
    assert results[-1] == Refused(Refusal.LOCKED, retry_after=900)


def test_success_resets_the_failure_counter(codes: CodeService, mail: RecordingComposer) -> None:
    fail(codes, SIGN_IN, 9)
    codes.send_code(SIGN_IN, "en")
    assert isinstance(codes.verify(SIGN_IN, mail.last_code), Verified)
    assert fail(codes, SIGN_IN, 9) == [Refused(Refusal.INVALID)] * 9


def test_a_member_record_without_an_account_locks_by_its_member_key(
    codes: CodeService, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    assert fail(codes, CREATE, 10)[-1] == Refused(Refusal.LOCKED, retry_after=900)
    assert uow.signin_failures.locked_until("member:m2") == clock() + timedelta(minutes=15)
    other_step = SignInSubject(CodePurpose.CREATE_ACCOUNT, "else@example.org", member_key="m2")
    assert codes.verify(other_step, "123456").reason is Refusal.LOCKED  # type: ignore[union-attr]
    [event] = uow.access_events.rows
    assert (event.actor_kind, event.member_key) == ("member", "m2")


def test_an_unknown_address_is_refused_and_locked_exactly_like_a_known_one(
    codes: CodeService, uow: FakeUnitOfWork
) -> None:
    assert fail(codes, UNKNOWN, 10) == fail(codes, SIGN_IN, 10)
    [unknown_event, _known_event] = uow.access_events.rows
    assert unknown_event.actor_kind == "email"
    assert "nobody" not in unknown_event.actor


def test_a_sign_in_without_an_account_gets_no_code(codes: CodeService) -> None:
    with pytest.raises(ValueError, match="account"):
        codes.send_code(UNKNOWN, "en")


def test_member_services_can_clear_a_lockout(codes: CodeService, uow: FakeUnitOfWork) -> None:
    fail(codes, SIGN_IN, 10)
    fail(codes, CREATE, 10)
    clear_lockout(uow, account_id="acct1")
    clear_lockout(uow, member_key="m2")
    uow.commit()
    assert uow.accounts.rows["acct1"].locked_until is None
    assert fail(codes, SIGN_IN, 1) == [Refused(Refusal.INVALID)]
    assert fail(codes, CREATE, 1) == [Refused(Refusal.INVALID)]


def test_at_most_five_codes_an_hour_go_to_one_address(
    codes: CodeService, clock: FakeClock, mail: RecordingComposer
) -> None:
    for _ in range(5):
        codes.send_code(SIGN_IN, "en", client_address=f"192.0.2.{len(mail.messages)}")
        clock.advance(minutes=10)
    with pytest.raises(TooManyCodes) as refused:
        codes.send_code(SIGN_IN, "en")
    assert refused.value.retry_after == 600  # when the first of the five leaves the window
    assert len(mail.messages) == 5
    clock.advance(minutes=10)
    codes.send_code(SIGN_IN, "en")
    assert len(mail.messages) == 6


def test_at_most_twenty_codes_an_hour_go_out_for_one_client_address(
    codes: CodeService, clock: FakeClock
) -> None:
    for n in range(20):
        codes.count_request(f"person{n}@example.org", client_address="203.0.113.9")
    with pytest.raises(TooManyCodes) as refused:
        codes.send_code(CREATE, "en", client_address="203.0.113.9")
    assert refused.value.retry_after == 3600
    codes.send_code(CREATE, "en", client_address="203.0.113.10")


def test_requests_that_send_nothing_are_throttled_like_those_that_do(
    codes: CodeService, uow: FakeUnitOfWork
) -> None:
    for _ in range(3):
        codes.count_request("Mary@example.org")
    codes.send_code(SIGN_IN, "en")
    codes.count_request("mary@example.org")
    with pytest.raises(TooManyCodes):
        codes.count_request("mary@example.org ")
    with pytest.raises(TooManyCodes):
        codes.send_code(SIGN_IN, "en")
    assert len(uow.outbox.latest(10)) == 1


def test_a_request_that_sends_nothing_words_a_code_as_a_real_one_does_but_stores_none(
    codes: CodeService, uow: FakeUnitOfWork, mail: RecordingComposer
) -> None:
    codes.count_request("nobody@example.org", language="es")

    assert [(m.to, m.language) for m in mail.messages] == [("nobody@example.org", "es")]
    assert uow.outbox.latest(10) == []
    assert uow.email_codes.rows == {}


def test_limits_are_configurable_but_never_below_six_digits(
    uow: FakeUnitOfWork, clock: FakeClock, mail: RecordingComposer
) -> None:
    with pytest.raises(ValueError, match="digits"):
        CodeLimits(digits=4)
    codes = CodeService(lambda: uow, clock, TEST_KEY, mail, CodeLimits(digits=8, per_address=1))
    codes.send_code(SIGN_IN, "en")
    assert re.fullmatch(r"\d{8}", mail.last_code)
    with pytest.raises(TooManyCodes):
        codes.send_code(SIGN_IN, "en")


def test_the_message_to_compose_keeps_its_code_out_of_its_repr(
    codes: CodeService, mail: RecordingComposer
) -> None:
    codes.send_code(SIGN_IN, "en")
    assert mail.last_code not in repr(mail.messages[-1])


def test_a_configured_secret_key_is_used_as_it_is(uow: FakeUnitOfWork, clock: FakeClock) -> None:
    configured = "k" * 32
    key = load_secret_key(lambda: uow, configured, clock)
    assert key.derive("x") == SecretKey(configured.encode()).derive("x")
    assert uow.server_secrets.rows == {}


def test_without_configuration_one_secret_key_is_generated_and_shared(
    uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    first = load_secret_key(lambda: uow, None, clock)
    second = load_secret_key(lambda: uow, None, clock)
    assert first.derive("email-code") == second.derive("email-code")
    assert first.derive("email-code") != first.derive("session")
    assert len(uow.server_secrets.rows[SECRET_NAME]) >= 32
    assert repr(first) == "SecretKey(...)"


def test_a_short_secret_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32"):
        SecretKey(b"too short")
