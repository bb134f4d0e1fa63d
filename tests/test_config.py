"""Flags: parsing, validation, the derived stage and overrides."""

from __future__ import annotations

import base64

import pytest

import selflearn as sl
from selflearn.config import cipher_key, flag_sources

DEFAULTS = {
    "enable_proposal_v2": True,
    "enable_experiment_executor": True,
    "execution_mode_default": "safe",
    "executor_canary_percent": 100,
    "enable_policy_bandit": True,
    "enable_windowed_self_check": True,
    "enable_synthetic_opportunities": True,
    "synthetic_opportunity_threshold": 3,
    "verification_retry_interval_seconds": 300,
    "verification_retry_max_attempts": 3,
    "enable_normal_mode_canary": True,
    "normal_mode_max_per_hour": 1,
    "normal_mode_min_priority": 0.9,
    "normal_mode_allowed_risk": frozenset({"low"}),
    "normal_mode_cooldown_seconds": 1800,
    "enable_executor_real_apply": False,
    "executor_real_apply_max_patches": 1,
    "executor_real_apply_max_file_bytes": 1048576,
    "executor_real_apply_max_files": 20,
    "proposal_v2_create_threshold": 0.62,
    "proposal_v2_auto_approve_threshold": 0.82,
    "execution_lease_seconds": 900,
    "selflearn_store": "sqlite:///data/selflearn.db",
}


def test_defaults_are_the_specs() -> None:
    """An empty environment gives every documented default."""
    flags = sl.Flags.from_env({})
    assert DEFAULTS == {name: getattr(flags, name) for name in DEFAULTS}


@pytest.mark.parametrize("word", ["true", "TRUE", "1", "yes", "On", " on "])
def test_true_words(word: str) -> None:
    """Booleans accept true/1/yes/on in any case."""
    assert sl.Flags.from_env({"ENABLE_EXECUTOR_REAL_APPLY": word}).enable_executor_real_apply


@pytest.mark.parametrize("word", ["false", "False", "0", "no", "OFF"])
def test_false_words(word: str) -> None:
    """Booleans accept false/0/no/off in any case."""
    assert not sl.Flags.from_env({"ENABLE_PROPOSAL_V2": word}).enable_proposal_v2


def test_values_parse() -> None:
    """Every kind of value parses from its environment string."""
    flags = sl.Flags.from_env(
        {
            "EXECUTION_MODE_DEFAULT": "Normal",
            "EXECUTOR_CANARY_PERCENT": "25",
            "NORMAL_MODE_MIN_PRIORITY": "0.95",
            "NORMAL_MODE_ALLOWED_RISK": "low, medium",
            "NORMAL_MODE_MAX_PER_HOUR": "0",
            "SELFLEARN_STORE": "memory://",
        }
    )
    assert (flags.execution_mode_default, flags.executor_canary_percent) == ("normal", 25)
    assert flags.normal_mode_min_priority == 0.95
    assert flags.normal_mode_allowed_risk == frozenset({"low", "medium"})
    assert flags.normal_mode_max_per_hour == 0
    assert flags.selflearn_store == "memory://"


BAD = [
    ("ENABLE_PROPOSAL_V2", "maybe", "true/false"),
    ("ENABLE_EXPERIMENT_EXECUTOR", "", "true/false"),
    ("ENABLE_POLICY_BANDIT", "2", "true/false"),
    ("ENABLE_WINDOWED_SELF_CHECK", "y", "true/false"),
    ("ENABLE_SYNTHETIC_OPPORTUNITIES", "t", "true/false"),
    ("ENABLE_NORMAL_MODE_CANARY", "enabled", "true/false"),
    ("ENABLE_EXECUTOR_REAL_APPLY", "nope", "true/false"),
    ("EXECUTION_MODE_DEFAULT", "fast", "safe/normal"),
    ("EXECUTOR_CANARY_PERCENT", "101", "from 0 to 100"),
    ("EXECUTOR_CANARY_PERCENT", "-1", "from 0 to 100"),
    ("EXECUTOR_CANARY_PERCENT", "50.5", "from 0 to 100"),
    ("SYNTHETIC_OPPORTUNITY_THRESHOLD", "0", ">= 1"),
    ("VERIFICATION_RETRY_INTERVAL_SECONDS", "0", ">= 1"),
    ("VERIFICATION_RETRY_INTERVAL_SECONDS", "five", ">= 1"),
    ("VERIFICATION_RETRY_MAX_ATTEMPTS", "0", ">= 1"),
    ("NORMAL_MODE_MAX_PER_HOUR", "-1", ">= 0"),
    ("NORMAL_MODE_MIN_PRIORITY", "1.01", "from 0 to 1"),
    ("NORMAL_MODE_MIN_PRIORITY", "nan", "from 0 to 1"),
    ("NORMAL_MODE_MIN_PRIORITY", "high", "from 0 to 1"),
    ("NORMAL_MODE_ALLOWED_RISK", "", "non-empty"),
    ("NORMAL_MODE_ALLOWED_RISK", "low,extreme", "non-empty"),
    ("NORMAL_MODE_COOLDOWN_SECONDS", "-5", ">= 0"),
    ("EXECUTOR_REAL_APPLY_MAX_PATCHES", "-1", ">= 0"),
    ("EXECUTOR_REAL_APPLY_MAX_FILE_BYTES", "0", ">= 1"),
    ("EXECUTOR_REAL_APPLY_MAX_FILE_BYTES", "1MB", ">= 1"),
    ("EXECUTOR_REAL_APPLY_MAX_FILES", "0", ">= 1"),
    ("EXECUTOR_REAL_APPLY_MAX_FILES", "2.5", ">= 1"),
    ("PROPOSAL_V2_CREATE_THRESHOLD", "-0.1", "from 0 to 1"),
    ("PROPOSAL_V2_AUTO_APPROVE_THRESHOLD", "2", "from 0 to 1"),
    ("EXECUTION_LEASE_SECONDS", "0", ">= 1"),
    ("SELFLEARN_STORE", "  ", "store URL"),
]


@pytest.mark.parametrize(("variable", "value", "allowed"), BAD)
def test_bad_value_names_variable_value_and_what_is_allowed(
    variable: str, value: str, allowed: str
) -> None:
    """A bad value raises ConfigError naming the variable, the value and what is allowed."""
    with pytest.raises(sl.ConfigError) as caught:
        sl.Flags.from_env({variable: value})
    message = str(caught.value)
    assert variable in message
    assert repr(value) in message
    assert allowed in message


def test_config_error_is_a_value_error() -> None:
    """ConfigError is also a ValueError and a SelflearnError."""
    with pytest.raises(ValueError, match="EXECUTOR_CANARY_PERCENT"):
        sl.Flags(executor_canary_percent=500)
    assert issubclass(sl.ConfigError, sl.SelflearnError)


def test_code_values_are_validated_too() -> None:
    """Flags(...) in code goes through the same checks; a bool is not an integer."""
    with pytest.raises(sl.ConfigError, match="NORMAL_MODE_MAX_PER_HOUR"):
        sl.Flags(normal_mode_max_per_hour=True)
    with pytest.raises(sl.ConfigError, match="NORMAL_MODE_ALLOWED_RISK"):
        sl.Flags(normal_mode_allowed_risk=())
    assert sl.Flags(normal_mode_allowed_risk=["high", "low"]).normal_mode_allowed_risk == {
        "high",
        "low",
    }


def test_flags_are_frozen() -> None:
    """Flags cannot change after they are made."""
    flags = sl.Flags()
    with pytest.raises(AttributeError):
        flags.enable_proposal_v2 = False  # type: ignore[misc]


STAGES = [
    ({"ENABLE_PROPOSAL_V2": "false"}, "off"),
    ({"ENABLE_EXPERIMENT_EXECUTOR": "false"}, "shadow"),
    ({"EXECUTOR_CANARY_PERCENT": "10"}, "safe-canary"),
    ({}, "expanded-safe"),
    ({"EXECUTION_MODE_DEFAULT": "normal", "EXECUTOR_CANARY_PERCENT": "10"}, "normal-canary"),
    ({"EXECUTION_MODE_DEFAULT": "normal", "ENABLE_NORMAL_MODE_CANARY": "false"}, "expanded-safe"),
    ({"EXECUTION_MODE_DEFAULT": "normal", "ENABLE_EXECUTOR_REAL_APPLY": "true"}, "real-apply"),
    ({"ENABLE_EXECUTOR_REAL_APPLY": "true"}, "expanded-safe"),
]


@pytest.mark.parametrize(("environ", "stage"), STAGES)
def test_rollout_stage_is_derived(environ: dict[str, str], stage: str) -> None:
    """The rollout stage follows the ladder of stages."""
    assert stage == sl.Flags.from_env(environ).stage


def test_overrides_only_switch_off() -> None:
    """An override switches a capability off; it never switches one on."""
    off = sl.Flags(enable_experiment_executor=False, enable_policy_bandit=True)
    overridden = off.with_overrides(["bandit", "real-apply", "normal-mode"])
    assert not overridden.enable_policy_bandit
    assert not overridden.enable_experiment_executor
    assert not overridden.enable_executor_real_apply
    assert not overridden.enable_normal_mode_canary
    assert sl.Flags().with_overrides([]) == sl.Flags()


def test_unknown_capability_is_refused() -> None:
    """Only executor, bandit, real-apply and normal-mode can be overridden."""
    with pytest.raises(sl.ValidationError, match="'everything'"):
        sl.Flags().with_overrides(["everything"])


def test_recorded_flags_leave_out_the_store_url() -> None:
    """The flags written to the log never include the store URL (it may hold a password)."""
    recorded = sl.Flags(selflearn_store="postgresql://u:secret@h/db").recorded()
    assert "selflearn_store" not in recorded
    assert recorded["normal_mode_allowed_risk"] == ["low"]


def test_flag_sources() -> None:
    """Each flag's source is the environment when set there, else the default."""
    sources = flag_sources({"NORMAL_MODE_MAX_PER_HOUR": "2"})
    assert sources["normal_mode_max_per_hour"] == "environment"
    assert sources["enable_proposal_v2"] == "default"


def test_real_apply_limits_parse_and_are_recorded() -> None:
    """The file-size and file-count limits parse from the environment and are recorded."""
    flags = sl.Flags.from_env(
        {"EXECUTOR_REAL_APPLY_MAX_FILE_BYTES": " 4096 ", "EXECUTOR_REAL_APPLY_MAX_FILES": "3"}
    )
    recorded = flags.recorded()
    assert (4096, 3) == (
        recorded["executor_real_apply_max_file_bytes"],
        recorded["executor_real_apply_max_files"],
    )


def test_cipher_key_is_checked_and_never_shown() -> None:
    """SELFLEARN_CIPHER_KEY must be base64 of an AES key; an error never repeats the value."""
    key = base64.b64encode(bytes(range(32))).decode()
    assert key == cipher_key({"SELFLEARN_CIPHER_KEY": key})
    assert cipher_key({}) is None
    assert cipher_key({"SELFLEARN_CIPHER_KEY": "  "}) is None
    for bad in ("hunter2-not-base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(sl.ConfigError, match="SELFLEARN_CIPHER_KEY") as caught:
            cipher_key({"SELFLEARN_CIPHER_KEY": bad})
        assert bad not in str(caught.value)
    assert "selflearn_cipher_key" not in sl.Flags().recorded()
