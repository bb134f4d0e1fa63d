"""Flags: the host's environment variables, parsed and validated once.

Every field of `Flags` is named after its environment variable in lower case and typed
with the value it holds: `Flags(normal_mode_max_per_hour=2)` takes typed values, and
`Flags.from_env` parses the strings an environment holds into them. Either way a bad
value raises `ConfigError` naming the variable, the value and what is allowed, before
anything is written. What each flag does: `docs/behaviour.md`, "Flags".
"""

from __future__ import annotations

import base64
import binascii
import math
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Literal, get_args

import attrs

from selflearn.exceptions import ConfigError, ValidationError

#: How risky a proposal is; a high-risk one is never approved without an operator.
RiskLevel = Literal["low", "medium", "high"]
#: The mode a run executes in.
Mode = Literal["safe", "normal"]
#: What an operator's override switches off.
Capability = Literal["executor", "bandit", "real-apply", "normal-mode"]
#: The rollout stage the flags put a loop in.
Stage = Literal["off", "shadow", "safe-canary", "expanded-safe", "normal-canary", "real-apply"]

RISK_LEVELS: Final[tuple[RiskLevel, ...]] = get_args(RiskLevel)
MODES: Final[tuple[Mode, ...]] = get_args(Mode)
CAPABILITIES: Final[tuple[Capability, ...]] = get_args(Capability)
STAGES: Final[tuple[Stage, ...]] = get_args(Stage)
DEFAULT_STORE: Final = "sqlite:///data/selflearn.db"
DEFAULT_V1_STORE: Final = "data/memory/improvement_proposals.json"
DEFAULT_MAX_FILE_BYTES: Final = 1_048_576
DEFAULT_MAX_FILES: Final = 20
# The environment variable holding the key that encrypts stored event states (optional).
CIPHER_KEY_VARIABLE: Final = "SELFLEARN_CIPHER_KEY"

_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})
_RULE: Final = "selflearn.flag"


def _fail(name: str, value: object, allowed: str) -> ConfigError:
    return ConfigError(f"{name.upper()}={value!r} is not allowed: expected {allowed}")


@attrs.frozen
class _Rule:
    """How one flag's environment string is read, and which typed values the flag takes.

    `parse` turns the environment's text into a value (ValueError when it cannot);
    `accepts` says whether a value, parsed or given in code, is allowed.
    """

    allowed: str
    parse: Callable[[str], object]
    accepts: Callable[[object], bool]


def _boolean() -> _Rule:
    def parse(text: str) -> bool:
        word = text.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ValueError(text)

    def accepts(value: object) -> bool:
        return isinstance(value, bool)

    return _Rule("one of true/false/1/0/yes/no/on/off (any case)", parse, accepts)


def _integer(low: int, high: int | None = None) -> _Rule:
    def parse(text: str) -> int:
        return int(text.strip())

    def accepts(value: object) -> bool:
        if not isinstance(value, int) or isinstance(value, bool):
            return False
        return low <= value and (high is None or value <= high)

    allowed = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"
    return _Rule(allowed, parse, accepts)


def _fraction() -> _Rule:
    def parse(text: str) -> float:
        return float(text.strip())

    def accepts(value: object) -> bool:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        return math.isfinite(value) and 0.0 <= value <= 1.0

    return _Rule("a number from 0 to 1", parse, accepts)


def _mode() -> _Rule:
    def parse(text: str) -> str:
        return text.strip().lower()

    def accepts(value: object) -> bool:
        return value in MODES

    return _Rule("one of " + "/".join(MODES), parse, accepts)


def _risks() -> _Rule:
    def parse(text: str) -> frozenset[str]:
        return frozenset(part.strip().lower() for part in text.split(",") if part.strip())

    def accepts(value: object) -> bool:
        return (
            isinstance(value, frozenset)
            and bool(value)
            and all(isinstance(risk, str) and risk in RISK_LEVELS for risk in value)
        )

    return _Rule("a non-empty comma list of " + ",".join(RISK_LEVELS), parse, accepts)


def _store() -> _Rule:
    def parse(text: str) -> str:
        return text.strip()

    def accepts(value: object) -> bool:
        return isinstance(value, str) and bool(value.strip())

    return _Rule("a store URL (sqlite:///…, postgresql://…, memory://)", parse, accepts)


def _path() -> _Rule:
    def parse(text: str) -> str:
        return text.strip()

    def accepts(value: object) -> bool:
        return isinstance(value, str)

    return _Rule("a file path (empty for none)", parse, accepts)


# Converters of values given in code. Each takes the flag's type (so that `Flags.__init__`
# shows it) and hands a value it cannot convert on unchanged, for the rule to refuse by name.


def _as_float(value: float) -> float:
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _as_risks(value: Iterable[RiskLevel]) -> frozenset[RiskLevel]:
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
        return frozenset(value)
    raise _fail("normal_mode_allowed_risk", value, _risks().allowed)


def _as_text(value: str) -> str:
    return value.strip() if isinstance(value, str) else value


def _as_path(value: str | os.PathLike[str]) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        return value.strip()
    raise _fail("selflearn_v1_store", value, _path().allowed)


def _check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    rule: _Rule = attribute.metadata[_RULE]
    if not rule.accepts(value):
        raise _fail(attribute.name, value, rule.allowed)


def _flag(default: object, rule: _Rule, converter: Callable[[Any], Any] | None = None) -> Any:
    return attrs.field(
        default=default, converter=converter, validator=_check, metadata={_RULE: rule}
    )


@attrs.frozen(kw_only=True)
class Flags:
    """The effective settings of a loop; each field is an environment variable in lower case."""

    enable_proposal_v2: bool = _flag(True, _boolean())
    enable_experiment_executor: bool = _flag(True, _boolean())
    execution_mode_default: Mode = _flag("safe", _mode())
    executor_canary_percent: int = _flag(100, _integer(0, 100))
    enable_policy_bandit: bool = _flag(True, _boolean())
    enable_windowed_self_check: bool = _flag(True, _boolean())
    enable_synthetic_opportunities: bool = _flag(True, _boolean())
    synthetic_opportunity_threshold: int = _flag(3, _integer(1))
    verification_retry_interval_seconds: int = _flag(300, _integer(1))
    verification_retry_max_attempts: int = _flag(3, _integer(1))
    enable_normal_mode_canary: bool = _flag(True, _boolean())
    normal_mode_max_per_hour: int = _flag(1, _integer(0))
    normal_mode_min_priority: float = _flag(0.9, _fraction(), _as_float)
    normal_mode_allowed_risk: frozenset[RiskLevel] = _flag(frozenset({"low"}), _risks(), _as_risks)
    normal_mode_cooldown_seconds: int = _flag(1800, _integer(0))
    enable_executor_real_apply: bool = _flag(False, _boolean())
    executor_real_apply_max_patches: int = _flag(1, _integer(0))
    # The largest file real apply reads or writes, and the most files one run may touch.
    executor_real_apply_max_file_bytes: int = _flag(DEFAULT_MAX_FILE_BYTES, _integer(1))
    executor_real_apply_max_files: int = _flag(DEFAULT_MAX_FILES, _integer(1))
    proposal_v2_create_threshold: float = _flag(0.62, _fraction(), _as_float)
    proposal_v2_auto_approve_threshold: float = _flag(0.82, _fraction(), _as_float)
    execution_lease_seconds: int = _flag(900, _integer(1))
    selflearn_store: str = _flag(DEFAULT_STORE, _store(), _as_text)
    # The v1 proposals file imported when a loop starts (docs/behaviour.md, "Migration
    # from v1"); empty: none.
    selflearn_v1_store: str = _flag(DEFAULT_V1_STORE, _path(), _as_path)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Flags:
        """Read the flags from `environ` (default `os.environ`); an absent one is its default."""
        source = os.environ if environ is None else environ
        given: dict[str, Any] = {}
        for field in attrs.fields(cls):
            name = field.name.upper()
            if name in source:
                given[field.name] = _parse(field, source[name])
        return cls(**given)

    @property
    def stage(self) -> Stage:
        """The rollout stage these flags put the loop in (docs/behaviour.md, "Flags")."""
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


def _parse(field: attrs.Attribute[Any], text: str) -> object:
    """The typed value of the environment's `text` for `field`, or `ConfigError`."""
    rule: _Rule = field.metadata[_RULE]
    try:
        value = rule.parse(text)
    except ValueError:
        raise _fail(field.name, text, rule.allowed) from None
    if not rule.accepts(value):
        raise _fail(field.name, text, rule.allowed)
    return value


_LOCATIONS: Final = frozenset({"selflearn_store", "selflearn_v1_store"})

_OVERRIDE_FIELDS: Final[dict[Capability, str]] = {
    "executor": "enable_experiment_executor",
    "bandit": "enable_policy_bandit",
    "real-apply": "enable_executor_real_apply",
    "normal-mode": "enable_normal_mode_canary",
}


def check_capability(capability: str) -> Capability:
    """Return `capability` if an operator may switch it off, else raise `ValidationError`."""
    for known in CAPABILITIES:
        if capability == known:
            return known
    allowed = ", ".join(CAPABILITIES)
    raise ValidationError(f"unknown capability {capability!r}: expected one of {allowed}")


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
