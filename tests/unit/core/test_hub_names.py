"""Repo ids and file names from the hub never become paths outside the models folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from desktop_app.core.hub.errors import HubError
from desktop_app.core.hub.names import (
    destination_path,
    escape_for_display,
    prepare_destination,
    validate_file_name,
    validate_repo_id,
)

HOSTILE_FILE_NAMES = [
    "..\\..\\x.gguf",
    "../x.gguf",
    "sub/../../x.gguf",
    "./x.gguf",
    "C:\\x.gguf",
    "C:/x.gguf",
    "D:foo.gguf",
    "\\\\host\\s\\x.gguf",
    "//host/s/x.gguf",
    "/etc/passwd",
    "/x.gguf",
    "x\u202egguf.exe",
    "evil\u202eFUGG.gguf",
    "zero\u200bwidth.gguf",
    "NUL.gguf",
    "nul.gguf",
    "con.Q4_K_M.gguf",
    "COM1.gguf",
    "LPT\u00b9.gguf",
    "sub/AUX/x.gguf",
    "x.gguf.",
    "x.gguf ",
    "trailing./x.gguf",
    " lead.gguf",
    "a\x00b.gguf",
    "tab\there.gguf",
    "new\nline.gguf",
    "esc\x1b[31m.gguf",
    "q?.gguf",
    "a:b.gguf",
    "star*.gguf",
    'quote".gguf',
    "pipe|.gguf",
    "lt<.gguf",
    "a" * 252 + ".gguf",
    "\u00e9" * 130 + ".gguf",  # 260 bytes of UTF-8 in 135 characters
    "cafe\u0301.gguf",  # NFD
    ".hidden.gguf",
    "a//b.gguf",
    "",
    "x.safetensors",
    "/".join(["d"] * 9) + "/x.gguf",
]

GOOD_FILE_NAMES = [
    "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf",
    "Q8_0/Model-Q8_0-00001-of-00002.gguf",
    "mmproj-model-f16.gguf",
    "caf\u00e9-100%.gguf",
    "a" * 250 + ".gguf",
    "CONSOLE.gguf",  # only the exact device names are reserved
]


@pytest.mark.parametrize("name", HOSTILE_FILE_NAMES)
def test_hostile_file_names_are_refused(name: str) -> None:
    with pytest.raises(HubError) as info:
        validate_file_name(name)
    assert info.value.code == "bad_file_name"
    shown = info.value.name or ""
    # What a message shows has no raw control or bidi characters.
    assert "\u202e" not in shown and "\x00" not in shown and "\n" not in shown


@pytest.mark.parametrize("name", GOOD_FILE_NAMES)
def test_ordinary_file_names_pass(name: str) -> None:
    assert "/".join(validate_file_name(name)) == name


@pytest.mark.parametrize(
    "repo_id",
    [
        "org",
        "org/name/extra",
        "../name",
        "org/..",
        "org/.hidden",
        "org/na..me",
        "org/na--me",
        "-org/name",
        "org/name-",
        "org/na me",
        "org\\name",
        "C:/name",
        "org/n\u202eame",
        "CON/name",
        "org/NUL",
        "o" * 60 + "/" + "n" * 60,
        "org/",
        "",
        "org/caf\u00e9",
    ],
)
def test_bad_repo_ids_are_refused(repo_id: str) -> None:
    with pytest.raises(HubError) as info:
        validate_repo_id(repo_id)
    assert info.value.code == "bad_repo_id"


def test_good_repo_ids() -> None:
    assert validate_repo_id("bartowski/Llama-3.2-3B-Instruct-GGUF") == (
        "bartowski",
        "Llama-3.2-3B-Instruct-GGUF",
    )
    assert validate_repo_id("Qwen/Qwen2.5-0.5B-Instruct-GGUF")[1] == "Qwen2.5-0.5B-Instruct-GGUF"
    assert validate_repo_id("lmstudio-community/gemma_3.x")[0] == "lmstudio-community"


def test_destination_uses_lm_studio_layout_and_keeps_subfolders(tmp_path: Path) -> None:
    root = tmp_path / "models"
    dest = destination_path(root, "bartowski/Big-GGUF", "Big-Q8_0/Big-Q8_0-00001-of-00002.gguf")
    assert dest == root / "bartowski" / "Big-GGUF" / "Big-Q8_0" / "Big-Q8_0-00001-of-00002.gguf"
    assert not root.exists()  # nothing created by the pure check
    made = prepare_destination(root, "bartowski/Big-GGUF", "Big-Q8_0/Big-Q8_0-00001-of-00002.gguf")
    assert made == dest and made.parent.is_dir()


@pytest.mark.skipif(os.name != "posix", reason="symlinks need privileges on Windows")
def test_symlinked_folder_leading_outside_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "models"
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "org").mkdir(parents=True)
    (root / "org" / "Repo-GGUF").symlink_to(outside)
    with pytest.raises(HubError) as info:
        prepare_destination(root, "org/Repo-GGUF", "x-Q4_K_M.gguf")
    assert info.value.code == "outside_models"
    assert list(outside.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="symlinks need privileges on Windows")
def test_destination_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "models"
    folder = root / "org" / "Repo-GGUF"
    folder.mkdir(parents=True)
    (folder / "x-Q4_K_M.gguf").symlink_to(tmp_path / "elsewhere.gguf")
    with pytest.raises(HubError) as info:
        destination_path(root, "org/Repo-GGUF", "x-Q4_K_M.gguf")
    assert info.value.code == "outside_models"


def test_escape_for_display_shows_invisible_characters() -> None:
    assert escape_for_display("a\u202eb") == "a\\u202eb"
    assert escape_for_display("x\x00y\n") == "x\\x00y\\n"
    assert escape_for_display("..\\x") == "..\\\\x"
    assert escape_for_display("plain-Q4_K_M.gguf") == "plain-Q4_K_M.gguf"
    assert len(escape_for_display("a" * 1000, limit=50)) == 50


def test_hub_error_survives_pickling() -> None:
    import pickle

    err = HubError("no_space", "x", needed=10, available=5, path="/tmp/a")
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.code, copy.needed, copy.available, str(copy.path)) == ("no_space", 10, 5, "/tmp/a")
