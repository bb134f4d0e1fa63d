"""The demo runs, and the same seed prints the same story."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from selflearn.cli import main


def test_demo_is_deterministic(tmp_path: Path) -> None:
    """Two demo runs with the same seed print the same thing; the story has verdicts."""
    store = f"sqlite:///{tmp_path / 'demo.db'}"
    runner = CliRunner()
    first = runner.invoke(main, ["demo", "--seed", "3", "--store", store])
    second = runner.invoke(main, ["demo", "--seed", "3", "--store", store])
    assert (0, 0) == (first.exit_code, second.exit_code), first.output
    assert first.output == second.output
    assert "→ win" in first.output
    assert first.output.rstrip().splitlines()[-1].startswith("done:")


def test_demo_rejects_a_bad_store() -> None:
    """A bad store URL is an error on stderr with exit code 1."""
    result = CliRunner().invoke(main, ["demo", "--store", "mysql://x/y"])
    assert result.exit_code == 1
    assert "SELFLEARN_STORE" in result.output
