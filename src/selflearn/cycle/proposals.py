"""Step 4: proposals from new learning events, then auto-approval.

`create_proposal` is also how a host's own proposal is recorded (`LearningLoop.propose`).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from selflearn.cycle.host import host_error
from selflearn.cycle.state import Cycle
from selflearn.events.ids import proposal_id_for
from selflearn.events.proposal import Proposal
from selflearn.events.rules import approve_threshold, auto_approval
from selflearn.exceptions import ValidationError
from selflearn.ports import Opportunity, ProposalDraft, Proposer
from selflearn.proposer import DefaultProposer
from selflearn.realapply.patches import check_patches, to_stored
from selflearn.session import Session


def create_proposal(
    session: Session,
    proposal_id: str,
    draft: ProposalDraft,
    *,
    origin_event_ids: list[str],
    at: datetime,
) -> bool:
    """Save a new proposal from `draft`; False when a proposal with that id already exists."""
    proposal = Proposal(
        id=UUID(proposal_id),
        at=at,
        title=draft.title,
        hypothesis=draft.hypothesis,
        plan_steps=list(draft.plan_steps),
        expected_impact=draft.expected_impact,
        risk_level=draft.risk_level,
        confidence=float(draft.confidence),
        priority=float(draft.priority),
        signature=draft.resolved_signature(),
        metadata=dict(draft.metadata),
        patches=[to_stored(p) for p in draft.patches],
        origin_event_ids=list(origin_event_ids),
        status="pending_approval",
    )
    try:
        session.save(proposal)
    except IntegrityError:
        return False  # another process created the same proposal from the same opportunity
    session.logger(__name__).info(
        "proposal.created", proposal_id=proposal_id, priority=draft.priority
    )
    return True


def proposer(cycle: Cycle) -> Proposer:
    """The host's proposer, else the default one at the flags' create threshold."""
    if cycle.host.proposer is not None:
        return cycle.host.proposer
    return DefaultProposer(create_threshold=cycle.flags.proposal_v2_create_threshold)


def drafts(cycle: Cycle, opportunity: Opportunity) -> list[ProposalDraft]:
    """The proposer's drafts; a proposer error is recorded on the cycle and gives none."""
    try:
        with cycle.session.host_call():
            made = list(proposer(cycle).propose(opportunity))
        for draft in made:
            if not isinstance(draft, ProposalDraft):
                raise ValidationError(f"the proposer returned {draft!r}, expected ProposalDraft")
    except Exception as exc:
        cycle.host_errors.append(f"proposer on {opportunity.id}: {host_error(exc)}")
        cycle.log.warning("host.proposer.error", opportunity=opportunity.id, error=host_error(exc))
        return []
    return made


def create_drafts(cycle: Cycle, opportunity: Opportunity, origin: list[str]) -> list[str]:
    """Create a proposal from each draft whose signature is not already open; their ids."""
    session = cycle.session
    created: list[str] = []
    for index, draft in enumerate(drafts(cycle, opportunity)):
        if session.agenda.has_open_signature(draft.resolved_signature()):
            continue
        try:
            check_patches(draft.patches)
        except ValidationError as exc:
            cycle.host_errors.append(f"proposer draft {index} on {opportunity.id}: {exc}")
            continue
        pid = proposal_id_for(opportunity.id, index)
        if create_proposal(session, pid, draft, origin_event_ids=origin, at=session.now()):
            created.append(pid)
            cycle.counts.created += 1
        session.catch_up()
    return created


def create_from_learning(cycle: Cycle) -> None:
    """Hand each learning event recorded since the last cycle to the proposer."""
    session = cycle.session
    cursor = session.self_check(cycle.at).cursor
    new = session.agenda.new_learning(cursor)
    cycle.cursor = max([cursor, *(entry.position for entry in new)])
    cycle.learning_open = bool(new)
    for entry in new:
        event = entry.event
        if event.stream != "production" and not cycle.host.include_non_production:
            continue
        opportunity = Opportunity(
            id=f"learning_event:{event.id}",
            kind="learning_event",
            events=(event,),
            at=session.now(),
        )
        if create_drafts(cycle, opportunity, [event.id]):
            cycle.learning_progress = True


def auto_approve(cycle: Cycle) -> None:
    """Approve every pending proposal whose priority reaches the threshold (not high risk).

    The threshold is the bandit's selected `approve_threshold` arm when the bandit is on.
    """
    session = cycle.session
    session.catch_up()
    default = cycle.flags.proposal_v2_auto_approve_threshold
    threshold = (
        approve_threshold(cycle.selection, default) if cycle.flags.enable_policy_bandit else default
    )
    arm = cycle.selection.get("approve_threshold")
    for item in session.agenda.with_status("pending_approval"):
        ok, why = auto_approval(
            priority=item.priority, risk_level=item.risk_level, threshold=threshold
        )
        if not ok:
            continue
        reason = f"auto-approved: {why}" + (f" (bandit arm approve_threshold={arm})" if arm else "")
        if _approve(cycle, item.id, reason):
            cycle.counts.approved += 1


def _approve(cycle: Cycle, pid: str, reason: str) -> bool:
    session = cycle.session

    def attempt() -> bool:
        proposal = session.load_proposal(pid)
        if proposal.status != "pending_approval":
            return False
        proposal.approve(at=session.now(), actor="loop", reason=reason, policy_arms=cycle.selection)
        session.save(proposal)
        return True

    return session.retry(attempt, what=f"approve {pid}")


__all__ = [
    "auto_approve",
    "create_drafts",
    "create_from_learning",
    "create_proposal",
    "drafts",
    "proposer",
]
