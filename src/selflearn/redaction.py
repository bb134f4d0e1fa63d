"""Masking secrets in texts a host hands the loop (error messages) before they are recorded.

The log is append-only: a password that reaches it stays there. Error texts written by host
code (an executor's exception quoting a connection string, a probe's traceback with a token)
therefore pass through a redactor first. `redact` is the default: it masks the shapes secrets
commonly take — private-key blocks, passwords in URLs, `NAME=value` pairs whose name says
secret, bearer tokens and the well-known token formats of common services. A host with
secrets of its own shape passes its own function (`Redactor`), or `Redactor` built with
extra patterns.

Pure: text in, text out; no I/O, nothing of ours imported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Final

MASK: Final = "[redacted]"

RedactFunction = Callable[[str], str]

# A PEM block of a private key, up to its END line (or to the end of a cut-off text).
_PRIVATE_KEY: Final = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----"
    r".*?(?:-----END \1-----|\Z)",
    re.DOTALL,
)
# scheme://user:password@host — the password goes, the rest stays readable.
_URL_PASSWORD: Final = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s]*:)[^@/\s]+@")
# A name that says "secret", then = or :, then the value (quoted or bare).
_SECRET_WORDS: Final = (
    r"pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|"
    r"private[_-]?key|client[_-]?secret|credentials?|auth|session[_-]?id|cookie|signature"
)
_ASSIGNMENT: Final = re.compile(
    r"(?P<name>\b[\w.-]*?(?:" + _SECRET_WORDS + r")(?:[_.-][\w.-]*)?[\"']?\s*(?:=|:)\s*)"
    r"(?P<value>\"[^\"\n]*\"|'[^'\n]*'|[^\s,;&\"']+)",
    re.IGNORECASE,
)
_BEARER: Final = re.compile(r"(?P<head>\b(?:bearer|basic|token)\s+)[A-Za-z0-9._~+/=-]{8,}", re.I)
# Token formats that identify themselves (GitHub, GitLab, Slack, AWS, Google, OpenAI-style,
# Stripe, JSON Web Tokens).
_TOKENS: Final = re.compile(
    r"\b(?:"
    r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}|"
    r"xox[abposr]-[A-Za-z0-9-]{10,}|(?:AKIA|ASIA)[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|"
    r"sk-[A-Za-z0-9_-]{20,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}|"
    r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r")"
)


class Redactor:
    """A redactor: the default patterns, and any `extra` regular expressions a host adds
    (each match is masked whole). Call it with a text; it returns the text masked."""

    def __init__(self, extra: Iterable[str | re.Pattern[str]] = ()) -> None:
        self.extra = tuple(re.compile(p) if isinstance(p, str) else p for p in extra)

    def __call__(self, text: str) -> str:
        text = _PRIVATE_KEY.sub(lambda m: f"-----BEGIN {m.group(1)}----- {MASK}", text)
        text = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}@", text)
        text = _ASSIGNMENT.sub(_mask_value, text)
        text = _BEARER.sub(lambda m: f"{m.group('head')}{MASK}", text)
        text = _TOKENS.sub(MASK, text)
        for pattern in self.extra:
            text = pattern.sub(MASK, text)
        return text


def _mask_value(match: re.Match[str]) -> str:
    value = match.group("value")
    if value.strip("\"'").startswith(MASK):
        return match.group(0)
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group('name')}{quote}{MASK}{quote}"


_DEFAULT: Final = Redactor()


def redact(text: str) -> str:
    """`text` with the secrets it seems to hold masked (the default redactor)."""
    return _DEFAULT(text)
