"""SMART App Launch scopes (v1 and v2) parsed into what they allow.

    patient/Observation.read         v1: read and search
    patient/*.rs                     v2: read (r) and search (s) of every type
    patient/Observation.rs?category=http://...|laboratory
                                     v2 with a category limit
    openid fhirUser offline_access launch/patient
                                     identity and launch scopes: no data

PAI serves data read-only, so `c`, `u`, `d` and v1 `write` grant nothing here.
A scope that cannot be parsed grants nothing and is reported, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from domain.access import TypeAccess

IDENTITY_SCOPES = frozenset(
    {"openid", "fhirUser", "profile", "launch", "launch/patient", "offline_access", "online_access"}
)

_RESOURCE_SCOPE = re.compile(
    r"^(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]+)"
    r"\.(?P<permissions>read|write|\*|c?r?u?d?s?)(?:\?(?P<query>.+))?$"
)


class ScopeError(ValueError):
    """A scope string PAI does not understand."""


@dataclass(frozen=True, slots=True)
class ResourceScope:
    context: str
    resource_type: str
    access: TypeAccess


def parse_scope(scope: str) -> ResourceScope | None:
    """A resource scope's meaning; None for identity and launch scopes."""
    if scope in IDENTITY_SCOPES or scope.startswith("launch/"):
        return None
    match = _RESOURCE_SCOPE.match(scope)
    if match is None or not match["permissions"]:
        raise ScopeError(f"{scope!r} is not a SMART scope")
    permissions = match["permissions"]
    if permissions in ("read", "*"):
        read = search = True
    elif permissions == "write":
        read = search = False
    else:
        read, search = "r" in permissions, "s" in permissions
    categories: frozenset[str] = frozenset()
    if match["query"]:
        pairs = parse_qsl(match["query"], keep_blank_values=True, strict_parsing=False)
        if not pairs or any(name != "category" or not value for name, value in pairs):
            raise ScopeError(f"{scope!r}: only a category limit is supported in a scope query")
        categories = frozenset(value.rsplit("|", 1)[-1] for _, value in pairs)
    return ResourceScope(
        match["context"],
        match["type"],
        TypeAccess.of(read=read, search=search, categories=categories),
    )


def split(scopes: str) -> list[str]:
    return [s for s in scopes.split(" ") if s]


def patient_access(scopes: Iterable[str], resource_types: Iterable[str]) -> dict[str, TypeAccess]:
    """What `patient/` (and `user/`, same compartment here) scopes allow, type by type.

    Wildcards expand over `resource_types`, the types this server holds.
    `system/` scopes are for backend services and grant an app nothing.
    """
    known = tuple(resource_types)
    granted: dict[str, TypeAccess] = {}
    for text in scopes:
        scope = parse_scope(text)
        if scope is None or scope.context == "system":
            continue
        targets = known if scope.resource_type == "*" else (scope.resource_type,)
        for resource_type in targets:
            previous = granted.get(resource_type)
            granted[resource_type] = (
                scope.access if previous is None else previous.union(scope.access)
            )
    return {t: a for t, a in granted.items() if a.read or a.search}
