"""P7 runs on a tiny size: one and two processes drain the same supply, nothing is violated."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.test_bench import run_bench


@pytest.mark.slow
def test_p7_processes_quick(tmp_path: Path) -> None:
    """Both configurations execute the whole supply once each, with throughputs and a ratio;
    the merged histories break no invariant, run nothing twice and lose no event."""
    result = run_bench("p7_processes", tmp_path)
    sqlite = result["sqlite"]
    assert isinstance(sqlite, dict)
    n = sqlite["proposals"]
    for config in ("one_process", "two_processes"):
        figures = sqlite[config]
        assert n * sqlite["repeats"] == figures["runs"]
        assert figures["runs_per_second"] > 0
        assert figures["cycles_per_second"] > 0
        assert 0 == figures["violations"]
        assert 0 == figures["host_calls_with_a_transaction_open"]
        assert 0 == figures["run_twice"] == figures["never_run"]
        assert 0 == figures["events_lost"] == figures["events_unaccounted"]
        assert figures["events_recorded"] == figures["events_in_log"] > 0
        assert figures["admissions"] >= 1, "the hourly limit admits the first normal run"
        reasons = figures["mode_reasons"]
        assert reasons["hourly_quota_exceeded"] >= 1
        assert sum(reasons.values()) - reasons["canary_allowed"] > n // 2, "mostly safe runs"
    assert sqlite["ratio"] > 0
    assert [sqlite["ratio"]] == sqlite["ratio_each_repeat"]
    assert 1.6 == sqlite["bar"]
    assert isinstance(sqlite["meets_bar"], bool)
