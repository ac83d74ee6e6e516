"""The user's settings: one typed, versioned schema, saved atomically as JSON.

Every option is a field of :class:`Settings` and has one validator in ``_VALIDATORS`` (a test
checks the two lists match), so there is exactly one place that says what an option is, what
its default is and which values it accepts.

Loading never fails. A file that cannot be read, is not JSON, or carries a version this app does
not know (written by a newer QuantDesk) is *set aside* (renamed next to itself, never deleted)
and defaults are used; a field with a bad value falls back to its default alone. The result says
what happened so the GUI can show a notice. Older versions are migrated one step at a time
through ``MIGRATIONS``. Before ``settings.json`` existed, the Library page kept its added folders
in ``library-folders.json``; a first load imports them (``migrated_from == 0``).

Models folders: the first is where QuantDesk puts what it downloads, converts and imports (its
own folder, whose files it may delete); the others are folders the library reads in place. An
empty list means the default folder (``AppPaths.models``). ``QUANTDESK_MODELS_DIR`` in the
environment forces the first place (see :func:`models_folders`).
"""

from __future__ import annotations

import enum
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from desktop_app.core.atomic import atomic_write_json
from desktop_app.core.fit import KV_TYPE_BYTES
from desktop_app.core.library.hidden import FOLDERS_FILE_NAME, StoredPaths
from desktop_app.core.paths import MODELS_ENV, AppPaths

__all__ = [
    "CONTEXT_RANGE",
    "KV_TYPES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SETTINGS_FILE_NAME",
    "THREADS_RANGE",
    "LoadProblem",
    "Settings",
    "SettingsLoad",
    "Theme",
    "load_settings",
    "models_folders",
    "save_settings",
    "settings_to_json",
    "validate",
    "with_field",
]

log = logging.getLogger(__name__)

SETTINGS_FILE_NAME = "settings.json"
SCHEMA_VERSION = 1
CONTEXT_RANGE = (256, 262_144)
THREADS_RANGE = (1, 512)
# The KV cache types llama.cpp accepts on CPU that the fit estimate can price, best first.
KV_TYPES: tuple[str, ...] = tuple(t for t in ("f16", "q8_0", "q4_0") if t in KV_TYPE_BYTES)
_MAX_FOLDERS = 64
_MAX_PATH_CHARS = 4096


class Theme(enum.StrEnum):
    SYSTEM = "system"
    LIGHT = "light"
    DARK = "dark"


@dataclass(frozen=True)
class Settings:
    """Every user option. ``threads`` None means automatic (``hardware.default_threads``)."""

    schema_version: int = SCHEMA_VERSION
    models_folders: tuple[str, ...] = ()
    default_context: int = 4096
    default_kv_type: str = "f16"
    # Map the model file instead of reading it into the model process's memory (engine
    # LoadSettings.use_mmap): faster loads, slower tokens, and a file changed on disk faults.
    map_model_files: bool = False
    threads: int | None = None
    offline: bool = False
    theme: Theme = Theme.SYSTEM
    first_run_done: bool = False


class LoadProblem(enum.StrEnum):
    """Why a settings file was set aside."""

    UNREADABLE = "unreadable"  # the file system refused to read it
    CORRUPT = "corrupt"  # not a JSON object
    BAD_VERSION = "bad_version"  # no usable schema_version
    NEWER_VERSION = "newer_version"  # written by a newer QuantDesk


@dataclass(frozen=True)
class SettingsLoad:
    settings: Settings
    problem: LoadProblem | None = None
    set_aside: Path | None = None  # where the bad file went (None: not moved, or no problem)
    migrated_from: int | None = None  # the version read (0: the files before settings.json)
    reset_fields: tuple[str, ...] = ()  # fields whose stored values were invalid

    @property
    def needs_save(self) -> bool:
        """The file on disk is not (or no longer) what ``settings`` says."""
        return self.problem is not None or self.migrated_from is not None or bool(self.reset_fields)


# --- validation: one entry per field ------------------------------------------------------------


class _Invalid(ValueError):
    pass


def _int_in(lo: int, hi: int) -> Callable[[object], int]:
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _Invalid(value)
        return value

    return check


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(value)
    return value


def _kv_type(value: object) -> str:
    if value not in KV_TYPES:
        raise _Invalid(value)
    assert isinstance(value, str)
    return value


def _threads(value: object) -> int | None:
    return None if value is None else _int_in(*THREADS_RANGE)(value)


def _theme(value: object) -> Theme:
    if not isinstance(value, str) or value not in {t.value for t in Theme}:
        raise _Invalid(value)
    return Theme(value)


def _folders(value: object) -> tuple[str, ...]:
    """A list of absolute folder paths; duplicates dropped, order kept."""
    if not isinstance(value, list) or len(value) > _MAX_FOLDERS:
        raise _Invalid(value)
    out: list[str] = []
    for item in value:
        if (
            not isinstance(item, str)
            or not item
            or len(item) > _MAX_PATH_CHARS
            or any(ord(c) < 32 for c in item)
            or not Path(item).is_absolute()
        ):
            raise _Invalid(value)
        if item not in out:
            out.append(item)
    return tuple(out)


_VALIDATORS: Mapping[str, Callable[[object], object]] = {
    "models_folders": _folders,
    "default_context": _int_in(*CONTEXT_RANGE),
    "default_kv_type": _kv_type,
    "map_model_files": _flag,
    "threads": _threads,
    "offline": _flag,
    "theme": _theme,
    "first_run_done": _flag,
}


def validate(settings: Settings) -> Settings:
    """``settings`` if every field is valid; raises ``ValueError`` naming the first bad one.

    The GUI builds settings from widgets that already bound their values, so this is a guard
    against programming errors before a save, not user feedback.
    """
    for name, check in _VALIDATORS.items():
        value = getattr(settings, name)
        if name == "models_folders":
            value = list(value)
        try:
            check(value)
        except _Invalid as exc:
            raise ValueError(f"invalid setting {name}: {value!r}") from exc
    return settings


# --- migrations ---------------------------------------------------------------------------------

Migration = Callable[[dict[str, Any]], dict[str, Any]]
# version N -> N + 1. Add an entry (and bump SCHEMA_VERSION) whenever a field is renamed, its
# meaning changes or a stored value needs converting; new fields with defaults need none.
MIGRATIONS: Mapping[int, Migration] = {}


def _migrate(
    data: dict[str, Any], version: int, target: int, migrations: Mapping[int, Migration]
) -> dict[str, Any]:
    while version < target:
        step = migrations.get(version)
        if step is None:
            raise _Invalid(version)
        data = step(dict(data))
        version += 1
    data["schema_version"] = target
    return data


# --- reading ------------------------------------------------------------------------------------


def _from_mapping(data: Mapping[str, Any]) -> tuple[Settings, tuple[str, ...]]:
    """Settings from a stored mapping; invalid or missing fields take their defaults."""
    values: dict[str, Any] = {}
    reset: list[str] = []
    for name, check in _VALIDATORS.items():
        if name not in data:
            continue
        try:
            values[name] = check(data[name])
        except _Invalid:
            reset.append(name)
    unknown = sorted(set(data) - set(_VALIDATORS) - {"schema_version"})
    if unknown:
        log.info("settings: ignored unknown keys %s", unknown)
    return Settings(**values), tuple(reset)


def _set_aside(file: Path) -> Path | None:
    """Rename ``file`` to ``<name>.bad-<time>[-n]`` beside it; None if the rename failed."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(100):
        target = file.with_name(f"{file.name}.bad-{stamp}" + (f"-{n}" if n else ""))
        if target.exists():
            continue
        try:
            file.rename(target)
        except OSError as exc:
            log.warning("could not set aside %s: %s", file, exc)
            return None
        log.warning("settings file %s was set aside as %s", file, target.name)
        return target
    return None


def _legacy(paths: AppPaths) -> SettingsLoad:
    """First start with this version: take over what earlier versions kept elsewhere."""
    added = sorted(StoredPaths(paths.config / FOLDERS_FILE_NAME).load())
    if not added:
        return SettingsLoad(Settings())
    own = str(paths.models)
    try:
        folders = _folders([own, *added])
    except _Invalid:
        return SettingsLoad(Settings())
    return SettingsLoad(Settings(models_folders=folders), migrated_from=0)


def load_settings(
    paths: AppPaths, migrations: Mapping[int, Migration] = MIGRATIONS
) -> SettingsLoad:
    """The settings in ``paths.config``; never raises (see the module docstring)."""
    file = paths.config / SETTINGS_FILE_NAME

    def bad(problem: LoadProblem) -> SettingsLoad:
        return SettingsLoad(Settings(), problem, _set_aside(file))

    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        return _legacy(paths)
    except OSError as exc:
        log.warning("settings file %s unreadable: %s", file, exc)
        # Not renamed: a file we cannot read is probably one we cannot move either.
        return SettingsLoad(Settings(), LoadProblem.UNREADABLE)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return bad(LoadProblem.CORRUPT)
    if not isinstance(data, dict):
        return bad(LoadProblem.CORRUPT)
    version = data.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return bad(LoadProblem.BAD_VERSION)
    if version > SCHEMA_VERSION:
        return bad(LoadProblem.NEWER_VERSION)
    migrated_from = None
    if version < SCHEMA_VERSION:
        try:
            data = _migrate(data, version, SCHEMA_VERSION, migrations)
        except (_Invalid, KeyError, TypeError, ValueError):
            return bad(LoadProblem.BAD_VERSION)
        migrated_from = version
    settings, reset = _from_mapping(data)
    return SettingsLoad(settings, migrated_from=migrated_from, reset_fields=reset)


# --- writing ------------------------------------------------------------------------------------


def settings_to_json(settings: Settings) -> dict[str, Any]:
    data = asdict(settings)
    data["models_folders"] = list(settings.models_folders)
    data["theme"] = settings.theme.value
    data["schema_version"] = SCHEMA_VERSION
    return data


def save_settings(paths: AppPaths, settings: Settings) -> Path:
    """Write atomically (``core.atomic``): a crash leaves the old file or the new one, never
    half of either. Raises ``OSError`` when the disk refuses and ``ValueError`` for invalid
    settings."""
    validate(settings)
    file = paths.config / SETTINGS_FILE_NAME
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(file, settings_to_json(settings), indent=2)
    return file


# --- derived values -----------------------------------------------------------------------------


def models_folders(
    settings: Settings, default: Path, env: Mapping[str, str] | None = None
) -> tuple[Path, ...]:
    """The models folders in effect, the download folder first.

    ``QUANTDESK_MODELS_DIR`` (already applied to ``default`` by ``AppPaths.default``) wins the
    first place when set: an explicit override for this run beats a stored preference.
    """
    env = os.environ if env is None else env
    stored = [Path(p) for p in settings.models_folders]
    if env.get(MODELS_ENV):
        return (default, *[p for p in stored if p != default])
    return tuple(stored) if stored else (default,)


def with_field(settings: Settings, **changes: Any) -> Settings:
    """A copy with ``changes`` applied and checked (unknown names raise ``TypeError``)."""
    known = {f.name for f in fields(Settings)}
    unknown = set(changes) - known
    if unknown:
        raise TypeError(f"unknown settings {sorted(unknown)}")
    return validate(replace(settings, **changes))
