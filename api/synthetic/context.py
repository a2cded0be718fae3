"""What every per-member builder needs: the member, their health, the network, and
the member's own random stream (so one member's output never depends on another's).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from api.synthetic.health import Health
from api.synthetic.people import Member
from api.synthetic.providers import Facility, Network, Practitioner, nearby


@dataclass(frozen=True, slots=True)
class MemberContext:
    member: Member
    health: Health
    network: Network
    rng: random.Random
    today: date
    last_updated: str
    primary_care: Practitioner
    clinic: Facility
    deductible_used: dict[int, int] = field(default_factory=dict)
    """Cents of the yearly deductible already applied, by year (claims come in date order)."""

    @property
    def first_day(self) -> date:
        return self.member.coverage_start

    def service_days(self, count: int) -> list[date]:
        """`count` sorted days within the member's coverage, up to `today`."""
        span = max(1, (self.today - self.first_day).days + 1)
        return sorted(
            self.first_day + timedelta(days=self.rng.randrange(span)) for _ in range(count)
        )

    def after(self, day: date, low: int, high: int) -> date:
        """A day `low`..`high` days after `day`, never later than `today`."""
        return min(self.today, day + timedelta(days=self.rng.randint(low, high)))

    def practitioner(self, kind: str) -> Practitioner:
        return self.rng.choice(self.network.practitioners[kind])

    def facility(self, kind: str) -> Facility:
        """Mostly one near the member; now and then anywhere in the network."""
        if self.rng.random() < 0.1:
            return self.rng.choice(self.network.facilities[kind])
        return self.rng.choice(nearby(self.network, kind, self.member.state))
