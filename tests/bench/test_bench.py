"""The benchmarks run on a tiny size (`--quick`) and print one JSON object each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_bench(name: str, results: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--quick", "--results-dir", str(results)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=300,
    )
    assert 0 == done.returncode, done.stderr
    printed = json.loads(done.stdout)
    assert printed == json.loads((results / f"{name}-quick.json").read_text())
    return printed


@pytest.mark.slow
def test_p5_upcast_quick(tmp_path: Path) -> None:
    """P5 measures loading imported and native proposals, in both shapes, with the ratio."""
    result = run_bench("p5_upcast", tmp_path)
    sqlite = result["sqlite"]
    assert isinstance(sqlite, dict)
    for shape in ("proposed", "with_run"):
        figures = sqlite[shape]
        assert {"imported_v1", "native_v2"} == set(figures["load_microseconds"])
        assert figures["ratio_imported_vs_native"] > 0


@pytest.mark.slow
def test_p8_migrate_quick(tmp_path: Path) -> None:
    """P8 times the import against bare batched saves of the same events, with the ratio."""
    result = run_bench("p8_migrate", tmp_path)
    sqlite = result["sqlite"]
    assert isinstance(sqlite, dict)
    assert 200 == sqlite["rows"]
    assert {"import", "bare_insert", "bare_save_v2"} == set(sqlite["seconds"])
    assert sqlite["ratio_import_vs_bare_insert"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["p2_status", "p3_rebuild"])
def test_benchmark_runs_quick(name: str, tmp_path: Path) -> None:
    """P2 and P3 build a store of 5,000 events and judge each bar."""
    data = run_bench(name, tmp_path)
    assert (name, True) == (data["benchmark"], data["quick"])
    assert isinstance(data["events"], int)
    assert data["events"] >= 5_000
    bars = data["bars"]
    assert isinstance(bars, dict)
    assert bars
    assert all(isinstance(v, bool) for v in bars.values())


@pytest.mark.slow
def test_p1_cycle_quick(tmp_path: Path) -> None:
    """P1 times ticks of three runs against bare saves of the same transactions."""
    result = run_bench("p1_cycle", tmp_path)
    sqlite = result["sqlite"]
    assert isinstance(sqlite, dict)
    assert 30 == sqlite["runs_executed"]
    assert sqlite["transactions_per_cycle"] >= 4
    assert sqlite["events_per_cycle"] >= sqlite["transactions_per_cycle"]
    assert sqlite["ratio_loop_vs_bare"] > 0
    assert isinstance(sqlite["meets_bar"], bool)


@pytest.mark.slow
def test_p12_cli_quick(tmp_path: Path) -> None:
    """P12 times `selflearn --help` and `selflearn status --json` against a bare import of
    eventsourcing, in the same run, and judges both bars on the ratios of the medians."""
    result = run_bench("p12_cli", tmp_path)
    seconds = result["seconds"]
    assert isinstance(seconds, dict)
    assert {"baseline", "help", "status_json"} == set(seconds)
    assert all(0 < seconds[name]["min"] <= seconds[name]["median"] for name in seconds)
    ratios = result["ratios"]
    assert isinstance(ratios, dict)
    for name in ("help", "status_json"):
        expected = seconds[name]["median"] / seconds["baseline"]["median"]
        assert abs(expected - ratios[f"{name}_vs_baseline"]) < 0.01
    bars = result["bars"]
    assert isinstance(bars, dict)
    assert {"help_le_2.5x", "status_json_le_4x"} == set(bars)
    assert result["store_events"] > 0
