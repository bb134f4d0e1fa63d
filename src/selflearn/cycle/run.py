"""One cycle, its steps in order (docs/behaviour.md, The cycle)."""

from __future__ import annotations

import attrs

from selflearn.cycle.bandit import select_arms
from selflearn.cycle.executions import execute
from selflearn.cycle.flags import record_flags, skip
from selflearn.cycle.proposals import auto_approve, create_from_learning
from selflearn.cycle.rechecks import rechecks
from selflearn.cycle.reconcile import reconcile
from selflearn.cycle.selfcheck import self_check
from selflearn.cycle.state import Cycle
from selflearn.reports import CycleReport
from selflearn.session import Session
from selflearn.settings import HostSettings


def run_cycle(session: Session, host: HostSettings) -> CycleReport:
    """Run one cycle on `session` with the host's settings; what it did.

    Within the cycle the session trusts its cache (`Session.trusting_cache`).
    """
    cycle = Cycle(session=session, host=host, at=session.now(), flags=host.flags)
    with session.trusting_cache():
        return _steps(cycle)


def _steps(cycle: Cycle) -> CycleReport:
    cycle.flags = record_flags(cycle)
    if not cycle.flags.enable_proposal_v2:
        skip(cycle, "proposal_v2_disabled")
        return cycle.report(skipped="proposal_v2_disabled")
    cycle.session.catch_up()
    reconcile(cycle)
    if cycle.flags.enable_policy_bandit:
        select_arms(cycle)
    create_from_learning(cycle)
    auto_approve(cycle)
    rechecks(cycle)
    if cycle.flags.enable_experiment_executor:
        execute(cycle)
    self_check(cycle)
    report = cycle.report()
    cycle.log.info("cycle.done", **{k: v for k, v in attrs.asdict(cycle.counts).items() if v})
    return report


__all__ = ["run_cycle"]
