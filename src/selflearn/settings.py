"""What a loop was given: its flags, the host's ports and the real-apply settings, checked once.

`HostSettings` is a frozen value the cycle and real apply read; nothing in it changes
while a loop lives (its random generator draws, but is never replaced).
"""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

from selflearn.config import Flags
from selflearn.events.policy import DEFAULT_FAMILIES
from selflearn.exceptions import ConfigError
from selflearn.ports import Executor, Probe, Proposer, Verifier
from selflearn.realapply.workspace import DEFAULT_HOOKS, Hooks
from selflearn.verify import RuleVerifier


@attrs.frozen(kw_only=True)
class HostSettings:
    """A loop's flags and the host's ports (`None`: not given), as the cycle reads them.

    `apply_hooks` are the test seams of real apply (`selflearn.realapply.workspace`);
    `rng` draws the bandit's seeds; `families` are the policy's arm families, the
    default one included.
    """

    flags: Flags
    executor: Executor | None = None
    probe: Probe | None = None
    verifier: Verifier = attrs.field(factory=RuleVerifier)
    proposer: Proposer | None = None
    workspace: Path | None = None
    apply_hooks: Hooks = DEFAULT_HOOKS
    rng: random.Random = attrs.field(factory=random.Random)
    families: Mapping[str, Sequence[str]] = attrs.field(
        factory=lambda: {name: list(arms) for name, arms in DEFAULT_FAMILIES.items()}
    )
    include_non_production: bool = False

    @classmethod
    def build(
        cls,
        *,
        flags: Flags | None,
        executor: Executor | None = None,
        probe: Probe | None = None,
        verifier: Verifier | None = None,
        proposer: Proposer | None = None,
        workspace: str | os.PathLike[str] | None = None,
        seed: int | None = None,
        policy_families: Mapping[str, Sequence[str]] | None = None,
        include_non_production: bool = False,
    ) -> HostSettings:
        """The settings from a loop's arguments, or `ConfigError` naming the bad one.

        `flags=None` reads them from the environment; `seed=None` draws one.
        """
        if flags is None:
            flags = Flags.from_env()
        elif not isinstance(flags, Flags):
            raise ConfigError(f"flags must be a selflearn.Flags, got {type(flags).__name__}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigError(f"seed={seed!r}: expected an integer")
        return cls(
            flags=flags,
            executor=executor,
            probe=probe,
            verifier=verifier if verifier is not None else RuleVerifier(),
            proposer=proposer,
            workspace=check_workspace(workspace),
            rng=random.Random(seed if seed is not None else secrets.randbits(63)),
            families=check_families(policy_families),
            include_non_production=bool(include_non_production),
        )


def check_workspace(given: str | os.PathLike[str] | None) -> Path | None:
    """The workspace root for real apply: an existing directory, or None."""
    if given is None:
        return None
    try:
        path = Path(given)
    except TypeError:
        raise ConfigError(f"workspace={given!r}: expected a directory path") from None
    if not str(given).strip() or not path.is_dir():
        raise ConfigError(f"workspace={os.fspath(given)!r} is not an existing directory")
    return path


def check_families(given: Mapping[str, Sequence[str]] | None) -> dict[str, list[str]]:
    """The default arm family plus the host's, validated."""
    families = {name: list(arms) for name, arms in DEFAULT_FAMILIES.items()}
    if given is None:
        return families
    if not isinstance(given, Mapping):
        raise ConfigError(f"policy_families must map a family name to arm labels, got {given!r}")
    for name, arms in given.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"policy family name {name!r}: expected a non-empty string")
        if isinstance(arms, str) or not isinstance(arms, Sequence) or not arms:
            raise ConfigError(f"policy family {name!r}: expected a non-empty list of arm labels")
        labels = list(arms)
        if not all(isinstance(a, str) and a.strip() for a in labels) or len(set(labels)) != len(
            labels
        ):
            raise ConfigError(
                f"policy family {name!r}: arm labels must be distinct non-empty strings"
            )
        if name == "approve_threshold":
            for label in labels:
                _check_threshold_arm(label)
        merged = families.setdefault(name, [])
        merged.extend(a for a in labels if a not in merged)
    return families


def _check_threshold_arm(label: str) -> None:
    try:
        ok = 0.0 <= float(label) <= 1.0
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"approve_threshold arm {label!r}: expected a number in [0, 1]")


__all__ = ["HostSettings", "check_families", "check_workspace"]
