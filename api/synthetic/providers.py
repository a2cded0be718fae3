"""The plan and its provider network: payer, practitioners, provider organizations, locations.

The network is small and built once, before any member, from its own random
stream; members then refer to it by id. Its size grows slowly with the number
of members so that a large plan does not send every claim to ten doctors.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from api.synthetic import codes
from api.synthetic.datatypes import Json, concept, meta, reference
from api.synthetic.identifiers import new_id, new_npi


@dataclass(frozen=True, slots=True)
class Practitioner:
    id: str
    npi: str
    kind: str  # physician, dentist, pharmacist
    taxonomy: tuple[str, str]
    family: str
    given: str

    @property
    def display(self) -> str:
        return f"{self.given} {self.family}, {codes.PRACTITIONER_SUFFIX[self.kind]}"


@dataclass(frozen=True, slots=True)
class Facility:
    """A provider organization and the one location where it delivers care."""

    id: str
    location_id: str
    npi: str
    tin: str
    kind: str  # hospital, clinic, pharmacy, dental
    name: str
    line: str
    city: str
    state: str
    postal_code: str
    phone: str


@dataclass(frozen=True, slots=True)
class Network:
    payer_id: str
    practitioners: dict[str, tuple[Practitioner, ...]]
    facilities: dict[str, tuple[Facility, ...]]
    by_state: dict[tuple[str, str], tuple[Facility, ...]]


def build_network(rng: random.Random, members: int) -> Network:
    npis: set[str] = set()

    def unique_npi() -> str:
        while True:
            npi = new_npi(rng)
            if npi not in npis:
                npis.add(npi)
                return npi

    payer_id = new_id(rng)
    sizes = {
        "physician": min(2000, max(12, members // 15)),
        "dentist": min(300, max(3, members // 120)),
        "pharmacist": min(300, max(3, members // 150)),
    }
    practitioners: dict[str, tuple[Practitioner, ...]] = {}
    for kind, size in sizes.items():
        practitioners[kind] = tuple(
            Practitioner(
                id=new_id(rng),
                npi=unique_npi(),
                kind=kind,
                taxonomy=rng.choice(codes.TAXONOMY[kind]),
                family=rng.choice(codes.FAMILY),
                given=rng.choice(codes.GIVEN_FEMALE + codes.GIVEN_MALE),
            )
            for _ in range(size)
        )
    facility_sizes = {
        "hospital": min(100, max(3, members // 400)),
        "clinic": min(600, max(6, members // 60)),
        "pharmacy": min(300, max(4, members // 150)),
        "dental": min(200, max(3, members // 200)),
    }
    facilities: dict[str, tuple[Facility, ...]] = {}
    for kind, size in facility_sizes.items():
        built = []
        for number in range(size):
            city, state, zips, area = rng.choice(codes.CITIES)
            built.append(
                Facility(
                    id=new_id(rng),
                    location_id=new_id(rng),
                    npi=unique_npi(),
                    tin=f"{rng.randrange(10, 99)}{rng.randrange(1_000_000, 9_999_999)}",
                    kind=kind,
                    name=rng.choice(codes.ORG_NAMES[kind]).format(city=city, n=100 + number),
                    line=f"{rng.randrange(100, 9999)} {rng.choice(codes.STREET_NAMES)} "
                    f"{rng.choice(codes.STREET_KINDS)}",
                    city=city,
                    state=state,
                    postal_code=rng.choice(zips),
                    phone=f"{area}-555-01{rng.randrange(100):02d}",
                )
            )
        facilities[kind] = tuple(built)
    by_state: dict[tuple[str, str], tuple[Facility, ...]] = {}
    for kind, group in facilities.items():
        for facility in group:
            key = (kind, facility.state)
            by_state[key] = (*by_state.get(key, ()), facility)
    return Network(payer_id, practitioners, facilities, by_state)


def nearby(network: Network, kind: str, state: str) -> tuple[Facility, ...]:
    """The facilities of `kind` in `state`, or all of them when the state has none."""
    return network.by_state.get((kind, state)) or network.facilities[kind]


def payer_organization(network: Network, last_updated: str) -> Json:
    return {
        "resourceType": "Organization",
        "id": network.payer_id,
        "meta": meta(codes.PROFILE_ORGANIZATION, last_updated),
        "identifier": [
            {
                "type": concept(codes.V2_0203, "NIIP", "National Insurance Payor Identifier"),
                "system": "urn:oid:2.16.840.1.113883.6.300",
                "value": "60054",
            },
            {"type": concept(codes.V2_0203, "TAX"), "system": codes.TIN, "value": "911234567"},
        ],
        "active": True,
        "type": [concept(codes.ORG_TYPE, "pay", "Payer")],
        "name": codes.PLAN_NAME,
        "alias": [codes.PLAN_ALIAS],
        "telecom": [
            {"system": "phone", "value": "1-800-555-0142", "use": "work"},
            {"system": "url", "value": codes.PLAN_DOMAIN},
        ],
        "address": [
            {
                "use": "work",
                "type": "both",
                "line": ["1200 Fifth Ave", "Suite 1900"],
                "city": "Seattle",
                "state": "WA",
                "postalCode": "98101-3124",
                "country": "US",
            }
        ],
    }


def _practitioner(practitioner: Practitioner, last_updated: str) -> Json:
    code, display = practitioner.taxonomy
    name: Json = {
        "use": "official",
        "family": practitioner.family,
        "given": [practitioner.given],
        "suffix": [codes.PRACTITIONER_SUFFIX[practitioner.kind]],
    }
    prefix = codes.PRACTITIONER_PREFIX[practitioner.kind]
    if prefix:
        name["prefix"] = [prefix]
    return {
        "resourceType": "Practitioner",
        "id": practitioner.id,
        "meta": meta(codes.PROFILE_PRACTITIONER, last_updated),
        "identifier": [
            {
                "type": concept(codes.V2_0203, "NPI", "National provider identifier"),
                "system": codes.NPI,
                "value": practitioner.npi,
            }
        ],
        "active": True,
        "name": [name],
        "qualification": [{"code": concept(codes.NUCC, code, display)}],
    }


def _organization(facility: Facility, last_updated: str) -> Json:
    return {
        "resourceType": "Organization",
        "id": facility.id,
        "meta": meta(codes.PROFILE_ORGANIZATION, last_updated),
        "identifier": [
            {
                "type": concept(codes.V2_0203, "NPI", "National provider identifier"),
                "system": codes.NPI,
                "value": facility.npi,
            },
            {"type": concept(codes.V2_0203, "TAX"), "system": codes.TIN, "value": facility.tin},
        ],
        "active": True,
        "type": [concept(codes.ORG_TYPE, "prov", "Healthcare Provider")],
        "name": facility.name,
        "telecom": [{"system": "phone", "value": facility.phone, "use": "work"}],
        "address": [_address(facility)],
    }


_LOCATION_TYPE = {
    "hospital": ("HOSP", "Hospital"),
    "clinic": ("OF", "Outpatient facility"),
    "pharmacy": ("PHARM", "Pharmacy"),
    "dental": ("OF", "Outpatient facility"),
}


def _location(facility: Facility, last_updated: str) -> Json:
    code, display = _LOCATION_TYPE[facility.kind]
    return {
        "resourceType": "Location",
        "id": facility.location_id,
        "meta": meta(codes.us_core("location"), last_updated),
        "identifier": [{"system": codes.NPI, "value": facility.npi}],
        "status": "active",
        "name": facility.name,
        "type": [concept(codes.ROLE_CODE, code, display)],
        "telecom": [{"system": "phone", "value": facility.phone, "use": "work"}],
        "address": _address(facility),
        "managingOrganization": reference("Organization", facility.id, facility.name),
    }


def _address(facility: Facility) -> Json:
    return {
        "use": "work",
        "line": [facility.line],
        "city": facility.city,
        "state": facility.state,
        "postalCode": facility.postal_code,
        "country": "US",
    }


def network_resources(network: Network, last_updated: str) -> Iterator[Json]:
    """The plan-wide reference data: the payer first, then providers and places."""
    yield payer_organization(network, last_updated)
    for group in network.practitioners.values():
        for practitioner in group:
            yield _practitioner(practitioner, last_updated)
    for facilities in network.facilities.values():
        for facility in facilities:
            yield _organization(facility, last_updated)
            yield _location(facility, last_updated)
