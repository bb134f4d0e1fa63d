"""Step 3: the policy bandit draws its arms for this cycle (Thompson sampling)."""

from __future__ import annotations

from selflearn.cycle.state import Cycle
from selflearn.events.rules import thompson_draws


def select_arms(cycle: Cycle) -> None:
    """Draw one arm per family from a seed recorded with the draws; keep the selection."""
    session = cycle.session
    seed = cycle.host.rng.getrandbits(63)

    def attempt() -> dict[str, str]:
        at = session.now()
        policy = session.policy(at, declare=cycle.host.families)
        draws, selection = thompson_draws(policy.arms, seed)
        policy.select(at=at, seed=seed, draws=draws, selection=selection)
        session.save(policy)
        return selection

    cycle.selection = session.retry(attempt, what="record the bandit's selection")


__all__ = ["select_arms"]
