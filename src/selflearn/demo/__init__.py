"""`selflearn demo`: a simulated host walked through every rollout stage of the runbook.

The simulated host (`host`) is an agent tuned by a settings file, reporting recurring
learning events, with hidden true effects per kind of change; the story (`story`) says in
words what the operator switched and why, and what the loop did; the runner (`runner`)
drives both through the stages and writes the HTML status page at the end.
"""

from selflearn.demo.runner import (
    CYCLE,
    DEFAULT_DAYS,
    DEFAULT_SEED,
    DemoResult,
    run_demo,
    stage_names,
    stage_plans,
)
from selflearn.demo.story import START

__all__ = [
    "CYCLE",
    "DEFAULT_DAYS",
    "DEFAULT_SEED",
    "START",
    "DemoResult",
    "run_demo",
    "stage_names",
    "stage_plans",
]
