"""The policy bandit: arm families with Beta posteriors, Thompson-sampled each cycle.

The draws are made before the event from a recorded seed, so a replay reproduces every
choice from the log without drawing again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

POLICY_ID: Final = uuid5(NAMESPACE_URL, "selflearn/policy")
DEFAULT_FAMILIES: Final = {"approve_threshold": ("0.78", "0.82", "0.86")}


def _fresh_arm() -> dict[str, float]:
    return {"a": 1.0, "b": 1.0, "pulls": 0}


class Policy(Aggregate):
    """Per family, per arm: `a = 1 + wins`, `b = 1 + losses`, `pulls`; and the last selection."""

    class Event(Aggregate.Event):
        """The base of this aggregate's events (declared here, so that eventsourcing need
        not redefine each event class under it)."""

    class Opened(Event, Aggregate.Created):
        at: datetime
        families: dict[str, list[str]]

    @event(Opened)
    def __init__(self, *, id: UUID, at: datetime, families: dict[str, list[str]]) -> None:
        # Plain dicts and lists only: they survive the JSON round trip of snapshots.
        self.arms: dict[str, dict[str, dict[str, float]]] = {}
        self.selection: dict[str, str] = {}
        self._add(families)

    def _add(self, families: dict[str, list[str]]) -> None:
        for family, labels in families.items():
            arms = self.arms.setdefault(family, {})
            for label in labels:
                arms.setdefault(label, _fresh_arm())

    def missing(self, families: dict[str, list[str]]) -> dict[str, list[str]]:
        """The arms of `families` this policy does not have yet."""
        return {
            family: [label for label in labels if label not in self.arms.get(family, {})]
            for family, labels in families.items()
            if any(label not in self.arms.get(family, {}) for label in labels)
        }

    class ArmsDeclared(Event):
        """Families or arms were added (a host declared its own); new arms start at Beta(1, 1)."""

        at: datetime
        families: dict[str, list[str]]

    def declare(self, *, at: datetime, families: dict[str, list[str]]) -> None:
        missing = self.missing(families)
        if missing:
            self._arms_declared(at=at, families=missing)

    @event(ArmsDeclared)
    def _arms_declared(self, *, at: datetime, families: dict[str, list[str]]) -> None:
        self._add(families)

    class ArmsSelected(Event):
        """Thompson sampling picked one arm per family; `seed` and `draws` make it reproducible."""

        at: datetime
        seed: int
        draws: dict[str, dict[str, float]]
        selection: dict[str, str]

    def select(
        self,
        *,
        at: datetime,
        seed: int,
        draws: dict[str, dict[str, float]],
        selection: dict[str, str],
    ) -> None:
        self._arms_selected(at=at, seed=seed, draws=draws, selection=selection)

    @event(ArmsSelected)
    def _arms_selected(
        self,
        *,
        at: datetime,
        seed: int,
        draws: dict[str, dict[str, float]],
        selection: dict[str, str],
    ) -> None:
        self.selection = dict(selection)
        for family, label in selection.items():
            arm = self.arms.get(family, {}).get(label)
            if arm is not None:
                arm["pulls"] += 1

    class Credited(Event):
        """A converged run's verdict was credited to the arms it was approved under."""

        at: datetime
        proposal_id: str
        run_id: str
        verdict: str
        arms: dict[str, str]

    def credit(
        self, *, at: datetime, proposal_id: str, run_id: str, verdict: str, arms: dict[str, str]
    ) -> dict[str, str]:
        """Credit `verdict` to those `arms` this policy knows; return the arms credited."""
        known = {f: a for f, a in arms.items() if a in self.arms.get(f, {})}
        if known and verdict in ("win", "loss"):
            self._credited(
                at=at, proposal_id=proposal_id, run_id=run_id, verdict=verdict, arms=known
            )
            return known
        return {}

    @event(Credited)
    def _credited(
        self, *, at: datetime, proposal_id: str, run_id: str, verdict: str, arms: dict[str, str]
    ) -> None:
        key = "a" if verdict == "win" else "b"
        for family, label in arms.items():
            self.arms[family][label][key] += 1

    def state(self) -> dict[str, Any]:
        """Families, arms and selection as plain data (for comparison and reports)."""
        return {"arms": self.arms, "selection": self.selection}
