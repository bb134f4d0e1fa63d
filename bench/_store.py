"""Build a big, realistic SQLite store fast: the domain's own events, saved in batches.

A simulated agent cycles every 10 minutes: it records learning events, draws the bandit's
arms, and takes proposals through approval, a run (safe or normal, decided by the real
rules), one to three verification attempts, convergence, credit and cooldowns. Aggregates
are changed with their command methods and saved 20 cycles at a time (one transaction),
instead of one `tick()` per cycle, so a million events take a minute or two, not hours.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from uuid import uuid4

import structlog

from bench._common import arguments
from selflearn.config import Flags
from selflearn.events.controls import CONTROLS_ID, Controls
from selflearn.events.guardrail import GUARDRAIL_ID, Guardrail
from selflearn.events.learning import LearningSignal
from selflearn.events.policy import DEFAULT_FAMILIES, POLICY_ID, Policy
from selflearn.events.proposal import Proposal
from selflearn.events.rules import (
    Streaks,
    approve_threshold,
    cooldown_end,
    decide_mode,
    thompson_draws,
)
from selflearn.events.selfcheck import SELF_CHECK_ID, SelfCheck
from selflearn.store import open_store

# A benchmark is a program: it may configure logging (warnings only, on stderr).
structlog.configure(
    wrapper_class=structlog.make_filtering_bound_logger(30),
    logger_factory=structlog.PrintLoggerFactory(sys.stderr),
)

CYCLE: Final = timedelta(minutes=10)
EVENTS_PER_CYCLE: Final = 9.0  # a little under the measured mean (9.7): the history ends before now
CYCLES_PER_SAVE: Final = 20
FLAGS: Final = Flags(execution_mode_default="normal", normal_mode_max_per_hour=2)


def build_store(path: Path, events: int, *, seed: int = 1, end: datetime | None = None) -> datetime:
    """Write at least `events` events to a new SQLite store at `path`; return the last time."""
    app, _ = open_store(f"sqlite:///{path}")
    rng = random.Random(seed)
    end = end or datetime.now(UTC)
    at = end - CYCLE * int(events / EVENTS_PER_CYCLE)
    controls = Controls(id=CONTROLS_ID, at=at)
    controls.record_flags(at=at, flags=FLAGS.recorded(), stage=FLAGS.stage)
    policy = Policy(id=POLICY_ID, at=at, families={f: list(a) for f, a in DEFAULT_FAMILIES.items()})
    check = SelfCheck(id=SELF_CHECK_ID, at=at)
    guard = Guardrail(id=GUARDRAIL_ID, at=at)
    pending: list[tuple[Proposal, str, int]] = []
    batch: list[Any] = []
    written = cycles = 0
    with app:
        while written < events:
            at += CYCLE
            cycles += 1
            draws, selection = thompson_draws(policy.arms, rng.getrandbits(63))
            policy.select(at=at, seed=0, draws=draws, selection=selection)
            for _ in range(rng.choice((0, 1, 1, 2))):
                signal = LearningSignal(id=uuid4(), at=at, signature=f"sig-{uuid4().hex}")
                signal.observe(
                    at=at,
                    event_id=str(uuid4()),
                    source="tool_monitor",
                    event_type="timeout",
                    content="web_search timed out",
                    novelty=rng.random(),
                    value=rng.random(),
                    risk=rng.random(),
                    confidence=rng.random(),
                    stream="production",
                )
                batch.append(signal)
            still: list[tuple[Proposal, str, int]] = []
            for proposal, run_id, attempts in pending:  # rechecks
                if _attempt(
                    rng, proposal, run_id, number=attempts + 1, at=at, policy=policy, guard=guard
                ):
                    continue
                still.append((proposal, run_id, attempts + 1))
                batch.append(proposal)
            pending = still
            if rng.random() < 0.7:
                proposal, run_id = _new_run(rng, at, selection, guard)
                batch.append(proposal)
                if not _attempt(rng, proposal, run_id, number=1, at=at, policy=policy, guard=guard):
                    pending.append((proposal, run_id, 1))
            check.check_cycle(
                at=at,
                cursor=0,
                windowed=True,
                learning_window_open=True,
                learning_progress=False,
                improvement_window_open=True,
                improvement_progress=True,
                after=Streaks(learning_opportunities=cycles, improvement_opportunities=cycles),
                host_errors=[],
            )
            if cycles % CYCLES_PER_SAVE == 0:
                written += _save(app, batch, policy, check, guard, controls)
                batch = []
        written += _save(app, [p for p, _, _ in pending], policy, check, guard, controls)
    return at


def _save(app: Any, batch: list[Any], *singletons: Any) -> int:
    aggregates = {id(a): a for a in (*batch, *singletons)}.values()
    n = sum(len(a.pending_events) for a in aggregates)
    app.save(*aggregates)
    return n


def _new_run(
    rng: random.Random, at: datetime, selection: dict[str, str], guard: Guardrail
) -> tuple[Proposal, str]:
    priority = rng.uniform(0.8, 0.99)
    risk = rng.choice(("low", "low", "medium"))
    proposal = Proposal(
        id=uuid4(),
        at=at,
        title="Cache search results",
        hypothesis="faster answers",
        plan_steps=["collect baseline", "apply", "verify"],
        expected_impact="-150 ms",
        risk_level=risk,
        confidence=0.8,
        priority=priority,
        signature=f"s-{uuid4().hex}",
        metadata={"source": "bench"},
        patches=[],
        origin_event_ids=[str(uuid4())],
        status="pending_approval",
    )
    threshold = approve_threshold(selection, FLAGS.proposal_v2_auto_approve_threshold)
    proposal.approve(
        at=at, actor="loop", reason=f"auto-approved >= {threshold}", policy_arms=selection
    )
    decision = decide_mode(
        flags=FLAGS,
        cooldown_until=guard.cooldown_until,
        admissions=guard.admissions,
        risk_level=risk,
        priority=priority,
        now=at,
    )
    run_id = str(uuid4())
    proposal.start_run(
        at=at,
        run_id=run_id,
        mode=decision.mode,
        mode_reason=decision.reason,
        decision=dict(decision.detail),
        lease_until=at + timedelta(seconds=900),
    )
    if decision.mode == "normal":
        guard.admit(at=at, proposal_id=str(proposal.id), run_id=run_id)
    proposal.record_execution(
        at=at,
        run_id=run_id,
        baseline={"health_score": 80.0, "avg_duration_ms": 900.0},
        status="completed",
        cost_usd=0.002,
        duration_ms=rng.uniform(200, 900),
        artifacts={},
        error=None,
    )
    return proposal, run_id


def _attempt(
    rng: random.Random,
    proposal: Proposal,
    run_id: str,
    *,
    number: int,
    at: datetime,
    policy: Policy,
    guard: Guardrail,
) -> bool:
    """Record attempt `number`; converge when it is final. True when the run converged."""
    roll = rng.random()
    verdict, confidence, pending = (
        ("win", 0.8, False)
        if roll < 0.4
        else ("loss", 0.85, False)
        if roll < 0.55
        else ("inconclusive", 0.5, True)
    )
    exhausted = pending and number >= FLAGS.verification_retry_max_attempts
    delta = {"health_score": rng.gauss(0.5, 1.5), "avg_duration_ms": rng.gauss(-80, 60)}
    proposal.record_attempt(
        at=at,
        run_id=run_id,
        attempt=number,
        before={"health_score": 80.0},
        after={"health_score": 80.0 + delta["health_score"]},
        delta=delta,
        signals={"weak": pending},
        verdict=verdict,
        confidence=confidence,
        pending_recheck=pending and not exhausted,
        reasons=[],
        error=None,
    )
    if pending and not exhausted:
        return False
    credited = policy.credit(
        at=at,
        proposal_id=str(proposal.id),
        run_id=run_id,
        verdict=verdict,
        arms=proposal.policy_arms,
    )
    until = None
    if verdict == "loss" and proposal.runs[run_id].mode == "normal":
        until = cooldown_end(guard.cooldown_until, at, FLAGS.normal_mode_cooldown_seconds)
        guard.start_cooldown(at=at, proposal_id=str(proposal.id), run_id=run_id, until=until)
    proposal.converge(
        at=at,
        run_id=run_id,
        verdict=verdict,
        confidence=confidence,
        exhausted=exhausted,
        reason="max_retries_exhausted" if exhausted else f"converged: {verdict}",
        credited_arms=credited,
        cooldown_until=until,
    )
    return True


def store_options(doc: str, name: str, argv: list[str] | None) -> tuple[Any, int]:
    """The options of a benchmark on a big SQLite store, and the store's size in events."""
    parser = arguments(doc)
    parser.add_argument("--events", type=int, default=None, help="the store's size")
    args = parser.parse_args(argv)
    if args.postgres:
        print(f"{name} is measured on SQLite only (bench/README.md)", file=sys.stderr)
    return args, args.events or (5_000 if args.quick else 1_000_000)


def timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value
