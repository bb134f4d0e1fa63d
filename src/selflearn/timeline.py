"""A proposal's history for an auditor: every event, in order, with its reasons.

Each entry keeps the event's own fields in `detail` and says in `summary`, in words, what
happened and why: the mode decision and the facts it was made on, the bandit arm an
approval or a credit went to, each verification attempt and what it found. Facts other
aggregates recorded about the proposal and not in its own events — its normal-mode
admissions on the guardrail — are placed right after the run start they were saved with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import singledispatch
from typing import Any

from selflearn.events.guardrail import GUARDRAIL_ID, Guardrail
from selflearn.events.migration import MIGRATED_EVENT_TYPE, v1_score
from selflearn.events.proposal import Proposal
from selflearn.events.rules import MAX_FAILED_RUNS
from selflearn.reports import TimelineEntry
from selflearn.session import Session

_ENVELOPE = frozenset(
    {"originator_id", "originator_version", "timestamp", "originator_topic", "at"}
)


def _when(moment: object) -> str:
    return moment.isoformat() if isinstance(moment, datetime) else str(moment)


def _pairs(mapping: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in mapping.items())


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def mode_explanation(reason: str, decision: Mapping[str, Any]) -> str:
    """Why a run got its mode, in words, from the facts recorded with the decision."""
    used = decision.get("admissions_last_hour")
    limit = decision.get("max_per_hour")
    priority = _number(decision.get("priority"))
    minimum = _number(decision.get("min_priority"))
    allowed = ", ".join(decision.get("allowed_risk") or ()) or "none"
    if reason == "default_safe_mode":
        return "EXECUTION_MODE_DEFAULT is safe, so every run is safe"
    if reason == "canary_disabled":
        return "the normal-mode canary is off (ENABLE_NORMAL_MODE_CANARY or an operator override)"
    if reason == "cooldown_active":
        return (
            f"a cooldown after a normal-mode loss was active until {decision.get('cooldown_until')}"
        )
    if reason == "hourly_quota_exceeded":
        return (
            f"{used} normal-mode admission(s) in the last hour reached "
            f"NORMAL_MODE_MAX_PER_HOUR={limit}"
        )
    if reason.startswith("risk_not_allowed:"):
        return f"risk {decision.get('risk_level')} is not in NORMAL_MODE_ALLOWED_RISK ({allowed})"
    if reason == "priority_below_canary_threshold":
        return f"priority {priority} is below NORMAL_MODE_MIN_PRIORITY={minimum}"
    if reason == "canary_allowed":
        return (
            f"every canary gate passed: default mode normal, canary on, no cooldown, "
            f"{used} of {limit} admission(s) used in the last hour, risk "
            f"{decision.get('risk_level')} allowed ({allowed}), priority {priority} ≥ {minimum}"
        )
    return reason


@singledispatch
def summary(event: Any) -> str:
    """A sentence saying what the event records and why."""
    return type(event).__name__


@summary.register
def _(event: Proposal.Proposed) -> str:
    metadata = event.metadata
    if metadata.get("event_type") == MIGRATED_EVENT_TYPE and "v1_row" in metadata:
        row = metadata["v1_row"]
        score = v1_score(row)
        return (
            f"imported from the v1 store at {_when(event.timestamp)}: v1 id "
            f"{metadata.get('migrated_from_v1_id')!r}, v1 status {row.get('status')!r} → "
            f"{event.status}; score {score:g} → priority {event.priority:g}, risk "
            f"{event.risk_level} (by the v1 mapping); created {_when(event.at)}"
        )
    origin = (
        f"from learning event(s) {', '.join(event.origin_event_ids)}"
        if event.origin_event_ids
        else "submitted by the host"
    )
    return (
        f"proposed {event.title!r} {origin}: priority {event.priority:g}, risk "
        f"{event.risk_level}, confidence {event.confidence:g}; status {event.status}"
    )


@summary.register
def _(event: Proposal.Approved) -> str:
    arms = (
        f"under the bandit selection {_pairs(event.policy_arms)}"
        if event.policy_arms
        else "with no bandit selection (bandit off, or no cycle had selected yet)"
    )
    return f"approved by {event.actor}: {event.reason}; {arms}"


@summary.register
def _(event: Proposal.Rejected) -> str:
    if event.reason == "execution_failed":
        return f"rejected by {event.actor}: {MAX_FAILED_RUNS} runs failed (execution_failed)"
    return f"rejected by {event.actor}: {event.reason}"


@summary.register
def _(event: Proposal.RunStarted) -> str:
    return (
        f"run {event.run_id} started in {event.mode} mode ({event.mode_reason}): "
        f"{mode_explanation(event.mode_reason, event.decision)}; lease until "
        f"{_when(event.lease_until)}"
    )


@summary.register
def _(event: Proposal.RunExecuted) -> str:
    text = (
        f"run {event.run_id} executed by the host: {event.status}, cost "
        f"${event.cost_usd:g}, {event.duration_ms:g} ms; baseline measured just before: "
        f"{_pairs(event.baseline) or 'no metrics'}"
    )
    return text + (f"; error: {event.error}" if event.error else "")


@summary.register
def _(event: Proposal.RunFailed) -> str:
    return (
        f"run {event.run_id} failed ({event.reason}): {event.error or 'no error text'}; "
        "no verification, no verdict, no cooldown, no bandit credit; the proposal is "
        "approved again"
    )


@summary.register
def _(event: Proposal.LateResultIgnored) -> str:
    return (
        f"a late {event.stage} result of run {event.run_id} arrived after the run was "
        "closed; it is kept here and not used"
    )


@summary.register
def _(event: Proposal.AttemptVerified) -> str:
    text = (
        f"verification attempt {event.attempt} of run {event.run_id}: {event.verdict} "
        f"(confidence {event.confidence:.2f})"
    )
    if event.pending_recheck:
        text += ", pending a recheck (inconclusive, low confidence, weak signal)"
    if event.delta:
        text += f"; Δ {_pairs(event.delta)}"
    if event.reasons:
        text += f"; because {'; '.join(event.reasons)}"
    if event.error:
        text += f"; error: {event.error}"
    return text


@summary.register
def _(event: Proposal.RunConverged) -> str:
    text = (
        f"run {event.run_id} converged: {event.verdict} (confidence {event.confidence:.2f}), "
        f"{event.reason}"
    )
    if event.exhausted:
        text += " (every allowed attempt stayed pending, so the verdict is inconclusive)"
    if event.credited_arms:
        text += f"; bandit credit: a {event.verdict} to {_pairs(event.credited_arms)}"
    elif event.verdict == "inconclusive":
        text += "; no bandit credit (inconclusive)"
    else:
        text += "; no bandit credit (no bandit selection to credit, or the bandit was off)"
    if event.cooldown_until is not None:
        text += f"; a normal-mode loss: cooldown until {_when(event.cooldown_until)}"
    return text


def _files(files: Iterable[Mapping[str, Any]]) -> str:
    """Each file with its pre-image and post-image hashes, shortened."""
    return ", ".join(
        f"{f.get('path')} ({_short(f.get('before_sha256'))} → {_short(f.get('after_sha256'))})"
        for f in files
    )


def _short(digest: object) -> str:
    return "new file" if digest is None else str(digest)[:12]


def _paths(paths: Iterable[str]) -> str:
    return ", ".join(paths) or "none"


@summary.register
def _(event: Proposal.PatchesChecked) -> str:
    found = {
        "clean": "they would apply cleanly",
        "conflict": f"they would not apply: {event.error}",
        "unchecked": f"not checked: {event.error}",
    }.get(event.outcome, f"{event.outcome}: {event.error}")
    return (
        f"the {event.checked} patch(es) of run {event.run_id} were only checked, never "
        f"written ({event.reason}): {found}"
    )


@summary.register
def _(event: Proposal.ApplyIntended) -> str:
    text = (
        f"run {event.run_id} is about to write {len(event.files)} file(s) in "
        f"{event.workspace.get('root')}, each backed up first: {_files(event.files)}"
    )
    if event.skipped:
        text += (
            f"; patch(es) {', '.join(map(str, event.skipped))} skipped, beyond "
            f"EXECUTOR_REAL_APPLY_MAX_PATCHES={event.max_patches}"
        )
    return text


@summary.register
def _(event: Proposal.PatchesApplied) -> str:
    return (
        f"run {event.run_id} wrote its patches; each file read back at its post-image: "
        f"{_files(event.files)}"
    )


@summary.register
def _(event: Proposal.ApplyAbandoned) -> str:
    return (
        f"applying the patches of run {event.run_id} failed ({event.error}); the files "
        f"already written were restored from their backups: {_paths(event.restored)}"
    )


@summary.register
def _(event: Proposal.ApplyReconciled) -> str:
    return (
        f"run {event.run_id} had recorded its intent to write but no outcome (a crash); "
        f"the file hashes say the patches were {event.found.replace('_', ' ')}; restored "
        f"from their backups: {_paths(event.restored)}"
    )


@summary.register
def _(event: Proposal.PatchesRolledBack) -> str:
    return (
        f"the patches of run {event.run_id} were rolled back by {event.actor}: {event.reason};"
        f" restored from their backups and verified by hash: {_paths(event.restored)}"
    )


@summary.register
def _(event: Proposal.RollbackBlocked) -> str:
    return (
        f"the rollback of run {event.run_id} by {event.actor} ({event.reason}) stopped at "
        f"{event.path}: {event.error}; nothing else was overwritten (restored before it "
        f"stopped: {_paths(event.restored)}); an operator finishes it with `selflearn rollback`"
    )


@summary.register
def _(event: Guardrail.Admitted) -> str:
    return (
        f"admitted to normal mode on the guardrail for run {event.run_id}: one unit of the "
        "hourly quota is used, whatever happens to the run"
    )


def entry(event: Any, *, aggregate: str) -> TimelineEntry:
    detail = {k: v for k, v in vars(event).items() if k not in _ENVELOPE}
    if isinstance(event, Proposal.Proposed) and (
        event.metadata.get("event_type") == MIGRATED_EVENT_TYPE
    ):
        detail["imported_at"] = event.timestamp
    return TimelineEntry(
        at=event.at,
        kind=type(event).__name__,
        detail=detail,
        summary=summary(event),
        aggregate=aggregate,
    )


def timeline_entries(
    events: Iterable[Any], admissions: Iterable[Guardrail.Admitted] = ()
) -> tuple[TimelineEntry, ...]:
    """The proposal's events in order, each admission right after the run start it went with."""
    by_run = {admission.run_id: admission for admission in admissions}
    entries = []
    for event in events:
        entries.append(entry(event, aggregate="proposal"))
        if isinstance(event, Proposal.RunStarted) and event.run_id in by_run:
            entries.append(entry(by_run[event.run_id], aggregate="guardrail"))
    return tuple(entries)


def proposal_timeline(session: Session, proposal_id: str) -> tuple[TimelineEntry, ...]:
    """Every event of a proposal and its runs, in order, each with its reason in words."""
    with session.store_errors():
        proposal = session.load_proposal(proposal_id)
        events = list(session.app.events.get(proposal.id))
        admissions: list[Guardrail.Admitted] = []
        if any(run.mode == "normal" for run in proposal.runs.values()):
            admissions = [
                e
                for e in session.app.events.get(GUARDRAIL_ID)
                if isinstance(e, Guardrail.Admitted) and e.proposal_id == str(proposal.id)
            ]
        return timeline_entries(events, admissions)
