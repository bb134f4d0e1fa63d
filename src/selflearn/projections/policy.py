"""The `policy_state` view: per family, per arm `[a, b, pulls]`, and the last selection."""

from __future__ import annotations

from datetime import datetime
from typing import Final

import attrs

from selflearn.events.policy import Policy
from selflearn.projections.base import View


@attrs.define
class PolicyViewState:
    #: family → arm label → [a, b, pulls]
    arms: dict[str, dict[str, list[float]]] = attrs.Factory(dict)
    selection: dict[str, str] = attrs.Factory(dict)
    selected_at: datetime | None = None
    credited_runs: int = 0


def _declare(state: PolicyViewState, families: dict[str, list[str]]) -> None:
    for family, labels in families.items():
        arms = state.arms.setdefault(family, {})
        for label in labels:
            arms.setdefault(label, [1.0, 1.0, 0.0])


def opened(state: PolicyViewState, event: Policy.Opened) -> None:
    _declare(state, event.families)


def arms_declared(state: PolicyViewState, event: Policy.ArmsDeclared) -> None:
    _declare(state, event.families)


def arms_selected(state: PolicyViewState, event: Policy.ArmsSelected) -> None:
    state.selection = dict(event.selection)
    state.selected_at = event.at
    for family, label in event.selection.items():
        arm = state.arms.get(family, {}).get(label)
        if arm is not None:
            arm[2] += 1


def credited(state: PolicyViewState, event: Policy.Credited) -> None:
    index = 0 if event.verdict == "win" else 1
    state.credited_runs += 1
    for family, label in event.arms.items():
        arm = state.arms.get(family, {}).get(label)
        if arm is not None:
            arm[index] += 1


POLICY: Final = View(
    name="policy_state",
    version=1,
    state_type=PolicyViewState,
    handlers={
        Policy.Opened: opened,
        Policy.ArmsDeclared: arms_declared,
        Policy.ArmsSelected: arms_selected,
        Policy.Credited: credited,
    },
)
