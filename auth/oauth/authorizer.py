"""Who authorizes an app: the signed-in account, the member it acts for, their grant."""

from __future__ import annotations

from dataclasses import dataclass

from domain.apps import ConsentGrant
from domain.members import RepresentationKind
from domain.repositories import UnitOfWork


@dataclass(frozen=True, slots=True)
class Authorizer:
    """Who authorizes: the signed-in account, the member it acts for, and their grant (if any).

    `fhir_user` is the FHIR resource of the person signed in: the member's
    Patient, or for a personal representative the plan's RelatedPerson.
    """

    account_id: str
    member_key: str
    grant: ConsentGrant | None = None
    fhir_user: str | None = None


def fhir_user(uow: UnitOfWork, fhir_base_url: str, account_id: str, member_key: str) -> str | None:
    """The member's Patient, or the RelatedPerson the plan lists for a representative.

    None when the account no longer acts for the member, or represents them
    without a RelatedPerson on record.
    """
    for representation in uow.representations.list_for_account(account_id):
        if representation.member_key != member_key:
            continue
        if representation.kind is RepresentationKind.SELF:
            return f"{fhir_base_url}/Patient/{member_key}"
        source = representation.source or ""
        if source.startswith("RelatedPerson/"):
            return f"{fhir_base_url}/{source}"
    return None
