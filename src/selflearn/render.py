"""Human output of the CLI (rich): the status report, a timeline, the flags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from rich.console import Console
from rich.table import Table

from selflearn.reports import TimelineEntry
from selflearn.status import FunnelCounts, StatusReport, VerdictCounts

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


def console() -> Console:
    """A console on the current stdout (plain text when it is not a terminal)."""
    return Console(highlight=False, soft_wrap=True)


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.0%}"


def number(value: float | None, fmt: str = ".2f") -> str:
    return "—" if value is None else format(value, fmt)


def bar(n: int, biggest: int) -> str:
    """A bar of `n` out of `biggest`, at least one block when `n` > 0."""
    if n <= 0 or biggest <= 0:
        return ""
    return "█" * max(1, round(BAR_WIDTH * n / biggest))


def trend_lines(label: str, trend: VerdictCounts, biggest: int) -> list[str]:
    return [
        f"  {label:<10} {kind:<13} {bar(n, biggest):<{BAR_WIDTH}} {n}"
        for kind, n in (
            ("win", trend.win),
            ("loss", trend.loss),
            ("inconclusive", trend.inconclusive),
        )
    ]


def funnel_line(counts: FunnelCounts) -> str:
    c = counts.conversion
    return (
        f"created {counts.created} · pending_approval {counts.pending_approval} · "
        f"approved {counts.approved} · executed {counts.executed} · verified {counts.verified} · "
        f"rejected {counts.rejected}  (approval {percent(c.approval_rate)}, execution "
        f"{percent(c.execution_rate)}, verification {percent(c.verification_rate)}, "
        f"verified/created {percent(c.verified_from_created_rate)})"
    )


def status_lines(report: StatusReport) -> list[str]:
    """The report as lines of text, one section after the other, in the report's order."""
    r, f, o = report.rollout, report.proposal_funnel, report.outcome_quality
    p, g, w, s = (
        report.policy_state,
        report.execution_guardrail,
        report.opportunity_windows,
        report.store,
    )
    when = "as of" if report.as_of else "at"
    lines = [f"selflearn status {when} {report.at.isoformat()}", "", SECTION_TITLES["rollout"]]
    recorded = r.flags_recorded_at.isoformat() if r.flags_recorded_at else "no cycle yet"
    lines.append(f"  stage {r.stage or '—'} (flags recorded by a cycle: {recorded})")
    for name, override in sorted(r.overrides.items()):
        lines.append(f"  override: {name} off since {override.at.isoformat()} — {override.reason}")
    if r.warning:
        lines.append(f"  WARNING: {r.warning}")

    lines += ["", SECTION_TITLES["proposal_funnel"], f"  all   {funnel_line(f)}"]
    lines.append(f"  24 h  {funnel_line(f.window_24h)}")
    lines.append(f"  7 d   {funnel_line(f.window_7d)}")

    v = o.verdict_counts
    lines += ["", SECTION_TITLES["outcome_quality"]]
    lines.append(
        f"  verdicts: win {v.win} · loss {v.loss} · inconclusive {v.inconclusive} "
        f"(verified_total {o.verified_total}; win {percent(o.win_rate)}, "
        f"loss {percent(o.loss_rate)}, inconclusive {percent(o.inconclusive_rate)})"
    )
    lines.append(
        f"  pending_recheck_runs {o.pending_recheck_runs} (24 h ago "
        f"{o.pending_recheck_runs_24h_ago}) · retry_exhausted_runs {o.retry_exhausted_runs}"
    )
    lines.append(
        f"  avg_confidence {number(o.avg_confidence)} · executed runs {o.executed_runs} · "
        f"avg cost ${number(o.avg_cost_usd, '.4f')} · avg duration "
        f"{number(o.avg_duration_ms, '.0f')} ms"
    )
    if o.avg_delta:
        deltas = ", ".join(f"{m} {d:+.3f}" for m, d in o.avg_delta.items())
        lines.append(f"  avg Δ: {deltas}")
    biggest = max(*_counts(o.trend_24h), *_counts(o.trend_7d), 1)
    lines += trend_lines("trend_24h", o.trend_24h, biggest)
    lines += trend_lines("trend_7d", o.trend_7d, biggest)
    if o.pending_recheck_growth_24h > 0:
        lines.append(
            f"  WARNING: pending_recheck_runs grew from {o.pending_recheck_runs_24h_ago} to "
            f"{o.pending_recheck_runs} over the last 24 h"
        )

    lines += ["", SECTION_TITLES["policy_state"]]
    state = {True: "on", False: "off: the policy is frozen", None: "— (no cycle yet)"}[p.enabled]
    lines.append(f"  bandit {state} · credited runs {p.credited_runs}")
    for family, fam in p.families.items():
        arms = "  ".join(
            f"{label}{'*' if label == fam.selected else ''} a={a.a:g} b={a.b:g} "
            f"mean={a.mean:.2f} pulls={a.pulls}"
            for label, a in fam.arms.items()
        )
        lines.append(f"  {family}: {arms}")

    lines += ["", SECTION_TITLES["execution_guardrail"]]
    lines.append(
        f"  canary {_onoff(g.canary_enabled)} · real apply {_onoff(g.real_apply_enabled)} · "
        f"normal runs last hour {g.normal_mode_runs_last_hour}/{_dash(g.normal_mode_max_per_hour)}"
        f" · min priority {_dash(g.normal_mode_min_priority)} · allowed risk "
        f"{','.join(g.normal_mode_allowed_risk or []) or '—'}"
    )
    cooldown = (
        f"until {g.normal_mode_cooldown_until.isoformat()} "
        f"({g.normal_mode_cooldown_remaining_sec:.0f} s left)"
        if g.normal_mode_cooldown_remaining_sec > 0 and g.normal_mode_cooldown_until
        else "none"
    )
    lines.append(
        f"  cooldown {cooldown} · normal successes {g.normal_mode_successes} · losses "
        f"{g.normal_mode_losses} · last reason {g.normal_mode_last_reason or '—'}"
    )
    lines.append(
        f"  patches: applied in {g.patches_applied_runs} runs ({g.patches_applied_files} files),"
        f" held now {g.patches_applied_now} · rolled back {g.patches_rolled_back_runs}"
        f" ({g.patches_rolled_back_by_operator} by an operator) · restored after a failure "
        f"{g.patches_restored_after_failure} · checked {g.patches_checked_runs}"
        f" ({g.patches_check_conflicts} conflicts) · refused {g.real_apply_refused}"
    )
    if g.rollbacks_blocked:
        lines.append(
            f"  ! rollback blocked for run(s) {', '.join(g.rollbacks_blocked)}: a file changed"
            " since the apply; see `selflearn timeline` and `selflearn rollback`"
        )

    lines += ["", SECTION_TITLES["opportunity_windows"]]
    lines.append(
        f"  learning window {_openclosed(w.learning_window_open)} · improvement window "
        f"{_openclosed(w.improvement_window_open)} (as of the last cycle, "
        f"{w.last_cycle_at.isoformat() if w.last_cycle_at else 'none yet'})"
    )
    lines.append(
        f"  learning_opportunities {w.learning_opportunities} · improvement_opportunities "
        f"{w.improvement_opportunities} · no_opportunity_iterations "
        f"{w.no_opportunity_iterations} · synthetic windows {w.synthetic_windows_opened}"
    )
    lines.append(
        f"  no_learning_streak {w.no_learning_streak} · no_improvement_streak "
        f"{w.no_improvement_streak} · windowed self-check {_onoff(w.windowed_self_check_enabled)}"
        f" · synthetic opportunities {_onoff(w.synthetic_opportunities_enabled)}"
    )

    lines += ["", SECTION_TITLES["store"]]
    lines.append(f"  {s.url} · {s.events_recorded} events · last position {s.last_position}")
    for name, view in s.views.items():
        lines.append(f"  view {name:<20} position {view.position:>9} · lag {view.lag}")
    lines += [f"  WARNING: {warning}" for warning in s.warnings]
    return lines


def _counts(trend: VerdictCounts) -> tuple[int, int, int]:
    return trend.win, trend.loss, trend.inconclusive


def _onoff(value: bool | None) -> str:
    return "—" if value is None else ("on" if value else "off")


def _openclosed(value: bool) -> str:
    return "open" if value else "closed"


def _dash(value: object) -> str:
    return "—" if value is None else str(value)


def print_status(report: StatusReport) -> None:
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


def print_timeline(entries: Sequence[TimelineEntry]) -> None:
    """Each entry's time, event and reason in words (`--json` has every field)."""
    table = Table(box=None, pad_edge=False)
    for column in ("at", "event", "what happened, and why"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        kind = entry.kind if entry.aggregate == "proposal" else f"{entry.aggregate}: {entry.kind}"
        text = entry.summary or " ".join(
            f"{k}={text}"
            for k, v in entry.detail.items()
            if (text := _scalar(v)) is not None and v not in ("", None)
        )
        table.add_row(entry.at.isoformat(), kind, text)
    console().print(table)


def print_flags(
    stage: str, rows: Mapping[str, tuple[Any, str]], overrides: Mapping[str, Mapping[str, Any]]
) -> None:
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
