"""The FHIR mappers: round trips of the published examples, validation, profiles, fields."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.fhir import mappers, resources
from api.fhir.mappers import profiles, residual
from api.synthetic import PlanSpec, iter_plan_resources
from domain.claims import AdjudicationKind, Claim, ClaimType
from domain.clinical import ClinicalRecord, ReferenceRecord
from domain.coverage import Coverage
from domain.errors import InvalidRecord
from domain.members import Member, MemberNumberSource
from domain.records import Record, member_key_of, record_key
from domain.values import RecordMeta
from tests.conftest import SHARED_FIXTURES

KNOWN_DEFECTS = {
    "ExplanationOfBenefit_01234567801-FR123E1230000010000010001.json": [
        "procedure[0].sequence",
        "procedure[1].sequence",
    ],
    "ExplanationOfBenefit_01234567801-GNXYZ1230000010000010001.json": ["procedure[0].sequence"],
    "connDmdEOBInpatient2.json": ["item[0].productOrService"],
    "diagnosticreport-cbc.json": ["text.div"],
}
META = RecordMeta(
    version_id=3, last_updated=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), content_hash="h"
)


def fixture_entries() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every resource of the shared fixtures (Bundle entries one by one), with a test id."""
    for path in sorted(SHARED_FIXTURES.rglob("*.json")):
        resource = orjson.loads(path.read_bytes())
        if resource["resourceType"] == "Bundle":
            for index, entry in enumerate(resource["entry"]):
                yield f"{path.name}#{index}", entry["resource"]
        else:
            yield path.name, resource


ENTRIES = list(fixture_entries())
VALID = [(name, r) for name, r in ENTRIES if name.split("#")[0] not in KNOWN_DEFECTS]


def load_all(entries: list[tuple[str, dict[str, Any]]]) -> dict[str, Record]:
    """Map entries in order, resolving members of already mapped records, as the loader does."""
    members: dict[tuple[str, str], str | None] = {}
    mapped: dict[str, Record] = {}
    for name, resource in entries:
        record = mappers.from_fhir(resource, member_of=members.get)
        members[record_key(record)] = member_key_of(record)
        mapped[name] = record
    return mapped


MAPPED = load_all(VALID)


def without_id_and_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k not in ("id", "meta")}


def fixture(name: str) -> dict[str, Any]:
    return next(r for n, r in ENTRIES if n == name)


@pytest.mark.parametrize(("name", "resource"), VALID, ids=[name for name, _ in VALID])
def test_every_valid_fixture_comes_back_unchanged_but_for_id_and_meta(
    name: str, resource: dict[str, Any]
) -> None:
    output = mappers.to_fhir(replace(MAPPED[name], meta=META))

    assert output["id"] == resource["id"]
    assert without_id_and_meta(output) == without_id_and_meta(resource)


@pytest.mark.parametrize(("name", "resource"), ENTRIES, ids=[name for name, _ in ENTRIES])
def test_validation_finds_exactly_the_known_defects(name: str, resource: dict[str, Any]) -> None:
    paths = [issue.path for issue in resources.validate(resource)]
    assert paths == KNOWN_DEFECTS.get(name.split("#", maxsplit=1)[0], [])


def test_validation_names_an_unknown_resource_type_and_a_bad_primitive() -> None:
    assert resources.validate({"resourceType": "Nonsense"})[0].path == "resourceType"
    issues = resources.validate({"resourceType": "Patient", "birthDate": "1990-13-45"})
    assert [i.path for i in issues] == ["birthDate"]


def a_small_plan() -> list[dict[str, Any]]:
    spec = PlanSpec(members=6, seed=11, start_year=2022, today=date(2025, 6, 30))
    return list(iter_plan_resources(spec))


PLAN = a_small_plan()


def test_generated_data_written_back_validates_and_names_its_profile() -> None:
    members: dict[tuple[str, str], str | None] = {}
    kinds: set[str] = set()
    for resource in PLAN:
        record = mappers.from_fhir(resource, member_of=members.get)
        members[record_key(record)] = member_key_of(record)
        output = mappers.to_fhir(replace(record, meta=META))

        assert resources.validate(output) == [], output["resourceType"]
        assert without_id_and_meta(output) == without_id_and_meta(resource)
        assert output["meta"]["versionId"] == "3"
        assert output["meta"]["lastUpdated"] == "2025-01-02T03:04:05.000Z"
        assert output["meta"]["profile"], output["resourceType"]
        assert all(
            p.startswith((profiles.C4BB, profiles.US_CORE)) for p in output["meta"]["profile"]
        )
        kinds.add(output["resourceType"])
    assert {"Patient", "Coverage", "ExplanationOfBenefit", "Observation"} <= kinds


def test_generated_claims_of_every_type_name_their_carin_profile() -> None:
    spec = PlanSpec(members=40, seed=3, start_year=2020, today=date(2025, 6, 30))
    profiles_by_type: dict[ClaimType, set[str]] = {}
    for resource in iter_plan_resources(spec):
        if resource["resourceType"] == "ExplanationOfBenefit":
            claim = mappers.from_fhir(resource)
            assert isinstance(claim, Claim)
            named = mappers.to_fhir(claim)["meta"]["profile"]
            profiles_by_type.setdefault(claim.claim_type, set()).update(named)
    assert profiles_by_type == {t: {profiles.EOB[t]} for t in ClaimType}


def test_an_inpatient_claim_keeps_its_lines_amounts_and_type() -> None:
    claim = MAPPED["ExplanationOfBenefit_InpatientEOBExample1.json"]

    assert isinstance(claim, Claim)
    assert claim.claim_type is ClaimType.INPATIENT_INSTITUTIONAL
    assert claim.member_key == "ExamplePatient1"
    assert len(claim.lines) == 13
    assert claim.lines[0].revenue is not None
    assert claim.lines[0].revenue.code_in("https://www.nubc.org/CodeSystem/RevenueCodes") == "0301"
    submitted = claim.total(AdjudicationKind.SUBMITTED)
    assert submitted is not None and submitted.value == Decimal("7147.2")
    assert claim.total(AdjudicationKind.ALLOWED) is not None


def test_claim_types_without_a_profile_come_from_the_claim_type_codes() -> None:
    types = {
        name: record.claim_type
        for name, record in MAPPED.items()
        if isinstance(record, Claim) and name.startswith("connDmd")
    }
    assert types == {
        "connDmdEOBInpatient1.json": ClaimType.INPATIENT_INSTITUTIONAL,
        "connDmdEOBOutpatient1.json": ClaimType.OUTPATIENT_INSTITUTIONAL,
        "connDmdEOBOutpatient2.json": ClaimType.OUTPATIENT_INSTITUTIONAL,
        "connDmdEOBPharmacy1.json": ClaimType.PHARMACY,
        "connDmdEOBPharmacy2.json": ClaimType.PHARMACY,
        "connDmdEOBProfessional1.json": ClaimType.PROFESSIONAL,
        "connDmdEOBProfessional2.json": ClaimType.PROFESSIONAL,
    }


def test_a_pharmacy_line_exposes_its_ndc() -> None:
    claim = MAPPED["connDmdEOBPharmacy1.json"]
    assert isinstance(claim, Claim)
    assert claim.lines[0].ndc == "748856"


def test_a_claim_of_a_type_carin_does_not_define_is_refused_at_its_type() -> None:
    resource = {
        **fixture("connDmdEOBProfessional1.json"),
        "meta": {},
        "type": {"coding": [{"code": "vision"}]},
    }
    with pytest.raises(InvalidRecord) as refused:
        mappers.from_fhir(resource)
    assert refused.value.path == "type"
    assert "vision" in refused.value.reason


def test_a_patient_keeps_its_member_number_or_falls_back_to_its_id() -> None:
    typed = MAPPED["Patient_ExamplePatient1.json"]
    assert isinstance(typed, Member)
    assert typed.member_number == "88800933501"
    assert typed.member_number_source is MemberNumberSource.MEMBER_IDENTIFIER
    assert typed.birth_date == date(1943, 1, 1)
    assert typed.zip_codes

    untyped = mappers.from_fhir({"resourceType": "Patient", "id": "p9"})
    assert isinstance(untyped, Member)
    assert untyped.member_number == "p9"
    assert untyped.member_number_source is MemberNumberSource.FALLBACK


def test_a_coverage_belongs_to_its_beneficiary() -> None:
    coverage = MAPPED["Coverage_CoverageEx1.json"]
    assert isinstance(coverage, Coverage)
    assert coverage.member_key == "ExamplePatient1"
    assert coverage.subscriber_id == "888009335"
    assert coverage.is_self


def test_clinical_records_are_indexed_and_keep_their_content() -> None:
    records = [r for r in MAPPED.values() if isinstance(r, ClinicalRecord)]
    observations = [r for r in records if r.kind == "Observation"]

    assert observations and all(o.member_key for o in observations)
    assert any(o.code and o.code.code_in("http://loinc.org") for o in observations)
    assert sum(1 for o in observations if o.date_start is not None) > len(observations) // 2
    assert all(r.content["id"] == r.id for r in records)


def test_a_provenance_belongs_to_the_member_of_the_record_it_is_about() -> None:
    provenance = MAPPED["allergyintolerance-provenance-example1.json#1"]
    allergy = MAPPED["allergyintolerance-provenance-example1.json#0"]
    assert isinstance(provenance, ClinicalRecord)
    assert isinstance(allergy, ClinicalRecord)
    assert provenance.member_key == allergy.member_key


def test_member_data_that_names_no_member_is_refused() -> None:
    orphan = {"resourceType": "Observation", "id": "o1", "status": "final", "code": {}}
    with pytest.raises(InvalidRecord) as refused:
        mappers.from_fhir(orphan, member_of=lambda _: None)
    assert refused.value.path == "subject"


def test_a_resource_without_an_id_is_refused() -> None:
    with pytest.raises(InvalidRecord) as refused:
        mappers.from_fhir({"resourceType": "Patient"})
    assert refused.value.path == "id"


def test_reference_data_belongs_to_no_member() -> None:
    organizations = [
        r for r in MAPPED.values() if isinstance(r, ReferenceRecord) and r.kind == "Organization"
    ]
    assert organizations
    assert all(member_key_of(o) is None for o in organizations)
    assert any(o.name for o in organizations)


def test_a_changed_entity_shows_its_change_and_keeps_what_the_domain_does_not_model() -> None:
    claim = MAPPED["ExplanationOfBenefit_InpatientEOBExample1.json"]
    assert isinstance(claim, Claim)
    source = fixture("ExplanationOfBenefit_InpatientEOBExample1.json")

    output = mappers.to_fhir(replace(claim, status="cancelled"))

    assert output["status"] == "cancelled"
    assert output["payee"] == source["payee"]
    assert output["item"] == source["item"]


def test_to_fhir_puts_resource_type_id_and_meta_first() -> None:
    output = mappers.to_fhir(replace(MAPPED["Coverage_CoverageEx1.json"], meta=META))
    assert list(output)[:3] == ["resourceType", "id", "meta"]
    assert output["meta"]["profile"] == [profiles.COVERAGE]


def test_security_labels_and_tags_of_the_source_are_kept() -> None:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {
            "versionId": "9",
            "security": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
            ],
        },
    }
    output = mappers.to_fhir(mappers.from_fhir(resource))
    assert output["meta"]["security"] == resource["meta"]["security"]
    assert "versionId" not in output["meta"]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=25,
)


@given(source=json_values, core=json_values)
def test_applying_the_residual_to_the_core_gives_back_the_source(source: Any, core: Any) -> None:
    patch = residual.diff(source, core)
    restored = residual.apply(core, patch)
    assert residual.diff(restored, source) is None
    assert orjson.dumps(residual.apply(core, orjson.loads(orjson.dumps(patch)))) == orjson.dumps(
        restored
    )


def test_paths_are_written_the_fhir_way() -> None:
    assert resources.fhir_path(("item", 0, "productOrService")) == "item[0].productOrService"
    assert resources.fhir_path(("text", "div")) == "text.div"


def test_the_shared_fixtures_are_where_the_tests_expect_them() -> None:
    assert Path(SHARED_FIXTURES / "carin-bb").is_dir()
