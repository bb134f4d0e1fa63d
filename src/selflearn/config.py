"""Flags: the runbook's environment variables, parsed and validated once (SPEC §1).

Every field of `Flags` is named after its environment variable in lower case. A field
accepts its typed value or the string an environment would hold, so `Flags.from_env`
and `Flags(...)` share one parser, and a bad value raises `ConfigError` naming the
variable, the value and what is allowed, before anything is written.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Literal

import attrs

from selflearn.exceptions import ConfigError, ValidationError

RISK_LEVELS: Final = ("low", "medium", "high")
MODES: Final = ("safe", "normal")
CAPABILITIES: Final = ("executor", "bandit", "real-apply", "normal-mode")
DEFAULT_STORE: Final = "sqlite:///data/selflearn.db"
DEFAULT_V1_STORE: Final = "data/memory/improvement_proposals.json"
DEFAULT_MAX_FILE_BYTES: Final = 1_048_576
DEFAULT_MAX_FILES: Final = 20
# The environment variable holding the key that encrypts stored event states (optional).
CIPHER_KEY_VARIABLE: Final = "SELFLEARN_CIPHER_KEY"

Stage = Literal["off", "shadow", "safe-canary", "expanded-safe", "normal-canary", "real-apply"]

_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})


def _fail(name: str, value: object, allowed: str) -> ConfigError:
    return ConfigError(f"{name.upper()}={value!r} is not allowed: expected {allowed}")


def _boolean(name: str) -> Callable[[object], bool]:
    def convert(value: object) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
        raise _fail(name, value, "one of true/false/1/0/yes/no/on/off (any case)")

    return convert


def _integer(name: str, low: int, high: int | None = None) -> Callable[[object], int]:
    allowed = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"

    def convert(value: object) -> int:
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                number = None
        if number is None or number < low or (high is not None and number > high):
            raise _fail(name, value, allowed)
        return number

    return convert


def _fraction(name: str) -> Callable[[object], float]:
    allowed = "a number from 0 to 1"

    def convert(value: object) -> float:
        number: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                number = None
        if number is None or not math.isfinite(number) or not 0.0 <= number <= 1.0:
            raise _fail(name, value, allowed)
        return number

    return convert


def _choice(name: str, choices: tuple[str, ...]) -> Callable[[object], str]:
    def convert(value: object) -> str:
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        raise _fail(name, value, "one of " + "/".join(choices))

    return convert


def _risks(name: str) -> Callable[[object], frozenset[str]]:
    allowed = "a non-empty comma list of " + ",".join(RISK_LEVELS)

    def convert(value: object) -> frozenset[str]:
        items: Iterable[object]
        if isinstance(value, str):
            items = [part.strip().lower() for part in value.split(",") if part.strip()]
        elif isinstance(value, Iterable):
            items = list(value)
        else:
            raise _fail(name, value, allowed)
        risks = frozenset(items)
        if not risks or not all(isinstance(r, str) and r in RISK_LEVELS for r in risks):
            raise _fail(name, value, allowed)
        return frozenset(str(r) for r in risks)

    return convert


def _store(name: str) -> Callable[[object], str]:
    def convert(value: object) -> str:
        if isinstance(value, str) and value.strip():
            return value.strip()
        raise _fail(name, value, "a store URL (sqlite:///…, postgresql://…, memory://)")

    return convert


def _path(name: str) -> Callable[[object], str]:
    def convert(value: object) -> str:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if isinstance(value, str):
            return value.strip()
        raise _fail(name, value, "a file path (empty for none)")

    return convert


def _field(default: object, convert: Callable[[object], Any]) -> Any:
    return attrs.field(default=convert(default), converter=convert)


@attrs.frozen(kw_only=True)
class Flags:
    """The effective settings of a loop; each field is an environment variable in lower case."""

    enable_proposal_v2: bool = _field(True, _boolean("enable_proposal_v2"))
    enable_experiment_executor: bool = _field(True, _boolean("enable_experiment_executor"))
    execution_mode_default: str = _field("safe", _choice("execution_mode_default", MODES))
    executor_canary_percent: int = _field(100, _integer("executor_canary_percent", 0, 100))
    enable_policy_bandit: bool = _field(True, _boolean("enable_policy_bandit"))
    enable_windowed_self_check: bool = _field(True, _boolean("enable_windowed_self_check"))
    enable_synthetic_opportunities: bool = _field(True, _boolean("enable_synthetic_opportunities"))
    synthetic_opportunity_threshold: int = _field(3, _integer("synthetic_opportunity_threshold", 1))
    verification_retry_interval_seconds: int = _field(
        300, _integer("verification_retry_interval_seconds", 1)
    )
    verification_retry_max_attempts: int = _field(3, _integer("verification_retry_max_attempts", 1))
    enable_normal_mode_canary: bool = _field(True, _boolean("enable_normal_mode_canary"))
    normal_mode_max_per_hour: int = _field(1, _integer("normal_mode_max_per_hour", 0))
    normal_mode_min_priority: float = _field(0.9, _fraction("normal_mode_min_priority"))
    normal_mode_allowed_risk: frozenset[str] = _field("low", _risks("normal_mode_allowed_risk"))
    normal_mode_cooldown_seconds: int = _field(1800, _integer("normal_mode_cooldown_seconds", 0))
    enable_executor_real_apply: bool = _field(False, _boolean("enable_executor_real_apply"))
    executor_real_apply_max_patches: int = _field(1, _integer("executor_real_apply_max_patches", 0))
    # The largest file real apply reads or writes, and the most files one run may touch.
    executor_real_apply_max_file_bytes: int = _field(
        DEFAULT_MAX_FILE_BYTES, _integer("executor_real_apply_max_file_bytes", 1)
    )
    executor_real_apply_max_files: int = _field(
        DEFAULT_MAX_FILES, _integer("executor_real_apply_max_files", 1)
    )
    proposal_v2_create_threshold: float = _field(0.62, _fraction("proposal_v2_create_threshold"))
    proposal_v2_auto_approve_threshold: float = _field(
        0.82, _fraction("proposal_v2_auto_approve_threshold")
    )
    execution_lease_seconds: int = _field(900, _integer("execution_lease_seconds", 1))
    selflearn_store: str = _field(DEFAULT_STORE, _store("selflearn_store"))
    # The v1 proposals file imported when a loop starts (SPEC §11); empty: none.
    selflearn_v1_store: str = _field(DEFAULT_V1_STORE, _path("selflearn_v1_store"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Flags:
        """Read the runbook's variables from `environ` (default `os.environ`)."""
        source = os.environ if environ is None else environ
        given: dict[str, Any] = {
            field.name: source[field.name.upper()]
            for field in attrs.fields(cls)
            if field.name.upper() in source
        }
        return cls(**given)

    @property
    def stage(self) -> Stage:
        """The rollout stage these flags put the loop in (SPEC §1)."""
        if not self.enable_proposal_v2:
            return "off"
        if not self.enable_experiment_executor:
            return "shadow"
        if self.execution_mode_default == "normal" and self.enable_normal_mode_canary:
            return "real-apply" if self.enable_executor_real_apply else "normal-canary"
        return "safe-canary" if self.executor_canary_percent < 100 else "expanded-safe"

    def with_overrides(self, disabled: Iterable[str]) -> Flags:
        """These flags with the operator's "off" overrides applied (never switches on)."""
        changes: dict[str, Any] = {}
        for capability in disabled:
            changes[_OVERRIDE_FIELDS[check_capability(capability)]] = False
        return attrs.evolve(self, **changes) if changes else self

    def recorded(self) -> dict[str, object]:
        """The flags as recorded in the log: every field but the stores' locations, JSON-ready."""
        return {
            field.name: sorted(value) if isinstance(value, frozenset) else value
            for field in attrs.fields(Flags)
            if field.name not in _LOCATIONS
            for value in [getattr(self, field.name)]
        }


_LOCATIONS: Final = frozenset({"selflearn_store", "selflearn_v1_store"})

_OVERRIDE_FIELDS: Final = {
    "executor": "enable_experiment_executor",
    "bandit": "enable_policy_bandit",
    "real-apply": "enable_executor_real_apply",
    "normal-mode": "enable_normal_mode_canary",
}


def check_capability(capability: str) -> str:
    """Return `capability` if an operator may switch it off, else raise `ValidationError`."""
    if capability not in CAPABILITIES:
        allowed = ", ".join(CAPABILITIES)
        raise ValidationError(f"unknown capability {capability!r}: expected one of {allowed}")
    return capability


def flag_sources(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Where each flag's value comes from: `environment` or `default`."""
    source = os.environ if environ is None else environ
    return {
        field.name: "environment" if field.name.upper() in source else "default"
        for field in attrs.fields(Flags)
    }


def cipher_key(environ: Mapping[str, str] | None = None) -> str | None:
    """The key of `SELFLEARN_CIPHER_KEY` (base64 of 16, 24 or 32 bytes), None when unset.

    The key is never a field of `Flags`, so it is never recorded with the effective flags.
    A malformed key raises `ConfigError` naming the variable, never the value.
    """
    source = os.environ if environ is None else environ
    value = source.get(CIPHER_KEY_VARIABLE, "").strip()
    if not value:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) not in (16, 24, 32):
        raise ConfigError(
            f"{CIPHER_KEY_VARIABLE} is not allowed: expected the base64 encoding of a 16, 24 "
            "or 32 byte AES key (the value is not shown)"
        )
    return value
