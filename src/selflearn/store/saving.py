"""Saving aggregates: one transaction per decision."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Recording


def save_aggregates(
    app: Application[Any], aggregates: Sequence[Aggregate]
) -> list[Recording[UUID]]:
    """Save the aggregates' pending events in one transaction; their recordings."""
    return app.save(*aggregates)


__all__ = ["save_aggregates"]
