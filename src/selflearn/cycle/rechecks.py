"""Step 5: verification attempts that are due (rechecks, and first attempts a crash missed)."""

from __future__ import annotations

from selflearn.cycle.state import Cycle
from selflearn.cycle.verification import verify
from selflearn.events.rules import MAX_RECHECKS_PER_CYCLE


def rechecks(cycle: Cycle) -> None:
    """Make up to 3 due verification attempts, earliest due first.

    Due attempts left for the next cycle hold back as many new runs (see `execute`).
    """
    session = cycle.session
    session.catch_up()
    due = session.agenda.due_verifications(
        session.now(), cycle.flags.verification_retry_interval_seconds
    )
    cycle.recheck_backlog = max(0, len(due) - MAX_RECHECKS_PER_CYCLE)
    for item in due[:MAX_RECHECKS_PER_CYCLE]:
        row = verify(cycle, item.proposal_id, item.run_id, item.attempt, kind="recheck")
        if row is None:
            continue
        cycle.counts.retry_attempted += 1
        if row.converged and row.exhausted:
            cycle.counts.retry_exhausted += 1
        elif row.converged:
            cycle.counts.retry_verified += 1


__all__ = ["rechecks"]
