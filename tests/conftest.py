"""Suite-wide isolation: temp folders for everything the app writes, no network, loud failures.

* Config, data, cache, logs and models go to a per-test temp dir (QUANTDESK_HOME), and the
  Hugging Face cache too (set before huggingface_hub can be imported: it reads them at import).
* Any connection to a non-loopback address fails the test.
* A log record at ERROR or above fails the test unless it is marked ``allow_log_errors``.
* Qt runs offscreen; Qt warnings fail tests (pytest-qt ``qt_log_level_fail`` in pyproject).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The suite runs many small models beside each other and other jobs on a shared machine:
# sleeping OpenMP threads keep that from collapsing (the app itself keeps the default policy).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="quantdesk-tests-"))
for _var, _sub in (
    ("HF_HOME", "hf"),
    ("HF_HUB_CACHE", "hf/hub"),
    ("XDG_CONFIG_HOME", "xdg/config"),
    ("XDG_DATA_HOME", "xdg/data"),
    ("XDG_CACHE_HOME", "xdg/cache"),
    ("XDG_STATE_HOME", "xdg/state"),
):
    os.environ[_var] = str(_SESSION_HOME / _sub)
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.pop("HF_TOKEN", None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_log_errors: the test expects ERROR log records")
    _install_network_guard()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "qtbot" in fixtures or "qapp" in fixtures:
            item.add_marker(pytest.mark.gui)


# --- network guard -----------------------------------------------------------------------------


class NetworkAccessError(AssertionError):
    """Raised (and so failing the test) when code tries to reach a non-loopback address."""


def _is_loopback(address: object) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths and the like never leave the machine
    host = str(address[0])
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name: resolving it would already be a network access


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_loopback(address):
        raise NetworkAccessError(f"test tried to connect to {address!r}")
    _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_loopback(address):
        raise NetworkAccessError(f"test tried to connect to {address!r}")
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


def _install_network_guard() -> None:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


# --- per-test isolation ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def app_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every app folder lives under this test's temp dir."""
    home = tmp_path / "quantdesk-home"
    monkeypatch.setenv("QUANTDESK_HOME", str(home))
    monkeypatch.delenv("QUANTDESK_MODELS_DIR", raising=False)
    return home


class _ErrorCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def fail_on_logged_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    collector = _ErrorCollector()
    root = logging.getLogger()
    root.addHandler(collector)
    try:
        yield
    finally:
        root.removeHandler(collector)
    if collector.records and request.node.get_closest_marker("allow_log_errors") is None:
        lines = "\n".join(f"{r.name}: {r.getMessage()}" for r in collector.records[:10])
        pytest.fail(f"unexpected ERROR log records:\n{lines}")


# --- locally made models -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny random-weight model as F16, F32 and llama.cpp-quantized Q8_0, Q4_K_M, Q2_K."""
    from desktop_app.core.quantize import quantize_gguf
    from desktop_app.core.synthetic_model import write_model

    folder = tmp_path_factory.mktemp("tiny-models")
    models = {
        "F16": write_model(folder / "tiny-F16.gguf", "tiny", dtype="F16"),
        "F32": write_model(folder / "tiny-F32.gguf", "tiny", dtype="F32"),
    }
    for label in ("Q8_0", "Q4_K_M", "Q2_K"):
        models[label] = quantize_gguf(models["F16"], folder / f"tiny-{label}.gguf", label)
    return models


@pytest.fixture(scope="session")
def tiny_gguf(tiny_models: dict[str, Path]) -> Path:
    return tiny_models["F16"]
