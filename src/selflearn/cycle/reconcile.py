"""Step 2: runs left behind by a crash — overdue runs and files still to restore."""

from __future__ import annotations

from selflearn.cycle.failures import fail_run
from selflearn.cycle.state import Cycle
from selflearn.realapply import steps as realapply


def reconcile(cycle: Cycle) -> None:
    """Close every overdue run as interrupted (its files restored first), then restore
    the files of closed runs that still hold patches."""
    session = cycle.session
    for item in session.agenda.overdue_runs(session.now()):
        assert item.run_id is not None
        error = f"lease ran out at {item.lease_until} before the execution completed"
        if session.load_proposal(item.id).run(item.run_id).files_at_stake:
            run = realapply.interrupt(session, cycle.host.apply_hooks, item.id, item.run_id, error)
        else:
            run = fail_run(
                cycle,
                item.id,
                item.run_id,
                reason="interrupted",
                error=error,
                detail={"lease_until": item.lease_until.isoformat() if item.lease_until else None},
                only_if_overdue=True,
            )
        if run is not None:
            cycle.counts.interrupted += 1
            cycle.add_row(item.id, run, kind="interrupted")
    realapply.settle_closed(session, cycle.host.apply_hooks)


__all__ = ["reconcile"]
