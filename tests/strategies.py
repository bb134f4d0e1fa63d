"""Hypothesis strategies shared by the property tests, one section per subject."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

# -- v1 proposal rows (SPEC §11) ----------------------------------------------------------
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
