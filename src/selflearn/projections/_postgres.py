"""The PostgreSQL view store (a module of its own so that psycopg stays optional)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg.sql import SQL, Identifier

from selflearn.projections.viewstore import (
    POSTGRES_TRACKING_TABLE,
    VIEWS_TABLE,
    ViewRecord,
    ViewStore,
    tracking_name,
)


class PostgresViewStore(PostgresTrackingRecorder, ViewStore):
    """Views in the store's schema: `selflearn_views` and `selflearn_views_tracking`."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, tracking_table_name=POSTGRES_TRACKING_TABLE, **kwargs)
        schema, views = Identifier(datastore.schema), Identifier(VIEWS_TABLE)
        tracking = Identifier(POSTGRES_TRACKING_TABLE)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0}.{1} (name text PRIMARY KEY, "
                "version integer NOT NULL, events bigint NOT NULL, state text NOT NULL)"
            ).format(schema, views)
        )
        self.select_views = SQL(
            "SELECT v.name, v.version, v.events, v.state, t.notification_id "
            "FROM {0}.{1} v LEFT JOIN {0}.{2} t ON t.application_name = %s || v.name"
        ).format(schema, views, tracking)
        self.upsert_view = SQL(
            "INSERT INTO {0}.{1} VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO UPDATE "
            "SET version = excluded.version, events = excluded.events, state = excluded.state"
        ).format(schema, views)
        self.delete_view = SQL("DELETE FROM {0}.{1} WHERE name = %s").format(schema, views)
        self.delete_tracking = SQL("DELETE FROM {0}.{1} WHERE application_name = %s").format(
            schema, tracking
        )

    def load(self, application: str) -> dict[str, ViewRecord]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_views, (tracking_name(application, ""),))
            return {
                row["name"]: ViewRecord(
                    row["name"],
                    row["version"],
                    row["events"],
                    row["state"],
                    row["notification_id"] or 0,
                )
                for row in curs.fetchall()
            }

    def save(self, application: str, records: Sequence[ViewRecord]) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for r in records:
                curs.execute(self.upsert_view, (r.name, r.version, r.events, r.state))
                self._insert_tracking(
                    curs, Tracking(tracking_name(application, r.name), r.position)
                )

    def drop(self, application: str, names: Sequence[str]) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for name in names:
                curs.execute(self.delete_view, (name,))
                curs.execute(self.delete_tracking, (tracking_name(application, name),))
