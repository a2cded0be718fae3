"""A deterministic synthetic health plan written as FHIR R4 NDJSON.

`generate_plan(out_dir, members=200, seed=7)` writes one `<ResourceType>.ndjson`
per resource type: the plan's Organization and provider network, then member
by member the Patient, RelatedPerson (for minors), Coverage, ExplanationOfBenefit
and US Core clinical records. Same arguments, byte-identical files: every draw
comes from `random.Random` streams derived from `seed`, never from the clock.

How many claims and Observations:
- `claims_total` / `observations_total`: exactly that many in the whole plan,
  spread unevenly but deterministically across members (what benchmarks want).
- otherwise `claims_per_member` / `observations_per_member`: the average per
  member over the whole period (each member gets 25%..175% of it).
- otherwise a realistic default driven by years of coverage, age and chronic
  conditions.

It streams: only one household and one member's records are in memory at a
time, so a million claims cost time, not memory.
"""

# ruff: noqa: S311 -- synthetic data needs reproducible, seeded randomness, not secrecy
from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from api.synthetic import claims, clinical, people, providers
from api.synthetic.context import MemberContext
from api.synthetic.datatypes import Json
from api.synthetic.health import draw_health
from api.synthetic.writer import NdjsonWriter

DEFAULT_TODAY = date(2025, 6, 30)
"""The `today` of a plan generated without one: fixed so output never depends on the clock."""


@dataclass(frozen=True, slots=True)
class GenerationSummary:
    members: int
    counts: Mapping[str, int]
    """Resources written per resource type."""
    files: tuple[Path, ...] = field(default=())

    def count(self, resource_type: str) -> int:
        return self.counts.get(resource_type, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class PlanSpec:
    """Everything that determines a generated plan; equal specs give equal output."""

    members: int
    seed: int
    start_year: int = 2016
    today: date = DEFAULT_TODAY
    claims_per_member: float | None = None
    observations_per_member: float | None = None
    claims_total: int | None = None
    observations_total: int | None = None

    def __post_init__(self) -> None:
        if self.members < 1:
            raise ValueError("a plan needs at least one member")
        if not 1900 < self.start_year <= self.today.year:
            raise ValueError(f"start_year {self.start_year} must not be after {self.today}")
        for name in ("claims_per_member", "observations_per_member"):
            rate = getattr(self, name)
            if rate is not None and rate < 0:
                raise ValueError(f"{name} must not be negative")
        for name in ("claims_total", "observations_total"):
            total = getattr(self, name)
            if total is not None and total < 0:
                raise ValueError(f"{name} must not be negative")
        if self.claims_total is not None and self.claims_per_member is not None:
            raise ValueError("give claims_total or claims_per_member, not both")
        if self.observations_total is not None and self.observations_per_member is not None:
            raise ValueError("give observations_total or observations_per_member, not both")


def _allotment(spec: PlanSpec, total: int, index: int, stream: str) -> int:
    """Member `index`'s exact share of `total`; neighbours trade a random part of
    their equal shares, so counts vary while the sum stays exactly `total`."""

    def share(i: int) -> int:
        return (i + 1) * total // spec.members - i * total // spec.members

    first = index - index % 2
    if first + 1 >= spec.members:
        return share(index)
    combined = share(first) + share(first + 1)
    rng = random.Random(f"{spec.seed}:{stream}:{first}")
    kept = rng.randint(combined // 5, combined - combined // 5)
    return kept if index == first else combined - kept


def _count(
    spec: PlanSpec,
    rng: random.Random,
    *,
    index: int,
    stream: str,
    total: int | None,
    rate: float | None,
    default_rate: float,
) -> int:
    if total is not None:
        return _allotment(spec, total, index, stream)
    if rate is not None:
        return round(rate * rng.uniform(0.25, 1.75))
    return round(default_rate * rng.uniform(0.6, 1.4))


def iter_plan(spec: PlanSpec) -> Iterator[list[Json]]:
    """The plan in batches: the reference data first, then one batch per member."""
    last_updated = f"{spec.today.isoformat()}T06:00:00Z"
    network = providers.build_network(random.Random(f"{spec.seed}:network"), spec.members)
    yield list(providers.network_resources(network, last_updated))
    payer = network.payer_id
    roster = random.Random(f"{spec.seed}:members")
    for member in people.iter_members(roster, spec.members, spec.start_year, spec.today):
        rng = random.Random(f"{spec.seed}:member:{member.index}")
        age = member.age_on(spec.today)
        health = draw_health(rng, age, member.birth_date, member.coverage_start, spec.today)
        ctx = MemberContext(
            member=member,
            health=health,
            network=network,
            rng=rng,
            today=spec.today,
            last_updated=last_updated,
            primary_care=rng.choice(network.practitioners["physician"]),
            clinic=rng.choice(providers.nearby(network, "clinic", member.state)),
        )
        years = max(0.1, (spec.today - member.coverage_start).days / 365.25)
        burden = len(health.problems)
        claim_count = _count(
            spec, rng, index=member.index, stream="claims", total=spec.claims_total,
            rate=spec.claims_per_member,
            default_rate=years * (3.0 + 1.5 * burden + 2.0 * (age >= 65)),
        )  # fmt: skip
        observation_count = _count(
            spec, rng, index=member.index, stream="observations", total=spec.observations_total,
            rate=spec.observations_per_member, default_rate=years * (6.0 + 3.0 * burden),
        )  # fmt: skip
        batch = [people.patient(member, payer, last_updated)]
        if member.parent is not None:
            batch.append(people.related_person(member, payer, last_updated))
        batch.append(people.coverage(member, payer, last_updated))
        batch.extend(claims.iter_claims(ctx, claim_count))
        batch.extend(clinical.iter_clinical(ctx, observation_count))
        yield batch


def iter_plan_resources(spec: PlanSpec) -> Iterator[Json]:
    """Every resource of the plan, one at a time, in the order they are written."""
    for batch in iter_plan(spec):
        yield from batch


def generate_plan(
    out_dir: Path,
    *,
    members: int,
    seed: int,
    start_year: int = 2016,
    today: date | None = None,
    claims_per_member: float | None = None,
    observations_per_member: float | None = None,
    claims_total: int | None = None,
    observations_total: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> GenerationSummary:
    """Write the plan to `out_dir` (created if needed; existing NDJSON files of the
    same types are replaced). `progress` is called with the number of members done."""
    spec = PlanSpec(
        members=members,
        seed=seed,
        start_year=start_year,
        today=today or DEFAULT_TODAY,
        claims_per_member=claims_per_member,
        observations_per_member=observations_per_member,
        claims_total=claims_total,
        observations_total=observations_total,
    )
    with NdjsonWriter(out_dir) as writer:
        for done, batch in enumerate(iter_plan(spec)):
            writer.write_all(batch)
            if progress is not None and done:
                progress(done)
        counts = dict(sorted(writer.counts.items()))
        files = writer.paths()
    return GenerationSummary(members=members, counts=counts, files=files)


__all__ = [
    "DEFAULT_TODAY",
    "GenerationSummary",
    "PlanSpec",
    "generate_plan",
    "iter_plan",
    "iter_plan_resources",
]
