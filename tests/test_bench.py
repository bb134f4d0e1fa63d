"""The benchmarks run on a tiny store (`--quick`) and print one JSON object of figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.parametrize("name", ["p2_status", "p3_rebuild"])
def test_benchmark_runs_quick(name: str, tmp_path: Path) -> None:
    """`python -m bench.<name> --quick` prints its figures as JSON and saves the same file."""
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--quick", "--results", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert 0 == done.returncode, done.stderr
    data = json.loads(done.stdout)
    assert (name, True) == (data["bench"], data["quick"])
    assert data["events"] >= 5_000
    assert set(data["bars"])
    assert all(isinstance(v, bool) for v in data["bars"].values())
    assert data == json.loads((tmp_path / f"{name}.json").read_text())
