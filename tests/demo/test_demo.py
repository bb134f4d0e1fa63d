"""The demo walks every rollout stage and tells the same story for the same seed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import selflearn as sl
from selflearn.cli import main
from selflearn.demo import DEFAULT_DAYS, DEFAULT_SEED, run_demo, stage_names
from selflearn.demo.host import BY_KIND
from selflearn.events.controls import Controls
from selflearn.events.guardrail import Guardrail
from selflearn.events.proposal import Proposal
from selflearn.render import status_lines
from selflearn.store import open_store
from tests.conftest import DemoRun


def stored_events(store: str) -> list[Any]:
    """Every domain event the demo recorded, in order."""
    app, _ = open_store(store, create=False)
    try:
        return [
            app.mapper.to_domain_event(n)
            for n in app.recorder.select_notifications(start=None, limit=1_000_000)
        ]
    finally:
        app.close()


def test_the_default_run_walks_every_stage_of_the_runbook(default_demo: DemoRun) -> None:
    """Each stage is announced in the runbook's order with the flags the operator switched,
    and cycles recorded the flags of each stage in that order."""
    headers = [line for line in default_demo.lines if line.startswith("━━ Stage")]
    assert list(stage_names()) == [re.findall(r"\((\S+)\) · from", h)[0] for h in headers]
    switched = [default_demo.lines[default_demo.lines.index(h) + 1] for h in headers]
    assert [
        "operator starts the host with ENABLE_EXPERIMENT_EXECUTOR=false",
        "operator restarts the host with ENABLE_EXPERIMENT_EXECUTOR=true "
        "EXECUTOR_CANARY_PERCENT=25",
        "operator restarts the host with EXECUTOR_CANARY_PERCENT=100",
        "operator restarts the host with EXECUTION_MODE_DEFAULT=normal",
        "operator restarts the host with ENABLE_EXECUTOR_REAL_APPLY=true",
    ] == switched
    recorded = [
        e.stage for e in stored_events(default_demo.store) if isinstance(e, Controls.FlagsRecorded)
    ]
    assert list(stage_names()) == recorded
    assert "real-apply" == default_demo.result.status.rollout.stage


def test_a_normal_mode_loss_starts_a_cooldown_that_keeps_runs_safe(default_demo: DemoRun) -> None:
    """A loss in normal mode is followed by the guardrail's cooldown, and a run decided
    during it is safe for that reason — in the narrative and in the store."""
    lines = default_demo.lines
    losses = [i for i, line in enumerate(lines) if re.search(r" normal run \w{8} .* → loss ", line)]
    assert losses
    for i in losses:
        following = lines[i + 1 : i + 4]
        assert any("guardrail: loss in normal mode → cooldown until" in f for f in following)
    assert any("; cooldown_active) →" in line for line in lines)
    events = stored_events(default_demo.store)
    cooldowns = [e for e in events if isinstance(e, Guardrail.CooldownStarted)]
    safe_in_cooldown = [
        e
        for e in events
        if isinstance(e, Proposal.RunStarted)
        and e.mode_reason == "cooldown_active"
        and any(c.at <= e.at < c.until for c in cooldowns)
    ]
    assert safe_in_cooldown
    assert all("safe" == e.mode for e in safe_in_cooldown)
    guardrail = default_demo.result.status.execution_guardrail
    assert len(cooldowns) == guardrail.cooldowns_started
    assert guardrail.normal_mode_losses >= 1


def test_real_apply_rolls_back_a_loss_and_the_operator_a_change_kept_on_no_evidence(
    default_demo: DemoRun,
) -> None:
    """With real apply a final loss restores the settings file; the operator's review rolls
    back the kept changes whose verdict was inconclusive; what stays matches the status."""
    lines = default_demo.lines
    assert any(
        "agent.toml restored from the backup: final verdict loss at attempt" in line
        for line in lines
    )
    assert any(line.startswith("operator: selflearn rollback ") for line in lines)
    guardrail = default_demo.result.status.execution_guardrail
    assert guardrail.patches_rolled_back_by_operator >= 1
    assert guardrail.patches_rolled_back_runs > guardrail.patches_rolled_back_by_operator
    assert guardrail.patches_applied_runs == (
        guardrail.patches_applied_now + guardrail.patches_rolled_back_runs
    )
    [final] = [line for line in lines if line.startswith("agent.toml now differs")]
    assert guardrail.patches_applied_now == final.count(" → ")


def test_the_run_ends_in_a_status_with_wins_losses_and_a_learned_policy(
    default_demo: DemoRun,
) -> None:
    """The narrative ends with the status report; it has wins, losses, and arms whose
    posteriors moved away from their prior, differently from each other."""
    status = default_demo.result.status
    tail = [*status_lines(status), "", f"HTML status page written to {default_demo.html}"]
    assert tail == default_demo.lines[-len(tail) :]
    verdicts = status.outcome_quality.verdict_counts
    assert verdicts.win >= 1
    assert verdicts.loss >= 1
    assert status.policy_state.enabled is True
    assert status.policy_state.credited_runs >= 1
    arms = status.policy_state.families["approve_threshold"].arms
    assert any(a.a > 1 for a in arms.values())
    assert any(a.b > 1 for a in arms.values())
    assert len({a.mean for a in arms.values()}) > 1
    assert sum(a.a + a.b - 2 for a in arms.values()) == status.policy_state.credited_runs


def test_the_hidden_effects_show_through_the_verdicts(default_demo: DemoRun) -> None:
    """Changes that help mostly win, changes that hurt mostly lose, and changes with no
    effect are mostly inconclusive: the verifier sees the truth the loop was not told."""
    with sl.LearningLoop(default_demo.store, _open_existing=True) as loop:
        by_truth: dict[str, Counter[str]] = defaultdict(Counter)
        for view in loop.proposals():
            if view.verdict is not None:
                by_truth[BY_KIND[view.metadata["event_type"]].truth][view.verdict] += 1
    assert "win" == by_truth["helps"].most_common(1)[0][0]
    assert "loss" == by_truth["hurts"].most_common(1)[0][0]
    assert "inconclusive" == by_truth["no effect"].most_common(1)[0][0]


def test_the_same_seed_prints_the_same_story_in_any_process(tmp_path: Path) -> None:
    """Two processes with different hash seeds print the same narrative and write the same
    HTML for the same demo seed; another seed tells another story."""

    def demo(seed: str, hash_seed: str) -> tuple[str, str]:
        html = tmp_path / "status.html"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "selflearn",
                "demo",
                "--days",
                "2",
                "--seed",
                seed,
                "--store",
                "memory://",
                "--html",
                str(html),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            check=False,
        )
        assert 0 == done.returncode, done.stderr
        return done.stdout, html.read_text(encoding="utf-8")

    first = demo("3", "1")
    assert first == demo("3", "2")
    assert first[0] != demo("4", "1")[0]


def test_the_demo_command_replaces_its_store_and_writes_the_html_beside_it(
    tmp_path: Path,
) -> None:
    """`selflearn demo --store sqlite:///…/x.db` replaces x.db on each run and, without
    `--html`, writes x.html beside it."""
    store = f"sqlite:///{tmp_path / 'x.db'}"
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(main, ["demo", "--days", "1", "--store", store])
        assert 0 == result.exit_code, result.output
    html = tmp_path / "x.html"
    assert f"HTML status page written to {html}" == result.output.rstrip().splitlines()[-1]
    assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_the_demo_refuses_a_store_that_holds_events(tmp_path: Path) -> None:
    """Run on a store that already holds events, the demo stops before writing anything."""
    store = f"sqlite:///{tmp_path / 'busy.db'}"
    with sl.LearningLoop(store, flags=sl.Flags(selflearn_v1_store="")) as loop:
        loop.record_event(
            "tool_monitor", "timeout", "x", novelty=0.5, value=0.5, risk=0.1, confidence=0.5
        )
    before = len(stored_events(store))
    with pytest.raises(sl.ValidationError, match="the demo needs an empty store"):
        run_demo(store=store, days=1, echo=lambda _: None)
    assert before == len(stored_events(store))


def test_the_command_defaults_are_the_demos() -> None:
    """`selflearn demo` without options runs what `run_demo` runs by default."""
    defaults = {p.name: p.default for p in main.commands["demo"].params}
    assert (DEFAULT_DAYS, DEFAULT_SEED) == (defaults["days"], defaults["seed"])


def test_demo_rejects_a_bad_store() -> None:
    """A bad store URL is an error on stderr with exit code 1."""
    result = CliRunner().invoke(main, ["demo", "--store", "mysql://x/y"])
    assert result.exit_code == 1
    assert "SELFLEARN_STORE" in result.output
