"""The demo's runner: the operator walking the simulated host through the rollout stages.

An operator starts the host in shadow and, stage by stage, restarts it with the flags of
the next one — safe canary, expanded safe, normal canary, real apply — saying why from
what the previous stage showed. Everything runs on a `FakeClock` and seeded generators,
and every id derives from them, so the same seed prints the same story. At the end the
operator rolls back the changes kept on no evidence, the status report is printed and the
HTML status page is written.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import attrs

from selflearn.charts import DaySnapshot, PageData, StageSpan, write_page
from selflearn.config import Flags
from selflearn.demo.host import CHANGES, CONFIG_FILE, SimulatedHost, learning_events
from selflearn.demo.story import (
    START,
    Tally,
    flag_changes,
    operator_reason,
    run_line,
    stage_summary,
    when,
)
from selflearn.exceptions import IllegalTransition, ValidationError
from selflearn.loop import LearningLoop
from selflearn.render import status_lines
from selflearn.reports import RunReport
from selflearn.status import StatusReport
from selflearn.store import StoreURL
from selflearn.testing.fakes import FakeClock

CYCLE: Final = timedelta(minutes=15)
DEFAULT_DAYS: Final = 7
DEFAULT_SEED: Final = 3
DAY: Final = timedelta(days=1)


@attrs.frozen
class StagePlan:
    """A rollout stage of the runbook: its flags and its share of the simulated days."""

    name: str
    title: str
    weight: int
    flags: Flags


def stage_plans() -> tuple[StagePlan, ...]:
    """The runbook's five stages, each with the flags an operator sets for it."""
    base = Flags(selflearn_v1_store="")  # the demo imports no v1 file
    normal = attrs.evolve(base, execution_mode_default="normal")
    return (
        StagePlan("shadow", "Shadow", 1, attrs.evolve(base, enable_experiment_executor=False)),
        StagePlan("safe-canary", "Safe canary", 1, attrs.evolve(base, executor_canary_percent=25)),
        StagePlan("expanded-safe", "Expanded safe", 1, base),
        StagePlan("normal-canary", "Controlled normal canary", 2, normal),
        StagePlan(
            "real-apply", "Real apply", 2, attrs.evolve(normal, enable_executor_real_apply=True)
        ),
    )


@attrs.frozen
class DemoResult:
    """What a demo run produced: the final status, the HTML status page's data and where the
    page was written."""

    status: StatusReport
    page: PageData
    html: Path | None


class Demo:
    """One demo run: the host, the clock, the loop of the current stage, the narrative."""

    def __init__(
        self, store: str, *, days: int, seed: int, workspace: Path, echo: Callable[[str], None]
    ) -> None:
        if days < 1:
            raise ValidationError(f"days={days!r}: expected at least 1")
        self.store, self.days, self.seed, self.echo = store, days, seed, echo
        self.clock = FakeClock(START)
        self.events_rng = random.Random(seed)
        self.plans = stage_plans()
        self.host = SimulatedHost.start(
            workspace, seed + 1, self.plans[0].flags.proposal_v2_create_threshold
        )
        self.loop: LearningLoop | None = None
        self.tally = Tally()
        self.snapshots: list[DaySnapshot] = []
        self.spans: list[StageSpan] = []
        #: Runs whose patches are in the settings file: run id → (proposal id, title).
        self.kept: dict[str, tuple[str, str]] = {}
        self.first_run_shown = False

    # -- the loop, restarted per stage ----------------------------------------------------

    def restart(self, index: int) -> LearningLoop:
        """Start the host with the stage's flags: a new loop on the same store."""
        plan = self.plans[index]
        previous = self.loop
        loop = LearningLoop(
            self.store,
            flags=plan.flags,
            executor=self.host,
            probe=self.host,
            proposer=self.host,
            workspace=self.host.root,
            clock=self.clock,
            seed=self.seed * 1000 + index,
        )
        session = loop._session
        if previous is not None:
            if session.url.kind == "memory":
                # A memory store lives in its process: the simulated restart keeps it.
                session.share_store(previous._session)
            else:
                previous.close()
        else:
            recorded = session.app.recorder.max_notification_id() or 0
            if recorded:
                loop.close()
                raise ValidationError(
                    f"the demo needs an empty store; {session.url.redacted} holds {recorded} events"
                )
        self.loop = loop
        return loop

    # -- the run ------------------------------------------------------------------------

    def run(self) -> DemoResult:
        cycles = int(self.days * DAY / CYCLE)
        total = sum(p.weight for p in self.plans)
        bounds, acc = [], 0
        for plan in self.plans:
            acc += plan.weight
            bounds.append(round(cycles * acc / total))
        self.echo(
            f"selflearn demo · seed {self.seed} · {self.days} simulated day(s), a cycle every "
            f"{int(CYCLE.total_seconds() // 60)} min · store {StoreURL.parse(self.store).redacted}"
        )
        self.echo(
            f"The host: an agent tuned by {CONFIG_FILE}; {len(CHANGES)} kinds of change to it, "
            f"of which {sum(c.truth == 'helps' for c in CHANGES)} help, "
            f"{sum(c.truth == 'hurts' for c in CHANGES)} hurt and "
            f"{sum(c.truth == 'no effect' for c in CHANGES)} do nothing measurable. "
            "The loop is not told which."
        )
        stage, start = -1, 0
        try:
            for n in range(cycles):
                self.clock.set(START + n * CYCLE)
                if stage < 0 or n >= bounds[stage]:
                    if stage >= 0:
                        self.end_stage(stage, start, n)
                    stage, start = stage + 1, n
                    self.begin_stage(stage)
                self.cycle()
                if ((n + 1) * CYCLE) % DAY == timedelta(0) or n + 1 == cycles:
                    self.clock.set(START + (n + 1) * CYCLE)
                    self.snapshot()
            self.end_stage(stage, start, cycles)
            self.review()
            assert self.loop is not None
            status = self.loop.status()
        finally:
            if self.loop is not None:
                self.loop.close()
        self.snapshots[-1] = attrs.evolve(self.snapshots[-1], status=status)
        self.echo("")
        for line in status_lines(status):
            self.echo(line)
        page = PageData(
            title=f"selflearn demo · seed {self.seed} · {self.days} simulated day(s)",
            status=status,
            days=tuple(self.snapshots),
            stages=tuple(self.spans),
        )
        return DemoResult(status=status, page=page, html=None)

    def begin_stage(self, index: int) -> None:
        plan = self.plans[index]
        previous = self.plans[index - 1].flags if index else None
        self.echo("")
        self.echo(
            f"━━ Stage {index + 1} of {len(self.plans)} · {plan.title} ({plan.name}) · "
            f"from {when(self.clock())}"
        )
        verb = "restarts the host with" if index else "starts the host with"
        self.echo(f"operator {verb} {' '.join(flag_changes(previous, plan.flags))}")
        self.echo(f"  why: {operator_reason(index, self.tally, plan.flags)}")
        self.restart(index)
        self.tally = Tally()
        self.first_run_shown = False

    def end_stage(self, index: int, start: int, end: int) -> None:
        self.spans.append(
            StageSpan(
                name=self.plans[index].name,
                title=self.plans[index].title,
                start=START + start * CYCLE,
                end=START + end * CYCLE,
            )
        )
        for line in stage_summary(self.tally):
            self.echo(line)

    # -- one cycle ----------------------------------------------------------------------

    def cycle(self) -> None:
        loop = self.loop
        assert loop is not None
        now = self.clock()
        for learned in learning_events(self.events_rng, when(now), CYCLE / timedelta(hours=1)):
            recorded = loop.record_event(
                learned.source,
                learned.event_type,
                learned.content,
                novelty=learned.novelty,
                value=learned.value,
                risk=learned.risk,
                confidence=learned.confidence,
            )
            self.tally.events += recorded is not None
        cycle = loop.tick()
        self.tally.add(cycle)
        for row in cycle.runs:
            self.narrate(row, now)

    def narrate(self, row: RunReport, now: datetime) -> None:
        loop = self.loop
        assert loop is not None
        files = self.patch_events(row, now)
        notable = (
            row.mode == "normal"
            or row.mode_reason == "cooldown_active"
            or row.error is not None
            or row.kind == "interrupted"
            or files
            or (row.kind == "execution" and not self.first_run_shown)
        )
        if row.kind == "recheck" and not (row.mode == "normal" and row.converged) and not files:
            notable = False
        if row.kind == "execution":
            self.first_run_shown = True
        if not notable:
            return
        view = loop.proposal(row.proposal_id)
        self.echo(run_line(row, view, when(now)))
        for line in files:
            self.echo(f"      {line}")

    def patch_events(self, row: RunReport, now: datetime) -> list[str]:
        """What real apply and the guardrail did to this run in this cycle, in words."""
        loop = self.loop
        assert loop is not None
        if row.mode != "normal" and not self.plans_real_apply():
            return []
        lines: list[str] = []
        for entry in loop.timeline(row.proposal_id):
            if entry.at != now or entry.detail.get("run_id") not in (None, row.run_id):
                continue
            d = entry.detail
            if entry.kind == "PatchesApplied":
                self.tally.applied += 1
                self.kept[row.run_id] = (row.proposal_id, loop.proposal(row.proposal_id).title)
                lines.append(f"patch applied to {CONFIG_FILE} (backup kept under .selflearn/)")
            elif entry.kind == "PatchesRolledBack":
                self.tally.rolled_back += 1
                self.kept.pop(row.run_id, None)
                lines.append(f"{CONFIG_FILE} restored from the backup: {d.get('reason')}")
            elif entry.kind == "RunConverged" and d.get("cooldown_until"):
                self.tally.cooldowns += 1
                until = datetime.fromisoformat(str(d["cooldown_until"]))
                lines.append(
                    f"guardrail: loss in normal mode → cooldown until {when(until)}; "
                    "every run decided before then is safe"
                )
        return lines

    def plans_real_apply(self) -> bool:
        assert self.loop is not None
        return self.loop._host.flags.enable_executor_real_apply

    # -- the end ------------------------------------------------------------------------

    def snapshot(self) -> None:
        assert self.loop is not None
        now = self.clock()
        self.snapshots.append(DaySnapshot(at=now, status=self.loop.status()))

    def review(self) -> None:
        """The operator's review: roll back the kept changes that showed no evidence.

        Newest first, since each rollback restores the file as it was before that apply;
        the review stops at the first change worth keeping.
        """
        loop = self.loop
        assert loop is not None
        self.echo("")
        self.echo(f"━━ Review · {when(self.clock())}")
        rolled = 0
        for run_id, (pid, title) in reversed(list(self.kept.items())):
            run = next(r for r in loop.proposal(pid).runs if r.id == run_id)
            if run.verdict != "inconclusive":
                self.echo(
                    f"operator keeps run {run_id[:8]} “{title}”: "
                    f"{run.verdict or 'still being verified'}"
                )
                break
            reason = "verdict inconclusive: no measurable effect, not worth keeping"
            try:
                loop.rollback(run_id, reason=reason)
            except IllegalTransition as exc:
                self.echo(f"operator cannot roll back run {run_id[:8]}: {exc}")
                break
            rolled += 1
            self.kept.pop(run_id)
            self.echo(
                f"operator: selflearn rollback {run_id[:8]} “{title}” — {reason}; "
                f"{CONFIG_FILE} restored, verified by hash"
            )
        if not rolled and not self.kept:
            self.echo("operator: no applied change to review")
        changed = self.host.changed_settings()
        summary = ", ".join(f"{k} {old} → {new}" for k, old, new in changed) or "none"
        self.echo(f"{CONFIG_FILE} now differs from the start in: {summary}")


def run_demo(
    *,
    store: str,
    days: int = DEFAULT_DAYS,
    seed: int = DEFAULT_SEED,
    echo: Callable[[str], None] = print,
    html: str | Path | None = None,
) -> DemoResult:
    """Run the simulated host for `days` simulated days on `store` (which must be empty),
    printing the narrative and the final status with `echo`; write the HTML status page to
    `html` when given."""
    with tempfile.TemporaryDirectory(prefix="selflearn-demo-") as workspace:
        result = Demo(store, days=days, seed=seed, workspace=Path(workspace), echo=echo).run()
    if html is None:
        return result
    path = write_page(Path(html), result.page)
    echo("")
    echo(f"HTML status page written to {html}")
    return attrs.evolve(result, html=path)


def stage_names() -> Sequence[str]:
    return [plan.name for plan in stage_plans()]


__all__ = [
    "CYCLE",
    "DEFAULT_DAYS",
    "DEFAULT_SEED",
    "Demo",
    "DemoResult",
    "StagePlan",
    "run_demo",
    "stage_names",
    "stage_plans",
]
