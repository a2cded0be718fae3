"""Sign-in codes, failure counters, authorization codes, signing keys, client assertions, the outbox
and server secrets in SQL: single use and replay refusal hold between racing processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import TypeVar

import pytest
import sqlalchemy
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from auth.members.codes import CodeService, Refusal, Refused, Verified
from domain.errors import Conflict
from domain.oauth import Redemption
from domain.outbox import MAX_DELIVERY_ATTEMPTS
from domain.signin import CodePurpose, CodeRequest, SignInFailure, SignInSubject, Tally
from persistence import database, tables
from persistence.unit_of_work import SqlUnitOfWork, session_factory
from tests.builders import NOW, a_grant, an_account, an_app
from tests.fakes import FakeClock
from tests.signin_builders import (
    TEST_KEY,
    RecordingComposer,
    a_signing_key,
    an_authorization_code,
    an_email_code,
    an_outgoing_email,
)

T = TypeVar("T")
UnitOfWorkFactory = Callable[[], SqlUnitOfWork]
MINUTE = timedelta(minutes=1)
SUBJECT = "account:acct1"


def store_parents(uow: SqlUnitOfWork) -> None:
    """The app, account and grant that codes refer to."""
    uow.apps.add(an_app("app1"))
    uow.accounts.add(an_account("acct1"))
    uow.grants.add(a_grant("grant1", client_id="app1", member_key="m1"))


def race(
    engine: sqlalchemy.Engine, action: Callable[[SqlUnitOfWork], T], racers: int = 2
) -> list[T]:
    """Run `action` in `racers` units of work at once, each holding its transaction a moment."""
    sessions = session_factory(engine)
    start = threading.Barrier(racers)
    results: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with SqlUnitOfWork(sessions) as uow:
                start.wait()
                result = action(uow)
                time.sleep(0.2)
                uow.commit()
            results.append(result)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return results


def prepare(engine: sqlalchemy.Engine, setup: Callable[[SqlUnitOfWork], None]) -> None:
    with SqlUnitOfWork(session_factory(engine)) as uow:
        setup(uow)
        uow.commit()


# Emailed sign-in codes


def test_email_codes_round_trip_and_the_newest_open_one_is_found(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    older = an_email_code("c1")
    newer = an_email_code("c2", created_at=NOW + MINUTE, attempts=2)
    member = an_email_code(
        "c3",
        purpose=CodePurpose.CREATE_ACCOUNT,
        account_id=None,
        member_key="m1",
        email_norm="new@example.org",
    )
    with unit_of_work() as uow:
        store_parents(uow)
        for code in (older, newer, member):
            uow.email_codes.add(code)
        uow.commit()
    with unit_of_work() as uow:
        assert [uow.email_codes.get(c.id) for c in (older, newer, member)] == [
            older,
            newer,
            member,
        ]
        assert uow.email_codes.get("nope") is None
        assert uow.email_codes.open_for(SUBJECT) == newer
        assert uow.email_codes.open_for("member:m1") == member
        assert uow.email_codes.open_for("account:other") is None


def test_cancelling_a_subjects_open_codes_leaves_other_subjects_and_used_codes_alone(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    used = an_email_code("c1", used_at=NOW)
    open_one = an_email_code("c2")
    other = an_email_code(
        "c3", purpose=CodePurpose.CREATE_ACCOUNT, account_id=None, member_key="m1"
    )
    with unit_of_work() as uow:
        store_parents(uow)
        for code in (used, open_one, other):
            uow.email_codes.add(code)
        assert uow.email_codes.cancel_open(SUBJECT, NOW + MINUTE) == 1
        assert uow.email_codes.cancel_open(SUBJECT, NOW + MINUTE) == 0
        assert uow.email_codes.get("c2") == replace(open_one, cancelled_at=NOW + MINUTE)
        assert uow.email_codes.get("c1") == used
        assert uow.email_codes.get("c3") == other
        assert uow.email_codes.open_for(SUBJECT) is None


def test_the_fifth_wrong_guess_cancels_an_email_code(unit_of_work: UnitOfWorkFactory) -> None:
    with unit_of_work() as uow:
        store_parents(uow)
        uow.email_codes.add(an_email_code())
        counts = [uow.email_codes.count_wrong_guess("code1", NOW) for _ in range(6)]
        assert counts == [1, 2, 3, 4, 5, 0]
        stored = uow.email_codes.get("code1")
        assert stored is not None
        assert (stored.attempts, stored.cancelled_at) == (5, NOW)
        assert uow.email_codes.count_wrong_guess("unknown", NOW) == 0


def test_an_email_code_is_used_once_and_never_when_expired_or_cancelled(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    with unit_of_work() as uow:
        store_parents(uow)
        uow.email_codes.add(an_email_code("fresh"))
        uow.email_codes.add(an_email_code("late"))
        uow.email_codes.add(an_email_code("cancelled", cancelled_at=NOW))
        assert uow.email_codes.mark_used("fresh", NOW + MINUTE) is True
        assert uow.email_codes.mark_used("fresh", NOW + MINUTE) is False
        assert uow.email_codes.mark_used("late", NOW + timedelta(minutes=10)) is False
        assert uow.email_codes.mark_used("cancelled", NOW) is False
        assert uow.email_codes.mark_used("unknown", NOW) is False
        fresh = uow.email_codes.get("fresh")
        assert fresh is not None
        assert fresh.used_at == NOW + MINUTE
        assert uow.email_codes.count_wrong_guess("fresh", NOW) == 0


def test_of_two_racing_checks_of_one_email_code_exactly_one_uses_it(
    migrated_engine: sqlalchemy.Engine,
) -> None:
    def setup(uow: SqlUnitOfWork) -> None:
        store_parents(uow)
        uow.email_codes.add(an_email_code())

    prepare(migrated_engine, setup)
    results = race(migrated_engine, lambda uow: uow.email_codes.mark_used("code1", NOW))
    assert sorted(results) == [False, True]


def test_racing_wrong_guesses_are_all_counted(migrated_engine: sqlalchemy.Engine) -> None:
    def setup(uow: SqlUnitOfWork) -> None:
        store_parents(uow)
        uow.email_codes.add(an_email_code(attempts=3))

    prepare(migrated_engine, setup)
    results = race(migrated_engine, lambda uow: uow.email_codes.count_wrong_guess("code1", NOW))
    assert sorted(results) == [4, 5]
    with SqlUnitOfWork(session_factory(migrated_engine)) as uow:
        stored = uow.email_codes.get("code1")
    assert stored is not None
    assert (stored.attempts, stored.cancelled_at) == (5, NOW)


# Failure counters, locks and code requests


def test_failures_are_counted_per_subject_within_the_window_and_cleared(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    with unit_of_work() as uow:
        for minutes in (0, 5, 10, 20):
            uow.signin_failures.record(SignInFailure(SUBJECT, NOW + minutes * MINUTE))
        uow.signin_failures.record(SignInFailure("member:m1", NOW))
        assert uow.signin_failures.count_since(SUBJECT, NOW + 5 * MINUTE) == 3
        assert uow.signin_failures.count_since(SUBJECT, NOW - MINUTE) == 4
        assert uow.signin_failures.prune(NOW + MINUTE) == 2
        assert uow.signin_failures.count_since(SUBJECT, NOW - MINUTE) == 3
        assert uow.signin_failures.clear(SUBJECT) == 3
        assert uow.signin_failures.count_since(SUBJECT, NOW - MINUTE) == 0


def test_locks_of_subjects_without_an_account_are_replaced_and_removed(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    with unit_of_work() as uow:
        assert uow.signin_failures.locked_until("member:m1") is None
        uow.signin_failures.lock("member:m1", NOW)
        uow.signin_failures.lock("member:m1", NOW + 15 * MINUTE)
        uow.signin_failures.lock("email:x@example.org", NOW)
        uow.commit()
    with unit_of_work() as uow:
        assert uow.signin_failures.locked_until("member:m1") == NOW + 15 * MINUTE
        assert uow.signin_failures.unlock("member:m1") is True
        assert uow.signin_failures.unlock("member:m1") is False
        assert uow.signin_failures.locked_until("member:m1") is None
        assert uow.signin_failures.locked_until("email:x@example.org") == NOW


def test_code_requests_are_tallied_per_address_and_per_client_with_the_oldest(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    with unit_of_work() as uow:
        for minutes, email, client in (
            (0, "a@example.org", "192.0.2.1"),
            (10, "a@example.org", "192.0.2.2"),
            (20, "b@example.org", "192.0.2.1"),
            (30, "a@example.org", None),
        ):
            uow.code_requests.record(CodeRequest(email, client, NOW + minutes * MINUTE))
        requests = uow.code_requests
        assert requests.tally_for_email("a@example.org", NOW - MINUTE) == Tally(3, NOW)
        assert requests.tally_for_email("a@example.org", NOW) == Tally(2, NOW + 10 * MINUTE)
        assert requests.tally_for_client("192.0.2.1", NOW - MINUTE) == Tally(2, NOW)
        assert requests.tally_for_client("192.0.2.9", NOW - MINUTE) == Tally(0, None)
        assert requests.prune(NOW + 15 * MINUTE) == 2
        assert requests.tally_for_email("a@example.org", NOW - MINUTE).count == 1


# Authorization codes


def test_authorization_codes_round_trip_with_and_without_their_optional_fields(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    full = an_authorization_code("one")
    bare = an_authorization_code("two", grant_id=None, nonce=None, scopes=())
    with unit_of_work() as uow:
        store_parents(uow)
        uow.authorization_codes.add(full)
        uow.authorization_codes.add(bare)
        uow.commit()
    with unit_of_work() as uow:
        assert uow.authorization_codes.get(full.code_hash) == full
        assert uow.authorization_codes.get(bare.code_hash) == bare


def test_an_authorization_code_is_taken_once_then_its_reuse_is_reported(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    code = an_authorization_code()
    late = an_authorization_code("late")
    with unit_of_work() as uow:
        store_parents(uow)
        uow.authorization_codes.add(code)
        uow.authorization_codes.add(late)
        first = uow.authorization_codes.take(code.code_hash, NOW + timedelta(seconds=5))
        again = uow.authorization_codes.take(code.code_hash, NOW + timedelta(seconds=6))
        expired = uow.authorization_codes.take(late.code_hash, NOW + timedelta(seconds=60))
        unknown = uow.authorization_codes.take("0" * 64, NOW)
    used = replace(code, used_at=NOW + timedelta(seconds=5))
    assert (first.outcome, first.taken) == (Redemption.TAKEN, used)
    assert (again.outcome, again.code, again.taken) == (Redemption.REUSED, used, None)
    assert (expired.outcome, expired.code) == (Redemption.EXPIRED, late)
    assert (unknown.outcome, unknown.code) == (Redemption.UNKNOWN, None)


def test_an_authorization_code_needs_its_app_and_account_stored(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    with unit_of_work() as uow, pytest.raises(IntegrityError):
        uow.authorization_codes.add(an_authorization_code(grant_id=None))


def test_of_two_racing_exchanges_of_one_authorization_code_one_takes_it_and_one_sees_reuse(
    migrated_engine: sqlalchemy.Engine,
) -> None:
    code = an_authorization_code()

    def setup(uow: SqlUnitOfWork) -> None:
        store_parents(uow)
        uow.authorization_codes.add(code)

    prepare(migrated_engine, setup)
    results = race(migrated_engine, lambda uow: uow.authorization_codes.take(code.code_hash, NOW))
    assert sorted(r.outcome for r in results) == [Redemption.REUSED, Redemption.TAKEN]
    assert all(r.code is not None and r.code.used_at == NOW for r in results)


# Signing keys


def test_the_newest_unretired_key_signs_and_retired_keys_are_no_longer_published(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    old = a_signing_key("old")
    new = a_signing_key("new", created_at=NOW + MINUTE)
    with unit_of_work() as uow:
        assert uow.signing_keys.active() is None
        assert uow.signing_keys.all_public() == []
        uow.signing_keys.add(old)
        uow.signing_keys.add(new)
        with pytest.raises(Conflict):
            uow.signing_keys.add(a_signing_key("old"))
        uow.commit()
    with unit_of_work() as uow:
        assert uow.signing_keys.get("old") == old
        assert uow.signing_keys.active() == new
        assert uow.signing_keys.all_public() == [new.public_jwk, old.public_jwk]
        assert all("d" not in jwk for jwk in uow.signing_keys.all_public())
        assert uow.signing_keys.retire("new", NOW + 2 * MINUTE) is True
        assert uow.signing_keys.retire("new", NOW + 3 * MINUTE) is False
        assert uow.signing_keys.active() == old
        assert uow.signing_keys.all_public() == [old.public_jwk]
        assert uow.signing_keys.get("new") == replace(new, retired_at=NOW + 2 * MINUTE)


# Client assertions (private_key_jwt replay)


def test_a_client_assertion_id_is_accepted_once_per_client_until_forgotten(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    with unit_of_work() as uow:
        assertions = uow.client_assertions
        assert assertions.remember("jti-1", "app1", NOW + MINUTE) is True
        assert assertions.remember("jti-1", "app1", NOW + 2 * MINUTE) is False
        assert assertions.remember("jti-1", "app2", NOW + MINUTE) is True
        assert assertions.remember("jti-2", "app1", NOW + 5 * MINUTE) is True
        assert assertions.forget_expired(NOW + MINUTE) == 2
        assert assertions.remember("jti-2", "app1", NOW + 5 * MINUTE) is False


def test_of_two_racing_uses_of_one_client_assertion_exactly_one_is_accepted(
    migrated_engine: sqlalchemy.Engine,
) -> None:
    results = race(
        migrated_engine, lambda uow: uow.client_assertions.remember("jti-1", "app1", NOW)
    )
    assert sorted(results) == [False, True]


# The outbox


def test_outgoing_email_waits_oldest_first_and_is_listed_newest_first(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    first = an_outgoing_email("m1")
    second = an_outgoing_email("m2", created_at=NOW + MINUTE, language="es", subject="Su código")
    with unit_of_work() as uow:
        uow.outbox.add(second)
        uow.outbox.add(first)
        uow.commit()
    with unit_of_work() as uow:
        assert uow.outbox.get("m2") == second
        assert uow.outbox.pending(10) == [first, second]
        assert uow.outbox.pending(1) == [first]
        assert uow.outbox.latest(10) == [second, first]


def test_claimed_email_is_not_claimed_again_until_its_lease_ends(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    with unit_of_work() as uow:
        for n in range(3):
            uow.outbox.add(an_outgoing_email(f"m{n}", created_at=NOW + n * MINUTE))
        lease = NOW + 2 * MINUTE
        claimed = uow.outbox.claim(2, NOW, lease)
        assert [e.id for e in claimed] == ["m0", "m1"]
        assert all(e.claimed_until == lease for e in claimed)
        assert [e.id for e in uow.outbox.claim(5, NOW + MINUTE, lease)] == ["m2"]
        assert uow.outbox.claim(5, NOW + MINUTE, lease) == []
        assert [e.id for e in uow.outbox.claim(5, lease, lease + MINUTE)] == ["m0", "m1", "m2"]


def test_sent_email_drops_its_body_and_failed_email_waits_for_its_retry(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    with unit_of_work() as uow:
        uow.outbox.add(an_outgoing_email("sent"))
        uow.outbox.add(an_outgoing_email("failed"))
        assert uow.outbox.mark_sent("sent", NOW) is True
        assert uow.outbox.mark_sent("sent", NOW + MINUTE) is False
        assert uow.outbox.mark_failed("sent", "too late", NOW) is False
        sent = uow.outbox.get("sent")
        assert sent is not None
        assert (sent.sent_at, sent.text, sent.html) == (NOW, "", "")
        assert uow.outbox.mark_failed("failed", "SMTPServerDisconnected: gone", NOW + MINUTE)
        failed = uow.outbox.get("failed")
        assert failed is not None
        assert (failed.attempts, failed.last_error, failed.claimed_until) == (
            1,
            "SMTPServerDisconnected: gone",
            NOW + MINUTE,
        )
        assert failed.text == an_outgoing_email().text
        assert uow.outbox.claim(5, NOW, NOW + MINUTE) == []
        assert [e.id for e in uow.outbox.claim(5, NOW + MINUTE, NOW + 2 * MINUTE)] == ["failed"]
        assert [e.id for e in uow.outbox.pending(5)] == ["failed"]


def test_email_that_keeps_failing_is_given_up_and_loses_its_body(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    with unit_of_work() as uow:
        uow.outbox.add(an_outgoing_email())
        for _ in range(MAX_DELIVERY_ATTEMPTS):
            uow.outbox.mark_failed("mail1", "refused", NOW)
        given_up = uow.outbox.get("mail1")
        assert given_up is not None
        assert given_up.gave_up
        assert (given_up.text, given_up.html) == ("", "")
        assert uow.outbox.pending(5) == []
        assert uow.outbox.claim(5, NOW + timedelta(days=1), NOW + timedelta(days=2)) == []


def test_racing_workers_claim_different_email(migrated_engine: sqlalchemy.Engine) -> None:
    def setup(uow: SqlUnitOfWork) -> None:
        for n in range(5):
            uow.outbox.add(an_outgoing_email(f"m{n}", created_at=NOW + n * MINUTE))

    prepare(migrated_engine, setup)
    results = race(
        migrated_engine, lambda uow: [e.id for e in uow.outbox.claim(3, NOW, NOW + MINUTE)]
    )
    claimed = [email_id for ids in results for email_id in ids]
    assert sorted(claimed) == ["m0", "m1", "m2", "m3", "m4"]


# Server secrets


def test_a_server_secret_is_stored_once(unit_of_work: UnitOfWorkFactory) -> None:
    with unit_of_work() as uow:
        assert uow.server_secrets.get("secret-key") is None
        assert uow.server_secrets.add_if_absent("secret-key", "first", NOW) == "first"
        assert uow.server_secrets.add_if_absent("secret-key", "second", NOW) == "first"
        assert uow.server_secrets.get("secret-key") == "first"


def test_racing_processes_end_with_the_same_server_secret(
    migrated_engine: sqlalchemy.Engine,
) -> None:
    values = iter(["one", "two"])
    lock = threading.Lock()

    def create(uow: SqlUnitOfWork) -> str:
        with lock:
            value = next(values)
        return uow.server_secrets.add_if_absent("secret-key", value, NOW)

    results = race(migrated_engine, create)
    assert results[0] == results[1]


# The code service over SQL, as several processes


@pytest.fixture
def second_engine(migrated_engine: sqlalchemy.Engine) -> Iterator[sqlalchemy.Engine]:
    """Another engine on the same database: another app process."""
    engine = database.create_engine(migrated_engine.url.render_as_string(hide_password=False))
    yield engine
    engine.dispose()


def code_services(
    *engines: sqlalchemy.Engine, clock: FakeClock, mail: RecordingComposer
) -> list[CodeService]:
    return [CodeService(unit_of_work_on(engine), clock, TEST_KEY, mail) for engine in engines]


def unit_of_work_on(engine: sqlalchemy.Engine) -> UnitOfWorkFactory:
    sessions = session_factory(engine)
    return lambda: SqlUnitOfWork(sessions)


SIGN_IN = SignInSubject(CodePurpose.SIGN_IN, "mary@example.org", account_id="acct1")


def test_a_code_sent_through_one_process_verifies_through_another(
    migrated_engine: sqlalchemy.Engine, second_engine: sqlalchemy.Engine
) -> None:
    prepare(migrated_engine, store_parents)
    clock, mail = FakeClock(NOW), RecordingComposer()
    one, other = code_services(migrated_engine, second_engine, clock=clock, mail=mail)
    one.send_code(SIGN_IN, "en", client_address="192.0.2.1")
    result = other.verify(SIGN_IN, mail.last_code)
    assert isinstance(result, Verified)
    assert one.verify(SIGN_IN, mail.last_code) == Refused(Refusal.INVALID)


def test_failures_through_several_processes_add_up_to_one_lockout(
    migrated_engine: sqlalchemy.Engine, second_engine: sqlalchemy.Engine
) -> None:
    prepare(migrated_engine, store_parents)
    clock, mail = FakeClock(NOW), RecordingComposer()
    services = code_services(migrated_engine, second_engine, clock=clock, mail=mail)
    results = [services[n % 2].verify(SIGN_IN, "000000") for n in range(10)]
    assert results[-1] == Refused(Refusal.LOCKED, retry_after=900)
    with SqlUnitOfWork(session_factory(second_engine)) as uow:
        account = uow.accounts.get("acct1")
        [event] = uow.access_events.latest()
    assert account is not None
    assert account.locked_until == NOW + timedelta(minutes=15)
    assert (event.action, event.actor) == ("signin-lockout", "acct1")


def test_the_database_never_holds_a_sign_in_code_once_sent(
    unit_of_work: UnitOfWorkFactory, sessions: sessionmaker[Session]
) -> None:
    with unit_of_work() as uow:
        store_parents(uow)
        uow.commit()
    mail = RecordingComposer()
    codes = CodeService(unit_of_work, FakeClock(NOW), TEST_KEY, mail)
    codes.send_code(SIGN_IN, "en")
    with unit_of_work() as uow:
        [email] = uow.outbox.pending(5)
        uow.outbox.mark_sent(email.id, NOW)
        uow.commit()
    with sessions() as session:
        rows = [
            *session.execute(sqlalchemy.select(tables.email_codes)),
            *session.execute(sqlalchemy.select(tables.outbox)),
        ]
    assert len(rows) == 2
    assert mail.last_code not in repr(rows)
