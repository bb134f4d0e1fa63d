"""The eventsourcing application of a selflearn store, and its one extra transcoding.

The environment given to eventsourcing is built from the store URL alone; the host
process's `os.environ` is never consulted, so a host's own variables cannot change where
or how selflearn stores its events.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

import attrs
from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Transcoding
from eventsourcing.utils import Environment, EnvType

from selflearn.events.controls import Controls
from selflearn.events.guardrail import Guardrail
from selflearn.events.policy import Policy
from selflearn.events.selfcheck import SelfCheck


@attrs.frozen
class TaggedObject:
    """A JSON object whose only keys are `_type_` and `_data_`, as data (see below)."""

    pairs: list[list[Any]]


class TaggedObjectAsPairs(Transcoding):
    """Stores a `TaggedObject` as its key-value pairs.

    eventsourcing's JSON transcoder reads any object with exactly the keys `_type_` and
    `_data_` as one of its tagged values, so a v1 row holding such an object is written
    through this transcoding (`escape_tagged_objects`) and reads back as the same object.
    """

    type = TaggedObject
    name = "selflearn.tagged_object@1"

    def encode(self, obj: TaggedObject) -> list[list[Any]]:
        return obj.pairs

    def decode(self, data: list[list[Any]]) -> dict[str, Any]:
        return {str(key): value for key, value in data}


def escape_tagged_objects(value: Any) -> Any:
    """`value` with every object of exactly the keys `_type_` and `_data_` made a TaggedObject."""
    return _escaped(value) if _has_tagged_object(value) else value


def _has_tagged_object(value: Any) -> bool:
    kind = type(value)
    if kind is dict:
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return True
        for item in value.values():
            if _has_tagged_object(item):
                return True
    elif kind is list:
        for item in value:
            if _has_tagged_object(item):
                return True
    return False


def _escaped(value: Any) -> Any:
    if isinstance(value, dict):
        items = {key: _escaped(item) for key, item in value.items()}
        if set(items) == {"_type_", "_data_"}:
            return TaggedObject([[key, item] for key, item in items.items()])
        return items
    if isinstance(value, list):
        return [_escaped(item) for item in value]
    return value


class SelflearnApplication(Application[UUID]):
    """The event store of one selflearn deployment (table prefix `selflearn`)."""

    name = "selflearn"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        Guardrail: 50,
        Policy: 100,
        SelfCheck: 100,
        Controls: 50,
    }

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        # Only what the URL says: a host's os.environ must not reconfigure the store.
        settings = dict(env or {})
        settings["IS_SNAPSHOTTING_ENABLED"] = "y"
        # Cached aggregates are fast-forwarded from the store on every get (one query),
        # except where a session trusts its cache (`Session.trusting_cache`). They are not
        # deep-copied: a session clears the cache whenever an attempt fails, so a command
        # that could not be saved never leaves its changes behind.
        settings.setdefault("AGGREGATE_CACHE_MAXSIZE", "1000")
        settings.setdefault("AGGREGATE_CACHE_FASTFORWARD", "y")
        settings.setdefault("DEEPCOPY_FROM_AGGREGATE_CACHE", "n")
        return Environment(name, settings)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(TaggedObjectAsPairs())


__all__ = ["SelflearnApplication", "TaggedObject", "escape_tagged_objects"]
