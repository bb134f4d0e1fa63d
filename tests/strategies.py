"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from selflearn.config import CAPABILITIES

scores = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)

#: One thing that happens to a loop: a host signal, an operator action, a cycle, time passing,
#: the host's metrics moving, or the status views being caught up part of the way.
steps: st.SearchStrategy[tuple[Any, ...]] = st.one_of(
    st.tuples(
        st.just("record"),
        st.sampled_from(["tool_monitor", "profiler", "unit_test"]),
        st.integers(0, 5),
        scores,
        scores,
        scores,
        scores,
    ),
    st.tuples(
        st.just("propose"),
        st.floats(min_value=0.3, max_value=1.0),
        st.sampled_from(["low", "medium", "high"]),
        st.sampled_from(["steady", "flaky"]),
    ),
    st.tuples(st.just("approve"), st.integers(0, 20)),
    st.tuples(st.just("reject"), st.integers(0, 20)),
    *[st.tuples(st.just("tick"))] * 4,
    *[
        st.tuples(
            st.just("advance"),
            st.sampled_from([60, 300, 301, 1800, 3600, 6 * 3600, 26 * 3600, 3 * 86400, 8 * 86400]),
        )
    ]
    * 2,
    st.tuples(st.just("metrics"), st.sampled_from([-3.0, -1.0, 0.0, 0.3, 1.5, 2.5])),
    st.tuples(st.just("override"), st.sampled_from(CAPABILITIES), st.booleans()),
    *[st.tuples(st.just("catch_up"), st.integers(1, 7), st.one_of(st.none(), st.integers(1, 3)))]
    * 2,
)

histories = st.lists(steps, min_size=8, max_size=60)
page_sizes = st.integers(min_value=1, max_value=50)
