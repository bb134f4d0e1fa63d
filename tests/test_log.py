"""selflearn logs through the standard library's logging and configures none of it."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import selflearn as sl
from selflearn._log import get_logger
from selflearn.cli import main
from selflearn.cli._common import configure_logging

#: A host whose cycle logs several events at info level, then one warning.
HOST = """
import selflearn as sl
from selflearn._log import get_logger
from selflearn.testing import FakeClock, FakeExecutor, FakeProbe
probe = FakeProbe({"health_score": 80.0})
with sl.LearningLoop(
    "memory://", flags=sl.Flags(), clock=FakeClock(), probe=probe,
    executor=FakeExecutor(probe=probe),
) as loop:
    loop.propose(sl.ProposalDraft(title="Cache results", priority=0.9, risk_level="low"))
    assert loop.tick().executed == 1
get_logger("selflearn.test").warning("something.odd", n=1)
"""


def test_an_unconfigured_host_sees_warnings_on_stderr_and_nothing_on_stdout() -> None:
    """A host that configures no logging gets no line on stdout, and only the warnings (as
    the standard library's last resort prints them) on stderr."""
    done = subprocess.run(
        [sys.executable, "-c", HOST], capture_output=True, text=True, check=True, timeout=120
    )
    assert "" == done.stdout
    assert ["event=something.odd n=1"] == done.stderr.splitlines()


def test_a_configured_host_gets_each_event_with_its_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each event is one record of the module's logger: the event and its bound and given
    values in logfmt, and the values themselves on the record."""
    log = get_logger("selflearn.test").bind(store="memory://")
    with caplog.at_level(logging.INFO, logger="selflearn"):
        log.info("run.started", run_id="r1", mode="safe")
        log.debug("not.shown")
    [record] = caplog.records
    assert ("selflearn.test", logging.INFO) == (record.name, record.levelno)
    assert "event=run.started store=memory:// run_id=r1 mode=safe" == record.getMessage()
    expected = {"event": "run.started", "store": "memory://", "run_id": "r1", "mode": "safe"}
    assert expected == record.selflearn  # type: ignore[attr-defined]


@pytest.fixture
def selflearn_logger() -> Iterator[logging.Logger]:
    """The library's logger, as the CLI configures it, set back afterwards."""
    logger = logging.getLogger("selflearn")
    level, handlers = logger.level, list(logger.handlers)
    yield logger
    logger.setLevel(level)
    logger.handlers[:] = handlers


def test_the_cli_logs_on_stderr_only_with_verbose(
    tmp_path: Path, selflearn_logger: logging.Logger
) -> None:
    """`selflearn -v` writes the library's events as JSON lines on stderr; without `-v` an
    info event is not written; stdout holds only the command's output."""
    store = f"sqlite:///{tmp_path / 'store.db'}"
    with sl.LearningLoop(store, flags=sl.Flags()) as loop:
        loop.propose(sl.ProposalDraft(title="Cache results", priority=0.9, risk_level="low"))
    runner = CliRunner()
    quiet = runner.invoke(main, ["rebuild", "--store", store])
    assert (0, "") == (quiet.exit_code, quiet.stderr.strip())
    assert logging.WARNING == selflearn_logger.level
    verbose = runner.invoke(main, ["-v", "rebuild", "--store", store])
    assert 0 == verbose.exit_code
    assert verbose.stdout.startswith("rebuilt rollout")
    [line] = [json.loads(text) for text in verbose.stderr.splitlines() if text.startswith("{")]
    assert ("info", "selflearn.projections.service", "views.rebuilt") == (
        line["level"],
        line["logger"],
        line["event"],
    )


def test_the_cli_handler_writes_to_the_stderr_of_the_moment(
    selflearn_logger: logging.Logger,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Logging set up while stderr was a stream since closed (as a test runner does)
    writes a later warning to the stderr of that later moment, and raises nothing."""
    swapped = io.TextIOWrapper(io.BytesIO())
    with monkeypatch.context() as patch:
        patch.setattr(sys, "stderr", swapped)
        configure_logging(verbose=False)
    swapped.close()
    get_logger("selflearn.test").warning("later.warning", n=2)
    assert "later.warning" in capsys.readouterr().err
