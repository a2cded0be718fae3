"""Patient <-> Member and Coverage <-> Coverage."""

from __future__ import annotations

from dataclasses import replace

from api.fhir.mappers import datatypes as dt
from api.fhir.mappers import residual
from domain.coverage import Coverage, CoverageClass
from domain.ingestion import member_number_from_identifiers
from domain.members import Member, MemberNumberSource
from domain.values import JsonObject, parse_fhir_date


def member_from_fhir(resource: JsonObject, key: str) -> Member:
    identifiers = dt.many(dt.read_identifier, resource.get("identifier"))
    number = member_number_from_identifiers(identifiers)
    member = Member(
        key=key,
        member_number=number or key,
        member_number_source=(
            MemberNumberSource.MEMBER_IDENTIFIER if number else MemberNumberSource.FALLBACK
        ),
        identifiers=identifiers,
        names=dt.many(dt.read_name, resource.get("name")),
        birth_date=parse_fhir_date(dt.text(resource.get("birthDate"))),
        gender=dt.text(resource.get("gender")),
        addresses=dt.many(dt.read_address, resource.get("address")),
        telecom=dt.many(dt.read_contact, resource.get("telecom")),
        deceased=resource.get("deceasedBoolean") is True or "deceasedDateTime" in resource,
    )
    return replace(member, extra=residual.diff(residual.body(resource), member_core(member)) or {})


def member_core(member: Member) -> JsonObject:
    return dt.compact(
        resourceType="Patient",
        identifier=dt.write_identifiers(member.identifiers),
        name=dt.write_all(dt.write_name, member.names),
        telecom=dt.write_all(dt.write_contact, member.telecom),
        gender=member.gender,
        birthDate=member.birth_date.isoformat() if member.birth_date else None,
        deceasedBoolean=True if member.deceased else None,
        address=dt.write_all(dt.write_address, member.addresses),
    )


def coverage_from_fhir(resource: JsonObject, member_key: str) -> Coverage:
    coverage = Coverage(
        id=dt.text(resource.get("id")) or "",
        member_key=member_key,
        status=dt.text(resource.get("status")) or "",
        identifiers=dt.many(dt.read_identifier, resource.get("identifier")),
        type=dt.maybe(dt.read_concept, resource.get("type")),
        subscriber=dt.maybe(dt.read_reference, resource.get("subscriber")),
        subscriber_id=dt.text(resource.get("subscriberId")),
        beneficiary=dt.maybe(dt.read_reference, resource.get("beneficiary")),
        dependent=dt.text(resource.get("dependent")),
        relationship=dt.maybe(dt.read_concept, resource.get("relationship")),
        period=dt.maybe(dt.read_period, resource.get("period")),
        payors=dt.many(dt.read_reference, resource.get("payor")),
        classes=tuple(
            CoverageClass(
                dt.read_concept(dt.obj(c.get("type"))),
                dt.text(c.get("value")) or "",
                dt.text(c.get("name")),
            )
            for c in dt.objs(resource.get("class"))
        ),
        network=dt.text(resource.get("network")),
    )
    core = coverage_core(coverage)
    return replace(coverage, extra=residual.diff(residual.body(resource), core) or {})


def coverage_core(coverage: Coverage) -> JsonObject:
    return dt.compact(
        resourceType="Coverage",
        identifier=dt.write_identifiers(coverage.identifiers),
        status=coverage.status,
        type=dt.write_concept(coverage.type),
        subscriber=dt.write_reference(coverage.subscriber),
        subscriberId=coverage.subscriber_id,
        beneficiary=dt.write_reference(coverage.beneficiary),
        dependent=coverage.dependent,
        relationship=dt.write_concept(coverage.relationship),
        period=dt.write_period(coverage.period),
        payor=dt.write_all(lambda r: dt.write_reference(r) or {}, coverage.payors),
        **{
            "class": [
                dt.compact(type=dt.write_concept(c.type), value=c.value, name=c.name)
                for c in coverage.classes
            ]
        },
        network=coverage.network,
    )
