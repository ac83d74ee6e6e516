"""The core must import and work with Qt unavailable (napari-style headless guarantee)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import desktop_app.core

ROOT = Path(__file__).resolve().parents[3]


def _core_modules() -> list[str]:
    return sorted(
        m.name for m in pkgutil.walk_packages(desktop_app.core.__path__, prefix="desktop_app.core.")
    )


def test_every_core_module_imports_with_qt_blocked() -> None:
    modules = _core_modules()
    assert "desktop_app.core.fit" in modules
    # A meta-path finder that refuses PySide6/shiboken6, in a fresh interpreter.
    script = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'shiboken6'):
            raise ImportError('Qt is blocked for core: ' + name)
        return None
sys.meta_path.insert(0, Block())
import importlib
for name in {modules!r}:
    importlib.import_module(name)
leaked = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6')]
assert not leaked, leaked
print('ok', len({modules!r}))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


def test_import_linter_contract_holds() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 kept, 0 broken" in out.stdout
