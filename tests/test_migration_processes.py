"""The v1 import across processes: loading in a new process, and two imports at once."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import selflearn as sl
from selflearn.events.migration import v1_proposal_id
from selflearn.testing import FakeClock
from tests.conftest import app_of, store_url_for
from tests.migrate_workers import race_import

ROOT = Path(__file__).resolve().parent.parent

LOAD = """
import json, sys
import selflearn as sl
with sl.LearningLoop(sys.argv[1], flags=sl.Flags(), _import_v1=False) as loop:
    view = loop.proposal(sys.argv[2])
    print(json.dumps({"status": view.status, "risk_level": view.risk_level,
                      "priority": view.priority, "created_at": view.created_at.isoformat(),
                      "title": view.title, "metadata": dict(view.metadata)}))
"""


def test_a_v1_event_from_an_earlier_process_loads_as_v2(tmp_path: Path) -> None:
    """Rows imported by one process are schema v1 in the file and load as v2 in another."""
    store = tmp_path / "store.db"
    url = f"sqlite:///{store}"
    row = {
        "id": "p-7",
        "title": "Cache",
        "status": "applied",
        "created": "2025-03-01T10:00:00",
        "source_item": {"score": 7.5, "source": "monitor"},
    }
    path = tmp_path / "v1.json"
    path.write_text(json.dumps({"proposals": [row]}))
    imported = subprocess.run(
        [sys.executable, "-m", "selflearn", "migrate", "--from", str(path), "--store", url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert 0 == imported.returncode, imported.stderr
    with sqlite3.connect(store) as db:
        ((topic, version, state),) = db.execute(
            "SELECT topic, originator_version, state FROM stored_events "
            "WHERE topic LIKE '%Proposed'"
        ).fetchall()
    assert ("selflearn.events.proposal:Proposal.Proposed", 1) == (topic, version)
    assert "class_version" not in json.loads(state)
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD, url, str(v1_proposal_id("p-7"))],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert 0 == loaded.returncode, loaded.stderr
    assert {
        "status": "verified",
        "risk_level": "medium",
        "priority": 0.9375,
        "created_at": "2025-03-01T10:00:00+00:00",
        "title": "Cache",
        "metadata": {
            "source": "monitor",
            "event_type": "migrated_proposal",
            "migrated_from_v1_id": "p-7",
            "v1_row": row,
        },
    } == json.loads(loaded.stdout)


def run_processes(url: str, path: Path, mode: str, n: int = 2) -> list[Any]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(n)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=race_import, args=(url, str(path), mode, barrier, out)) for _ in range(n)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [] == [r for r in results if r[0] != "ok"]
    return [r[1] for r in results]


def logged(url: str, suffix: str) -> list[Any]:
    with sl.LearningLoop(url, flags=sl.Flags(), clock=FakeClock(), _import_v1=False) as loop:
        app = app_of(loop)
        return [
            app.mapper.to_domain_event(n)
            for n in app.recorder.select_notifications(start=None, limit=1_000_000)
            if n.topic.endswith(suffix)
        ]


ROWS = 1200  # more than two batches of the import


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["migrate", "start"])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_processes_importing_at_once_record_each_row_once(
    backend: str, mode: str, tmp_path: Path
) -> None:
    """Two processes importing one file at the same moment record every row exactly once."""
    path = tmp_path / "v1.json"
    rows = [
        {"id": f"r{i}", "status": "approved", "source_item": {"score": i % 10}} for i in range(ROWS)
    ]
    path.write_text(json.dumps({"proposals": rows}))
    for round_ in range(2):
        with store_url_for(backend, tmp_path / f"r{round_}") as url:
            with sl.LearningLoop(url, flags=sl.Flags(), _import_v1=False):
                pass  # the store exists before the race
            reports = run_processes(url, path, mode)
            proposed = logged(url, "Proposal.Proposed")
            assert ROWS == len(proposed), f"round {round_}"
            assert {v1_proposal_id(r["id"]) for r in rows} == {e.originator_id for e in proposed}
            assert 1 == len(logged(url, "V1Import.Imported"))
            if mode == "migrate":
                assert ROWS == sum(r["migrated"] for r in reports)
                assert all(r["migrated"] + r["already_present"] == ROWS for r in reports)
