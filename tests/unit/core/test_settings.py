"""Settings: one typed schema, atomic saves, bad files set aside, migrations, models folders."""

from __future__ import annotations

import json
import os
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.library.hidden import FOLDERS_FILE_NAME, StoredPaths
from desktop_app.core.paths import AppPaths
from desktop_app.core.settings import (
    _VALIDATORS,
    SCHEMA_VERSION,
    SETTINGS_FILE_NAME,
    LoadProblem,
    Settings,
    Theme,
    load_settings,
    models_folders,
    save_settings,
    settings_to_json,
    with_field,
)


@pytest.fixture
def paths() -> AppPaths:
    return AppPaths.default().ensure()


def write(paths: AppPaths, content: bytes | str | dict[str, Any]) -> Path:
    file = paths.config / SETTINGS_FILE_NAME
    if isinstance(content, dict):
        content = json.dumps(content)
    file.write_bytes(content.encode() if isinstance(content, str) else content)
    return file


def test_every_option_has_exactly_one_validator() -> None:
    declared = {f.name for f in fields(Settings)} - {"schema_version"}
    assert declared == set(_VALIDATORS)


def test_no_file_gives_defaults_and_nothing_to_report(paths: AppPaths) -> None:
    result = load_settings(paths)
    assert result.settings == Settings()
    assert result.problem is None and result.set_aside is None and not result.needs_save


def test_round_trip_of_every_field(paths: AppPaths) -> None:
    chosen = Settings(
        models_folders=("/m/ü models", "/other"),
        default_context=8192,
        default_kv_type="q8_0",
        map_model_files=True,
        threads=3,
        offline=True,
        theme=Theme.DARK,
        first_run_done=True,
    )
    file = save_settings(paths, chosen)
    assert json.loads(file.read_text(encoding="utf-8"))["schema_version"] == SCHEMA_VERSION
    result = load_settings(paths)
    assert result.settings == chosen
    assert not result.needs_save
    assert sorted(p.name for p in paths.config.iterdir()) == [SETTINGS_FILE_NAME]  # no temps


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", LoadProblem.CORRUPT),
        (b"{not json", LoadProblem.CORRUPT),
        (b"\xff\xfe\x00", LoadProblem.CORRUPT),
        (b"[1, 2]", LoadProblem.CORRUPT),
        (b'"text"', LoadProblem.CORRUPT),
        (b"[" * 100_000, LoadProblem.CORRUPT),  # nesting deep enough to hit recursion limits
        (b'{"theme": "dark"}', LoadProblem.BAD_VERSION),
        (b'{"schema_version": "1"}', LoadProblem.BAD_VERSION),
        (b'{"schema_version": true}', LoadProblem.BAD_VERSION),
        (b'{"schema_version": 0}', LoadProblem.BAD_VERSION),
        (b'{"schema_version": -3}', LoadProblem.BAD_VERSION),
        (b'{"schema_version": 99, "theme": "dark"}', LoadProblem.NEWER_VERSION),
    ],
)
def test_bad_file_is_set_aside_never_deleted(
    paths: AppPaths, content: bytes, problem: LoadProblem
) -> None:
    file = write(paths, content)
    result = load_settings(paths)
    assert result.problem is problem
    assert result.settings == Settings()
    assert result.needs_save
    assert not file.exists()
    assert result.set_aside is not None and result.set_aside.read_bytes() == content
    assert result.set_aside.name.startswith(f"{SETTINGS_FILE_NAME}.bad-")


def test_two_bad_files_in_the_same_second_both_kept(paths: AppPaths) -> None:
    write(paths, b"one")
    first = load_settings(paths).set_aside
    write(paths, b"two")
    second = load_settings(paths).set_aside
    assert first is not None and second is not None and first != second
    assert {first.read_bytes(), second.read_bytes()} == {b"one", b"two"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("default_context", 10),
        ("default_context", 10**9),
        ("default_context", "4096"),
        ("default_context", True),
        ("default_kv_type", "q2_k"),
        ("default_kv_type", None),
        ("map_model_files", "true"),
        ("map_model_files", 0),
        ("threads", 0),
        ("threads", -1),
        ("threads", 2.5),
        ("offline", "yes"),
        ("offline", 1),
        ("theme", "purple"),
        ("theme", 3),
        ("first_run_done", None),
        ("models_folders", "/one"),
        ("models_folders", ["relative/path"]),
        ("models_folders", ["/ok", 3]),
        ("models_folders", ["/bad\nname"]),
        ("models_folders", [""]),
        ("models_folders", ["/x" * 5000]),
    ],
)
def test_one_bad_value_resets_that_field_only(paths: AppPaths, field: str, value: object) -> None:
    good = settings_to_json(Settings(default_context=2048, offline=True, theme=Theme.LIGHT))
    good[field] = value
    write(paths, good)
    result = load_settings(paths)
    assert result.problem is None
    assert result.reset_fields == (field,)
    assert result.needs_save
    expected = {"default_context": 2048, "offline": True, "theme": Theme.LIGHT}
    expected.pop(field, None)
    assert result.settings == Settings(**expected)  # type: ignore[arg-type]


def test_unknown_keys_are_ignored_and_missing_ones_take_defaults(paths: AppPaths) -> None:
    write(paths, {"schema_version": 1, "offline": True, "colour": "teal"})
    result = load_settings(paths)
    assert result.settings == Settings(offline=True)
    assert result.problem is None and not result.reset_fields


def test_threads_null_means_auto(paths: AppPaths) -> None:
    write(paths, {"schema_version": 1, "threads": None})
    assert load_settings(paths).settings.threads is None


def test_duplicate_folders_collapse_in_order(paths: AppPaths) -> None:
    write(paths, {"schema_version": 1, "models_folders": ["/b", "/a", "/b"]})
    assert load_settings(paths).settings.models_folders == ("/b", "/a")


# --- migrations ---------------------------------------------------------------------------------


def test_older_versions_migrate_step_by_step(paths: AppPaths, monkeypatch: Any) -> None:
    """A made-up history: v1 stored "ctx", v2 renamed it, v3 is current."""
    import desktop_app.core.settings as settings_module

    monkeypatch.setattr(settings_module, "SCHEMA_VERSION", 3)
    steps = {
        1: lambda d: {**{k: v for k, v in d.items() if k != "ctx"}, "context": d["ctx"]},
        2: lambda d: {
            **{k: v for k, v in d.items() if k != "context"},
            "default_context": d["context"],
        },
    }
    write(paths, {"schema_version": 1, "ctx": 16384, "offline": True})
    result = load_settings(paths, steps)
    assert result.migrated_from == 1 and result.needs_save
    assert result.settings.default_context == 16384 and result.settings.offline

    write(paths, {"schema_version": 2, "context": 512})
    assert load_settings(paths, steps).settings.default_context == 512


def test_a_migration_that_fails_sets_the_file_aside(paths: AppPaths, monkeypatch: Any) -> None:
    import desktop_app.core.settings as settings_module

    monkeypatch.setattr(settings_module, "SCHEMA_VERSION", 2)
    write(paths, {"schema_version": 1})  # the step below needs "ctx", which is missing
    result = load_settings(paths, {1: lambda d: {"context": d["ctx"]}})
    assert result.problem is LoadProblem.BAD_VERSION and result.set_aside is not None
    # No step registered at all: the same.
    write(paths, {"schema_version": 1})
    assert load_settings(paths, {}).problem is LoadProblem.BAD_VERSION


def test_the_library_folders_file_of_earlier_versions_is_taken_over(paths: AppPaths) -> None:
    StoredPaths(paths.config / FOLDERS_FILE_NAME).save(["/mine/b", "/mine/a"], 1)
    result = load_settings(paths)
    assert result.migrated_from == 0 and result.needs_save
    assert result.settings.models_folders == (str(paths.models), "/mine/a", "/mine/b")
    # Saved once, the settings file wins from then on.
    save_settings(paths, replace(result.settings, models_folders=("/only",)))
    assert load_settings(paths).settings.models_folders == ("/only",)


# --- saving -------------------------------------------------------------------------------------


def test_invalid_settings_are_never_written(paths: AppPaths) -> None:
    with pytest.raises(ValueError, match="default_context"):
        save_settings(paths, Settings(default_context=5))
    assert not (paths.config / SETTINGS_FILE_NAME).exists()


def test_a_failed_save_keeps_the_old_file_and_leaves_no_temp(
    paths: AppPaths, monkeypatch: Any
) -> None:
    save_settings(paths, Settings(offline=True))

    def refuse(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", refuse)
    with pytest.raises(OSError, match="No space"):
        save_settings(paths, Settings(offline=False))
    monkeypatch.undo()
    assert load_settings(paths).settings.offline is True
    assert [p.name for p in paths.config.iterdir()] == [SETTINGS_FILE_NAME]


def test_with_field_checks_names_and_values() -> None:
    assert with_field(Settings(), threads=4).threads == 4
    with pytest.raises(TypeError, match="colour"):
        with_field(Settings(), colour="teal")
    with pytest.raises(ValueError, match="theme"):
        with_field(Settings(), theme="purple")


# --- models folders -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "env", "expected"),
    [
        ((), {}, ("/default",)),
        (("/a", "/b"), {}, ("/a", "/b")),
        # The environment variable takes the first place for this run; the rest still count.
        (("/a", "/b"), {"QUANTDESK_MODELS_DIR": "/default"}, ("/default", "/a", "/b")),
        (("/default", "/b"), {"QUANTDESK_MODELS_DIR": "/default"}, ("/default", "/b")),
        ((), {"QUANTDESK_MODELS_DIR": "/default"}, ("/default",)),
    ],
)
def test_models_folders_in_effect(
    stored: tuple[str, ...], env: dict[str, str], expected: tuple[str, ...]
) -> None:
    got = models_folders(Settings(models_folders=stored), Path("/default"), env)
    assert got == tuple(Path(p) for p in expected)
