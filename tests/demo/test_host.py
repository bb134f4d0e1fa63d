"""The demo's simulated host: its patches, its proposer and its probe."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime
from pathlib import Path

import pytest

from selflearn.demo.host import (
    BY_KIND,
    CONFIG_FILE,
    SETTINGS,
    SimulatedHost,
    change_diff,
    config_text,
    parse_config,
)
from selflearn.ports import LearningEventView, Opportunity, ProposalView
from selflearn.realapply.patches import plan

AT = datetime(2026, 1, 5, tzinfo=UTC)


def event(kind: str, n: int = 1, **scores: float) -> LearningEventView:
    fields = {"novelty": 0.9, "value": 0.95, "risk": 0.05, "confidence": 0.9, **scores}
    change = BY_KIND[kind]
    return LearningEventView(
        id=f"e{n}",
        source=change.source,
        event_type=kind,
        content=f"{change.symptom} ({n})",
        stream="production",
        at=AT,
        **fields,
    )


def opportunity(*events: LearningEventView) -> Opportunity:
    return Opportunity(id="o1", kind="learning_event", events=events, at=AT)


def view(proposal_id: str, kind: str) -> ProposalView:
    return ProposalView(
        id=proposal_id,
        title="t",
        hypothesis="",
        status="executed",
        priority=0.9,
        risk_level="low",
        confidence=0.9,
        signature="s",
        created_at=AT,
        origin_event_ids=(),
        plan_steps=(),
        expected_impact="",
        policy_arms={},
        patches=(),
        metadata={"event_type": kind},
        verdict=None,
        verdict_confidence=None,
        exhausted=False,
        runs=(),
    )


def test_a_patch_applies_after_other_settings_changed() -> None:
    """A patch sets one line without context, so it still applies when another setting was
    changed after it was drafted."""
    timeout, backoff = BY_KIND["tool_timeout"], BY_KIND["retry_storm"]
    patch = change_diff(SETTINGS, timeout)
    on_disk = config_text({**SETTINGS, backoff.key: backoff.value})
    [changed] = plan([patch], {CONFIG_FILE: on_disk.encode()}).files
    assert changed.after is not None
    assert {**SETTINGS, backoff.key: backoff.value, timeout.key: timeout.value} == parse_config(
        changed.after.decode()
    )


def test_the_proposer_patches_the_settings_file_once(tmp_path: Path) -> None:
    """A strong event becomes a draft patching its setting; once the change is in the file,
    the same kind of event makes no draft."""
    host = SimulatedHost.start(tmp_path, seed=1, create_threshold=0.62)
    [draft] = host.propose(opportunity(event("tool_timeout")))
    assert "Set tool_timeout_s = 12" == draft.title
    assert "tool_timeout_s" == draft.metadata["setting"]
    [patch] = draft.patches
    assert isinstance(patch, str)
    [changed] = plan([patch], {CONFIG_FILE: (tmp_path / CONFIG_FILE).read_bytes()}).files
    assert changed.after is not None
    (tmp_path / CONFIG_FILE).write_bytes(changed.after)
    assert [] == list(host.propose(opportunity(event("tool_timeout", 2))))
    assert [] == list(host.propose(opportunity(event("tool_timeout", 3, value=0.1))))


def test_the_probe_measures_the_hidden_effect_of_the_tried_change(tmp_path: Path) -> None:
    """Samples centre on the base metrics before a change is tried and move by the change's
    hidden effect after; a change with no effect moves nothing."""
    host = SimulatedHost.start(tmp_path, seed=2, create_threshold=0.62)
    host.rng = random.Random(2)
    hurts, nothing = view("p1", "prompt_drift"), view("p2", "cache_miss")
    assert host.true_metrics("p1") == host.true_metrics("p2")
    before = host.measure(hurts)
    host.execute(hurts, "safe")
    host.execute(nothing, "safe")
    assert BY_KIND["prompt_drift"].effect["health_score"] == pytest.approx(
        host.true_metrics("p1")["health_score"] - host.true_metrics("p2")["health_score"]
    )
    after = host.measure(hurts)
    drop = statistics.fmean(after["health_score"]) - statistics.fmean(before["health_score"])
    assert drop < -2.0
    assert 10 == len(after["health_score"])
