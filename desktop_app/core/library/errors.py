"""The typed error of library management (delete, import)."""

from __future__ import annotations

from pathlib import Path

from desktop_app.core.errors import QuantDeskError


class LibraryError(QuantDeskError):
    """A library operation was refused or failed.

    ``code`` is one of:

    * ``not_own``: the file is not inside QuantDesk's own models folders (never deleted),
    * ``exists``: the import target already exists (never overwritten),
    * ``not_found``: the file to delete or import does not exist,
    * ``not_a_file``: it exists but is not a regular file (a folder, a device...),
    * ``bad_name``: a publisher or file name that cannot safely become a path,
    * ``is_symlink``: asked to move a symbolic link (moving it would move no data),
    * ``cross_device``: a hard link between two different file systems,
    * ``unsupported``: the file system refuses the operation (symlinks without privilege),
    * ``permission_denied``, ``io_error``: the operating system refused or failed.
    """

    def __init__(self, code: str, detail: str = "", *, path: Path | str | None = None) -> None:
        super().__init__(detail, path=path)
        self.code = code
