"""An opt-in check that a worker process never touches the network.

A model worker needs no network at all: it reads one local file and talks to the app over the
pipe multiprocessing gave it (an AF_UNIX socket pair). When the environment names a report file
in ``NETWORK_GUARD_ENV``, ``install_from_env()`` adds a Python audit hook (PEP 578) that refuses
every Internet socket (creation, connect, bind, send) and every name lookup with PermissionError,
logs the attempt at ERROR (which the worker forwards to the app) and appends it to the report
file. The file's first line names the guarded process, so a test can tell that the guard was
really installed in the worker. Tests and benchmarks set the variable; the app does not, so its
workers pay nothing for it.

The hook sees Python-level socket use only (the standard library and anything built on it).
Native code calling the C library directly is outside its view: the engine's test also watches
the worker's open file descriptors from outside (tests/integration/test_engine_offline.py).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from typing import Any

log = logging.getLogger(__name__)

NETWORK_GUARD_ENV = "QUANTDESK_NETWORK_GUARD_FILE"

# Audit events (Python docs, "Audit events table") whose first argument is the socket object.
_SOCKET_USE = frozenset({"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"})
_NAME_LOOKUP = frozenset(
    {
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.getnameinfo",
    }
)
_LOCAL_FAMILIES = frozenset({getattr(socket, "AF_UNIX", -1)})


def _blocked(event: str, args: tuple[Any, ...]) -> bool:
    if event == "socket.__new__":  # args: (socket, family, type, proto)
        return args[1] not in _LOCAL_FAMILIES
    if event in _SOCKET_USE:
        return getattr(args[0], "family", None) not in _LOCAL_FAMILIES
    return event in _NAME_LOOKUP


def install(report_path: str) -> None:
    """Refuse and report network access in this process from now on (cannot be undone)."""

    def report(line: str) -> None:
        with open(report_path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if not event.startswith("socket.") or not _blocked(event, args):
            return
        line = f"blocked pid={os.getpid()} {event} {args[1:]!r}"
        report(line)
        log.error("network access refused in a worker process: %s", line)
        raise PermissionError(f"network access is not allowed in this process ({event})")

    report(f"guarded pid={os.getpid()}")
    sys.addaudithook(hook)


def install_from_env() -> bool:
    """Install the guard when ``NETWORK_GUARD_ENV`` names a report file; True if installed."""
    path = os.environ.get(NETWORK_GUARD_ENV)
    if not path:
        return False
    install(path)
    return True
