"""The one cattrs converter: reports, views and settings to plain JSON-able data."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, get_origin
from uuid import UUID

from cattrs.preconf.json import JsonConverter
from cattrs.preconf.json import make_converter as _make_json_converter


def make_converter() -> JsonConverter:
    """Build the converter used for `to_dict()`, `--json` and stored values."""
    converter = _make_json_converter()
    converter.register_unstructure_hook(UUID, str)
    converter.register_structure_hook(UUID, lambda v, _: v if isinstance(v, UUID) else UUID(v))
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    converter.register_unstructure_hook_func(_is_frozenset, sorted)
    return converter


def _is_frozenset(cls: Any) -> bool:
    return cls is frozenset or get_origin(cls) is frozenset


@functools.cache
def converter() -> JsonConverter:
    """The shared converter (built once)."""
    return make_converter()


def to_plain(value: Any) -> Any:
    """`value` (an attrs instance, mapping, sequence or scalar) as JSON-able data."""
    return converter().unstructure(value)
