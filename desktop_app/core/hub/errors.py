"""The typed error of everything hub-related: search, listings, remote headers, downloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from desktop_app.core.errors import QuantDeskError

__all__ = ["HubError"]


class HubError(QuantDeskError):
    """A hub operation was refused or failed; ``code`` says why (``desktop_app.messages``
    phrases it). Codes:

    * names: ``bad_repo_id``, ``bad_file_name``, ``outside_models`` (``name`` holds the
      offending text, escaped for display),
    * network: ``offline``, ``network``, ``timeout``, ``not_found``, ``unauthorized``,
      ``gated``, ``rate_limited``, ``server_error`` (``status`` is the HTTP status when there
      was one), ``bad_response``, ``header_too_large``, ``not_in_repo``,
    * downloads: ``no_space`` (before starting; ``needed`` and ``available`` in bytes),
      ``disk_full`` (while writing; the partial file is kept for resuming), ``size_mismatch``,
      ``checksum_mismatch`` (the partial file was deleted), ``no_checksum``, ``exists`` (a
      different file is already at the destination; never overwritten), ``busy`` (another
      QuantDesk is downloading the same file), ``permission_denied``, ``io_error``.
    """

    def __init__(
        self,
        code: str,
        detail: str = "",
        *,
        path: Path | str | None = None,
        status: int | None = None,
        name: str | None = None,
        needed: int | None = None,
        available: int | None = None,
    ) -> None:
        super().__init__(detail, path=path)
        self.code = code
        self.status = status
        self.name = name
        self.needed = needed
        self.available = available

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only attributes would be lost by the default Exception pickling.
        state = {
            "path": self.path,
            "status": self.status,
            "name": self.name,
            "needed": self.needed,
            "available": self.available,
        }
        return (type(self), (self.code, self.detail), state)
