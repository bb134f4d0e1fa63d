"""The default proposal engine: one draft per strong learning event."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from selflearn.events.rules import event_priority, risk_level_of, signature_of
from selflearn.ports import LearningEventView, Opportunity, ProposalDraft

PLAN_STEPS = (
    "collect baseline metrics",
    "apply the smallest change that addresses the event",
    "run verification checks",
    "keep or roll back on evidence",
)


@attrs.frozen
class DefaultProposer:
    """Drafts a proposal from each learning event whose priority reaches `create_threshold`.

    For a synthetic opportunity it drafts only the best event, even below the threshold;
    the priority is left unchanged, so the canary gates still apply to it.
    """

    create_threshold: float = 0.62

    def propose(self, opportunity: Opportunity) -> Sequence[ProposalDraft]:
        drafts = [draft_from(event, opportunity.kind) for event in opportunity.events]
        if opportunity.kind == "synthetic":
            return [max(drafts, key=lambda d: d.priority)] if drafts else []
        return [d for d in drafts if d.priority >= self.create_threshold]


def draft_from(event: LearningEventView, kind: str = "learning_event") -> ProposalDraft:
    """The default engine's draft for one learning event."""
    return ProposalDraft(
        title=f"Address {event.event_type} reported by {event.source}"[:180],
        hypothesis=f"Acting on “{event.content[:140]}” improves the host's metrics",
        priority=event_priority(event),
        risk_level=risk_level_of(event.risk),
        confidence=event.confidence,
        plan_steps=PLAN_STEPS,
        expected_impact=f"value={event.value:.2f} novelty={event.novelty:.2f}",
        metadata={
            "source": event.source,
            "event_type": event.event_type,
            "learning_event_id": event.id,
            "stream": event.stream,
            "opportunity": kind,
        },
        signature=signature_of(event.source, event.event_type, event.content),
    )
