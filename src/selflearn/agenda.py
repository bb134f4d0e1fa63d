"""The agenda: what the loop has to look at next, folded from the log.

Cross-aggregate questions — which proposals are approved, which runs are due for a
recheck, which learning events are new — are answered by this fold over the
notification log, caught up before each step of a cycle. It only *finds* candidates:
every decision reloads the aggregate and saves with optimistic concurrency, so a stale
agenda can never cause a wrong decision, only a skipped or retried one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Final

import attrs
from eventsourcing.utils import get_topic

from selflearn.events.learning import LearningSignal
from selflearn.events.patching import APPLIED, BLOCKED, INTENDED, RESTORED, needs_settling
from selflearn.events.proposal import TERMINAL, Proposal
from selflearn.events.rules import (
    SYNTHETIC_LOOKBACK,
    SYNTHETIC_MAX_EVENTS,
    event_priority,
    lease_expired,
    recheck_due_at,
)
from selflearn.events.selfcheck import SelfCheck
from selflearn.ports import LearningEventView

PAGE_SIZE: Final = 500

Handler = Callable[[Any, Any, int], None]
# The agenda's handlers by the exact class of the event they fold (see `_handles`).
_HANDLERS: dict[type[Any], Handler] = {}


def _handles(*classes: type[Any]) -> Callable[[Handler], Handler]:
    """Register the decorated method as the agenda's handler of events of `classes`."""

    def register(handler: Handler) -> Handler:
        for cls in classes:
            if cls in _HANDLERS:
                raise TypeError(f"the agenda already folds {cls.__qualname__}")
            _HANDLERS[cls] = handler
        return handler

    return register


@attrs.define
class AgendaItem:
    """A proposal that is not terminal yet, with its open run if it has one."""

    id: str
    status: str
    priority: float
    risk_level: str
    created_at: datetime
    signature: str
    run_id: str | None = None
    run_started_at: datetime | None = None
    lease_until: datetime | None = None
    run_executed: bool = False
    attempts: int = 0
    last_attempt_at: datetime | None = None
    pending_recheck: bool = False


@attrs.define
class LearningEntry:
    event: LearningEventView
    position: int
    priority: float
    proposed: bool = False


@attrs.define
class AppliedRun:
    """A run that recorded an apply intent: where its files stand, and how the run ended."""

    proposal_id: str
    run_id: str
    state: str = INTENDED
    closed: bool = False
    failed: bool = False
    verdict: str | None = None

    @property
    def needs_settling(self) -> bool:
        return needs_settling(
            state=self.state,
            closed=self.closed,
            failed=self.failed,
            verdict=self.verdict,
            blocked=self.state == BLOCKED,
        )


@attrs.frozen
class DueVerification:
    proposal_id: str
    run_id: str
    attempt: int
    due_at: datetime
    started_at: datetime


@attrs.define
class Agenda:
    """The fold; `position` is the last notification id applied."""

    position: int = 0
    cursor: int = 0
    latest_at: datetime | None = None
    items: dict[str, AgendaItem] = attrs.Factory(dict)
    created: dict[str, datetime] = attrs.Factory(dict)
    open_signatures: dict[str, int] = attrs.Factory(dict)
    learning: dict[str, LearningEntry] = attrs.Factory(dict)
    # Runs with real apply, by run id: few (each used a normal-mode admission), kept for good
    # so that `rollback(run_id)` finds its proposal without scanning the log.
    applies: dict[str, AppliedRun] = attrs.Factory(dict)

    # -- folding -----------------------------------------------------------------------

    def apply(self, event: Any, position: int) -> None:
        """Fold one domain event recorded at `position` of the log."""
        at = getattr(event, "at", None)
        if isinstance(at, datetime) and (self.latest_at is None or at > self.latest_at):
            self.latest_at = at
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event, position)
        self.position = max(self.position, position)

    @_handles(LearningSignal.Observed)
    def _learning_observed(self, event: LearningSignal.Observed, position: int) -> None:
        view = LearningEventView(
            id=event.event_id,
            source=event.source,
            event_type=event.event_type,
            content=event.content,
            novelty=event.novelty,
            value=event.value,
            risk=event.risk,
            confidence=event.confidence,
            stream=event.stream,
            at=event.at,
        )
        self.learning[event.event_id] = LearningEntry(view, position, event_priority(view))

    @_handles(Proposal.Proposed)
    def _proposed(self, event: Proposal.Proposed, position: int) -> None:
        pid = str(event.originator_id)
        self.created[pid] = event.at
        for origin in event.origin_event_ids:
            entry = self.learning.get(origin)
            if entry is not None:
                entry.proposed = True
        if event.status in TERMINAL:
            return
        self.items[pid] = AgendaItem(
            id=pid,
            status=event.status,
            priority=event.priority,
            risk_level=event.risk_level,
            created_at=event.at,
            signature=event.signature,
        )
        self.open_signatures[event.signature] = self.open_signatures.get(event.signature, 0) + 1

    @_handles(Proposal.Approved)
    def _approved(self, event: Proposal.Approved, position: int) -> None:
        item = self.items.get(str(event.originator_id))
        if item is not None:
            item.status = "approved"

    @_handles(Proposal.Rejected)
    def _rejected(self, event: Proposal.Rejected, position: int) -> None:
        self._close(str(event.originator_id))

    @_handles(Proposal.RunConverged)
    def _run_converged(self, event: Proposal.RunConverged, position: int) -> None:
        self._close(str(event.originator_id))
        applied = self.applies.get(event.run_id)
        if applied is not None:
            applied.closed, applied.verdict = True, event.verdict

    @_handles(Proposal.RunStarted)
    def _run_started(self, event: Proposal.RunStarted, position: int) -> None:
        item = self.items.get(str(event.originator_id))
        if item is not None:
            item.status = "executed"
            item.run_id = event.run_id
            item.run_started_at = event.at
            item.lease_until = event.lease_until
            item.run_executed = False
            item.attempts = 0
            item.last_attempt_at = None
            item.pending_recheck = False

    @_handles(Proposal.RunExecuted)
    def _run_executed(self, event: Proposal.RunExecuted, position: int) -> None:
        item = self.items.get(str(event.originator_id))
        if item is not None and item.run_id == event.run_id:
            item.run_executed = True

    @_handles(Proposal.RunFailed)
    def _run_failed(self, event: Proposal.RunFailed, position: int) -> None:
        item = self.items.get(str(event.originator_id))
        if item is not None and item.run_id == event.run_id:
            item.status = "approved"
            item.run_id = None
        applied = self.applies.get(event.run_id)
        if applied is not None:
            applied.closed, applied.failed = True, True

    @_handles(Proposal.AttemptVerified)
    def _attempt_verified(self, event: Proposal.AttemptVerified, position: int) -> None:
        item = self.items.get(str(event.originator_id))
        if item is not None and item.run_id == event.run_id:
            item.attempts = event.attempt
            item.last_attempt_at = event.at
            item.pending_recheck = event.pending_recheck

    @_handles(Proposal.ApplyIntended)
    def _apply_intended(self, event: Proposal.ApplyIntended, position: int) -> None:
        self.applies[event.run_id] = AppliedRun(str(event.originator_id), event.run_id)

    @_handles(Proposal.PatchesApplied)
    def _patches_applied(self, event: Proposal.PatchesApplied, position: int) -> None:
        self._apply_state(event.run_id, APPLIED)

    @_handles(
        Proposal.ApplyAbandoned,
        Proposal.ApplyReconciled,
        Proposal.PatchesRolledBack,
    )
    def _files_restored(self, event: Any, position: int) -> None:
        self._apply_state(event.run_id, RESTORED)

    @_handles(Proposal.RollbackBlocked)
    def _rollback_blocked(self, event: Proposal.RollbackBlocked, position: int) -> None:
        self._apply_state(event.run_id, BLOCKED)

    @_handles(SelfCheck.CycleChecked)
    def _cycle_checked(self, event: SelfCheck.CycleChecked, position: int) -> None:
        self.cursor = max(self.cursor, event.cursor)
        self._prune()

    def _apply_state(self, run_id: str, state: str) -> None:
        applied = self.applies.get(run_id)
        if applied is not None:
            applied.state = state

    def _close(self, pid: str) -> None:
        item = self.items.pop(pid, None)
        if item is not None:
            left = self.open_signatures.get(item.signature, 0) - 1
            if left > 0:
                self.open_signatures[item.signature] = left
            else:
                self.open_signatures.pop(item.signature, None)

    def _prune(self) -> None:
        """Forget learning events already taken that are too old to bundle synthetically."""
        if self.latest_at is None:
            return
        horizon = self.latest_at - SYNTHETIC_LOOKBACK
        stale = [
            eid
            for eid, entry in self.learning.items()
            if entry.position <= self.cursor and entry.event.at < horizon
        ]
        for eid in stale:
            del self.learning[eid]

    # -- questions ---------------------------------------------------------------------

    def with_status(self, status: str) -> list[AgendaItem]:
        return [item for item in self.items.values() if item.status == status]

    def executable(self) -> list[AgendaItem]:
        """Approved proposals, highest priority first, then oldest (the order a cycle runs them)."""
        return sorted(self.with_status("approved"), key=lambda i: (-i.priority, i.created_at, i.id))

    def overdue_runs(self, now: datetime) -> list[AgendaItem]:
        """Open runs that never completed and whose lease ran out before `now`."""
        return [
            item
            for item in self.items.values()
            if item.run_id is not None
            and item.lease_until is not None
            and lease_expired(
                closed=False, executed=item.run_executed, lease_until=item.lease_until, now=now
            )
        ]

    def due_verifications(self, now: datetime, interval_seconds: int) -> list[DueVerification]:
        """Runs due for a verification attempt, earliest due first, then earliest started
        (`rules.recheck_due_at` says when a run is due)."""
        due: list[DueVerification] = []
        for item in self.items.values():
            if item.run_id is None or item.run_started_at is None or item.lease_until is None:
                continue
            at = recheck_due_at(
                closed=False,
                executed=item.run_executed,
                attempts=item.attempts,
                lease_until=item.lease_until,
                pending_recheck=item.pending_recheck,
                last_attempt_at=item.last_attempt_at,
                interval_seconds=interval_seconds,
            )
            if at is not None and at <= now:
                due.append(
                    DueVerification(
                        item.id, item.run_id, item.attempts + 1, at, item.run_started_at
                    )
                )
        return sorted(due, key=lambda d: (d.due_at, d.started_at, d.proposal_id))

    def applied_run(self, run_id: str) -> AppliedRun | None:
        """The run with real apply `run_id`, if there is one."""
        return self.applies.get(run_id)

    def runs_to_settle(self) -> list[AppliedRun]:
        """Closed runs whose files still need restoring (a crash left them), oldest first."""
        return [a for a in self.applies.values() if a.needs_settling]

    def has_open_signature(self, signature: str) -> bool:
        return signature in self.open_signatures

    def new_learning(self, cursor: int) -> list[LearningEntry]:
        """Learning events recorded after log position `cursor`, oldest first."""
        return sorted(
            (e for e in self.learning.values() if e.position > cursor), key=lambda e: e.position
        )

    def synthetic_candidates(self, now: datetime) -> list[LearningEntry]:
        """Up to 5 highest-priority production learning events of the last 24 h with no proposal."""
        horizon = now - SYNTHETIC_LOOKBACK
        candidates = [
            e
            for e in self.learning.values()
            if not e.proposed and e.event.stream == "production" and horizon <= e.event.at <= now
        ]
        candidates.sort(key=lambda e: (-e.priority, e.position))
        return candidates[:SYNTHETIC_MAX_EVENTS]

    def proposal_ids(self) -> Iterator[str]:
        """Every proposal id, oldest `created_at` first."""
        yield from sorted(self.created, key=lambda pid: (self.created[pid], pid))


#: The events the agenda folds: those it has a handler for.
AGENDA_EVENTS: Final[tuple[type[Any], ...]] = tuple(_HANDLERS)
AGENDA_TOPICS: Final = frozenset(get_topic(cls) for cls in AGENDA_EVENTS)
