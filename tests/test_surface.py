"""`LearningLoop`'s public surface: exactly the documented methods, documented in its own words."""

from __future__ import annotations

import pydoc

import selflearn as sl
from tests.test_docs import OUTSIDE

DOCUMENTED = {
    "approve",
    "close",
    "disable",
    "enable",
    "export_evidence",
    "migrate_v1",
    "proposal",
    "proposals",
    "propose",
    "rebuild_views",
    "record_event",
    "reject",
    "rollback",
    "status",
    "tick",
    "timeline",
}


def test_the_public_methods_are_the_documented_ones() -> None:
    """Every public name of the class is a documented method, and every one is there."""
    assert DOCUMENTED == {name for name in dir(sl.LearningLoop) if not name.startswith("_")}


def test_a_loop_has_no_public_attributes() -> None:
    """A loop's state (session, host settings) is private."""
    with sl.LearningLoop("memory://", flags=sl.Flags()) as loop:
        assert set() == {name for name in vars(loop) if not name.startswith("_")}


def test_help_cites_no_document_outside_the_package() -> None:
    """`help(LearningLoop)` speaks for itself: no citation of a document a user lacks."""
    text = pydoc.render_doc(sl.LearningLoop, renderer=pydoc.plaintext)
    assert [] == [line for line in text.splitlines() if OUTSIDE.search(line) or "§" in line]
    for name in DOCUMENTED:
        assert getattr(sl.LearningLoop, name).__doc__, name
