"""Functions run in child processes by the v1 import tests (spawned: importable by name)."""

from __future__ import annotations

from typing import Any

import selflearn as sl
from selflearn.testing import FakeClock


def race_import(url: str, path: str, mode: str, barrier: Any, out: Any) -> None:
    """Import `path` at the same moment as the other processes: by hand, or by starting."""
    try:
        if mode == "migrate":
            with sl.LearningLoop(
                url, flags=sl.Flags(), clock=FakeClock(), _import_v1=False
            ) as loop:
                barrier.wait(timeout=60)
                report = loop.migrate_v1(path)
            out.put(("ok", report.to_dict()))
        else:
            barrier.wait(timeout=60)
            with sl.LearningLoop(url, flags=sl.Flags(selflearn_v1_store=path), clock=FakeClock()):
                pass
            out.put(("ok", None))
    except BaseException as exc:  # report everything to the parent
        out.put(("error", f"{type(exc).__name__}: {exc}"))
