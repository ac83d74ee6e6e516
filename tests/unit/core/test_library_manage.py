"""Deleting only QuantDesk's own files; importing without ever overwriting."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from library_fakes import hf_cache_repo, lmstudio_model, write_gguf

from desktop_app.core.gguf_file import GGUFError
from desktop_app.core.library import manage
from desktop_app.core.library.errors import LibraryError
from desktop_app.core.library.index import LibraryIndex
from desktop_app.core.library.manage import delete_model, import_model
from desktop_app.core.library.sources import HFCacheSource, lmstudio_source, own_models_source
from desktop_app.core.provenance import SIDECAR_SUFFIX


@pytest.fixture
def own(tmp_path: Path) -> Path:
    root = tmp_path / "own"
    root.mkdir()
    return root


def code_of(exc: pytest.ExceptionInfo[LibraryError]) -> str:
    return exc.value.code


# --- delete --------------------------------------------------------------------------------------


def test_delete_own_file_frees_its_size_and_prunes_folders(own: Path) -> None:
    path = write_gguf(own / "bartowski" / "Qwen-GGUF" / "Qwen-Q4_K_M.gguf")
    keep = write_gguf(own / "bartowski" / "Other-GGUF" / "Other-Q4_K_M.gguf")
    size = path.stat().st_size
    assert delete_model(path, [own]).freed == size
    assert not path.exists()
    assert not (own / "bartowski" / "Qwen-GGUF").exists()  # emptied repo folder removed
    assert keep.exists() and own.is_dir()


def test_delete_last_file_keeps_the_root(own: Path) -> None:
    path = write_gguf(own / "p" / "r" / "m.gguf")
    delete_model(str(path), [own])
    assert own.is_dir() and list(own.iterdir()) == []


def test_delete_outside_own_roots_is_refused(tmp_path: Path, own: Path) -> None:
    foreign = lmstudio_model(tmp_path / "home", "pub", "repo", "m-Q4_K_M.gguf")
    with pytest.raises(LibraryError) as exc:
        delete_model(foreign, [own])
    assert code_of(exc) == "not_own"
    assert foreign.exists()


def test_dotdot_does_not_escape(tmp_path: Path, own: Path) -> None:
    outside = write_gguf(tmp_path / "outside.gguf")
    with pytest.raises(LibraryError) as exc:
        delete_model(own / ".." / "outside.gguf", [own])
    assert code_of(exc) == "not_own"
    assert outside.exists()


def test_symlink_in_own_root_to_foreign_file_removes_the_link_only(
    tmp_path: Path, own: Path
) -> None:
    foreign = lmstudio_model(tmp_path / "home", "pub", "repo", "m-Q4_K_M.gguf")
    content = foreign.read_bytes()
    link = own / "pub" / "repo" / "m-Q4_K_M.gguf"
    link.parent.mkdir(parents=True)
    link.symlink_to(foreign)
    result = delete_model(link, [own])
    assert result.links_only and result.freed == 0
    assert result.removed == (link,) and result.kept == (foreign,)
    assert not os.path.lexists(link) and not (own / "pub").exists()  # emptied folders pruned
    assert foreign.read_bytes() == content


def test_symlink_imported_by_the_library_removes_the_link_only(tmp_path: Path, own: Path) -> None:
    src = write_gguf(tmp_path / "downloads" / "Qwen-Q4_K_M.gguf")
    link = import_model(src, own, "symlink", publisher="mine")
    (entry,) = LibraryIndex(tmp_path / "c.json").scan([own_models_source([own])]).entries
    result = delete_model(entry, [own])  # as the Library page deletes it
    assert result.links_only and result.kept == (src.resolve(),)
    assert not os.path.lexists(link) and src.is_file()


def test_dangling_symlink_in_own_root_is_removed(tmp_path: Path, own: Path) -> None:
    link = own / "p" / "gone.gguf"
    link.parent.mkdir()
    link.symlink_to(tmp_path / "deleted-elsewhere.gguf")
    result = delete_model(link, [own])
    assert result.links_only and not os.path.lexists(link)


# --- sidecars ------------------------------------------------------------------------------------


def _sidecar(model: Path) -> Path:
    path = model.with_name(model.name + SIDECAR_SUFFIX)
    path.write_text('{"format": "quantdesk.provenance", "version": 1}\n')
    return path


def test_delete_removes_the_provenance_sidecar_and_nothing_else(own: Path) -> None:
    model = write_gguf(own / "ladder" / "Tiny-Q4_K_M.gguf")
    sibling = write_gguf(own / "ladder" / "Tiny-Q8_0.gguf")
    sidecar, sibling_sidecar = _sidecar(model), _sidecar(sibling)
    others = [
        own / "ladder" / "Tiny-Q4_K_M.gguf.json",  # not QuantDesk's suffix
        own / "ladder" / "Tiny-Q4_K_M.quantdesk.json",  # not "<file name>.quantdesk.json"
        own / "ladder" / "README.md",
    ]
    for path in others:
        path.write_text("user file")
    size = model.stat().st_size + sidecar.stat().st_size
    result = delete_model(model, [own])
    assert result.freed == size
    assert set(result.removed) == {model, sidecar}
    assert not model.exists() and not sidecar.exists()
    assert sibling.exists() and sibling_sidecar.exists()
    assert all(p.read_text() == "user file" for p in others)


def test_a_folder_named_like_a_sidecar_is_left_alone(own: Path) -> None:
    model = write_gguf(own / "p" / "m.gguf")
    odd = own / "p" / ("m.gguf" + SIDECAR_SUFFIX)
    odd.mkdir()
    delete_model(model, [own])
    assert odd.is_dir() and not model.exists()


def test_the_sidecar_of_a_removed_link_goes_the_target_keeps_its_own(
    tmp_path: Path, own: Path
) -> None:
    foreign = write_gguf(tmp_path / "elsewhere" / "m-Q4_K_M.gguf")
    foreign_sidecar = _sidecar(foreign)
    link = import_model(foreign, own, "symlink")
    link_sidecar = _sidecar(link)
    result = delete_model(link, [own])
    assert result.links_only
    assert not link_sidecar.exists() and not os.path.lexists(link)
    assert foreign.exists() and foreign_sidecar.exists()


def test_a_sidecar_that_cannot_be_removed_does_not_fail_the_delete(
    own: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    model = write_gguf(own / "p" / "m.gguf")
    sidecar = _sidecar(model)
    real_unlink = os.unlink

    def refuse_sidecars(path: str) -> None:
        if str(path).endswith(SIDECAR_SUFFIX):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        real_unlink(path)

    monkeypatch.setattr(manage.os, "unlink", refuse_sidecars)
    result = delete_model(model, [own])
    assert not model.exists() and sidecar.exists()  # an orphan record is harmless
    assert result.removed == (model,)
    assert "could not remove" in caplog.text


def test_symlinked_folder_into_other_app_is_refused(tmp_path: Path, own: Path) -> None:
    home = tmp_path / "home"
    foreign = lmstudio_model(home, "pub", "repo", "m-Q4_K_M.gguf")
    (own / "pub").symlink_to(home / ".lmstudio" / "models" / "pub", target_is_directory=True)
    with pytest.raises(LibraryError) as exc:
        delete_model(own / "pub" / "repo" / "m-Q4_K_M.gguf", [own])
    assert code_of(exc) == "not_own"
    assert foreign.exists()


def test_symlink_inside_own_root_to_own_file_removes_both(own: Path) -> None:
    target = write_gguf(own / "p" / "r" / "m.gguf")
    link = own / "p" / "alias" / "m.gguf"
    link.parent.mkdir()
    link.symlink_to(target)
    size = target.stat().st_size
    result = delete_model(link, [own])
    assert result.freed == size and not result.links_only
    assert not target.exists() and not os.path.lexists(link)


def test_delete_hard_link_frees_nothing(tmp_path: Path, own: Path) -> None:
    other = write_gguf(tmp_path / "elsewhere" / "m.gguf")
    mine = own / "p" / "r" / "m.gguf"
    mine.parent.mkdir(parents=True)
    os.link(other, mine)
    assert delete_model(mine, [own]).freed == 0  # the data lives on under the other name
    assert other.exists() and not mine.exists()


def test_delete_entry_removes_only_own_locations(tmp_path: Path, own: Path) -> None:
    src = write_gguf(tmp_path / "src.gguf")
    cache = tmp_path / "hub"
    links = hf_cache_repo(cache, "org/M-GGUF", {"M-Q4_K_M.gguf": src})
    blob = Path(os.path.realpath(links["M-Q4_K_M.gguf"]))
    mine = own / "org" / "M-GGUF" / "M-Q4_K_M.gguf"
    mine.parent.mkdir(parents=True)
    os.link(blob, mine)
    snap = LibraryIndex(tmp_path / "c.json").scan([own_models_source([own]), HFCacheSource(cache)])
    (entry,) = snap.entries
    assert entry.own and len(entry.paths) == 2
    assert delete_model(entry, [own]).freed == 0
    assert not mine.exists() and blob.exists() and links["M-Q4_K_M.gguf"].exists()


def test_delete_entry_without_own_location(tmp_path: Path, own: Path) -> None:
    home = tmp_path / "home"
    path = lmstudio_model(home, "p", "r", "m.gguf")
    (entry,) = LibraryIndex(tmp_path / "c.json").scan([lmstudio_source(home)]).entries
    with pytest.raises(LibraryError) as exc:
        delete_model(entry, [own])
    assert code_of(exc) == "not_own"
    assert path.exists()


@pytest.mark.parametrize("what", ["root", "folder", "missing"])
def test_delete_odd_targets(own: Path, what: str) -> None:
    write_gguf(own / "p" / "r" / "m.gguf")
    target, code = {
        "root": (own, "not_own"),
        "folder": (own / "p" / "r", "not_a_file"),
        "missing": (own / "p" / "r" / "nope.gguf", "not_found"),
    }[what]
    with pytest.raises(LibraryError) as exc:
        delete_model(target, [own])
    assert code_of(exc) == code


def test_delete_permission_error_is_typed(own: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_gguf(own / "p" / "r" / "m.gguf")

    def refuse(p: object) -> None:
        raise PermissionError(13, "in use", str(p))

    monkeypatch.setattr(manage.os, "unlink", refuse)
    with pytest.raises(LibraryError) as exc:
        delete_model(path, [own])
    assert code_of(exc) == "permission_denied"


# --- import --------------------------------------------------------------------------------------


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith("."))


def test_import_copy(tmp_path: Path, own: Path) -> None:
    src = write_gguf(tmp_path / "dl" / "Qwen2.5-7B-Instruct-Q4_K_M.gguf")
    dest = import_model(src, own, "copy", publisher="bartowski")
    assert dest == own / "bartowski" / "Qwen2.5-7B-Instruct-Q4_K_M.gguf"
    assert dest.read_bytes() == src.read_bytes() and src.exists()
    assert dest.stat().st_ino != src.stat().st_ino
    assert leftovers(own) == []


def test_import_default_publisher_and_never_overwrites(tmp_path: Path, own: Path) -> None:
    first = write_gguf(tmp_path / "a" / "m.gguf", quant="Q8_0")
    second = write_gguf(tmp_path / "b" / "m.gguf", quant="Q2_K")
    dest = import_model(first, own, "copy")
    assert dest == own / "imported" / "m.gguf"
    for mode in ("copy", "move", "hardlink", "symlink"):
        with pytest.raises(LibraryError) as exc:
            import_model(second, own, mode)  # type: ignore[arg-type]
        assert code_of(exc) == "exists"
    assert dest.read_bytes() == first.read_bytes() and second.exists()


def test_import_move(tmp_path: Path, own: Path) -> None:
    src = write_gguf(tmp_path / "dl" / "m.gguf")
    data = src.read_bytes()
    dest = import_model(src, own, "move")
    assert not src.exists() and dest.read_bytes() == data


def test_import_move_across_disks_copies_then_deletes(
    tmp_path: Path, own: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_gguf(tmp_path / "dl" / "m.gguf")
    data = src.read_bytes()
    real_link = os.link

    def no_cross_link(a: object, b: object) -> None:
        if Path(str(a)) == src:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_link(a, b)  # type: ignore[arg-type]

    monkeypatch.setattr(manage.os, "link", no_cross_link)
    dest = import_model(src, own, "move")
    assert not src.exists() and dest.read_bytes() == data
    assert leftovers(own) == []


def test_import_move_refuses_symlinks(tmp_path: Path, own: Path) -> None:
    src = write_gguf(tmp_path / "cache" / "blob")
    link = tmp_path / "snap" / "m.gguf"
    link.parent.mkdir()
    link.symlink_to(src)
    with pytest.raises(LibraryError) as exc:
        import_model(link, own, "move")
    assert code_of(exc) == "is_symlink"
    assert link.is_symlink() and src.exists()


def test_import_hardlink_and_symlink(tmp_path: Path, own: Path) -> None:
    src = write_gguf(tmp_path / "dl" / "m.gguf")
    hard = import_model(src, own, "hardlink", publisher="hard")
    assert hard.stat().st_ino == src.stat().st_ino
    soft = import_model(src, own, "symlink", publisher="soft")
    assert soft.is_symlink() and Path(os.readlink(soft)) == src.resolve()


def test_import_from_hf_snapshot_uses_the_link_name(tmp_path: Path, own: Path) -> None:
    src = write_gguf(tmp_path / "src.gguf")
    links = hf_cache_repo(tmp_path / "hub", "org/M-GGUF", {"M-Q4_K_M.gguf": src})
    dest = import_model(links["M-Q4_K_M.gguf"], own, "hardlink", publisher="org")
    assert dest.name == "M-Q4_K_M.gguf"


def test_import_hardlink_across_disks(
    tmp_path: Path, own: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_gguf(tmp_path / "dl" / "m.gguf")

    def exdev(a: object, b: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(manage.os, "link", exdev)
    with pytest.raises(LibraryError) as exc:
        import_model(src, own, "hardlink")
    assert code_of(exc) == "cross_device"


@pytest.mark.parametrize(
    ("publisher", "name"),
    [
        ("../evil", None),
        ("..", None),
        ("a/b", None),
        ("C:", None),
        (None, "../m.gguf"),
        (None, "CON.gguf"),
        (None, "nul.gguf"),
        (None, ".hidden.gguf"),
        (None, "trailing.gguf."),
        (None, "model.bin"),
        (None, "evil\u202egguf.exe.gguf"),
        (None, "a\x00b.gguf"),
        (None, "x" * 300 + ".gguf"),
    ],
)
def test_import_rejects_unsafe_names(
    tmp_path: Path, own: Path, publisher: str | None, name: str | None
) -> None:
    src = write_gguf(tmp_path / "m.gguf")
    with pytest.raises(LibraryError) as exc:
        import_model(src, own, "copy", publisher=publisher, name=name)
    assert code_of(exc) == "bad_name"
    assert list(own.iterdir()) == []


def test_import_validates_the_header(tmp_path: Path, own: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"PK\x03\x04 zip")
    with pytest.raises(GGUFError):
        import_model(junk, own, "copy")
    assert list(own.iterdir()) == []


def test_import_failed_copy_leaves_nothing(
    tmp_path: Path, own: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_gguf(tmp_path / "m.gguf")

    def half_copy(a: str, b: str) -> None:
        Path(b).write_bytes(Path(a).read_bytes()[:10])
        raise OSError(errno.ENOSPC, "No space left on device", b)

    monkeypatch.setattr(manage.shutil, "copyfile", half_copy)
    with pytest.raises(LibraryError) as exc:
        import_model(src, own, "copy")
    assert code_of(exc) == "io_error"
    assert list((own / "imported").iterdir()) == []


def test_no_overwrite_when_target_appears_during_copy(tmp_path: Path, own: Path) -> None:
    tmp = own / ".m.gguf.1234.partial"
    tmp.write_bytes(b"new")
    dest = own / "m.gguf"
    dest.write_bytes(b"old")
    with pytest.raises(LibraryError) as exc:
        manage._place_no_overwrite(str(tmp), str(dest))
    assert code_of(exc) == "exists"
    assert dest.read_bytes() == b"old"


def test_import_missing_source(tmp_path: Path, own: Path) -> None:
    with pytest.raises(LibraryError) as exc:
        import_model(tmp_path / "nope.gguf", own, "copy")
    assert code_of(exc) == "not_found"


def test_imported_file_is_listed_as_own(tmp_path: Path, own: Path) -> None:
    src = write_gguf(tmp_path / "dl" / "Qwen-Q4_K_M.gguf")
    import_model(src, own, "copy", publisher="bartowski")
    (entry,) = LibraryIndex(tmp_path / "c.json").scan([own_models_source([own])]).entries
    assert entry.own and entry.path == own / "bartowski" / "Qwen-Q4_K_M.gguf"
