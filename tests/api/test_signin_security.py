"""SECURITY B.13 to B.17 through the hosted pages: what an identity match, a sign-in and a code
entry tell an attacker who does not read the mailbox, and how codes are limited."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy
from starlette.testclient import TestClient

from api.app import create_app
from auth.members.codes import LOCKOUT_ACTION
from domain.audit import Outcome
from domain.signin import subject_key
from tests.fakes import FakeClock
from tests.member_plan import MemberPlan, Person, Visitor

FLOOR = 0.3
# How close the median times of the three kinds of answer must be: well above
# the scheduler's noise, well below what storing a code and queueing its email cost.
SAME_TIME = 0.025


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    cookies: list[str]
    page: str
    seconds: float


def normalized(text: str, *secrets: str) -> str:
    """A page with what legitimately differs between two browsers taken out."""
    text = re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token" value="-"', text)
    for secret in secrets:
        text = text.replace(secret, "<typed>")
    return text


def comparable_headers(response: Any) -> dict[str, str]:
    """The headers but those that differ on every answer (the request id is fresh each time)."""
    skip = {"set-cookie", "date", "content-length", "x-request-id"}
    return {k: v for k, v in response.headers.items() if k not in skip}


def cookie_shapes(response: Any) -> list[str]:
    """Each cookie set, with its random value blanked out."""
    return sorted(
        re.sub(r"=[^;]*;", "=-;", c, count=1) for c in response.headers.get_list("set-cookie")
    )


def answer_to(visitor: Visitor, path: str, field: str, form: dict[str, str], typed: str) -> Answer:
    page = visitor.get(path)
    started = time.perf_counter()
    posted = visitor.submit(page, field, form)
    seconds = time.perf_counter() - started
    following = visitor.get(posted.headers["location"]) if posted.is_redirect else posted
    return Answer(
        posted.status_code,
        comparable_headers(posted),
        cookie_shapes(posted),
        normalized(following.text, typed),
        seconds,
    )


@pytest.fixture(scope="module")
def floored(member_plan: MemberPlan) -> Iterator[MemberPlan]:
    """The plan served with the production response floor of the sign-in steps."""
    settings = member_plan.services.settings.model_copy(update={"signin_floor_seconds": FLOOR})
    services = replace(member_plan.services, settings=settings)
    with TestClient(create_app(settings, services)) as client:
        yield MemberPlan(services, client, member_plan.people, member_plan.accounts)


def lock_member_record(plan: MemberPlan, person: Person) -> None:
    """Ten failed code checks on the member's record, as B.15 makes them (arranged directly)."""
    with plan.services.unit_of_work() as uow:
        uow.signin_failures.lock(
            subject_key(None, person.key), datetime.now(UTC) + timedelta(minutes=15)
        )
        uow.commit()


# B.13


def test_a_matching_a_non_matching_and_a_locked_member_get_the_same_answer_in_the_same_time(
    floored: MemberPlan,
) -> None:
    people = floored.people
    matching, locked = people.adults[0], people.children[1]
    lock_member_record(floored, locked)
    kinds: dict[str, Callable[[int], dict[str, str]]] = {
        "matching": lambda n: matching.form(email=f"b13-match-{n:02d}@example.org"),
        "non-matching": lambda n: matching.form(
            member_id="CCH999999999", email=f"b13-nomat-{n:02d}@example.org"
        ),
        "locked": lambda n: locked.form(email=f"b13-lockd-{n:02d}@example.org"),
    }
    answers: dict[str, list[Answer]] = {kind: [] for kind in kinds}
    for n in range(6):
        for kind, form in kinds.items():
            filled = form(n)
            answers[kind].append(
                answer_to(floored.visitor(), "/login/create", "first_name", filled, filled["email"])
            )

    first = answers["matching"][0]
    for kind, batch in answers.items():
        for answer in batch:
            assert (answer.status, answer.headers, answer.cookies) == (
                first.status,
                first.headers,
                first.cookies,
            ), kind
            assert answer.page == first.page, kind
            assert answer.seconds >= FLOOR, kind
    medians = {kind: statistics.median(a.seconds for a in batch) for kind, batch in answers.items()}
    assert max(medians.values()) - min(medians.values()) < SAME_TIME, medians
    # Only the match sent anything.
    assert floored.mail_count("b13-match-00@example.org") == 1
    assert floored.mail_count("b13-nomat-00@example.org") == 0
    assert floored.mail_count("b13-lockd-00@example.org") == 0


def test_an_address_with_an_account_and_one_without_get_the_same_sign_in_answer(
    floored: MemberPlan,
) -> None:
    known = floored.account_for(floored.people.adults[2])
    unknown = "z" * (len(known.split("@")[0])) + "@" + known.split("@")[1]

    answers = {
        email: [answer_to(floored.visitor(), "/login", "email", {"email": email}, email)]
        for email in (known, unknown)
    }

    a, b = answers[known][0], answers[unknown][0]
    assert (a.status, a.headers, a.cookies, a.page) == (b.status, b.headers, b.cookies, b.page)
    assert a.seconds >= FLOOR and b.seconds >= FLOOR


def test_a_code_entered_after_a_match_or_after_no_match_is_refused_alike(
    floored: MemberPlan,
) -> None:
    person = floored.people.adults[3]
    answers = []
    for member_id in (person.details.member_id, "CCH999999998"):
        visitor = floored.visitor()
        email = f"b13-code-{member_id[-4:]}@example.org"
        started = visitor.submit(
            visitor.get("/login/create"),
            "first_name",
            person.form(member_id=member_id, email=email),
        )
        page = visitor.get(started.headers["location"])
        begun = time.perf_counter()
        refused = visitor.submit(page, "code", {"code": "000001"})
        answers.append(
            (
                refused.status_code,
                comparable_headers(refused),
                normalized(refused.text, email),
                time.perf_counter() - begun,
            )
        )

    (status_a, headers_a, page_a, seconds_a), (status_b, headers_b, page_b, seconds_b) = answers
    assert (status_a, headers_a, page_a) == (status_b, headers_b, page_b)
    assert status_a == 400
    assert seconds_a >= FLOOR and seconds_b >= FLOOR


# B.14


def test_a_code_is_six_random_digits_and_is_stored_only_as_a_keyed_hash(
    member_plan: MemberPlan,
) -> None:
    person = member_plan.people.children[0]
    visitor = member_plan.visitor()
    visitor.submit(visitor.get("/login/create"), "first_name", person.form())

    code = member_plan.code_for(person.details.email)

    assert re.fullmatch(r"\d{6}", code)
    engine = member_plan.services.engine
    with engine.connect() as connection:
        rows = connection.execute(sqlalchemy.text("SELECT * FROM email_codes")).mappings().all()
    assert rows
    for row in rows:
        assert all(code not in str(value) for value in row.values())
        assert re.fullmatch(r"[0-9a-f]{64}", row["code_hash"])


def test_a_code_works_only_for_the_sign_in_it_was_sent_for(member_plan: MemberPlan) -> None:
    mine, theirs = member_plan.people.children[0], member_plan.people.children[2]
    own, other = member_plan.visitor(), member_plan.visitor()
    own.submit(own.get("/login/create"), "first_name", mine.form())
    started = other.submit(other.get("/login/create"), "first_name", theirs.form())
    page = other.get(started.headers["location"])

    used_elsewhere = other.submit(page, "code", {"code": member_plan.code_for(mine.details.email)})

    assert used_elsewhere.status_code == 400


def test_a_code_works_once_and_a_newer_one_cancels_it(member_plan: MemberPlan) -> None:
    email = member_plan.account_for(member_plan.people.adults[4])
    first = member_plan.visitor()
    started = first.submit(first.get("/login"), "email", {"email": email})
    ticket = first.client.cookies.get("pai_signin")
    page = first.get(started.headers["location"])
    code = member_plan.code_for(email)

    done = first.submit(page, "code", {"code": code})
    replay = member_plan.visitor()
    replay.client.cookies.set("pai_signin", ticket or "")
    replay.get("/login/code")  # a CSRF cookie, as any browser would have
    replayed = replay.submit(replay.get("/login/code"), "code", {"code": code})

    second = member_plan.visitor()
    second.submit(second.get("/login"), "email", {"email": email})
    older = member_plan.code_for(email)
    third = member_plan.visitor()
    started = third.submit(third.get("/login"), "email", {"email": email})
    stale = second.submit(second.get("/login/code"), "code", {"code": older})

    assert done.status_code == 303
    assert replayed.status_code == 400
    assert older != member_plan.code_for(email) or stale.status_code == 400
    assert stale.status_code == 400


@pytest.fixture(scope="module")
def clocked(member_plan: MemberPlan) -> Iterator[tuple[MemberPlan, FakeClock]]:
    """The plan served with a clock the test moves."""
    clock = FakeClock(datetime.now(UTC))
    services = replace(member_plan.services, clock=clock)
    with TestClient(create_app(services.settings, services)) as client:
        yield MemberPlan(services, client, member_plan.people, member_plan.accounts), clock


def test_a_code_expires_ten_minutes_after_it_was_sent(
    clocked: tuple[MemberPlan, FakeClock],
) -> None:
    plan, clock = clocked
    email = plan.account_for(plan.people.adults[0])
    results = []
    for waited in (timedelta(minutes=9, seconds=59), timedelta(minutes=10)):
        clock.now = datetime.now(UTC)
        visitor = plan.visitor()
        started = visitor.submit(visitor.get("/login"), "email", {"email": email})
        page = visitor.get(started.headers["location"])
        clock.now += waited
        results.append(visitor.submit(page, "code", {"code": plan.code_for(email)}))
    clock.now = datetime.now(UTC)

    in_time, too_late = results
    assert in_time.status_code == 303
    assert in_time.headers["location"] == "/account"
    # Refused: the code and the sign-in started with it are both over.
    assert too_late.headers.get("location") in ("/login?done=expired", None)
    assert too_late.status_code in (303, 400)


# B.15 and B.16


def fail(visitor: Visitor, times: int) -> list[Any]:
    answers = []
    for n in range(times):
        page = visitor.get("/login/code")
        answers.append(visitor.submit(page, "code", {"code": f"{900000 + n}"}))
    return answers


def sign_in_ticket(plan: MemberPlan, email: str) -> Visitor:
    visitor = plan.visitor()
    started = visitor.submit(visitor.get("/login"), "email", {"email": email})
    assert started.status_code == 303, started.text
    return visitor


def test_the_fifth_wrong_guess_cancels_the_code(member_plan: MemberPlan) -> None:
    email = member_plan.account_for(member_plan.people.adults[1])
    visitor = sign_in_ticket(member_plan, email)
    code = member_plan.code_for(email)

    wrong = fail(visitor, 5)
    right = visitor.submit(visitor.get("/login/code"), "code", {"code": code})

    assert [a.status_code for a in wrong] == [400] * 5
    assert right.status_code == 400


def test_ten_failures_lock_the_account_with_the_same_answer_as_an_unknown_address(
    member_plan: MemberPlan,
) -> None:
    email = member_plan.account_for(member_plan.people.adults[2])
    unknown = "never-had-an-account@example.org"
    answers = {}
    for address in (email, unknown):
        visitor = sign_in_ticket(member_plan, address)
        *before, tenth = fail(visitor, 10)
        assert [a.status_code for a in before] == [400] * 9
        answers[address] = tenth
    page = sign_in_ticket(member_plan, email)

    for address, locked in answers.items():
        assert locked.status_code == 429, address
        assert 1 <= int(locked.headers["retry-after"]) <= 900
        assert "Too many wrong codes" in locked.text
    assert answers[email].text == answers[unknown].text
    still = page.submit(page.get("/login/code"), "code", {"code": member_plan.code_for(email)})
    assert still.status_code == 429
    account_id = _account_id(member_plan, email)
    with member_plan.services.unit_of_work() as uow:
        events = [e for e in uow.access_events.latest(200) if e.action == LOCKOUT_ACTION]
    assert any(e.actor == account_id and e.outcome is Outcome.DENIED for e in events)
    assert any(e.actor_kind == "email" for e in events)


def test_a_success_clears_the_failures_counted_so_far(member_plan: MemberPlan) -> None:
    email = member_plan.account_for(member_plan.people.adults[3])
    visitor = sign_in_ticket(member_plan, email)

    first = fail(visitor, 9)
    again = sign_in_ticket(member_plan, email)
    signed_in = again.submit(
        again.get("/login/code"), "code", {"code": member_plan.code_for(email)}
    )
    second = fail(visitor, 9)

    assert [a.status_code for a in first + second] == [400] * 18
    assert signed_in.status_code == 303


def test_failures_count_per_account_whatever_address_or_browser_they_come_from(
    member_plan: MemberPlan,
) -> None:
    email = member_plan.account_for(member_plan.people.children[2])
    ticket = sign_in_ticket(member_plan, email).client.cookies.get("pai_signin") or ""
    answers = []
    for n in range(10):
        browser = member_plan.visitor(address=f"192.0.2.{n + 1}")
        browser.client.cookies.set("pai_signin", ticket)
        answers.extend(fail(browser, 1))

    assert [a.status_code for a in answers] == [400] * 9 + [429]


def test_failures_on_a_member_record_count_across_sign_ups_from_anywhere(
    member_plan: MemberPlan,
) -> None:
    person = member_plan.people.parent
    answers = []
    for n in range(5):
        browser = member_plan.visitor(address=f"198.51.100.{n + 1}")
        form = person.form(email=f"signs-up-{n}@example.org")
        browser.submit(browser.get("/login/create"), "first_name", form)
        answers.extend(fail(browser, 2))
    last = member_plan.visitor()
    form = person.form(email="signs-up-9@example.org")
    started = last.submit(last.get("/login/create"), "first_name", form)

    assert [a.status_code for a in answers] == [400] * 9 + [429]
    # A locked record gets no code, and the answer says no more than for anyone else.
    assert started.headers["location"] == "/login/code"
    assert member_plan.mail_count("signs-up-9@example.org") == 0


# B.17


def test_codes_for_one_address_are_throttled_from_any_client(member_plan: MemberPlan) -> None:
    email = "asks-too-often@example.org"
    answers = []
    for n in range(6):
        browser = member_plan.visitor(address=f"203.0.113.{n + 1}")
        answers.append(browser.submit(browser.get("/login"), "email", {"email": email}))

    assert [a.status_code for a in answers] == [303] * 5 + [429]
    assert 1 <= int(answers[-1].headers["retry-after"]) <= 3600
    assert "Too many codes asked for" in answers[-1].text


def test_codes_from_one_client_address_are_throttled_whatever_the_address(
    member_plan: MemberPlan,
) -> None:
    browser = member_plan.visitor(address="203.0.113.200")
    answers = [
        browser.submit(browser.get("/login"), "email", {"email": f"flood-{n}@example.org"})
        for n in range(21)
    ]

    assert [a.status_code for a in answers] == [303] * 20 + [429]


def _account_id(plan: MemberPlan, email: str) -> str:
    with plan.services.unit_of_work() as uow:
        account = uow.accounts.get_by_email(email)
    assert account is not None
    return account.id
