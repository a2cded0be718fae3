"""Domain entities for tests, built by functions that read as sentences.

Every builder gives a complete, plausible entity; keyword arguments override
what a test is about. Records carry no meta unless given one (`a_meta`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from api.fhir.renditions import rendition_of
from domain.apps import App, AppStatus, ClientType, ConsentGrant, GrantStatus
from domain.audit import AccessEvent, Outcome
from domain.claims import (
    Adjudication,
    CareTeamMember,
    Claim,
    ClaimInsurance,
    ClaimLine,
    ClaimType,
    Diagnosis,
    Payment,
    ProcedureEntry,
    SupportingInfo,
    Total,
)
from domain.clinical import ClinicalRecord, Encounter, ReferenceRecord
from domain.coverage import Coverage, CoverageClass
from domain.ingestion import V2_0203, Incoming
from domain.members import Account, Member, MemberNumberSource, Representation, RepresentationKind
from domain.records import Record
from domain.repositories import UnitOfWork
from domain.runs import IngestionRun, IngestionStatus
from domain.values import (
    Address,
    CodeableConcept,
    Coding,
    ContactPoint,
    HumanName,
    Identifier,
    Money,
    Period,
    RecordMeta,
    Reference,
)

NOW = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
SUBSCRIBER_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
LOINC = "http://loinc.org"


def a_concept(code: str, system: str | None = None, display: str | None = None) -> CodeableConcept:
    return CodeableConcept(codings=(Coding(system=system, code=code, display=display),))


def a_member_identifier(value: str) -> Identifier:
    """An identifier typed MB (v2-0203): the number on the member ID card."""
    return Identifier(
        system="https://plan.example/member", value=value, type=a_concept("MB", V2_0203)
    )


def a_meta(version_id: int = 1, content_hash: str = "hash-1", **overrides: Any) -> RecordMeta:
    values: dict[str, Any] = {"last_updated": NOW, "ingestion_run_id": "run-1"} | overrides
    return RecordMeta(version_id=version_id, content_hash=content_hash, **values)


def a_member(key: str = "m1", member_number: str | None = None, **overrides: Any) -> Member:
    values: dict[str, Any] = {
        "member_number": member_number or f"MB-{key}",
        "member_number_source": MemberNumberSource.MEMBER_IDENTIFIER,
        "identifiers": (a_member_identifier(member_number or f"MB-{key}"),),
        "names": (HumanName(family="Núñez", given=("Mary", "Ann"), use="official"),),
        "birth_date": date(1980, 2, 29),
        "gender": "female",
        "addresses": (Address(lines=("1 Main St",), city="Springfield", postal_code="12345-6789"),),
        "telecom": (ContactPoint(system="email", value=f"{key}@example.org"),),
        "extra": {"communication": [{"language": {"text": "English"}}]},
    } | overrides
    return Member(key=key, **values)


def a_patient_without_member_number(key: str = "m1", **overrides: Any) -> Member:
    """A Patient as the mapper makes it when the source has no member identifier."""
    values: dict[str, Any] = {
        "member_number": key,
        "member_number_source": MemberNumberSource.FALLBACK,
        "identifiers": (),
    } | overrides
    return a_member(key, **values)


def a_coverage(
    id: str = "cov1", member_key: str = "m1", subscriber_id: str | None = "SUB-1", **overrides: Any
) -> Coverage:
    values: dict[str, Any] = {
        "status": "active",
        "type": a_concept("HIP", "http://terminology.hl7.org/CodeSystem/v3-ActCode"),
        "subscriber": Reference(reference=f"Patient/{member_key}"),
        "beneficiary": Reference(reference=f"Patient/{member_key}"),
        "relationship": a_concept("self", SUBSCRIBER_RELATIONSHIP),
        "period": Period(start="2024-01-01", end="2024-12"),
        "payors": (Reference(reference="Organization/plan"),),
        "classes": (CoverageClass(type=a_concept("group"), value="G-100", name="Acme Group"),),
    } | overrides
    return Coverage(id=id, member_key=member_key, subscriber_id=subscriber_id, **values)


def a_dependents_coverage(id: str = "cov2", member_key: str = "m2", **overrides: Any) -> Coverage:
    return a_coverage(
        id, member_key, relationship=a_concept("child", SUBSCRIBER_RELATIONSHIP), **overrides
    )


def an_adjudication(kind: str, amount: str) -> Adjudication:
    return Adjudication(
        category=a_concept(kind, ADJUDICATION), amount=Money(Decimal(amount), "USD")
    )


def a_claim(id: str = "eob1", member_key: str = "m1", **overrides: Any) -> Claim:
    values: dict[str, Any] = {
        "claim_type": ClaimType.PROFESSIONAL,
        "status": "active",
        "use": "claim",
        "type": a_concept("professional", "http://terminology.hl7.org/CodeSystem/claim-type"),
        "outcome": "complete",
        "identifiers": (Identifier(system="https://plan.example/claim", value=f"CLM-{id}"),),
        "billable_period": Period(start="2024-03-01", end="2024-03-05"),
        "created": "2024-03-10T09:00:00-05:00",
        "insurer": Reference(reference="Organization/plan"),
        "provider": Reference(reference="Practitioner/pr1", display="Dr. Who"),
        "care_team": (
            CareTeamMember(1, Reference(reference="Practitioner/pr1"), a_concept("performing")),
        ),
        "diagnoses": (Diagnosis(1, a_concept("J02.9", "http://hl7.org/fhir/sid/icd-10-cm")),),
        "procedures": (ProcedureEntry(1, a_concept("99213"), date="2024-03-02"),),
        "supporting_info": (
            SupportingInfo(1, a_concept("clmrecvddate"), timing_date="2024-03-08"),
            SupportingInfo(2, a_concept("weight"), value_quantity=Decimal("70.25")),
        ),
        "insurance": (ClaimInsurance(focal=True, coverage=Reference(reference="Coverage/cov1")),),
        "lines": (
            ClaimLine(
                sequence=1,
                product_or_service=a_concept("99213", "http://www.ama-assn.org/go/cpt"),
                serviced_date="2024-03-02",
                quantity=Decimal("1"),
                care_team_sequence=(1,),
                diagnosis_sequence=(1,),
                adjudication=(
                    an_adjudication("submitted", "150.00"),
                    an_adjudication("paidtoprovider", "99.99"),
                ),
            ),
        ),
        "totals": (Total(a_concept("submitted", ADJUDICATION), Money(Decimal("150.00"), "USD")),),
        "payment": Payment(date="2024-03-20", amount=Money(Decimal("99.99"), "USD")),
        "extra": {"precedence": 1},
    } | overrides
    return Claim(id=id, member_key=member_key, **values)


def an_encounter(id: str = "enc1", member_key: str = "m1", **overrides: Any) -> Encounter:
    values: dict[str, Any] = {
        "status": "finished",
        "class_code": "AMB",
        "types": (a_concept("185349003", "http://snomed.info/sct"),),
        "period": Period(start="2024-03-02T09:00:00Z", end="2024-03-02T09:30:00Z"),
        "service_provider": Reference(reference="Organization/clinic"),
    } | overrides
    return Encounter(id=id, member_key=member_key, **values)


def an_observation(id: str = "obs1", member_key: str = "m1", **overrides: Any) -> ClinicalRecord:
    values: dict[str, Any] = {
        "content": {
            "resourceType": "Observation",
            "id": id,
            "status": "final",
            "valueQuantity": {"value": 98.6, "unit": "degF"},
        },
        "status": "final",
        "categories": (
            a_concept("vital-signs", "http://terminology.hl7.org/CodeSystem/observation-category"),
        ),
        "code": a_concept("8310-5", LOINC, "Body temperature"),
        "date_start": date(2024, 3, 2),
        "date_end": date(2024, 3, 2),
        "issued": "2024-03-02T10:00:00Z",
        "encounter": Reference(reference="Encounter/enc1"),
    } | overrides
    return ClinicalRecord(kind="Observation", id=id, member_key=member_key, **values)


def a_condition(id: str = "cond1", member_key: str = "m1", **overrides: Any) -> ClinicalRecord:
    values: dict[str, Any] = {
        "content": {"resourceType": "Condition", "id": id},
        "code": a_concept("J02.9", "http://hl7.org/fhir/sid/icd-10-cm"),
        "date_start": date(2024, 3, 1),
    } | overrides
    return ClinicalRecord(kind="Condition", id=id, member_key=member_key, **values)


def a_practitioner(id: str = "pr1", npi: str = "1234567893", **overrides: Any) -> ReferenceRecord:
    values: dict[str, Any] = {
        "content": {"resourceType": "Practitioner", "id": id, "name": [{"family": "Who"}]},
        "name": "Dr. Who",
        "identifiers": (Identifier(system="http://hl7.org/fhir/sid/us-npi", value=npi),),
    } | overrides
    return ReferenceRecord(kind="Practitioner", id=id, **values)


def every_record_kind() -> list[Record]:
    return [a_member(), a_coverage(), a_claim(), an_encounter(), an_observation(), a_practitioner()]


def save_record(uow: UnitOfWork, record: Record) -> None:
    """Store `record` (which carries its meta) as a new version, with its FHIR rendition."""
    uow.records.save(record, is_new=True, rendition=rendition_of(record))


def incoming(record: Record, content_hash: str = "hash-1") -> Incoming:
    return Incoming(record=record, content_hash=content_hash, rendition=rendition_of(record))


def an_ingestion_run(id: str = "run-1", **overrides: Any) -> IngestionRun:
    values: dict[str, Any] = {
        "started_at": NOW,
        "sources": ("claims.ndjson", "members.json"),
        "status": IngestionStatus.RUNNING,
    } | overrides
    return IngestionRun(id=id, **values)


def an_app(client_id: str = "app1", **overrides: Any) -> App:
    values: dict[str, Any] = {
        "name": "Health Wallet",
        "client_type": ClientType.PUBLIC,
        "redirect_uris": ("https://wallet.example/callback",),
        "scopes": ("openid", "fhirUser", "patient/*.read"),
        "status": AppStatus.APPROVED,
        "created_at": NOW,
        "description": "Keeps your records",
        "developer": "Wallet Inc.",
        "website": "https://wallet.example",
    } | overrides
    return App(client_id=client_id, **values)


def an_account(
    id: str = "acct1", email: str | None = "mary@example.org", **overrides: Any
) -> Account:
    values: dict[str, Any] = {"created_at": NOW} | overrides
    return Account(id=id, email=email, **values)


def a_representation(
    account_id: str = "acct1", member_key: str = "m1", **overrides: Any
) -> Representation:
    values: dict[str, Any] = {
        "kind": RepresentationKind.SELF,
        "source": f"Patient/{member_key}",
        "created_at": NOW,
    } | overrides
    return Representation(account_id=account_id, member_key=member_key, **values)


def a_grant(
    id: str = "grant1", client_id: str = "app1", member_key: str = "m1", **overrides: Any
) -> ConsentGrant:
    values: dict[str, Any] = {
        "account_id": "acct1",
        "status": GrantStatus.ACTIVE,
        "granted_at": NOW,
    } | overrides
    return ConsentGrant(id=id, client_id=client_id, member_key=member_key, **values)


def an_access_event(
    id: str = "ev1", member_key: str | None = "m1", **overrides: Any
) -> AccessEvent:
    values: dict[str, Any] = {
        "at": NOW,
        "actor_kind": "app",
        "actor": "app1",
        "action": "search",
        "outcome": Outcome.ALLOWED,
        "resource_type": "ExplanationOfBenefit",
        "query": "patient=m1",
        "grant_id": "grant1",
        "record_count": 3,
    } | overrides
    return AccessEvent(id=id, member_key=member_key, **values)
