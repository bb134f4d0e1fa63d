"""One cycle of the loop (one `tick()`), step by step.

| module | step |
|---|---|
| `run` | the steps in order: `run_cycle(session, host)` |
| `state` | `Cycle`: what a cycle carries between steps; its report rows |
| `flags` | 1. the effective flags (operator overrides applied), recorded |
| `reconcile` | 2. runs a crash left behind: overdue runs, files to restore |
| `bandit` | 3. the bandit's arms for this cycle |
| `proposals` | 4. proposals from learning events; auto-approval |
| `rechecks` | 5. verification attempts that are due |
| `executions` | 6. runs: mode, baseline, real apply, the executor |
| `verification` | attempts measured, judged, recorded; convergence |
| `selfcheck` | 7. the self-check and synthetic opportunities |
| `failures` | closing a run as failed |
| `host` | calls into the host's ports and checks on what they return |

Every step takes the `Cycle`, which holds the session and the host's settings; nothing
here imports the loop.
"""

from __future__ import annotations

from selflearn.cycle.run import run_cycle

__all__ = ["run_cycle"]
