"""P4 runs on a tiny size (`--quick`) and reports its figures in the expected shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.test_bench import run_bench


@pytest.mark.slow
def test_p4_snapshots_quick(tmp_path: Path) -> None:
    """Each aggregate is loaded at both sizes, with snapshots and without, from compact state."""
    result = run_bench("p4_snapshots", tmp_path)
    sqlite = result["sqlite"]
    assert isinstance(sqlite, dict)
    assert [100, 1000] == sqlite["sizes"]
    for name, interval in (("guardrail", 50), ("policy", 100)):
        figures = sqlite[name]
        assert {"100", "1000"} == set(figures["load_ms"]) == set(figures["no_snapshot_load_ms"])
        assert figures["ratio_large_vs_small"] > 0
        assert isinstance(figures["meets_bar"], bool)
        assert figures["snapshot_speedup_at_large"] > 0
        assert interval - 1 == figures["worst_phase"]["events_after_snapshot"]
        small, large = figures["state"]["100"], figures["state"]["1000"]
        assert interval == large["snapshot_interval"]
        assert 0 < large["events_after_snapshot"] < interval
        # The history grew tenfold; the snapshotted state did not.
        assert large["version"] > 9 * small["version"]
        assert large["snapshot_state_bytes"] < 1.1 * small["snapshot_state_bytes"]
    assert 1 == sqlite["guardrail"]["state"]["1000"]["admissions_held"]
