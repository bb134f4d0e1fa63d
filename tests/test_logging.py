"""Logging: the library configures nothing and prints nothing; the host's `logging` decides.

Each test runs a loop in a fresh Python process, so that no logging configuration of the
test run (or of another test) is in place.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TICK = """
import selflearn as sl
from selflearn.testing import FakeClock, FakeExecutor, FakeProbe

probe = FakeProbe({"health_score": 80.0})
executor = FakeExecutor(probe=probe, default=RuntimeError("executor down"))
with sl.LearningLoop(
    "memory://", flags=sl.Flags(), executor=executor, probe=probe, clock=FakeClock(), seed=1
) as loop:
    loop.record_event("tool", "timeout", "x", novelty=0.9, value=0.9, risk=0.1, confidence=0.9)
    loop.approve(loop.propose(sl.ProposalDraft(title="t", priority=0.95, risk_level="low")))
    loop.tick()
"""


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=120,
    )


def test_an_unconfigured_host_sees_only_warnings_on_stderr() -> None:
    """Nothing on stdout; on stderr the warning of a failed run, and no info events."""
    done = run_python(TICK)
    assert "" == done.stdout
    lines = done.stderr.splitlines()
    assert lines, "the failed runs' warnings"
    for line in lines:
        assert line.startswith("event=run.failed store=memory:// "), line
        assert "reason=executor_error" in line


def test_a_host_that_configures_logging_gets_every_event() -> None:
    """With the host's own `logging` set to INFO, the loop's info events reach its handlers,
    under `selflearn.<module>` loggers."""
    done = run_python(
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout, "
        "format='%(levelname)s %(name)s %(message)s')\n" + TICK
    )
    assert "" == done.stderr
    lines = done.stdout.splitlines()
    recorded = "INFO selflearn.commands event=learning_event.recorded "
    assert any(line.startswith(recorded) for line in lines)
    assert any(line.startswith("INFO selflearn.cycle event=cycle.done ") for line in lines)
    assert any(line.startswith("WARNING selflearn.cycle event=run.failed ") for line in lines)
    assert all("store=memory://" in line for line in lines)


def test_the_cli_shows_info_events_with_verbose(tmp_path: Path) -> None:
    """`selflearn -v` writes the loop's info events to stderr; without `-v` they are not shown."""
    store = f"sqlite:///{tmp_path / 'store.db'}"
    run_python(f"import selflearn as sl\nsl.LearningLoop({store!r}, flags=sl.Flags()).close()")
    quiet, verbose = (
        subprocess.run(
            [sys.executable, "-m", "selflearn", *flag, "rebuild", "--store", store],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
            timeout=120,
        )
        for flag in ([], ["-v"])
    )
    assert "views.rebuilt" not in quiet.stderr + quiet.stdout
    assert "views.rebuilt" in verbose.stderr
    assert "views.rebuilt" not in verbose.stdout
