"""The Hugging Face access token, kept where huggingface_hub keeps it and never shown in full.

The token lives in huggingface_hub's own token file (``$HF_HOME/token``, the path
``huggingface_hub.constants.HF_TOKEN_PATH`` names), so the ``hf`` command line, Python scripts and
QuantDesk share one login. ``huggingface_hub.login`` is not used to save it: it checks the token
with a request to the hub first, and QuantDesk must work offline. The file is written the way
huggingface_hub writes it (owner-only permissions) and atomically. ``HF_TOKEN`` in the
environment overrides the file, as huggingface_hub's ``get_token`` does; QuantDesk then shows the
token as set by the environment and does not change it.

Nothing here logs a token. :class:`SecretFilter` scrubs tokens from log records and text
(diagnostics), both the exact active token and anything shaped like a user access token.
"""

from __future__ import annotations

import enum
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from desktop_app.core.atomic import atomic_write_text
from desktop_app.core.errors import QuantDeskError

__all__ = [
    "SecretFilter",
    "TokenError",
    "TokenSource",
    "TokenState",
    "clear_token",
    "mask_token",
    "read_token",
    "redact",
    "save_token",
    "token_file",
]

TOKEN_ENV = "HF_TOKEN"
_TOKEN_SHAPE = re.compile(r"\bhf_[A-Za-z0-9]{8,}\b")
_MIN_LENGTH = 8
_MAX_LENGTH = 1024


class TokenError(QuantDeskError):
    """``code``: ``empty``, ``bad_characters``, ``too_long`` or ``from_environment``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class TokenSource(enum.StrEnum):
    NONE = "none"
    FILE = "file"
    ENVIRONMENT = "environment"


@dataclass(frozen=True)
class TokenState:
    source: TokenSource
    masked: str  # "" when there is no token
    file: Path

    @property
    def present(self) -> bool:
        return self.source is not TokenSource.NONE


def token_file() -> Path:
    # Read at call time: huggingface_hub computes it from HF_HOME at import, and tests point
    # the constant at a temp folder.
    from huggingface_hub import constants

    return Path(constants.HF_TOKEN_PATH)


def mask_token(token: str | None) -> str:
    """``hf_****abcd``: the prefix and the last four characters, nothing else."""
    if not token:
        return ""
    prefix = "hf_" if token.startswith("hf_") else ""
    tail = token[-4:] if len(token) >= 12 else ""
    return f"{prefix}****{tail}"


def _read_file_token() -> str | None:
    try:
        text = token_file().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    token = text.strip()
    return token or None


def _active_token() -> tuple[TokenSource, str | None]:
    env = os.environ.get(TOKEN_ENV, "").strip()
    if env:
        return TokenSource.ENVIRONMENT, env
    token = _read_file_token()
    return (TokenSource.FILE, token) if token else (TokenSource.NONE, None)


def read_token() -> TokenState:
    """Which token huggingface_hub would use, masked. Never returns the token itself."""
    source, token = _active_token()
    return TokenState(source, mask_token(token), token_file())


def _check(token: str) -> str:
    token = token.strip()
    if not token:
        raise TokenError("empty")
    if len(token) > _MAX_LENGTH:
        raise TokenError("too_long")
    if len(token) < _MIN_LENGTH or not all(33 <= ord(c) < 127 for c in token):
        raise TokenError("bad_characters")
    return token


def save_token(token: str) -> TokenState:
    """Store ``token`` as huggingface_hub's active token (owner-only, atomic)."""
    if os.environ.get(TOKEN_ENV, "").strip():
        raise TokenError("from_environment")
    token = _check(token)
    SecretFilter.remember(token)
    path = token_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, token, mode=0o600)  # owner-only, as huggingface_hub writes it
    return read_token()


def clear_token() -> TokenState:
    """Remove the active token file (named tokens huggingface_hub stored stay)."""
    if os.environ.get(TOKEN_ENV, "").strip():
        raise TokenError("from_environment")
    token_file().unlink(missing_ok=True)
    return read_token()


# --- keeping tokens out of logs and reports -----------------------------------------------------


def redact(text: str, secrets: frozenset[str] = frozenset()) -> str:
    """``text`` with every token-shaped string and every one of ``secrets`` masked."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, mask_token(secret))
    return _TOKEN_SHAPE.sub(lambda m: mask_token(m.group(0)), text)


class SecretFilter(logging.Filter):
    """Masks tokens in a record's message and arguments before any handler formats it.

    Knows the token in use at start (``remember`` adds ones saved later) and every
    ``hf_``-shaped string, so even a token pasted into an error message never reaches a file.
    """

    _known: frozenset[str] = frozenset()

    @classmethod
    def remember(cls, token: str) -> None:
        cls._known = cls._known | {token}

    @classmethod
    def remember_active(cls) -> None:
        _source, token = _active_token()
        if token:
            cls.remember(token)

    @classmethod
    def known(cls) -> frozenset[str]:
        return cls._known

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self._known)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._known)
        if clean != message:
            record.msg = clean
            record.args = None
        return True
