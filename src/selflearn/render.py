"""Human text of the status report, a proposal's timeline and the flags.

`status_lines` is plain text, one function a section (the demo prints it, the HTML status
page shows it). The `print_*` functions write to stdout through rich, which they import
when they run: a command that prints JSON never loads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from selflearn.reports import TimelineEntry
from selflearn.status import (
    ExecutionGuardrail,
    FunnelCounts,
    OpportunityWindows,
    OutcomeQuality,
    PolicyState,
    ProposalFunnel,
    Rollout,
    StatusReport,
    StoreStatus,
    VerdictCounts,
)

if TYPE_CHECKING:
    from rich.console import Console

BAR_WIDTH: Final = 24
SECTION_TITLES: Final = {
    "rollout": "Rollout",
    "proposal_funnel": "Proposal Funnel",
    "outcome_quality": "Outcome Quality",
    "policy_state": "Policy State",
    "execution_guardrail": "Execution Guardrail",
    "opportunity_windows": "Opportunity Windows",
    "store": "Store",
}


# -- small pieces ---------------------------------------------------------------------------


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.0%}"


def number(value: float | None, fmt: str = ".2f") -> str:
    return "—" if value is None else format(value, fmt)


def bar(n: int, biggest: int) -> str:
    """A bar of `n` out of `biggest`, at least one block when `n` > 0."""
    if n <= 0 or biggest <= 0:
        return ""
    return "█" * max(1, round(BAR_WIDTH * n / biggest))


def _onoff(value: bool | None) -> str:
    return "—" if value is None else ("on" if value else "off")


def _openclosed(value: bool) -> str:
    return "open" if value else "closed"


def _dash(value: object) -> str:
    return "—" if value is None else str(value)


def _counts(trend: VerdictCounts) -> tuple[int, int, int]:
    return trend.win, trend.loss, trend.inconclusive


# -- the status report, a section at a time -------------------------------------------------


def status_lines(report: StatusReport) -> list[str]:
    """The report as lines of text: a heading, then each section under its title."""
    when = "as of" if report.as_of else "at"
    sections = {
        "rollout": rollout_lines(report.rollout),
        "proposal_funnel": funnel_lines(report.proposal_funnel),
        "outcome_quality": outcome_lines(report.outcome_quality),
        "policy_state": policy_lines(report.policy_state),
        "execution_guardrail": guardrail_lines(report.execution_guardrail),
        "opportunity_windows": windows_lines(report.opportunity_windows),
        "store": store_lines(report.store),
    }
    lines = [f"selflearn status {when} {report.at.isoformat()}"]
    for name, section in sections.items():
        lines += ["", SECTION_TITLES[name], *section]
    return lines


def rollout_lines(r: Rollout) -> list[str]:
    """The stage, when a cycle last recorded the flags, the operator's overrides."""
    recorded = r.flags_recorded_at.isoformat() if r.flags_recorded_at else "no cycle yet"
    lines = [f"  stage {r.stage or '—'} (flags recorded by a cycle: {recorded})"]
    lines += [
        f"  override: {name} off since {override.at.isoformat()} — {override.reason}"
        for name, override in sorted(r.overrides.items())
    ]
    if r.warning:
        lines.append(f"  WARNING: {r.warning}")
    return lines


def funnel_line(counts: FunnelCounts) -> str:
    c = counts.conversion
    return (
        f"created {counts.created} · pending_approval {counts.pending_approval} · "
        f"approved {counts.approved} · executed {counts.executed} · verified {counts.verified} · "
        f"rejected {counts.rejected}  (approval {percent(c.approval_rate)}, execution "
        f"{percent(c.execution_rate)}, verification {percent(c.verification_rate)}, "
        f"verified/created {percent(c.verified_from_created_rate)})"
    )


def funnel_lines(f: ProposalFunnel) -> list[str]:
    """The funnel over all time, the last 24 hours and the last 7 days."""
    return [
        f"  all   {funnel_line(f)}",
        f"  24 h  {funnel_line(f.window_24h)}",
        f"  7 d   {funnel_line(f.window_7d)}",
    ]


def trend_lines(label: str, trend: VerdictCounts, biggest: int) -> list[str]:
    return [
        f"  {label:<10} {kind:<13} {bar(n, biggest):<{BAR_WIDTH}} {n}"
        for kind, n in (
            ("win", trend.win),
            ("loss", trend.loss),
            ("inconclusive", trend.inconclusive),
        )
    ]


def outcome_lines(o: OutcomeQuality) -> list[str]:
    """Verdicts and their rates, rechecks, costs, average deltas, the trend bars."""
    v = o.verdict_counts
    lines = [
        f"  verdicts: win {v.win} · loss {v.loss} · inconclusive {v.inconclusive} "
        f"(verified_total {o.verified_total}; win {percent(o.win_rate)}, "
        f"loss {percent(o.loss_rate)}, inconclusive {percent(o.inconclusive_rate)})",
        f"  pending_recheck_runs {o.pending_recheck_runs} (24 h ago "
        f"{o.pending_recheck_runs_24h_ago}) · retry_exhausted_runs {o.retry_exhausted_runs}",
        f"  avg_confidence {number(o.avg_confidence)} · executed runs {o.executed_runs} · "
        f"avg cost ${number(o.avg_cost_usd, '.4f')} · avg duration "
        f"{number(o.avg_duration_ms, '.0f')} ms",
    ]
    if o.avg_delta:
        lines.append(f"  avg Δ: {', '.join(f'{m} {d:+.3f}' for m, d in o.avg_delta.items())}")
    biggest = max(*_counts(o.trend_24h), *_counts(o.trend_7d), 1)
    lines += trend_lines("trend_24h", o.trend_24h, biggest)
    lines += trend_lines("trend_7d", o.trend_7d, biggest)
    if o.pending_recheck_growth_24h > 0:
        lines.append(
            f"  WARNING: pending_recheck_runs grew from {o.pending_recheck_runs_24h_ago} to "
            f"{o.pending_recheck_runs} over the last 24 h"
        )
    return lines


def policy_lines(p: PolicyState) -> list[str]:
    """Whether the bandit learns, and each family's arms (the selected one starred)."""
    state = {True: "on", False: "off: the policy is frozen", None: "— (no cycle yet)"}[p.enabled]
    lines = [f"  bandit {state} · credited runs {p.credited_runs}"]
    for family, fam in p.families.items():
        arms = "  ".join(
            f"{label}{'*' if label == fam.selected else ''} a={a.a:g} b={a.b:g} "
            f"mean={a.mean:.2f} pulls={a.pulls}"
            for label, a in fam.arms.items()
        )
        lines.append(f"  {family}: {arms}")
    return lines


def guardrail_lines(g: ExecutionGuardrail) -> list[str]:
    """Normal-mode admission, its cooldown and record, what real apply did to files."""
    lines = [_admission_line(g), _cooldown_line(g), _patches_line(g)]
    if g.rollbacks_blocked:
        lines.append(
            f"  ! rollback blocked for run(s) {', '.join(g.rollbacks_blocked)}: a file changed"
            " since the apply; see `selflearn timeline` and `selflearn rollback`"
        )
    return lines


def _admission_line(g: ExecutionGuardrail) -> str:
    return (
        f"  canary {_onoff(g.canary_enabled)} · real apply {_onoff(g.real_apply_enabled)} · "
        f"normal runs last hour {g.normal_mode_runs_last_hour}/{_dash(g.normal_mode_max_per_hour)}"
        f" · min priority {_dash(g.normal_mode_min_priority)} · allowed risk "
        f"{','.join(g.normal_mode_allowed_risk or []) or '—'}"
    )


def _cooldown_line(g: ExecutionGuardrail) -> str:
    cooldown = (
        f"until {g.normal_mode_cooldown_until.isoformat()} "
        f"({g.normal_mode_cooldown_remaining_sec:.0f} s left)"
        if g.normal_mode_cooldown_remaining_sec > 0 and g.normal_mode_cooldown_until
        else "none"
    )
    return (
        f"  cooldown {cooldown} · normal successes {g.normal_mode_successes} · losses "
        f"{g.normal_mode_losses} · last reason {g.normal_mode_last_reason or '—'}"
    )


def _patches_line(g: ExecutionGuardrail) -> str:
    return (
        f"  patches: applied in {g.patches_applied_runs} runs ({g.patches_applied_files} files),"
        f" held now {g.patches_applied_now} · rolled back {g.patches_rolled_back_runs}"
        f" ({g.patches_rolled_back_by_operator} by an operator) · restored after a failure "
        f"{g.patches_restored_after_failure} · checked {g.patches_checked_runs}"
        f" ({g.patches_check_conflicts} conflicts) · refused {g.real_apply_refused}"
    )


def windows_lines(w: OpportunityWindows) -> list[str]:
    """The learning and improvement windows as of the last cycle, their counters, streaks."""
    last_cycle = w.last_cycle_at.isoformat() if w.last_cycle_at else "none yet"
    return [
        f"  learning window {_openclosed(w.learning_window_open)} · improvement window "
        f"{_openclosed(w.improvement_window_open)} (as of the last cycle, {last_cycle})",
        f"  learning_opportunities {w.learning_opportunities} · improvement_opportunities "
        f"{w.improvement_opportunities} · no_opportunity_iterations "
        f"{w.no_opportunity_iterations} · synthetic windows {w.synthetic_windows_opened}",
        f"  no_learning_streak {w.no_learning_streak} · no_improvement_streak "
        f"{w.no_improvement_streak} · windowed self-check {_onoff(w.windowed_self_check_enabled)}"
        f" · synthetic opportunities {_onoff(w.synthetic_opportunities_enabled)}",
    ]


def store_lines(s: StoreStatus) -> list[str]:
    """The store, how far each view has folded the log, the store's warnings."""
    lines = [f"  {s.url} · {s.events_recorded} events · last position {s.last_position}"]
    lines += [
        f"  view {name:<20} position {view.position:>9} · lag {view.lag}"
        for name, view in s.views.items()
    ]
    lines += [f"  WARNING: {warning}" for warning in s.warnings]
    return lines


# -- printing -------------------------------------------------------------------------------


def console() -> Console:
    """A console on the current stdout (plain text when it is not a terminal)."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def print_status(report: StatusReport) -> None:
    """The report's lines, section titles in bold and warnings in yellow on a terminal."""
    out = console()
    for line in status_lines(report):
        style = "bold" if line in SECTION_TITLES.values() else None
        style = "bold yellow" if "WARNING:" in line else style
        out.print(line, style=style, markup=False)


def _scalar(value: Any) -> str | None:
    if isinstance(value, (str, int, float, bool)) or value is None:
        text = str(value)
        return text if len(text) <= 80 else text[:77] + "…"
    return None


def timeline_rows(entries: Sequence[TimelineEntry]) -> list[tuple[str, str, str]]:
    """Each entry's time, event and what happened in words (`--json` has every field)."""
    rows = []
    for entry in entries:
        kind = entry.kind if entry.aggregate == "proposal" else f"{entry.aggregate}: {entry.kind}"
        text = entry.summary or " ".join(
            f"{k}={text}"
            for k, v in entry.detail.items()
            if (text := _scalar(v)) is not None and v not in ("", None)
        )
        rows.append((entry.at.isoformat(), kind, text))
    return rows


def print_timeline(entries: Sequence[TimelineEntry]) -> None:
    """The timeline as a table: time, event, what happened and why."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("at", "event", "what happened, and why"):
        table.add_column(column, overflow="fold")
    for row in timeline_rows(entries):
        table.add_row(*row)
    console().print(table)


def print_flags(
    stage: str, rows: Mapping[str, tuple[Any, str]], overrides: Mapping[str, Mapping[str, Any]]
) -> None:
    """The rollout stage, each flag's variable, value and source, the overrides."""
    from rich.table import Table

    out = console()
    out.print(f"rollout stage: {stage}", style="bold", markup=False)
    table = Table(box=None, pad_edge=False)
    for column in ("variable", "value", "source"):
        table.add_column(column)
    for name, (value, source) in rows.items():
        shown = ",".join(sorted(value)) if isinstance(value, (list, frozenset)) else str(value)
        table.add_row(name.upper(), shown, source)
    out.print(table)
    for capability, override in overrides.items():
        out.print(f"override: {capability} off — {override['reason']}", markup=False)
