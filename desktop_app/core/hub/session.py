"""How QuantDesk talks to the hub: huggingface_hub's own HTTP client, configured per call.

Everything goes through ``huggingface_hub.get_session()`` (an ``httpx2.Client``) and
``build_hf_headers``, so proxies (the usual environment variables), the token (``HF_TOKEN`` or
the one ``hf auth login`` stored) and a user-installed client factory behave exactly as in the
hub's own calls. TLS verification is never touched.

huggingface_hub reads ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` once, at import; ``HubConfig``
reads them again whenever it is built, and every call gets the endpoint explicitly, so a
change (a test server, the app's offline switch) takes effect without a restart. Offline means
no connection at all: ``require_online`` raises before any socket is opened.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub import constants, errors, get_session
from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

from desktop_app import __version__
from desktop_app.core.hub.errors import HubError
from desktop_app.core.paths import AppPaths

__all__ = [
    "HubConfig",
    "big_reads",
    "error_for_response",
    "error_for_status",
    "hub_error_from",
    "http11_connection",
    "http_client",
]

_TRUE = {"1", "on", "yes", "true"}


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def env_offline() -> bool:
    """HF_HUB_OFFLINE as it is now, or as huggingface_hub saw it at import."""
    return (
        _env_true("HF_HUB_OFFLINE")
        or _env_true("TRANSFORMERS_OFFLINE")
        or (constants.HF_HUB_OFFLINE)
    )


@dataclass(frozen=True)
class HubConfig:
    """Where the hub is and how to reach it. Build with ``from_env`` unless testing."""

    endpoint: str
    cache_dir: Path
    offline: bool = False
    # None: huggingface_hub's default (HF_TOKEN, then the stored token); False: anonymous.
    token: str | bool | None = None
    # Connect and read timeout of API calls, in seconds (downloads have their own).
    timeout: float = 20.0
    extra_headers: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def from_env(
        cls, *, offline: bool = False, cache_dir: Path | None = None, timeout: float = 20.0
    ) -> HubConfig:
        """The configuration the environment asks for; ``offline`` is the app's own switch."""
        endpoint = (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
        return cls(
            endpoint=endpoint,
            cache_dir=cache_dir if cache_dir is not None else AppPaths.default().cache / "hub",
            offline=offline or env_offline(),
            timeout=timeout,
        )

    @property
    def is_offline(self) -> bool:
        # The environment is read again: HF_HUB_OFFLINE set while the app runs counts too.
        return self.offline or env_offline()

    def require_online(self) -> None:
        if self.is_offline:
            raise HubError("offline", "offline mode is on")

    def headers(self) -> dict[str, str]:
        headers = build_hf_headers(
            token=self.token, library_name="quantdesk", library_version=__version__
        )
        headers.update(self.extra_headers)
        return headers

    def http_timeout(self, read: float | None = None) -> httpx2.Timeout:
        return httpx2.Timeout(
            connect=self.timeout,
            read=self.timeout if read is None else read,
            write=self.timeout,
            pool=self.timeout,
        )


def http_client() -> httpx2.Client:
    """huggingface_hub's shared client (follows redirects, drops auth on cross-host ones)."""
    return get_session()


_BIG_READ = 1024 * 1024


def http11_connection(resp: httpx2.Response) -> Any | None:
    """httpcore's HTTP/1.1 connection under ``resp``, or None (HTTP/2, another layout).

    Reached through private attributes of httpx2 and httpcore2: callers only use it to make
    a download faster and must behave correctly when it is None.
    """
    conn: Any = resp.stream
    for name in ("_stream", "_httpcore_stream", "_stream", "_connection"):
        conn = getattr(conn, name, None)
    return conn


@contextlib.contextmanager
def big_reads(resp: httpx2.Response) -> Iterator[None]:
    """Let the connection under ``resp`` read up to 1 MiB per socket read meanwhile.

    httpcore reads 64 KiB at a time, and each read is a round of HTTP parsing in Python: for a
    body of gigabytes that costs as much CPU as hashing it (measured on the loopback
    benchmark: 1.1-1.9 s of CPU per 512 MiB at 64 KiB, 0.75-0.9 s at 1 MiB). The read size is
    an attribute of httpcore's connection, reached through private attributes; when a version
    lays them out differently nothing changes (downloads are only slower). The connection gets
    its default back afterwards, so the hub's own calls are untouched.
    """
    conn = http11_connection(resp)
    if conn is None or not isinstance(getattr(conn, "READ_NUM_BYTES", None), int):
        yield
        return
    conn.READ_NUM_BYTES = _BIG_READ
    try:
        yield
    finally:
        with contextlib.suppress(AttributeError):
            del conn.READ_NUM_BYTES


def error_for_status(status: int, detail: str = "", error_code: str | None = None) -> HubError:
    """The ``HubError`` for an HTTP status; ``error_code`` is the hub's ``X-Error-Code``."""
    if error_code == "GatedRepo":
        return HubError("gated", detail, status=status)
    if status in (401, 403):
        return HubError("unauthorized", detail, status=status)
    if status == 404:
        return HubError("not_found", detail, status=status)
    if status == 429:
        return HubError("rate_limited", detail, status=status)
    if status >= 500:
        return HubError("server_error", detail, status=status)
    return HubError("bad_response", detail, status=status)


def error_for_response(response: httpx2.Response, detail: str = "") -> HubError:
    return error_for_status(response.status_code, detail, response.headers.get("X-Error-Code"))


def hub_error_from(exc: BaseException) -> HubError:
    """The ``HubError`` for an exception raised by huggingface_hub or httpx2."""
    detail = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    if isinstance(exc, HubError):
        return exc
    if isinstance(exc, errors.OfflineModeIsEnabled):
        return HubError("offline", detail)
    if isinstance(exc, errors.GatedRepoError):
        return HubError("gated", detail, status=_status_of(exc))
    if isinstance(
        exc,
        errors.RepositoryNotFoundError
        | errors.RevisionNotFoundError
        | errors.RemoteEntryNotFoundError,
    ):
        return HubError("not_found", detail, status=_status_of(exc))
    if isinstance(exc, errors.HfHubHTTPError):
        status = _status_of(exc)
        return error_for_status(status, detail) if status else HubError("network", detail)
    if isinstance(exc, httpx2.TimeoutException):
        return HubError("timeout", detail)
    if isinstance(exc, httpx2.TransportError):
        return HubError("network", detail)
    if isinstance(exc, ValueError | KeyError | TypeError | AttributeError):
        # Bad JSON, or JSON without the fields a hub answer has.
        return HubError("bad_response", detail)
    return HubError("network", detail)


def _status_of(exc: errors.HfHubHTTPError) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None
