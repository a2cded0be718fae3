"""Which loaded RelatedPerson records make someone a member's personal representative.

A plan lists a personal representative (a parent of a minor, a guardian, an
agent under a power of attorney) as a RelatedPerson of the represented
member. PAI links such a record to an account through the representative's
own member record: the RelatedPerson names the representative's Patient (in
any reference it carries, such as the plan's `representative-member`
extension) or carries the representative's member number as an identifier.
Only relationships that give the legal right to act count: a niece listed as
an emergency contact represents nobody. An inactive record, or one whose
period has ended, lists nobody either.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from domain.matching import normalize_member_id
from domain.members import RepresentationKind
from domain.values import JsonObject, parse_fhir_date

ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"

# v3 RoleCode personal relationships that make a personal representative, by kind.
REPRESENTATIVE_ROLES: dict[str, RepresentationKind] = {
    **dict.fromkeys(
        ("PRN", "MTH", "FTH", "NPRN", "NMTH", "NFTH", "ADOPTP", "ADOPTM", "ADOPTF"),
        RepresentationKind.PARENT,
    ),
    "GUARD": RepresentationKind.GUARDIAN,
    **dict.fromkeys(
        ("POWATT", "DPOWATT", "HPOWATT", "SPOWATT"), RepresentationKind.POWER_OF_ATTORNEY
    ),
    "RESPRSN": RepresentationKind.OTHER_REPRESENTATIVE,
}


def representative_kind(related_person: JsonObject) -> RepresentationKind | None:
    """The kind of representation the record's relationships give, if any gives one.

    Of several (a parent who is also the guardian), the first listed wins.
    """
    for concept in _list(related_person.get("relationship")):
        for coding in _list(concept.get("coding") if isinstance(concept, dict) else None):
            if not isinstance(coding, dict):
                continue
            system, code = coding.get("system"), coding.get("code")
            if system in (None, ROLE_CODE) and isinstance(code, str):
                kind = REPRESENTATIVE_ROLES.get(code.upper())
                if kind is not None:
                    return kind
    return None


def lists_representative(
    related_person: JsonObject,
    representative_key: str,
    representative_number: str,
    today: date,
) -> RepresentationKind | None:
    """The kind of representation `related_person` gives the member `representative_key`.

    None unless the record is in force on `today`, names that member (a
    reference to their Patient, or their member number as an identifier) and
    has a representative's relationship.
    """
    if related_person.get("resourceType") != "RelatedPerson":
        return None
    if related_person.get("active") is False or not _in_force(related_person, today):
        return None
    own_patient = f"Patient/{representative_key}"
    named = any(
        ref == own_patient or ref.endswith("/" + own_patient)
        for ref in _references(related_person, skip=("patient",))
    )
    wanted_number = normalize_member_id(representative_number)
    numbered = any(
        isinstance(identifier, dict)
        and isinstance(identifier.get("value"), str)
        and normalize_member_id(identifier["value"]) == wanted_number
        for identifier in _list(related_person.get("identifier"))
    )
    if not (named or (wanted_number and numbered)):
        return None
    return representative_kind(related_person)


def _in_force(related_person: JsonObject, today: date) -> bool:
    period = related_person.get("period")
    if not isinstance(period, dict):
        return True
    start, end = (period.get(name) for name in ("start", "end"))
    first = parse_fhir_date(start) if isinstance(start, str) else None
    last = parse_fhir_date(end) if isinstance(end, str) else None
    return (first is None or first <= today) and (last is None or today <= last)


def _references(value: object, skip: tuple[str, ...] = ()) -> Iterator[str]:
    """Every `reference` string anywhere in `value`, except under the top-level keys `skip`."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in skip:
                continue
            if key == "reference" and isinstance(item, str):
                yield item
            else:
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []
