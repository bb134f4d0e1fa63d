"""Precise types: what `inspect.signature` shows of the public values, and what mypy refuses."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, get_args

import pytest

import selflearn as sl
from selflearn.config import Mode, RiskLevel
from selflearn.ports import ExecutionStatus, VerdictKind


def annotations(cls: type[Any]) -> dict[str, Any]:
    """The parameters of `cls(...)` with their annotations evaluated."""
    signature = inspect.signature(cls, eval_str=True)
    return {name: p.annotation for name, p in signature.parameters.items()}


def test_proposal_draft_shows_its_types() -> None:
    """`ProposalDraft(...)` takes a `str` title, `float` scores and a risk level from a Literal."""
    shown = annotations(sl.ProposalDraft)
    assert str is shown["title"]
    assert float is shown["priority"]
    assert float is shown["confidence"]
    assert RiskLevel == shown["risk_level"]
    assert ("low", "medium", "high") == get_args(shown["risk_level"])
    assert object not in shown.values()


def test_flags_show_their_types() -> None:
    """`Flags(...)` shows each flag's type: booleans, integers, fractions, the mode, the risks."""
    shown = annotations(sl.Flags)
    assert bool is shown["enable_proposal_v2"]
    assert int is shown["normal_mode_max_per_hour"]
    assert float is shown["normal_mode_min_priority"]
    assert Mode == shown["execution_mode_default"]
    assert ("safe", "normal") == get_args(shown["execution_mode_default"])
    assert str is shown["selflearn_store"]
    assert object not in shown.values()


def test_host_values_show_literals() -> None:
    """A verdict's kind and an execution's status are Literals of the values the loop knows."""
    assert VerdictKind == annotations(sl.Verdict)["kind"]
    assert ("win", "loss", "inconclusive") == get_args(VerdictKind)
    assert ExecutionStatus == annotations(sl.ExecutionResult)["status"]
    assert ("completed", "no_changes", "failed") == get_args(ExecutionStatus)
    assert str is annotations(sl.FileEdit)["path"]


def test_typed_values_still_refuse_bad_input_at_run_time() -> None:
    """Types help a checker; at run time a bad value is still refused by name."""
    with pytest.raises(sl.ValidationError, match=r"ProposalDraft.title=123"):
        sl.ProposalDraft(title=123, priority=0.5, risk_level="low")  # type: ignore[arg-type]
    with pytest.raises(sl.ConfigError, match=r"EXECUTION_MODE_DEFAULT='fast'"):
        sl.Flags(execution_mode_default="fast")  # type: ignore[arg-type]
    with pytest.raises(sl.ConfigError, match=r"NORMAL_MODE_MIN_PRIORITY='0.9'"):
        sl.Flags(normal_mode_min_priority="0.9")  # type: ignore[arg-type]
    with pytest.raises(sl.ConfigError, match=r"NORMAL_MODE_ALLOWED_RISK='low'"):
        sl.Flags(normal_mode_allowed_risk="low")  # type: ignore[arg-type]


def test_code_values_keep_their_types() -> None:
    """`Flags(...)` in code takes typed values and normalises them: an int fraction becomes
    a float, a list of risks a frozenset, a store URL is stripped."""
    flags = sl.Flags(
        normal_mode_min_priority=1,
        normal_mode_allowed_risk=["medium", "low"],
        selflearn_store=" memory:// ",
        selflearn_v1_store=Path("v1.json"),
    )
    assert isinstance(flags.normal_mode_min_priority, float)
    assert frozenset({"low", "medium"}) == flags.normal_mode_allowed_risk
    assert "memory://" == flags.selflearn_store
    assert "v1.json" == flags.selflearn_v1_store


MISTAKES = """
import selflearn as sl

sl.ProposalDraft(title=123, priority=0.5, risk_level="low")
sl.ProposalDraft(title="t", priority=0.5, risk_level="extreme")
sl.Flags(execution_mode_default="fast")
sl.Flags(normal_mode_max_per_hour="2")
sl.Verdict(kind="maybe", confidence=0.5)
sl.ExecutionResult(status="done")
sl.ProposalDraft(title="fine", priority=0.5, risk_level="low")
sl.Flags(execution_mode_default="normal", normal_mode_allowed_risk=frozenset({"low"}))
"""


@pytest.mark.slow
def test_mypy_refuses_wrong_types(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """mypy (strict) flags each wrong value given to a public value's constructor, and
    nothing else."""
    api = pytest.importorskip("mypy.api")
    source = Path(sl.__file__).resolve().parent.parent
    monkeypatch.setenv("MYPYPATH", str(source))
    script = tmp_path / "host.py"
    script.write_text(MISTAKES)
    report, _, _ = api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(script)]
    )
    flagged = sorted(
        int(line.split(":")[1]) for line in report.splitlines() if line.startswith(str(script))
    )
    assert [4, 5, 6, 7, 8, 9] == flagged, report
