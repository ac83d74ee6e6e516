"""Repo ids and file names from the hub, checked before they become paths on this machine.

A repo listing is untrusted input: a file named ``..\\..\\x.gguf``, ``C:\\x.gguf`` or
``\\\\host\\share\\x.gguf`` must never be written outside the models folder (CVE-2026-15717
was exactly that), and a name with a right-to-left override or a reserved Windows device name
must never reach the file system. Names are checked component by component with the rules of
every OS QuantDesk runs on, whichever OS this is, and the final path is resolved and required
to lie inside the models folder.

Models land where LM Studio puts them: ``<models>/<publisher>/<repo>/<file in repo>``;
sub-folders inside the repo (large quants are often published in one) are kept.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from desktop_app.core.hub.errors import HubError

__all__ = [
    "destination_path",
    "escape_for_display",
    "prepare_destination",
    "validate_file_name",
    "validate_repo_id",
]

_MAX_COMPONENT_BYTES = 255
_MAX_DEPTH = 8  # components in a file name inside a repo
_MAX_REPO_ID = 96  # the hub's own limit for owner/name
# Owner and name: ASCII letters, digits, "_", "-", "."; starting and ending with a letter,
# digit or "_" (the hub's validate_repo_id rules, restricted to ASCII).
_REPO_PART = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?")
# Characters Windows forbids in names (":" also makes drive letters and NTFS streams).
_FORBIDDEN_CHARS = frozenset('<>:"|?*\\/')
# Control, format (bidi overrides, zero-width), surrogate, private-use and separator classes.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{p}{i}" for p in ("COM", "LPT") for i in "0123456789\u00b9\u00b2\u00b3"}
)


def escape_for_display(text: str, limit: int = 200) -> str:
    """``text`` with every invisible or direction-changing character shown as an escape.

    For error messages and lists: a name with U+202E must not reorder what the user reads.
    """
    out: list[str] = []
    for ch in text:
        if unicodedata.category(ch) in _FORBIDDEN_CATEGORIES or ch == "\\":
            out.append(ch.encode("unicode_escape").decode("ascii") if ch != "\\" else "\\\\")
        else:
            out.append(ch)
    shown = "".join(out)
    return shown if len(shown) <= limit else shown[: limit - 1] + "\u2026"


def _bad(code: str, text: str, why: str) -> HubError:
    return HubError(code, why, name=escape_for_display(text))


def _check_component(part: str, whole: str, code: str) -> None:
    """One path component, valid on Windows, macOS and Linux alike."""
    if part in ("", ".", ".."):
        raise _bad(code, whole, f"empty, '.' or '..' component in {whole!r}")
    if part.startswith("."):
        # Hidden: the library never lists it (download tools use dot-files as temporaries).
        raise _bad(code, whole, "component starts with '.'")
    if part[0] == " " or part[-1] in ". ":
        # Windows strips trailing dots and spaces, so the name would silently change.
        raise _bad(code, whole, "leading space or trailing dot or space")
    for ch in part:
        if ch in _FORBIDDEN_CHARS:
            raise _bad(code, whole, f"forbidden character {ch!r}")
        if unicodedata.category(ch) in _FORBIDDEN_CATEGORIES:
            raise _bad(code, whole, f"control or invisible character U+{ord(ch):04X}")
    if part.split(".")[0].rstrip(" ").upper() in _WINDOWS_DEVICES:
        raise _bad(code, whole, "reserved Windows device name")
    try:
        encoded = part.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates (already refused above, belt and braces)
        raise _bad(code, whole, "not valid Unicode") from exc
    if len(encoded) > _MAX_COMPONENT_BYTES:
        raise _bad(code, whole, f"component longer than {_MAX_COMPONENT_BYTES} bytes")


def _check_text(text: object, code: str) -> str:
    if not isinstance(text, str) or not text:
        raise HubError(code, "empty or not text", name=escape_for_display(str(text)))
    if "\x00" in text:
        raise _bad(code, text, "NUL character")
    if unicodedata.normalize("NFC", text) != text:
        # macOS stores names normalized: two hub names could then become one file.
        raise _bad(code, text, "not in Unicode normal form C")
    return text


def validate_repo_id(repo_id: object) -> tuple[str, str]:
    """(publisher, name) of an ``owner/name`` repo id, or ``HubError("bad_repo_id")``."""
    text = _check_text(repo_id, "bad_repo_id")
    if len(text) > _MAX_REPO_ID:
        raise _bad("bad_repo_id", text, f"longer than {_MAX_REPO_ID} characters")
    parts = text.split("/")
    if len(parts) != 2:
        raise _bad("bad_repo_id", text, "not of the form owner/name")
    for part in parts:
        if not _REPO_PART.fullmatch(part) or ".." in part or "--" in part:
            raise _bad("bad_repo_id", text, f"invalid owner or name {part!r}")
        _check_component(part, text, "bad_repo_id")
    return parts[0], parts[1]


def validate_file_name(name: object, *, require_gguf: bool = True) -> tuple[str, ...]:
    """The components of a file name inside a repo (``"sub/x.gguf"`` -> ``("sub", "x.gguf")``).

    Refuses absolute paths, drive letters, backslashes, UNC paths, ``..``, control and
    invisible characters, reserved device names, trailing dots or spaces and components over
    255 bytes: ``HubError("bad_file_name")``. ``require_gguf`` also asks for a ``.gguf`` name.
    """
    text = _check_text(name, "bad_file_name")
    if text.startswith("/"):
        raise _bad("bad_file_name", text, "absolute path")
    parts = text.split("/")
    if len(parts) > _MAX_DEPTH:
        raise _bad("bad_file_name", text, f"more than {_MAX_DEPTH} folder levels")
    for part in parts:
        _check_component(part, text, "bad_file_name")
    if require_gguf and not parts[-1].lower().endswith(".gguf"):
        raise _bad("bad_file_name", text, "not a .gguf file")
    return tuple(parts)


def _is_inside(path: str, folder: str) -> bool:
    try:
        return path != folder and os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives on Windows
        return False


def destination_path(models_root: Path, repo_id: str, file_name: str) -> Path:
    """``<models_root>/<publisher>/<repo>/<file_name>`` after every check, nothing created.

    The folders that already exist are resolved (symlinks followed) and the result must still
    lie inside the resolved models root: ``HubError("outside_models")`` otherwise.
    """
    publisher, name = validate_repo_id(repo_id)
    parts = validate_file_name(file_name)
    dest = Path(models_root, publisher, name, *parts)
    _check_inside(models_root, dest)
    return dest


def _check_inside(models_root: Path, dest: Path) -> None:
    root = os.path.realpath(models_root)
    # The folders resolved; the file itself must not be a link that points elsewhere either.
    located = os.path.join(os.path.realpath(dest.parent), dest.name)
    if not _is_inside(located, root) or os.path.islink(located):
        raise HubError("outside_models", f"{located} is outside {root}", path=dest)


def prepare_destination(models_root: Path, repo_id: str, file_name: str) -> Path:
    """``destination_path`` with its folders created, checked again once they exist."""
    dest = destination_path(models_root, repo_id, file_name)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except PermissionError as exc:
        raise HubError("permission_denied", str(exc), path=dest.parent) from exc
    except OSError as exc:
        raise HubError("io_error", f"{type(exc).__name__}: {exc}", path=dest.parent) from exc
    # A folder swapped for a symlink between the first check and mkdir is caught here.
    _check_inside(models_root, dest)
    return dest
