"""Step 7: the self-check — the cycle's windows and streaks, and synthetic opportunities."""

from __future__ import annotations

from datetime import datetime

from selflearn.cycle.proposals import create_drafts
from selflearn.cycle.state import Cycle
from selflearn.events.ids import synthetic_opportunity_id
from selflearn.events.rules import next_streaks
from selflearn.events.selfcheck import SelfCheck
from selflearn.ports import LearningEventView, Opportunity


def self_check(cycle: Cycle) -> None:
    """Record the cycle's windows and the counters after it; open a synthetic opportunity
    when idle cycles reach the threshold (with synthetic opportunities on)."""
    session = cycle.session
    flags = cycle.flags
    c = cycle.counts
    improvement_open = bool(c.created or c.approved or c.executed or c.verified)
    improvement_progress = c.wins > 0

    def attempt() -> None:
        at = session.now()
        check = session.self_check(at)
        after = next_streaks(
            check.streaks,
            windowed=flags.enable_windowed_self_check,
            learning_open=cycle.learning_open,
            learning_progress=cycle.learning_progress,
            improvement_open=improvement_open,
            improvement_progress=improvement_progress,
        )
        check.check_cycle(
            at=at,
            cursor=cycle.cursor,
            windowed=flags.enable_windowed_self_check,
            learning_window_open=cycle.learning_open,
            learning_progress=cycle.learning_progress,
            improvement_window_open=improvement_open,
            improvement_progress=improvement_progress,
            after=after,
            host_errors=cycle.host_errors,
        )
        if (
            flags.enable_synthetic_opportunities
            and after.no_opportunity_iterations >= flags.synthetic_opportunity_threshold
        ):
            open_synthetic(cycle, check, at)
        session.save(check)

    session.retry(attempt, what="record the cycle's self-check")


def open_synthetic(cycle: Cycle, check: SelfCheck, at: datetime) -> None:
    """Bundle recent unproposed learning events into one opportunity for the proposer."""
    session = cycle.session
    session.catch_up()
    events: tuple[LearningEventView, ...] = tuple(
        e.event for e in session.agenda.synthetic_candidates(at)
    )
    opportunity_id = synthetic_opportunity_id(check.version)
    created: list[str] = []
    if events:
        opportunity = Opportunity(id=opportunity_id, kind="synthetic", events=events, at=at)
        created = create_drafts(cycle, opportunity, [e.id for e in events])
    check.open_synthetic(
        at=at,
        opportunity_id=opportunity_id,
        event_ids=[e.id for e in events],
        proposal_ids=created,
    )
    cycle.synthetic_opened = True
    cycle.log.info("synthetic.opened", events=len(events), proposals=len(created))


__all__ = ["open_synthetic", "self_check"]
