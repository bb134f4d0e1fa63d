"""The demo's narrative in words: what the operator switched and why, what the loop did."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Final

import attrs

from selflearn.config import Flags
from selflearn.demo.host import CONFIG_FILE
from selflearn.ports import ProposalView
from selflearn.reports import CycleReport, RunReport

START: Final = datetime(2026, 1, 5, tzinfo=UTC)


def when(at: datetime) -> str:
    """A domain time as the demo prints it: simulated day and time of day."""
    return f"day {(at - START).days + 1} {at:%H:%M}"


def env_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def flag_changes(before: Flags | None, after: Flags) -> list[str]:
    """`VARIABLE=value` for each flag `after` sets differently (from the defaults at first)."""
    old = (before or Flags(selflearn_v1_store="")).recorded()
    new = after.recorded()
    return [f"{k.upper()}={env_value(v)}" for k, v in new.items() if old.get(k) != v]


@attrs.define
class Tally:
    """What the loop did during one stage, from its cycle reports."""

    events: int = 0
    created: int = 0
    approved: int = 0
    runs: int = 0
    failed: int = 0
    canary_waiting: int = 0  # approved proposals outside the canary at the last cycle
    rechecks: int = 0
    exhausted: int = 0
    synthetic: int = 0
    modes: Counter[tuple[str, str]] = attrs.Factory(Counter)
    verdicts: Counter[str] = attrs.Factory(Counter)
    normal_verdicts: Counter[str] = attrs.Factory(Counter)
    cooldowns: int = 0
    applied: int = 0
    rolled_back: int = 0

    def add(self, report: CycleReport) -> None:
        self.created += report.created
        self.approved += report.approved
        self.runs += report.executed
        self.failed += report.failed + report.interrupted
        self.canary_waiting = report.canary_skipped
        self.rechecks += report.retry_attempted
        self.exhausted += report.retry_exhausted
        self.synthetic += int(report.synthetic_opened)
        for row in report.runs:
            if row.kind == "execution":
                self.modes[row.mode, row.mode_reason] += 1
            if row.converged and row.verdict:
                self.verdicts[row.verdict] += 1
                if row.mode == "normal":
                    self.normal_verdicts[row.verdict] += 1

    def mode_text(self) -> str:
        parts = []
        for mode in ("safe", "normal"):
            reasons = sorted((r, n) for (m, r), n in self.modes.items() if m == mode)
            if reasons:
                total = sum(n for _, n in reasons)
                detail = ", ".join(f"{r} {n}" for r, n in reasons)
                parts.append(f"{mode} {total} ({detail})")
        return "; ".join(parts) or "none"


def verdict_text(verdicts: Counter[str]) -> str:
    return ", ".join(f"{k} {verdicts[k]}" for k in ("win", "loss", "inconclusive"))


def operator_reason(index: int, t: Tally, flags: Flags) -> str:
    """Why the operator moves to stage `index` (with `flags`), from what the last one showed."""
    if index == 0:
        return (
            "first watch what the loop proposes from the host's learning events; "
            "nothing may run yet (runbook stage 1)"
        )
    if index == 1:
        return (
            f"shadow turned {t.events} learning events into {t.created} proposals and "
            f"auto-approved {t.approved}, and ran nothing; let the executor take "
            f"{flags.executor_canary_percent}% of the approved ones, in safe mode only "
            "(stage 2)"
        )
    if index == 2:
        return (
            f"the safe canary ran {t.runs} run(s) ({verdict_text(t.verdicts)}; "
            f"{t.failed} failed) and left {t.canary_waiting} approved outside the canary; take "
            "every approved proposal, still in safe mode (stage 3)"
        )
    if index == 3:
        risks = ",".join(sorted(flags.normal_mode_allowed_risk))
        return (
            f"{t.runs} safe run(s) gave {verdict_text(t.verdicts)}; allow normal mode "
            f"to {risks}-risk proposals of priority ≥ {flags.normal_mode_min_priority:g}, "
            f"at most {flags.normal_mode_max_per_hour} an hour, with a "
            f"{flags.normal_mode_cooldown_seconds} s cooldown after a loss (stage 4)"
        )
    return (
        f"the normal canary admitted {sum(t.normal_verdicts.values())} run(s) to normal "
        f"mode ({verdict_text(t.normal_verdicts)}) and the guardrail started "
        f"{t.cooldowns} cooldown(s); backups and monitoring are ready: let normal-mode "
        f"runs write their patch to {CONFIG_FILE} (stage 5)"
    )


def stage_summary(t: Tally) -> list[str]:
    """The two lines that close a stage: what came in and ran, and what it showed."""
    first = (
        f"  stage total: {t.events} learning events → {t.created} proposals, "
        f"{t.approved} auto-approved · {t.runs} runs: {t.mode_text()}"
        + (f" · {t.canary_waiting} waiting outside the canary" if t.canary_waiting else "")
        + (f" · {t.failed} failed" if t.failed else "")
    )
    line = f"  verdicts: {verdict_text(t.verdicts)} · {t.rechecks} recheck(s)"
    if t.exhausted:
        line += f", {t.exhausted} run(s) inconclusive after the last attempt"
    if t.cooldowns:
        line += f" · {t.cooldowns} cooldown(s)"
    if t.applied:
        line += f" · patches applied {t.applied}, rolled back on a loss {t.rolled_back}"
    if t.synthetic:
        line += f" · {t.synthetic} synthetic opportunities"
    return [first, line]


def run_line(row: RunReport, view: ProposalView, at: str) -> str:
    """One run of a cycle report in words: mode and its reason, verdict."""
    if row.kind == "recheck":
        text = f"  {at}  recheck {row.attempt} of {row.mode} run {row.run_id[:8]} “{view.title}”"
    else:
        what = "run" if row.kind == "execution" else f"{row.kind} run"
        text = (
            f"  {at}  {row.mode} {what} {row.run_id[:8]} “{view.title}” (priority "
            f"{view.priority:.2f}, {view.risk_level} risk; {row.mode_reason})"
        )
    if row.error:
        text += f" → failed: {row.error}"
    elif row.verdict:
        text += f" → {row.verdict} {row.confidence or 0.0:.2f}"
        if row.pending_recheck:
            text += ", pending a recheck"
        elif row.exhausted:
            text += f", still weak after {row.attempt} attempts"
    return text
