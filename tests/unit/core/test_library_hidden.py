"""The small path lists of the library (hidden files, added folders): atomic, ordered saves."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from desktop_app.core.library.hidden import HIDDEN_FILE_NAME, StoredPaths


def test_round_trip_and_a_new_instance_reads_it(tmp_path: Path) -> None:
    file = tmp_path / "config" / HIDDEN_FILE_NAME
    store = StoredPaths(file)
    assert store.load() == frozenset()  # no file yet
    assert store.save(["/b/ü.gguf", "/a.gguf", "/a.gguf"], 1)
    assert StoredPaths(file).load() == {"/a.gguf", "/b/ü.gguf"}
    assert json.loads(file.read_text(encoding="utf-8"))["paths"] == ["/a.gguf", "/b/ü.gguf"]
    assert [p.name for p in file.parent.iterdir()] == [HIDDEN_FILE_NAME]  # no temp files left


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"format": 2, "paths": ["/a"]}',
        b'{"format": 1, "paths": "/a"}',
    ],
)
def test_damaged_or_foreign_file_reads_as_empty(tmp_path: Path, content: bytes) -> None:
    file = tmp_path / HIDDEN_FILE_NAME
    file.write_bytes(content)
    assert StoredPaths(file).load() == frozenset()


def test_non_string_items_are_dropped(tmp_path: Path) -> None:
    file = tmp_path / HIDDEN_FILE_NAME
    file.write_text(json.dumps({"format": 1, "paths": ["/a", 3, None, "", "/b"]}))
    assert StoredPaths(file).load() == {"/a", "/b"}


def test_an_older_generation_never_overwrites_a_newer_one(tmp_path: Path) -> None:
    store = StoredPaths(tmp_path / HIDDEN_FILE_NAME)
    assert store.save(["/new"], 2)
    assert not store.save(["/old"], 1)  # arrived late from another thread
    assert store.load() == {"/new"}


def test_concurrent_saves_end_with_the_newest(tmp_path: Path) -> None:
    store = StoredPaths(tmp_path / HIDDEN_FILE_NAME)
    threads = [
        threading.Thread(target=store.save, args=([f"/m{g}"], g)) for g in reversed(range(20))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.load() == {"/m19"}


def test_unwritable_folder_raises_and_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "config"
    blocker.write_text("a file where the folder should be")
    store = StoredPaths(blocker / HIDDEN_FILE_NAME)
    with pytest.raises(FileExistsError):
        store.save(["/a"], 1)
    assert store.load() == frozenset()
