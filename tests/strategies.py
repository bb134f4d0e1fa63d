"""Hypothesis strategies shared by the property tests, one section per subject."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from selflearn.config import CAPABILITIES

# -- v1 proposal rows ----------------------------------------------------------------------
#
# Rows as the earlier system's JSON file may hold them: every value JSON can carry
# (no NaN, no infinity, no lone surrogate), unknown fields, fields named like the event
# store's own keys, and objects shaped like its tagged values ({"_type_", "_data_"}).

json_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | json_text
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(json_text, children, max_size=3)
        | st.fixed_dictionaries({"_type_": children, "_data_": children})
    ),
    max_leaves=8,
)
v1_ids = st.integers() | json_text.filter(lambda text: bool(text.strip()))
v1_statuses = (
    st.sampled_from(["pending_approval", "approved", "verified", "rejected", "applied", "executed"])
    | json_values
)
v1_scores = (
    st.none()
    | st.integers(min_value=-100, max_value=100)
    | st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
)
offsets = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)
v1_times = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.none() | offsets
)
v1_created = v1_times.map(datetime.isoformat) | json_values
v1_source_items = st.fixed_dictionaries(
    {},
    optional={"score": v1_scores, "source": json_values, "kind": json_values},
) | json_values.filter(lambda value: not isinstance(value, dict))
# Names the store or the import use themselves; a row may still hold them.
reserved_names = st.sampled_from(
    [
        "class_version",
        "originator_id",
        "originator_version",
        "originator_topic",
        "timestamp",
        "at",
        "metadata",
        "__selflearn_v1_import__",
        "_type_",
        "_data_",
    ]
)


@st.composite
def v1_rows(draw: st.DrawFn) -> dict[str, Any]:
    """A v1 row that has an id: known fields of any JSON value, plus unknown ones."""
    extra = draw(st.dictionaries(reserved_names | json_text, json_values, max_size=4))
    known = draw(
        st.fixed_dictionaries(
            {"id": v1_ids},
            optional={
                "title": json_text | json_values,
                "description": json_text | json_values,
                "status": v1_statuses,
                "created": v1_created,
                "expected_impact": json_text | json_values,
                "source_item": v1_source_items,
            },
        )
    )
    return {**extra, **known}


# -- loop histories (status views) -----------------------------------------------------

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
