"""Members, households, and their Patient, Coverage and RelatedPerson resources.

Members come in households: a subscriber, sometimes a spouse, sometimes minor
children. Each minor has a RelatedPerson naming the subscriber as parent, so
the plan's records list the parent as the child's personal representative.
Only the current household is ever held in memory.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from api.synthetic import codes
from api.synthetic.datatypes import Json, concept, iso, meta, reference
from api.synthetic.identifiers import member_number, new_id

REPRESENTED_BY_EXTENSION = codes.PLAN_DOMAIN + "/fhir/StructureDefinition/representative-member"
_RELATIONSHIP_DISPLAY = {"self": "Self", "spouse": "Spouse", "child": "Child"}


@dataclass(frozen=True, slots=True)
class Member:
    index: int
    id: str
    coverage_id: str
    member_number: str
    subscriber_number: str
    subscriber_id: str
    relationship: str  # self, spouse, child (subscriber-relationship codes)
    family: str
    given: tuple[str, ...]
    gender: str
    birth_date: date
    line_of_business: str
    coverage_start: date
    line: str
    city: str
    state: str
    postal_code: str
    phone: str
    email: str | None
    parent: Member | None
    related_person_id: str | None

    @property
    def display(self) -> str:
        return " ".join((*self.given, self.family))

    def age_on(self, day: date) -> int:
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - before_birthday


_UNDECOMPOSABLE = str.maketrans({"ø": "o", "Ø": "O", "ß": "ss", "æ": "ae", "Æ": "AE", "ł": "l"})


def ascii_fold(text: str) -> str:
    """`Zoë O'Brien-Núñez` -> `zoeobriennunez`: what an email local part can hold."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSABLE))
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


def _birth_date(rng: random.Random, today: date, age: int) -> date:
    latest = date(today.year - age, today.month, min(today.day, 28))
    return latest - timedelta(days=rng.randrange(365))


def _given(rng: random.Random, gender: str) -> tuple[str, ...]:
    names = codes.GIVEN_FEMALE if gender == "female" else codes.GIVEN_MALE
    first = rng.choice(names)
    if rng.random() < 0.3:
        second = rng.choice(names)
        if second != first:
            return (first, second)
    return (first,)


@dataclass(frozen=True, slots=True)
class _Household:
    number: int
    line_of_business: str
    coverage_start: date
    family: str
    line: str
    city: str
    state: str
    postal_code: str
    area_code: str
    phone: str


def _new_household(
    rng: random.Random, number: int, age: int, plan_start: date, today: date
) -> _Household:
    if age >= 65:
        line_of_business = "medicare" if rng.random() < 0.9 else "commercial"
    else:
        line_of_business = "medicaid" if rng.random() < 0.25 else "commercial"
    if rng.random() < 0.55:
        coverage_start = plan_start
    else:
        span = max(1, (today - plan_start).days - 60)
        day = plan_start + timedelta(days=rng.randrange(span))
        coverage_start = date(day.year, day.month, 1)
    city, state, zips, area = rng.choice(codes.CITIES)
    postal_code = rng.choice(zips)
    if rng.random() < 0.4:
        postal_code += f"-{rng.randrange(1, 9999):04d}"
    street = f"{rng.choice(codes.STREET_NAMES)} {rng.choice(codes.STREET_KINDS)}"
    line = f"{rng.randrange(10, 19999)} {street}"
    if rng.random() < 0.2:
        line += f" Apt {rng.randrange(1, 40)}{rng.choice('ABCD')}"
    return _Household(
        number=number,
        line_of_business=line_of_business,
        coverage_start=coverage_start,
        family=rng.choice(codes.FAMILY),
        line=line,
        city=city,
        state=state,
        postal_code=postal_code,
        area_code=area,
        phone=f"{area}-555-01{rng.randrange(100):02d}",
    )


def _new_member(
    rng: random.Random,
    household: _Household,
    *,
    index: int,
    position: int,
    relationship: str,
    age: int,
    gender: str,
    today: date,
    subscriber: Member | None,
) -> Member:
    own_id = new_id(rng)
    given = _given(rng, gender)
    birth_date = _birth_date(rng, today, age)
    minor = relationship == "child"
    email = None
    if not minor or (age >= 13 and rng.random() < 0.5):
        local = f"{ascii_fold(given[0])}.{ascii_fold(household.family)}{rng.randrange(100)}"
        email = local + rng.choice(("@example.com", "@example.org", "@example.net"))
    phone = household.phone
    if relationship != "self":
        phone = f"{household.area_code}-555-01{rng.randrange(100):02d}"
    return Member(
        index=index,
        id=own_id,
        coverage_id=new_id(rng),
        member_number=member_number(household.number, position),
        subscriber_number=member_number(household.number, 1),
        subscriber_id=subscriber.id if subscriber is not None else own_id,
        relationship=relationship,
        family=household.family,
        given=given,
        gender=gender,
        birth_date=birth_date,
        line_of_business=household.line_of_business,
        coverage_start=max(household.coverage_start, birth_date),
        line=household.line,
        city=household.city,
        state=household.state,
        postal_code=household.postal_code,
        phone=phone,
        email=email,
        parent=subscriber if minor else None,
        related_person_id=new_id(rng) if minor else None,
    )


def iter_members(rng: random.Random, count: int, start_year: int, today: date) -> Iterator[Member]:
    """Exactly `count` members, household by household, subscriber first.

    Children are all minors on `today`; their parent is the household's subscriber.
    """
    plan_start = date(start_year, 1, 1)
    index = 0
    number = 0
    while index < count:
        age = rng.randrange(65, 91) if rng.random() < 0.2 else rng.randrange(19, 65)
        household = _new_household(rng, number, age, plan_start, today)
        gender = rng.choice(("female", "male"))
        subscriber = _new_member(
            rng, household, index=index, position=1, relationship="self", age=age,
            gender=gender, today=today, subscriber=None,
        )  # fmt: skip
        yield subscriber
        index += 1
        position = 2
        if index < count and age < 80 and rng.random() < 0.3:
            spouse_gender = gender if rng.random() < 0.1 else _OTHER_GENDER[gender]
            spouse_age = max(19, min(90, age + rng.randrange(-6, 7)))
            yield _new_member(
                rng, household, index=index, position=2, relationship="spouse", age=spouse_age,
                gender=spouse_gender, today=today, subscriber=subscriber,
            )  # fmt: skip
            index += 1
            position = 3
        if household.line_of_business != "medicare" and 22 <= age <= 58:
            children = rng.choices((0, 1, 2, 3), weights=(40, 25, 25, 10))[0]
            for _ in range(min(children, count - index)):
                child_age = rng.randrange(0, min(18, age - 18))
                child_gender = rng.choice(("female", "male"))
                yield _new_member(
                    rng, household, index=index, position=position, relationship="child",
                    age=child_age, gender=child_gender, today=today, subscriber=subscriber,
                )  # fmt: skip
                index += 1
                position += 1
        number += 1


_OTHER_GENDER = {"female": "male", "male": "female"}


def _member_identifier(number: str, payer_id: str) -> Json:
    return {
        "type": concept(codes.V2_0203, "MB", "Member Number"),
        "system": codes.MEMBER_ID_SYSTEM,
        "value": number,
        "assigner": reference("Organization", payer_id, codes.PLAN_NAME),
    }


def _address(member: Member) -> Json:
    return {
        "use": "home",
        "type": "physical",
        "line": [member.line],
        "city": member.city,
        "state": member.state,
        "postalCode": member.postal_code,
        "country": "US",
    }


def _telecom(member: Member) -> list[Json]:
    telecom: list[Json] = [{"system": "phone", "value": member.phone, "use": "home", "rank": 1}]
    if member.email is not None:
        telecom.append({"system": "email", "value": member.email, "rank": 2})
    return telecom


def patient(member: Member, payer_id: str, last_updated: str) -> Json:
    return {
        "resourceType": "Patient",
        "id": member.id,
        "meta": meta(codes.PROFILE_PATIENT, last_updated),
        "identifier": [_member_identifier(member.member_number, payer_id)],
        "active": True,
        "name": [{"use": "official", "family": member.family, "given": list(member.given)}],
        "telecom": _telecom(member),
        "gender": member.gender,
        "birthDate": iso(member.birth_date),
        "address": [_address(member)],
        "communication": [
            {"language": concept("urn:ietf:bcp:47", "en-US", "English (United States)")}
        ],
        "managingOrganization": reference("Organization", payer_id, codes.PLAN_NAME),
    }


def coverage(member: Member, payer_id: str, last_updated: str) -> Json:
    (sopt, sopt_display, group, group_name, plan, plan_name, *_) = codes.LINES_OF_BUSINESS[
        member.line_of_business
    ]
    subscriber = reference("Patient", member.subscriber_id)
    return {
        "resourceType": "Coverage",
        "id": member.coverage_id,
        "meta": meta(codes.PROFILE_COVERAGE, last_updated),
        "identifier": [_member_identifier(member.member_number, payer_id)],
        "status": "active",
        "type": concept(codes.SOPT, sopt, sopt_display, sopt_display),
        "policyHolder": subscriber,
        "subscriber": subscriber,
        "subscriberId": member.subscriber_number,
        "beneficiary": reference("Patient", member.id, member.display),
        "dependent": member.member_number[-2:],
        "relationship": concept(
            codes.SUBSCRIBER_RELATIONSHIP,
            member.relationship,
            _RELATIONSHIP_DISPLAY[member.relationship],
        ),
        "period": {"start": iso(member.coverage_start)},
        "payor": [reference("Organization", payer_id, codes.PLAN_NAME)],
        "class": [
            {
                "type": concept(codes.COVERAGE_CLASS, "group", "Group"),
                "value": group,
                "name": group_name,
            },
            {
                "type": concept(codes.COVERAGE_CLASS, "plan", "Plan"),
                "value": plan,
                "name": plan_name,
            },
        ],
        "network": plan_name,
    }


def related_person(member: Member, payer_id: str, last_updated: str) -> Json:
    """The minor's parent as the plan records them: the personal representative."""
    parent = member.parent
    if parent is None or member.related_person_id is None:
        raise ValueError(f"member {member.member_number} has no parent on record")
    return {
        "resourceType": "RelatedPerson",
        "id": member.related_person_id,
        "meta": meta(codes.us_core("relatedperson"), last_updated),
        "extension": [
            {
                "url": REPRESENTED_BY_EXTENSION,
                "valueReference": reference("Patient", parent.id, parent.display),
            }
        ],
        "identifier": [_member_identifier(parent.member_number, payer_id)],
        "active": True,
        "patient": reference("Patient", member.id, member.display),
        "relationship": [concept(codes.ROLE_CODE, "PRN", "parent")],
        "name": [{"use": "official", "family": parent.family, "given": list(parent.given)}],
        "telecom": _telecom(parent),
        "gender": parent.gender,
        "birthDate": iso(parent.birth_date),
        "address": [_address(parent)],
        "period": {"start": iso(member.coverage_start)},
    }
