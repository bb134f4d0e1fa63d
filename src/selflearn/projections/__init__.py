"""Read models: each section of the status report is a view, a pure fold of the log.

Views are kept by a view store with the log position of the last event they folded
(`viewstore.py`), caught up a page at a time (`runner.py`), and turned into the status
report relative to "now" at query time (`report.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from selflearn.exceptions import NotFound
from selflearn.projections.base import View
from selflearn.projections.funnel import FUNNEL
from selflearn.projections.guardrail import GUARDRAIL
from selflearn.projections.outcome import OUTCOME
from selflearn.projections.policy import POLICY
from selflearn.projections.rollout import ROLLOUT
from selflearn.projections.windows import WINDOWS

VIEWS: Final[tuple[View[Any], ...]] = (ROLLOUT, FUNNEL, OUTCOME, POLICY, GUARDRAIL, WINDOWS)
VIEW_NAMES: Final = tuple(view.name for view in VIEWS)


def views_named(names: Iterable[str] | None) -> tuple[View[Any], ...]:
    """The views called `names` (every view for None); `NotFound` names an unknown one."""
    if names is None:
        return VIEWS
    chosen = []
    for name in names:
        view = next((v for v in VIEWS if v.name == name), None)
        if view is None:
            raise NotFound(f"no view {name!r}: expected one of {', '.join(VIEW_NAMES)}")
        chosen.append(view)
    return tuple(chosen)


__all__ = ["VIEWS", "VIEW_NAMES", "View", "views_named"]
