"""Aggregates → the frozen views the loop hands to hosts and operators."""

from __future__ import annotations

import copy

from selflearn.events.proposal import Proposal, Run
from selflearn.ports import ProposalView, RunView
from selflearn.realapply.patches import from_stored


def run_view(run: Run, interval_seconds: int) -> RunView:
    return RunView(
        id=run.id,
        mode=run.mode,
        mode_reason=run.mode_reason,
        execution_status=run.execution_status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        attempts=run.attempts,
        verdict=run.verdict,
        confidence=run.confidence,
        pending_recheck=run.pending_recheck,
        exhausted=run.exhausted,
        next_recheck_at=run.recheck_due_at(interval_seconds),
    )


def proposal_view(proposal: Proposal, interval_seconds: int) -> ProposalView:
    """The view of `proposal`; `interval_seconds` dates the next recheck of a pending run."""
    return ProposalView(
        id=str(proposal.id),
        title=proposal.title,
        hypothesis=proposal.hypothesis,
        status=proposal.status,
        priority=proposal.priority,
        risk_level=proposal.risk_level,
        confidence=proposal.confidence,
        signature=proposal.signature,
        created_at=proposal.created_at,
        origin_event_ids=tuple(proposal.origin_event_ids),
        plan_steps=tuple(proposal.plan_steps),
        expected_impact=proposal.expected_impact,
        policy_arms=dict(proposal.policy_arms),
        patches=tuple(from_stored(p) for p in proposal.patches),
        metadata=copy.deepcopy(proposal.metadata),
        verdict=proposal.verdict,
        verdict_confidence=proposal.verdict_confidence,
        exhausted=proposal.exhausted,
        runs=tuple(run_view(run, interval_seconds) for run in proposal.runs.values()),
    )
