"""A bug report's facts: versions, this machine, the settings and the recent log. No network.

``gather`` returns :class:`Diagnostics` (rows of facts plus log lines); ``to_text`` lays them out
as plain text for the clipboard. Every value passes through ``hf_token.redact``: the token in use
and anything shaped like one is masked, wherever it appears (a path, a setting, a log line).
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from desktop_app import __version__
from desktop_app.core.app_log import LOG_FILE_NAME, tail
from desktop_app.core.engine.huge_pages import thp_mode
from desktop_app.core.hardware import default_threads, read_machine_info
from desktop_app.core.hf_token import SecretFilter, read_token, redact
from desktop_app.core.paths import AppPaths
from desktop_app.core.settings import Settings, models_folders, settings_to_json

__all__ = ["LOG_LINES", "PACKAGES", "Diagnostics", "gather"]

LOG_LINES = 200
# Distribution names, as pip knows them.
PACKAGES: tuple[str, ...] = (
    "PySide6",
    "llama_cpp_python",
    "gguf",
    "huggingface_hub",
    "psutil",
    "jinja2",
    "numpy",
)

Rows = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Diagnostics:
    sections: tuple[tuple[str, Rows], ...]
    log_lines: tuple[str, ...]

    def value(self, section: str, key: str) -> str | None:
        for name, rows in self.sections:
            if name == section:
                return dict(rows).get(key)
        return None

    def to_text(self) -> str:
        width = max((len(k) for _s, rows in self.sections for k, _v in rows), default=0)
        out: list[str] = []
        for name, rows in self.sections:
            out.append(f"## {name}")
            out.extend(f"{key.ljust(width)}  {value}" for key, value in rows)
            out.append("")
        out.append(f"## Last {len(self.log_lines)} log lines")
        out.extend(self.log_lines or ("(the log is empty)",))
        return "\n".join(out) + "\n"


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def gather(
    paths: AppPaths,
    settings: Settings,
    *,
    runtime: Mapping[str, str] | None = None,
    log_lines: int = LOG_LINES,
) -> Diagnostics:
    """Collect the report. ``runtime`` adds facts only the caller knows (the Qt version in use,
    the platform plugin); core cannot import Qt to ask."""
    machine = read_machine_info(paths.models, ask_backend=False)
    threads = settings.threads if settings.threads is not None else default_threads()
    token = read_token()
    secrets = SecretFilter.known()

    def rows(items: list[tuple[str, str]]) -> Rows:
        return tuple((k, redact(str(v), secrets)) for k, v in items)

    app = [
        ("QuantDesk", __version__),
        ("Python", f"{platform.python_implementation()} {sys.version.split()[0]}"),
        *[(name, _version(name)) for name in PACKAGES],
        *sorted((runtime or {}).items()),
    ]
    system = [
        ("OS", platform.platform()),
        ("Machine", platform.machine()),
        ("CPU", machine.cpu_model),
        ("Cores", f"{machine.physical_cores} physical, {machine.logical_cores} logical"),
        ("CPU features", " ".join(machine.cpu_features) or "unknown"),
        ("RAM total", str(machine.total_ram)),
        ("RAM available", str(machine.available_ram)),
        ("Swap total", str(machine.swap_total)),
        ("Disk free", f"{machine.disk_free} at {machine.disk_path}"),
        ("Threads", f"{threads} ({'auto' if settings.threads is None else 'set'})"),
        # Whether the workers' huge-page tunable can take effect (it does under "madvise").
        ("Transparent huge pages", thp_mode() or "not available"),
    ]
    stored = json.dumps(settings_to_json(settings), ensure_ascii=False, sort_keys=True)
    folders = [
        ("Settings", stored),
        ("Models folders", " | ".join(str(p) for p in models_folders(settings, paths.models))),
        ("Config", str(paths.config)),
        ("Data", str(paths.data)),
        ("Cache", str(paths.cache)),
        ("Logs", str(paths.logs)),
        ("HF token", f"{token.source.value} {token.masked}".strip()),
    ]
    lines = tail(paths.logs / LOG_FILE_NAME, log_lines)
    return Diagnostics(
        sections=(
            ("QuantDesk", rows(app)),
            ("This machine", rows(system)),
            ("Settings", rows(folders)),
        ),
        log_lines=tuple(redact(line, secrets) for line in lines),
    )
