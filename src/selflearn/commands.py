"""What the loop does outside a cycle: learning events, proposals, operator decisions.

Each command checks its input (a bad value is a `ValidationError` naming it, and nothing
is written), then decides on freshly loaded aggregates and saves once, under the
session's retry. Store errors come out as `StoreError`.
"""

from __future__ import annotations

from uuid import uuid4

from selflearn.config import Flags, check_capability
from selflearn.cycle.proposals import create_proposal
from selflearn.events.ids import learning_event_id
from selflearn.events.learning import LearningSignal, signal_id
from selflearn.events.proposal import STATUSES
from selflearn.events.rules import STREAMS, signature_of, stream_of
from selflearn.exceptions import ValidationError
from selflearn.ports import ProposalDraft, ProposalView, check_fraction
from selflearn.realapply.patches import check_patches
from selflearn.session import Session
from selflearn.views import proposal_view


def record_event(
    session: Session,
    source: str,
    event_type: str,
    content: str,
    *,
    novelty: float,
    value: float,
    risk: float,
    confidence: float,
    stream: str | None = None,
) -> str | None:
    """Record what the host observed; None (and nothing recorded) for a duplicate."""
    scores = check_learning_event(
        source,
        event_type,
        content,
        stream,
        {"novelty": novelty, "value": value, "risk": risk, "confidence": confidence},
    )
    signature = signature_of(source, event_type, content)

    def attempt() -> str | None:
        return _observe(
            session,
            signature,
            source=source,
            event_type=event_type,
            content=content,
            stream=stream_of(source, stream),
            scores=scores,
        )

    with session.store_errors():
        recorded = session.retry(attempt, what="record a learning event")
    session.logger(__name__).info(
        "learning_event.recorded" if recorded else "learning_event.duplicate",
        signature=signature[:80],
    )
    return recorded


def check_learning_event(
    source: object,
    event_type: object,
    content: object,
    stream: object,
    scores: dict[str, object],
) -> dict[str, float]:
    """The scores as floats, or `ValidationError` naming the first bad field."""
    for name, text in (("source", source), ("event_type", event_type)):
        if not isinstance(text, str) or not text.strip():
            raise ValidationError(f"learning event {name}={text!r}: expected a non-empty string")
    if not isinstance(content, str):
        raise ValidationError(
            f"learning event content must be a string, got {type(content).__name__}"
        )
    checked = {name: check_fraction(f"learning event {name}", x) for name, x in scores.items()}
    if stream is not None and stream not in STREAMS:
        raise ValidationError(
            f"learning event stream={stream!r}: expected one of {', '.join(STREAMS)}"
        )
    return checked


def _observe(
    session: Session,
    signature: str,
    *,
    source: str,
    event_type: str,
    content: str,
    stream: str,
    scores: dict[str, float],
) -> str | None:
    """One attempt: the observation's id, or None for a duplicate of one within 30 days."""
    sid = signal_id(signature)
    at = session.now()
    signal = session.load(sid, LearningSignal) or LearningSignal(id=sid, at=at, signature=signature)
    if signal.is_duplicate(at):
        return None
    # The n-th observation of a signature has the same id in every process.
    event_id = learning_event_id(sid, signal.observations + 1)
    signal.observe(
        at=at,
        event_id=event_id,
        source=source,
        event_type=event_type,
        content=content,
        stream=stream,
        **scores,
    )
    session.save(signal)
    return event_id


def propose(session: Session, draft: ProposalDraft) -> str:
    """Record a host's own proposal; its id."""
    if not isinstance(draft, ProposalDraft):
        raise ValidationError(f"propose() takes a ProposalDraft, got {type(draft).__name__}")
    check_patches(draft.patches)
    proposal_id = str(uuid4())
    with session.store_errors():
        create_proposal(session, proposal_id, draft, origin_event_ids=[], at=session.now())
    return proposal_id


def approve(session: Session, flags: Flags, proposal_id: str, reason: str) -> None:
    """An operator approves a pending proposal (any risk level), with the bandit's current
    selection when the bandit is on (the operator's overrides applied to `flags`)."""
    check_reason(reason)

    def attempt() -> None:
        at = session.now()
        proposal = session.load_proposal(proposal_id)
        effective = flags.with_overrides(session.controls(at).disabled)
        selection = session.policy(at).selection if effective.enable_policy_bandit else {}
        proposal.approve(at=at, actor="operator", reason=reason, policy_arms=selection)
        session.save(proposal)

    with session.store_errors():
        session.retry(attempt, what=f"approve {proposal_id}")


def reject(session: Session, proposal_id: str, reason: str) -> None:
    """An operator rejects a pending or approved proposal."""
    check_reason(reason)

    def attempt() -> None:
        proposal = session.load_proposal(proposal_id)
        proposal.reject(at=session.now(), actor="operator", reason=reason)
        session.save(proposal)

    with session.store_errors():
        session.retry(attempt, what=f"reject {proposal_id}")


def override(session: Session, capability: str, reason: str, *, disable: bool) -> None:
    """Switch a capability off (`disable`) or lift that override; nothing if already so."""
    check_capability(capability)
    check_reason(reason)

    def attempt() -> None:
        at = session.now()
        controls = session.controls(at)
        if (capability in controls.disabled) == disable:
            return  # already so: nothing to record
        if disable:
            controls.disable(at=at, capability=capability, reason=reason)
        else:
            controls.enable(at=at, capability=capability, reason=reason)
        session.save(controls)

    with session.store_errors():
        session.retry(attempt, what=f"{'disable' if disable else 'enable'} {capability}")


def proposal(session: Session, flags: Flags, proposal_id: str) -> ProposalView:
    """The proposal with `proposal_id` as it is now (`NotFound` if none)."""
    with session.store_errors():
        found = session.load_proposal(proposal_id)
    return proposal_view(found, flags.verification_retry_interval_seconds)


def proposals(session: Session, flags: Flags, status: str | None) -> tuple[ProposalView, ...]:
    """Every proposal, oldest first, optionally only those in `status`."""
    if status is not None and status not in STATUSES:
        raise ValidationError(f"status={status!r}: expected one of {', '.join(STATUSES)}")
    interval = flags.verification_retry_interval_seconds
    views = []
    with session.store_errors():
        session.sync()
        for pid in session.agenda.proposal_ids():
            found = session.load_proposal(pid)
            if status is None or found.status == status:
                views.append(proposal_view(found, interval))
    return tuple(views)


def check_reason(reason: object) -> None:
    """`ValidationError` unless `reason` is a non-empty text."""
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError(f"reason={reason!r}: expected a non-empty text")


__all__ = [
    "approve",
    "check_learning_event",
    "check_reason",
    "override",
    "proposal",
    "proposals",
    "propose",
    "record_event",
    "reject",
]
