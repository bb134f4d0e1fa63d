"""Ids derived from what they name, so that every process computes the same one.

Two processes acting on the same opportunity, run or v1 row derive the same id and then
conflict on its first version, instead of recording the same thing twice.
"""

from __future__ import annotations

from typing import Final
from uuid import NAMESPACE_URL, UUID, uuid5

# The namespace of every derived proposal id: a draft's "<opportunity>/<index>" and an
# imported v1 row's "v1:<id>" cannot collide.
PROPOSAL_NAMESPACE: Final = uuid5(NAMESPACE_URL, "selflearn/proposal")
SYNTHETIC_NAMESPACE: Final = uuid5(NAMESPACE_URL, "selflearn/synthetic-opportunity")


def proposal_id_for(opportunity_id: str, index: int) -> str:
    """The id of the `index`-th draft of an opportunity: the same in every process."""
    return str(uuid5(PROPOSAL_NAMESPACE, f"{opportunity_id}/{index}"))


def run_id_for(proposal_id: str, number: int) -> str:
    """The id of a proposal's run number `number` (0 for its first)."""
    return str(uuid5(NAMESPACE_URL, f"selflearn/run/{proposal_id}/{number}"))


def synthetic_opportunity_id(self_check_version: int) -> str:
    """The id of the synthetic opportunity opened at this version of the self-check.

    Processes racing to open it derive the same id from the version they both loaded.
    """
    return f"synthetic:{uuid5(SYNTHETIC_NAMESPACE, str(self_check_version))}"


def learning_event_id(signal_id: UUID, observation: int) -> str:
    """The id of the `observation`-th observation (from 1) of a learning signal."""
    return str(uuid5(signal_id, str(observation)))
