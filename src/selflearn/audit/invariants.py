"""The guardrail invariants, checked over a whole recorded history (the test kit's core).

The checker reads the log as an auditor would — the effective flags as the last
`FlagsRecorded` event before a fact says, the facts each run recorded — and returns the
violations it finds, each naming the invariant, the log position and what happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from selflearn.config import Flags
from selflearn.events.controls import Controls
from selflearn.events.guardrail import Guardrail
from selflearn.events.policy import Policy
from selflearn.events.proposal import TRANSITIONS, Proposal
from selflearn.events.rules import QUOTA_WINDOW

_EPSILON = timedelta(microseconds=1)
_DEFAULTS = Flags()


@attrs.frozen
class Violation:
    """One broken rule: which invariant, at which log position, and what happened."""

    invariant: str
    position: int
    detail: str

    def __str__(self) -> str:
        return f"[{self.invariant}] at log position {self.position}: {self.detail}"


@attrs.define
class _Run:
    proposal_id: str
    mode: str
    position: int
    attempts: list[tuple[int, datetime, bool]] = attrs.Factory(list)
    closed: bool = False


@attrs.define
class _Checker:
    violations: list[Violation] = attrs.Factory(list)
    flags: dict[str, Any] = attrs.Factory(dict)
    admissions: list[datetime] = attrs.Factory(list)
    admitted_runs: set[str] = attrs.Factory(set)
    cooldowns: list[tuple[datetime, datetime]] = attrs.Factory(list)
    cooled_runs: dict[str, datetime] = attrs.Factory(dict)
    normal_losses: list[tuple[str, datetime, int, int]] = attrs.Factory(list)
    statuses: dict[str, str] = attrs.Factory(dict)
    proposed: dict[str, Any] = attrs.Factory(dict)
    runs: dict[str, _Run] = attrs.Factory(dict)

    def fail(self, invariant: str, position: int, detail: str) -> None:
        self.violations.append(Violation(invariant, position, detail))

    def flag(self, name: str) -> Any:
        """A flag as last recorded (its default before any record)."""
        return self.flags.get(name, getattr(_DEFAULTS, name))

    def see(self, position: int, event: Any) -> None:
        if isinstance(event, Controls.FlagsRecorded):
            self.flags = dict(event.flags)
        elif isinstance(event, Guardrail.Admitted):
            self.admitted(position, event)
        elif isinstance(event, Guardrail.CooldownStarted):
            self.cooldowns.append((event.at, event.until))
            self.cooled_runs[event.run_id] = event.until
        elif isinstance(event, (Policy.ArmsSelected, Policy.Credited, Policy.ArmsDeclared)):
            if not self.flag("enable_policy_bandit"):
                name = type(event).__name__
                self.fail("no_policy_event_while_bandit_off", position, f"{name} at {event.at}")
        elif isinstance(event, Proposal.Proposed):
            pid = str(event.originator_id)
            self.proposed[pid] = event
            self.statuses[pid] = event.status
        elif isinstance(event, Proposal.Event):
            self.proposal_event(position, event)

    def admitted(self, position: int, event: Any) -> None:
        self.admitted_runs.add(event.run_id)
        limit = int(self.flag("normal_mode_max_per_hour"))
        in_window = 1 + sum(1 for at in self.admissions if at > event.at - QUOTA_WINDOW)
        if in_window > limit:
            self.fail(
                "hourly_quota",
                position,
                f"admission of run {event.run_id} at {event.at} is number {in_window} "
                f"in the hour, limit {limit}",
            )
        for start, until in self.cooldowns:
            if start <= event.at < until:
                self.fail(
                    "no_admission_in_cooldown",
                    position,
                    f"run {event.run_id} admitted at {event.at}, in a cooldown until {until}",
                )
        self.admissions.append(event.at)

    def move(self, position: int, pid: str, to: str) -> None:
        status = self.statuses.get(pid)
        if status is None or to not in TRANSITIONS[status]:
            self.fail("transitions", position, f"proposal {pid} moved {status} → {to}")
        self.statuses[pid] = to

    def proposal_event(self, position: int, event: Any) -> None:
        pid = str(event.originator_id)
        if isinstance(event, Proposal.Approved):
            if self.statuses.get(pid) != "pending_approval":
                self.fail("transitions", position, f"proposal {pid} approved while not pending")
            self.statuses[pid] = "approved"
        elif isinstance(event, Proposal.Rejected):
            self.move(position, pid, "rejected")
        elif isinstance(event, Proposal.RunStarted):
            self.move(position, pid, "executed")
            self.run_started(position, pid, event)
        elif isinstance(event, Proposal.ApplyIntended):
            self.apply_intended(position, event)
        elif isinstance(event, Proposal.RunFailed):
            self.move(position, pid, "approved")
            if event.run_id in self.runs:
                self.runs[event.run_id].closed = True
        elif isinstance(event, Proposal.AttemptVerified):
            self.attempt(position, event)
        elif isinstance(event, Proposal.RunConverged):
            self.move(position, pid, "verified")
            run = self.runs.get(event.run_id)
            if run is not None:
                run.closed = True
            if run is not None and event.verdict == "loss" and run.mode == "normal":
                seconds = int(self.flag("normal_mode_cooldown_seconds"))
                self.normal_losses.append((event.run_id, event.at, seconds, position))

    def run_started(self, position: int, pid: str, event: Any) -> None:
        if not self.flag("enable_experiment_executor"):
            self.fail("no_run_while_executor_off", position, f"run {event.run_id} at {event.at}")
        self.runs[event.run_id] = _Run(pid, event.mode, position)
        if event.mode != "normal":
            return
        problems = []
        if self.flag("execution_mode_default") != "normal":
            problems.append("the default mode was safe")
        if not self.flag("enable_normal_mode_canary"):
            problems.append("the canary was off")
        proposed = self.proposed.get(pid)
        if proposed is not None:
            allowed = set(self.flag("normal_mode_allowed_risk"))
            if proposed.risk_level not in allowed:
                problems.append(f"risk {proposed.risk_level} not in {sorted(allowed)}")
            minimum = float(self.flag("normal_mode_min_priority"))
            if proposed.priority < minimum:
                problems.append(f"priority {proposed.priority} < {minimum}")
        for problem in problems:
            self.fail("normal_run_allowed", position, f"normal run {event.run_id}: {problem}")

    def apply_intended(self, position: int, event: Any) -> None:
        """Patches are written only for normal-mode runs, with real apply on, up to the max."""
        run = self.runs.get(event.run_id)
        problems = []
        if not self.flag("enable_executor_real_apply"):
            problems.append("real apply was off")
        if run is None or run.mode != "normal":
            problems.append("the run was not admitted to normal mode")
        limit = int(self.flag("executor_real_apply_max_patches"))
        if len(event.patches) > min(limit, event.max_patches):
            problems.append(f"{len(event.patches)} patches, at most {limit}")
        for problem in problems:
            self.fail("real_apply_allowed", position, f"run {event.run_id}: {problem}")

    def attempt(self, position: int, event: Any) -> None:
        run = self.runs.get(event.run_id)
        if run is None:
            self.fail("attempts", position, f"attempt on unknown run {event.run_id}")
            return
        maximum = int(self.flag("verification_retry_max_attempts"))
        interval = timedelta(seconds=int(self.flag("verification_retry_interval_seconds")))
        if event.attempt > maximum:
            self.fail(
                "attempts", position, f"run {event.run_id} attempt {event.attempt} > {maximum}"
            )
        if event.attempt >= maximum and event.pending_recheck:
            self.fail("attempts", position, f"run {event.run_id} pending after its last attempt")
        if run.attempts and event.at < run.attempts[-1][1] + interval:
            gap = (event.at - run.attempts[-1][1]).total_seconds()
            self.fail(
                "recheck_interval",
                position,
                f"run {event.run_id} attempt {event.attempt} only {gap} s after the previous one",
            )
        run.attempts.append((event.attempt, event.at, event.pending_recheck))

    def finish(self) -> list[Violation]:
        # A loss and its cooldown are saved together; the cooldown may come later in the log.
        for run_id, at, seconds, position in self.normal_losses:
            until = self.cooled_runs.get(run_id)
            if until is None or until + _EPSILON < at + timedelta(seconds=seconds):
                self.fail(
                    "cooldown_after_normal_loss",
                    position,
                    f"normal run {run_id} lost at {at}; cooldown until {until}, "
                    f"expected at least {seconds} s",
                )
        for run_id, run in self.runs.items():
            if run.mode == "normal" and run_id not in self.admitted_runs:
                self.fail("normal_needs_admission", run.position, f"normal run {run_id}")
            status = self.statuses.get(run.proposal_id)
            if not run.closed and run.attempts and run.attempts[-1][2] and status != "executed":
                self.fail(
                    "pending_run_is_executed",
                    run.position,
                    f"run {run_id} is pending but its proposal is {status}",
                )
        return self.violations


def check_history(history: Iterable[tuple[int, Any]]) -> list[Violation]:
    """Every violation of the guardrail invariants in `history` of (position, domain event)."""
    checker = _Checker()
    for position, event in history:
        checker.see(position, event)
    return checker.finish()


def replay_mismatches(app: Any, aggregate_ids: Sequence[Any]) -> list[str]:
    """Aggregates whose state replayed from their events differs from the repository's."""
    mismatches = []
    for aggregate_id in aggregate_ids:
        replayed: Any = None
        for event in app.events.get(aggregate_id):
            replayed = event.mutate(replayed)
        live = app.repository.get(aggregate_id)
        if replayed is None or vars(replayed) != vars(live):
            mismatches.append(str(aggregate_id))
    return mismatches


def aggregate_ids(history: Iterable[tuple[int, Any]]) -> list[Any]:
    """The id of every aggregate in `history`, in order of first appearance."""
    return list(dict.fromkeys(event.originator_id for _, event in history))


def check_log(app: Any) -> list[Violation]:
    """Every violation of the guardrail invariants in the whole log of the application `app`."""
    history = [
        (n.id, app.mapper.to_domain_event(n))
        for n in app.recorder.select_notifications(start=None, limit=10_000_000)
    ]
    return check_history(history)
