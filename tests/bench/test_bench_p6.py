"""P6 runs on a tiny size and reports regrets, the Lai–Robbins bound and both bars."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from bench.p6_bandit import lai_robbins_constant, probabilities

from tests.bench.test_bench import run_bench


def test_lai_robbins_constant_of_chapelle_and_li_setting() -> None:
    """Nine arms at 0.4 against one at 0.5 give C = 44.70, so the bar is 123.5."""
    c = lai_robbins_constant(probabilities(10))
    assert 44.70 == round(c, 2)
    assert 123.5 == round(1.2 * c * math.log(10), 1)


@pytest.mark.slow
def test_p6_bandit_quick(tmp_path: Path) -> None:
    """P6 reports the regret curves of both samplers, the bound and the bars as booleans."""
    result: dict[str, Any] = run_bench("p6_bandit", tmp_path)
    k10, k3 = result["k10"], result["k3"]
    assert (10, 3) == (k10["k"], k3["k"])
    assert [0.4] * 9 + [0.5] == k10["arms"]
    assert 44.70 == k10["lai_robbins"]["constant"]
    assert 123.5 == k10["lai_robbins"]["bar"]
    assert 25.0 == k3["bar"]
    for figures in (k10, k3):
        assert figures["steps_checked_against_policy_aggregate"] > 0
        assert all(n > 1 for n in figures["repetitions"].values())
        for sampler in ("selflearn", "reference"):
            regret = figures[sampler]["regret"]
            horizons = [int(t) for t in regret]
            assert horizons == sorted(horizons)
            assert figures["horizon"] == horizons[-1]
            means = [regret[t]["mean"] for t in regret]
            assert means == sorted(means)  # regret never falls
            assert 0 <= means[0]
            assert means[-1] <= 0.1 * figures["horizon"]  # at most every pull a 0.4 arm
            assert all(regret[t]["se"] >= 0 for t in regret)
    assert {"k10_growth", "k3_regret"} == set(result["bars"])
    assert all(isinstance(met, bool) for met in result["bars"].values())
