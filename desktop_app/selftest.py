"""``quantdesk --selftest`` and ``quantdesk --quit-after-show``: is this installation whole, and
how fast does its window open?

``--selftest`` runs, as separate timed steps, what a packaged build most often gets wrong:

* window: Qt's platform plugin, the widgets and the icon. The real main window is built (app
  folders in a temp dir), shown until it has painted once, and closed.
* model: numpy, gguf and llama.cpp's quantizer. A tiny random-weight model is written to a temp
  dir and quantized to Q4_K_M.
* engine: a spawned worker process (in a frozen build this needs ``freeze_support()`` at the
  entry point), llama.cpp's shared libraries and the sandboxed chat template. The model is
  loaded in a worker and a few tokens are generated.

It prints one line per step and exits 0, or names the failed step on stderr and exits 1. Without
a display it runs offscreen. Nothing is written outside its temp dir.

``--quit-after-show`` opens the app exactly as ``quantdesk`` does (``app.run_gui``), prints the
seconds from process start to the first painted window and quits: benchmarks/bundle_start.py
times the bundle with it.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app import __version__

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication, QWidget

WINDOW_TIMEOUT_S = 30.0
ENGINE_TIMEOUT_S = 120.0
SHOWN_PREFIX = "window shown"  # benchmarks/bundle_start.py parses this line


class SelftestFailed(Exception):
    """A step found a problem; the message is a sentence for the terminal."""


def seconds_since_process_start() -> float:
    """Seconds since the OS started this process, so interpreter and bootloader start-up count.

    Linux: the kernel's start time in /proc/self/stat (clock ticks since boot, the same clock
    as CLOCK_BOOTTIME; 10 ms resolution). Elsewhere psutil's creation time.
    """
    if sys.platform.startswith("linux"):
        try:
            stat = Path("/proc/self/stat").read_text()
            # Field 22 is starttime; count after the ")" that closes the command name.
            start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
            boot_now = time.clock_gettime(time.CLOCK_BOOTTIME)
            return boot_now - start_ticks / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            pass
    import psutil

    return time.time() - float(psutil.Process().create_time())


def use_offscreen_without_display() -> None:
    """Pick Qt's offscreen platform when there is no display (a server, CI, a container)."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"


def _qapplication() -> QApplication:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    return app


def _watch_first_paint(app: QApplication, on_paint: Callable[[QWidget], None]) -> Any:
    """Call ``on_paint(window)`` whenever a top-level window paints while exposed on screen.

    Returns the event filter; keep a reference while it should run.
    """
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QWidget

    class FirstPaint(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
            if event.type() == QEvent.Type.Paint and isinstance(obj, QWidget) and obj.isWindow():
                handle = obj.windowHandle()
                if handle is not None and handle.isExposed():
                    on_paint(obj)
            return False

    watcher = FirstPaint(app)
    app.installEventFilter(watcher)
    return watcher


# --- --selftest steps --------------------------------------------------------------------------


def _step_window(home: Path) -> str:
    from PySide6.QtCore import QEventLoop, QTimer

    from desktop_app.ui.app_icon import app_icon

    app = _qapplication()
    icon = app_icon()
    if icon.isNull():
        raise SelftestFailed("the application icon is missing from the resources folder")
    app.setWindowIcon(icon)

    from desktop_app.app import build_services, create_window

    os.environ["QUANTDESK_HOME"] = str(home)  # the window's folders live in the temp dir
    services = build_services()
    window = create_window(services)
    shown: list[float] = []
    loop = QEventLoop()

    def painted(_widget: QWidget) -> None:
        if not shown:
            shown.append(seconds_since_process_start())
            loop.quit()

    watcher = _watch_first_paint(app, painted)
    QTimer.singleShot(int(WINDOW_TIMEOUT_S * 1000), loop.quit)
    window.show()
    if not shown:
        loop.exec()
    app.removeEventFilter(watcher)
    window.close()
    window.deleteLater()
    if not services.pools.shutdown():
        raise SelftestFailed("background work of the window did not stop within 5 s")
    if not shown:
        raise SelftestFailed(f"the main window did not appear within {WINDOW_TIMEOUT_S:.0f} s")
    return (
        f"main window painted on Qt platform '{app.platformName()}', "
        f"{shown[0]:.2f} s after process start"
    )


def _step_model(folder: Path) -> tuple[str, Path]:
    from desktop_app.core.quantize import quantize_gguf
    from desktop_app.core.synthetic_model import write_model

    f16 = write_model(folder / "selftest-F16.gguf", "tiny")
    q4 = quantize_gguf(f16, folder / "selftest-Q4_K_M.gguf", "Q4_K_M")
    return f"tiny model written and quantized to Q4_K_M ({q4.stat().st_size // 1024} KiB)", q4


def _raise_failed(event: object) -> None:
    from desktop_app.core.engine.protocol import Failed
    from desktop_app.messages import describe_engine_failure

    if isinstance(event, Failed):
        raise SelftestFailed(describe_engine_failure(event.code, event.detail, event.facts))


def _step_engine(model: Path) -> str:
    from desktop_app.core.engine.client import SyncWorker
    from desktop_app.core.engine.protocol import SAMPLING_PRESETS, ChatMessage, LoadSettings

    with SyncWorker(name="quantdesk-selftest") as sw:
        loaded = sw.result(
            sw.worker.load(LoadSettings(path=str(model), n_ctx=256)), ENGINE_TIMEOUT_S
        )
        _raise_failed(loaded)
        # Greedy, so the same build always gives the same reply; a random-weight model rarely
        # picks its end-of-turn token, so the reply runs to max_tokens.
        sampling = dataclasses.replace(SAMPLING_PRESETS["Precise"], max_tokens=8)
        request = sw.worker.generate(messages=[ChatMessage("user", "Hello")], sampling=sampling)
        done = sw.result(request, ENGINE_TIMEOUT_S)
        _raise_failed(done)
        worker_pid = sw.worker.pid
    stats = done.stats
    if stats.generated_tokens < 1:
        raise SelftestFailed("the model worker generated no tokens")
    return (
        f"worker process {worker_pid} loaded the model with the "
        f"{loaded.info.chat_template} chat template and generated {stats.generated_tokens} "
        f"tokens ({stats.gen_tps:.0f} tokens/s)"
    )


def _last_line(exc: BaseException) -> str:
    """The last non-empty line of an error (numpy's ImportError, for one, is a page long and
    ends with the cause)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run_selftest() -> int:
    """The ``--selftest`` command; returns the exit code."""
    from desktop_app.core.errors import QuantDeskError
    from desktop_app.messages import describe_error

    use_offscreen_without_display()
    frozen = "frozen build" if getattr(sys, "frozen", False) else "from source"
    print(
        f"QuantDesk {__version__} selftest ({frozen}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()})",
        flush=True,
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="quantdesk-selftest-") as tmp:
        folder = Path(tmp)
        model: Path | None = None

        def model_step() -> str:
            nonlocal model
            line, model = _step_model(folder)
            return line

        steps: list[tuple[str, Callable[[], str]]] = [
            ("window", lambda: _step_window(folder / "home")),
            ("model", model_step),
            ("engine", lambda: _step_engine(model or folder)),
        ]
        for name, step in steps:
            t0 = time.perf_counter()
            try:
                line = step()
            except SelftestFailed as exc:
                print(f"quantdesk selftest: {name} failed: {exc}", file=sys.stderr)
                return 1
            except (QuantDeskError, OSError, MemoryError) as exc:
                print(f"quantdesk selftest: {name} failed: {describe_error(exc)}", file=sys.stderr)
                return 1
            except Exception as exc:  # noqa: BLE001 - report which step broke, in one line
                print(
                    f"quantdesk selftest: {name} failed: {type(exc).__name__}: {_last_line(exc)}",
                    file=sys.stderr,
                )
                return 1
            print(f"  {name:<7}ok  {time.perf_counter() - t0:5.2f} s  {line}", flush=True)
    print(f"selftest passed in {time.perf_counter() - started:.1f} s", flush=True)
    return 0


# --- --quit-after-show ---------------------------------------------------------------------------


def run_quit_after_show() -> int:
    """Open the app as ``quantdesk`` does, report when a window first paints, then quit."""
    from PySide6.QtCore import QTimer

    from desktop_app.app import run_gui

    use_offscreen_without_display()
    app = _qapplication()
    shown: list[float] = []

    def close_all() -> None:
        app.closeAllWindows()
        app.quit()

    def painted(widget: QWidget) -> None:
        if not shown:
            shown.append(seconds_since_process_start())
            print(
                f"{SHOWN_PREFIX} {shown[0]:.3f} s after process start ({type(widget).__name__})",
                flush=True,
            )
        # Every window that paints afterwards (a dialog before the main window) closes too.
        QTimer.singleShot(0, close_all)

    timed_out: list[bool] = []

    def give_up() -> None:
        timed_out.append(True)
        close_all()

    _watcher = _watch_first_paint(app, painted)
    QTimer.singleShot(int(WINDOW_TIMEOUT_S * 1000), give_up)
    code = run_gui()
    if not shown:
        why = (
            f"within {WINDOW_TIMEOUT_S:.0f} s"
            if timed_out
            else "(the app ended first: is QuantDesk already running?)"
        )
        print(f"quantdesk: no window appeared {why}", file=sys.stderr)
        return 1
    return code
