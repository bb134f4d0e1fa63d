"""Every event class of the domain is folded by a view, or deliberately left out, with why."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from eventsourcing.domain import Aggregate

import selflearn.events
from selflearn.events.controls import Controls
from selflearn.events.guardrail import Guardrail
from selflearn.events.learning import LearningSignal
from selflearn.events.migration import V1Import
from selflearn.events.proposal import Proposal
from selflearn.events.selfcheck import SelfCheck
from selflearn.projections import VIEWS

#: Events no status field depends on.
LEFT_OUT = {
    LearningSignal.Opened: "a dedup signature seen for the first time",
    LearningSignal.Observed: "learning events feed the agenda; the status reports none of them",
    Proposal.LateResultIgnored: "a late host result, kept for the audit; it changes nothing",
    Controls.Opened: "the singleton's creation carries no flags",
    Guardrail.Opened: "the singleton's creation carries no admission",
    SelfCheck.Opened: "the singleton's creation carries no counter",
    V1Import.Imported: "an import's record; its proposals arrive as Proposed events",
}


def domain_event_classes() -> set[type[Any]]:
    found: set[type[Any]] = set()
    for module_info in pkgutil.iter_modules(selflearn.events.__path__):
        module = importlib.import_module(f"selflearn.events.{module_info.name}")
        for aggregate in vars(module).values():
            if isinstance(aggregate, type) and issubclass(aggregate, Aggregate):
                found.update(
                    value
                    for value in vars(aggregate).values()
                    if isinstance(value, type)
                    and issubclass(value, Aggregate.Event)
                    # the bases eventsourcing generates in every aggregate are never stored
                    and value.__name__ not in ("Event", "Created")
                )
    return found


def test_every_event_class_is_folded_or_left_out_on_purpose() -> None:
    """A new event class fails this test until a view folds it or it is listed above."""
    classes = domain_event_classes()
    folded = {cls for cls in classes if any(v.handler_for(cls) for v in VIEWS)}
    assert set() == classes - folded - set(LEFT_OUT)
    assert set() == folded & set(LEFT_OUT)
    assert len(classes) >= 25
