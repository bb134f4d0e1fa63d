"""The `rollout` view: flags as last recorded by a cycle, overrides, flag sets seen lately."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from selflearn.events.controls import Controls
from selflearn.events.selfcheck import SelfCheck
from selflearn.projections.base import View

#: Cycles run with other flags within this span of the report's "now" raise a warning.
MIXED_FLAGS_WINDOW: Final = timedelta(hours=1)


@attrs.define
class FlagSet:
    """A set of effective flags and the last cycle that ran with it."""

    stage: str
    flags: dict[str, Any]
    last_cycle_at: datetime


@attrs.define
class Override:
    at: datetime
    reason: str


@attrs.define
class RolloutState:
    flags: dict[str, Any] = attrs.Factory(dict)
    stage: str | None = None
    recorded_at: datetime | None = None
    fingerprint: str | None = None
    overrides: dict[str, Override] = attrs.Factory(dict)
    #: fingerprint → the flag set, for cycles of the last hour (of the latest cycle).
    cycle_flags: dict[str, FlagSet] = attrs.Factory(dict)


def fingerprint(flags: dict[str, Any], stage: str) -> str:
    text = json.dumps({"flags": flags, "stage": stage}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def flags_recorded(state: RolloutState, event: Controls.FlagsRecorded) -> None:
    state.flags = dict(event.flags)
    state.stage = event.stage
    state.recorded_at = event.at
    state.fingerprint = fingerprint(state.flags, event.stage)


def capability_disabled(state: RolloutState, event: Controls.CapabilityDisabled) -> None:
    state.overrides[event.capability] = Override(at=event.at, reason=event.reason)


def capability_enabled(state: RolloutState, event: Controls.CapabilityEnabled) -> None:
    state.overrides.pop(event.capability, None)


def cycle_ran(state: RolloutState, event: Any) -> None:
    """A cycle wrote its self-check with the flags last recorded before it."""
    if state.fingerprint is None or state.stage is None:
        return
    state.cycle_flags[state.fingerprint] = FlagSet(
        stage=state.stage, flags=dict(state.flags), last_cycle_at=event.at
    )
    horizon = event.at - MIXED_FLAGS_WINDOW
    for key in [k for k, seen in state.cycle_flags.items() if seen.last_cycle_at <= horizon]:
        del state.cycle_flags[key]


ROLLOUT: Final = View(
    name="rollout",
    version=1,
    state_type=RolloutState,
    handlers={
        Controls.FlagsRecorded: flags_recorded,
        Controls.CapabilityDisabled: capability_disabled,
        Controls.CapabilityEnabled: capability_enabled,
        SelfCheck.CycleChecked: cycle_ran,
        SelfCheck.CycleSkipped: cycle_ran,
    },
)
