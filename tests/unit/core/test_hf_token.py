"""The Hugging Face token: huggingface_hub's own file, masked everywhere, never in the log."""

from __future__ import annotations

import logging
import stat
import sys
from pathlib import Path

import pytest

from desktop_app.core import hf_token
from desktop_app.core.app_log import LOG_FILE_NAME, install_file_log, tail
from desktop_app.core.hf_token import (
    SecretFilter,
    TokenError,
    TokenSource,
    clear_token,
    mask_token,
    read_token,
    redact,
    save_token,
)

TOKEN = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"


@pytest.fixture(autouse=True)
def hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """huggingface_hub reads HF_HOME at import; point its token paths at this test's folder."""
    from huggingface_hub import constants

    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(SecretFilter, "_known", frozenset())
    return home


@pytest.mark.parametrize(
    ("token", "masked"),
    [
        (TOKEN, "hf_****6789"),
        ("hf_shortone", "hf_****"),  # too short to show any of it
        ("abcdefghijklmnop", "****mnop"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_shows_prefix_and_last_four_only(token: str | None, masked: str) -> None:
    assert mask_token(token) == masked


def test_no_token_at_first(hf_home: Path) -> None:
    state = read_token()
    assert state.source is TokenSource.NONE and not state.present and state.masked == ""
    assert state.file == hf_home / "token"


def test_saved_where_huggingface_hub_reads_it(hf_home: Path) -> None:
    from huggingface_hub import get_token

    state = save_token(f"  {TOKEN}\n")
    assert state.source is TokenSource.FILE and state.masked == "hf_****6789"
    assert get_token() == TOKEN  # the hub library itself finds it
    assert (hf_home / "token").read_text() == TOKEN
    if sys.platform != "win32":
        assert stat.S_IMODE((hf_home / "token").stat().st_mode) == 0o600
    assert sorted(p.name for p in hf_home.iterdir()) == ["token"]  # no temp left
    assert TOKEN not in repr(state)

    state = clear_token()
    assert not state.present and get_token() is None
    assert clear_token().source is TokenSource.NONE  # twice is fine


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("hf_ab", "bad_characters"),
        ("hf_abc def ghi", "bad_characters"),
        ("hf_abcdefgh\x00", "bad_characters"),
        ("hf_ünïcödeabcd", "bad_characters"),
        ("hf_" + "a" * 2000, "too_long"),
    ],
)
def test_bad_tokens_are_refused_and_nothing_written(hf_home: Path, token: str, code: str) -> None:
    with pytest.raises(TokenError) as caught:
        save_token(token)
    assert caught.value.code == code
    assert not (hf_home / "token").exists()


def test_environment_token_wins_and_is_not_changed(
    hf_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_token(TOKEN)
    monkeypatch.setenv("HF_TOKEN", "hf_fromtheenvironment1234")
    state = read_token()
    assert state.source is TokenSource.ENVIRONMENT and state.masked == "hf_****1234"
    for change in (lambda: save_token("hf_another12345678"), clear_token):
        with pytest.raises(TokenError) as caught:
            change()
        assert caught.value.code == "from_environment"
    assert (hf_home / "token").read_text() == TOKEN


def test_redact_masks_known_secrets_and_token_shapes() -> None:
    text = f"url https://x/?t={TOKEN} and custom-secret-value and hf_short"
    out = redact(text, frozenset({"custom-secret-value"}))
    assert TOKEN not in out and "hf_****6789" in out
    assert "custom-secret-value" not in out and "****alue" in out
    assert "hf_short" in out  # too short to be a token


def test_the_log_file_never_contains_the_token(tmp_path: Path) -> None:
    save_token(TOKEN)
    root = logging.getLogger()
    levels = (root.level, [(h, h.level) for h in root.handlers])
    handler = install_file_log(tmp_path / "logs")
    log = logging.getLogger("quantdesk.test")
    try:
        log.warning("saved %s for the hub", TOKEN)
        log.warning(f"inline {TOKEN}")
        # A token that was never saved, pasted into an error, is caught by its shape.
        log.warning("request failed for hf_ZyXwVuTsRqPoNmLkJi")
        try:
            raise RuntimeError(f"bad credentials {TOKEN}")
        except RuntimeError:
            log.warning("with a traceback", exc_info=True)
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(levels[0])
        for other, level in levels[1]:
            other.setLevel(level)
    text = (tmp_path / "logs" / LOG_FILE_NAME).read_text(encoding="utf-8")
    assert "saved hf_****6789 for the hub" in text
    assert "hf_ZyXwVuTsRqPoNmLkJi" not in text
    assert "bad credentials hf_****6789" in text
    assert TOKEN not in text
    assert len(tail(tmp_path / "logs" / LOG_FILE_NAME, 200)) >= 5


def test_a_token_already_on_disk_is_known_to_the_filter() -> None:
    (Path(hf_token.token_file())).parent.mkdir(parents=True, exist_ok=True)
    Path(hf_token.token_file()).write_text("custom-token-without-prefix")
    SecretFilter.remember_active()
    assert "custom-token-without-prefix" in SecretFilter.known()
