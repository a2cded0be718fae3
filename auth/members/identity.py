"""Finding a member's record from what they typed, and whom the plan lists as representing them.

`find_member` looks the member ID up and compares every field under the
plan's normalization rules (`domain.matching`). It says only "this member"
or "nobody", never which field disagreed, and compares the fields against a
blank record when the ID is unknown, so both ways do the same work.
"""

from __future__ import annotations

from datetime import date

from domain.access import AccessScope, TypeAccess
from domain.clinical import ClinicalRecord
from domain.matching import IdentityClaim, member_matches
from domain.members import Member, MemberNumberSource, Representation, RepresentationKind
from domain.repositories import UnitOfWork
from domain.representatives import lists_representative
from domain.search import SearchQuery
from domain.values import HumanName

# The plan lists a handful of representatives per member at most.
_RELATED_PEOPLE_LIMIT = 100

# Compared against when the member ID names nobody: it matches no claim (no address).
_NOBODY = Member(
    key="",
    member_number="",
    member_number_source=MemberNumberSource.FALLBACK,
    names=(HumanName(family="-", given=("-",)),),
    birth_date=date(1900, 1, 1),
)


def find_member(uow: UnitOfWork, claim: IdentityClaim) -> Member | None:
    """The member every field of `claim` matches, or None."""
    key = uow.records.member_key_by_number(claim.member_id)
    member = uow.records.member(key) if key is not None else None
    matched = member_matches(member or _NOBODY, claim)
    return member if matched and member is not None else None


def listed_representation(
    uow: UnitOfWork, account_id: str, member_key: str, today: date
) -> Representation | None:
    """The representation the plan's records give the account for `member_key`, if any.

    The account must be some member's own account (`SELF`), and a RelatedPerson of
    `member_key` must name that member as a personal representative
    (`domain.representatives`). `source` names the RelatedPerson.
    """
    own = [
        r
        for r in uow.representations.list_for_account(account_id)
        if r.kind is RepresentationKind.SELF and r.member_key != member_key
    ]
    if not own:
        return None
    representatives = [
        (r.member_key, member.member_number)
        for r in own
        if (member := uow.records.member(r.member_key)) is not None
    ]
    scope = AccessScope(
        member_key=member_key, types={"RelatedPerson": TypeAccess(read=True, search=True)}
    )
    page = uow.scoped(scope).search(
        SearchQuery("RelatedPerson", count=_RELATED_PEOPLE_LIMIT), limit=_RELATED_PEOPLE_LIMIT
    )
    for record in page.records:
        if not isinstance(record, ClinicalRecord):
            continue
        for own_key, own_number in representatives:
            kind = lists_representative(record.content, own_key, own_number, today)
            if kind is not None:
                return Representation(
                    account_id=account_id,
                    member_key=member_key,
                    kind=kind,
                    source=f"RelatedPerson/{record.id}",
                )
    return None
