"""The CSV claims extract (docs/csv-claims-extract.md) as CARIN Blue Button EOB resources.

Each claim becomes one ExplanationOfBenefit that then takes the same path as
any FHIR source: validation, mapping, loading. The patient is named by member
number; the loader resolves it to the member's Patient.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from itertools import groupby
from pathlib import Path
from typing import Any

from api.ingest.items import SourceItem

CARIN = "http://hl7.org/fhir/us/carin-bb"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
C4BB_ADJUDICATION = f"{CARIN}/CodeSystem/C4BBAdjudication"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"

REQUIRED_COLUMNS = (
    "claim_id",
    "claim_type",
    "status",
    "member_id",
    "billable_start",
    "created",
    "provider_npi",
    "line_number",
)

# claim_type column -> (claim-type code, C4BB institutional subtype, C4BB profile)
CLAIM_TYPES: dict[str, tuple[str, str | None, str]] = {
    "inpatient-institutional": (
        "institutional",
        "inpatient",
        "C4BB-ExplanationOfBenefit-Inpatient-Institutional",
    ),
    "outpatient-institutional": (
        "institutional",
        "outpatient",
        "C4BB-ExplanationOfBenefit-Outpatient-Institutional",
    ),
    "professional": ("professional", None, "C4BB-ExplanationOfBenefit-Professional-NonClinician"),
    "pharmacy": ("pharmacy", None, "C4BB-ExplanationOfBenefit-Pharmacy"),
    "oral": ("oral", None, "C4BB-ExplanationOfBenefit-Oral"),
}

# amount column -> adjudication category (system, code)
AMOUNT_COLUMNS: dict[str, tuple[str, str]] = {
    "submitted_amount": (ADJUDICATION, "submitted"),
    "allowed_amount": (ADJUDICATION, "eligible"),
    "deductible_amount": (ADJUDICATION, "deductible"),
    "coinsurance_amount": (C4BB_ADJUDICATION, "coinsurance"),
    "copay_amount": (ADJUDICATION, "copay"),
    "paid_to_provider_amount": (C4BB_ADJUDICATION, "paidtoprovider"),
    "member_liability_amount": (C4BB_ADJUDICATION, "memberliability"),
}


class ExtractError(ValueError):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(f"column {column}: {message}")
        self.column = column


def read(path: Path) -> Iterator[SourceItem]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            yield SourceItem(
                str(path), "line 1", b"", error=f"missing columns: {', '.join(missing)}"
            )
            return
        header = list(reader.fieldnames or ())
        header_line = _raw_rows([dict(zip(header, header, strict=True))], header)
        numbered = ((reader.line_num, row) for row in reader)
        for _, group in groupby(numbered, key=lambda pair: pair[1]["claim_id"]):
            rows = list(group)
            position = f"line {rows[0][0]}"
            raw = _raw_rows([row for _, row in rows], header)
            try:
                resource = claim_to_eob([row for _, row in rows])
            except ExtractError as exc:
                yield SourceItem(
                    str(path),
                    position,
                    raw,
                    error=str(exc),
                    error_path=exc.column,
                    csv_header=header_line,
                )
                continue
            yield SourceItem(str(path), position, raw, resource=resource, csv_header=header_line)


def _raw_rows(rows: list[dict[str, str]], columns: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writerows(rows)
    return out.getvalue().encode()


def claim_to_eob(rows: list[dict[str, str]]) -> dict[str, Any]:
    """One claim's rows (one per line, header columns repeated) as an EOB resource."""
    head = rows[0]
    claim_type = _required(head, "claim_type")
    if claim_type not in CLAIM_TYPES:
        raise ExtractError("claim_type", f"{claim_type!r} is not one of {', '.join(CLAIM_TYPES)}")
    type_code, subtype, profile = CLAIM_TYPES[claim_type]
    status = _required(head, "status")
    if status not in ("active", "cancelled"):
        raise ExtractError("status", f"{status!r} is not active or cancelled")
    claim_id = _required(head, "claim_id")
    eob: dict[str, Any] = {
        "resourceType": "ExplanationOfBenefit",
        "id": fhir_id(claim_id),
        "meta": {"profile": [f"{CARIN}/StructureDefinition/{profile}"]},
        "identifier": [
            {
                "type": {
                    "coding": [{"system": f"{CARIN}/CodeSystem/C4BBIdentifierType", "code": "uc"}]
                },
                "value": claim_id,
            }
        ],
        "status": status,
        "type": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": type_code}
            ]
        },
        "use": "claim",
        "patient": {
            "identifier": {
                "type": {"coding": [{"system": V2_0203, "code": "MB"}]},
                "value": _required(head, "member_id"),
            }
        },
        "billablePeriod": _period(head, "billable_start", "billable_end"),
        "created": _date(head, "created"),
        "insurer": {"display": head.get("payer_name") or "Health plan"},
        "provider": {
            "identifier": {
                "system": "http://hl7.org/fhir/sid/us-npi",
                "value": _required(head, "provider_npi"),
            },
            **({"display": head["provider_name"]} if head.get("provider_name") else {}),
        },
        "outcome": "complete",
        "insurance": [{"focal": True, "coverage": _coverage(head)}],
    }
    if subtype:
        eob["subType"] = {
            "coding": [
                {"system": f"{CARIN}/CodeSystem/C4BBInstitutionalClaimSubType", "code": subtype}
            ]
        }
    diagnoses = _codes(head, "diagnosis_codes")
    if diagnoses:
        eob["diagnosis"] = [
            {
                "sequence": n,
                "diagnosisCodeableConcept": {
                    "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]
                },
                "type": [
                    {
                        "coding": [
                            {
                                "system": f"{CARIN}/CodeSystem/C4BBClaimDiagnosisType",
                                "code": "principal" if n == 1 else "secondary",
                            }
                        ]
                    }
                ],
            }
            for n, code in enumerate(diagnoses, start=1)
        ]
    procedures = _codes(head, "procedure_codes")
    if procedures:
        eob["procedure"] = [
            {
                "sequence": n,
                "procedureCodeableConcept": {
                    "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-pcs", "code": code}]
                },
            }
            for n, code in enumerate(procedures, start=1)
        ]
    eob["item"] = [_line(row, type_code) for row in rows]
    totals = _totals(eob["item"])
    if totals:
        eob["total"] = totals
    if head.get("paid_date"):
        paid = next(
            (t for t in totals if t["category"]["coding"][0]["code"] == "paidtoprovider"), None
        )
        eob["payment"] = {
            "date": _date(head, "paid_date"),
            **({"amount": paid["amount"]} if paid else {}),
        }
    return eob


def fhir_id(text: str) -> str:
    """`text` when it is a valid FHIR id, else a stable one derived from it."""
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.")
    if 0 < len(text) <= 64 and set(text) <= allowed:
        return text
    return "c-" + hashlib.sha256(text.encode()).hexdigest()[:40]


def _line(row: dict[str, str], type_code: str) -> dict[str, Any]:
    try:
        sequence = int(_required(row, "line_number"))
    except ValueError as exc:
        raise ExtractError("line_number", "must be a whole number") from exc
    line: dict[str, Any] = {"sequence": sequence}
    if row.get("ndc"):
        product = {"system": "http://hl7.org/fhir/sid/ndc", "code": row["ndc"]}
    elif row.get("procedure_code"):
        product = {"system": "http://www.ama-assn.org/go/cpt", "code": row["procedure_code"]}
    else:
        product = {
            "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
            "code": "not-applicable",
        }
    line["productOrService"] = {"coding": [product]}
    if row.get("revenue_code"):
        line["revenue"] = {
            "coding": [
                {
                    "system": "https://www.nubc.org/CodeSystem/RevenueCodes",
                    "code": row["revenue_code"],
                }
            ]
        }
    if row.get("modifiers"):
        line["modifier"] = [
            {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": m}]}
            for m in _codes(row, "modifiers")
        ]
    if row.get("service_date"):
        if row.get("service_end_date") and row["service_end_date"] != row["service_date"]:
            line["servicedPeriod"] = _period(row, "service_date", "service_end_date")
        else:
            line["servicedDate"] = _date(row, "service_date")
    if row.get("place_of_service") and type_code == "professional":
        line["locationCodeableConcept"] = {
            "coding": [
                {
                    "system": "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set",
                    "code": row["place_of_service"],
                }
            ]
        }
    if row.get("quantity"):
        line["quantity"] = {"value": _number(row, "quantity")}
    adjudication = []
    for column, (system, code) in AMOUNT_COLUMNS.items():
        if row.get(column):
            adjudication.append(
                {
                    "category": {"coding": [{"system": system, "code": code}]},
                    "amount": {"value": _number(row, column), "currency": "USD"},
                }
            )
    if adjudication:
        line["adjudication"] = adjudication
    return line


def _totals(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sums: dict[tuple[str, str], Decimal] = {}
    for item in items:
        for adjudication in item.get("adjudication", []):
            coding = adjudication["category"]["coding"][0]
            key = (coding["system"], coding["code"])
            sums[key] = sums.get(key, Decimal(0)) + Decimal(str(adjudication["amount"]["value"]))
    return [
        {
            "category": {"coding": [{"system": system, "code": code}]},
            "amount": {"value": float(total), "currency": "USD"},
        }
        for (system, code), total in sums.items()
    ]


def _coverage(row: dict[str, str]) -> dict[str, Any]:
    if row.get("coverage_id"):
        return {"reference": f"Coverage/{row['coverage_id']}"}
    return {"display": row.get("plan_name") or "Health plan coverage"}


def _required(row: dict[str, str], column: str) -> str:
    value = (row.get(column) or "").strip()
    if not value:
        raise ExtractError(column, "a value is required")
    return value


def _codes(row: dict[str, str], column: str) -> list[str]:
    return [code.strip() for code in (row.get(column) or "").split("|") if code.strip()]


def _date(row: dict[str, str], column: str) -> str:
    value = _required(row, column)
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise ExtractError(column, f"{value!r} is not a date (YYYY-MM-DD)") from exc


def _period(row: dict[str, str], start: str, end: str) -> dict[str, str]:
    period = {"start": _date(row, start)}
    if row.get(end):
        period["end"] = _date(row, end)
        if period["end"] < period["start"]:
            raise ExtractError(end, "ends before it starts")
    return period


def _number(row: dict[str, str], column: str) -> float:
    value = row[column].strip()
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise ExtractError(column, f"{value!r} is not a number") from exc
    if not number.is_finite() or number < 0:
        raise ExtractError(column, f"{value!r} must be zero or more")
    return float(number)
