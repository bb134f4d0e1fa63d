"""Redaction of host texts before they are recorded: known secret shapes are masked."""

from __future__ import annotations

import pytest

from selflearn.redaction import MASK, Redactor, redact

KEY_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        (
            "OperationalError: connection to postgresql://app:hunter2-s3cr3t@db:5432/x failed",
            "hunter2-s3cr3t",
            "postgresql://app:[redacted]@db:5432/x",
        ),
        ("could not read config: DB_PASSWORD=hunter2-s3cr3t", "hunter2-s3cr3t", "DB_PASSWORD="),
        ("export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG", "wJalrXUtnFEMI", "export"),
        ('payload {"api_key": "abcd1234efgh", "user": "ann"}', "abcd1234efgh", '"user": "ann"'),
        ("client_secret: 'Zm9vYmFy'", "Zm9vYmFy", "client_secret: '"),
        ("401: Authorization: Bearer eyJhbGciOi0123456789", "eyJhbGciOi0123456789", "401"),
        ("token ghp_" + "a1" * 18 + " rejected", "a1a1a1a1", "rejected"),
        ("AWS key AKIAIOSFODNN7EXAMPLE in use", "AKIAIOSFODNN7EXAMPLE", "in use"),
        ("slack xoxb-1234567890-abcdefghij failed", "xoxb-1234567890", "failed"),
        ("openai sk-proj-abcdefghijklmnopqrstu", "abcdefghijklmnopqrstu", "openai"),
        (
            f"-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY_BODY}\n-----END OPENSSH PRIVATE KEY-----\n"
            "next line",
            KEY_BODY,
            "next line",
        ),
        (f"cut off: -----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}", KEY_BODY, "cut off"),
    ],
)
def test_known_secret_shapes_are_masked(text: str, secret: str, kept: str) -> None:
    """Each secret is replaced by the mask; the rest of the text stays readable."""
    masked = redact(text)
    assert secret not in masked
    assert MASK in masked
    assert kept in masked


@pytest.mark.parametrize(
    "text",
    [
        "ZeroDivisionError: division by zero",
        "author: Ann; tokens=5; passed=3; keyboard=us",
        "GET https://example.org/path?q=1 returned 503",
        "file conf/app.ini: context of hunk 1 does not match line 12",
    ],
)
def test_ordinary_texts_are_left_alone(text: str) -> None:
    """Texts without a secret shape pass unchanged."""
    assert text == redact(text)


def test_redaction_is_idempotent() -> None:
    """Masking a masked text changes nothing more."""
    once = redact("DB_PASSWORD=x postgresql://u:p@h/db Bearer abcdefgh12345678")
    assert once == redact(once)


def test_a_host_adds_its_own_patterns() -> None:
    """Extra patterns are masked whole, after the default ones."""
    redactor = Redactor(extra=[r"ACME-[0-9]{6}"])
    assert f"ticket {MASK}, DB_PASSWORD={MASK}" == redactor("ticket ACME-123456, DB_PASSWORD=x")
