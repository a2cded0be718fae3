"""Validation of incoming FHIR R4 resources with `fhir.resources`.

This is the only module that imports `fhir.resources`. It runs at ingestion
(and in tests), never per resource on the request path: validating one EOB
costs about a millisecond.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One defect: the FHIRPath-like location (`item[0].productOrService`) and what is wrong."""

    path: str
    message: str


def validate(resource: dict[str, Any]) -> list[ValidationIssue]:
    """Every structural defect of `resource` against the FHIR R4 (R4B models) definitions."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        return [ValidationIssue("resourceType", "the resource has no resourceType")]
    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError):
        return [ValidationIssue("resourceType", f"unknown FHIR resource type {resource_type!r}")]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        return [_issue(error["loc"], error["msg"]) for error in exc.errors()]
    except (ValueError, TypeError) as exc:
        # Some fhir.resources validators raise plain errors for malformed primitives.
        return [ValidationIssue(resource_type, str(exc))]
    return []


def fhir_path(loc: Sequence[int | str]) -> str:
    """`("item", 0, "productOrService")` -> `item[0].productOrService`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part and not part.startswith("__"):
            path += f".{part}" if path else part
    return path


def _issue(loc: Sequence[int | str], message: str) -> ValidationIssue:
    return ValidationIssue(fhir_path(loc), message)
