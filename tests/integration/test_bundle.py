"""The PyInstaller bundle `make bundle` builds: it starts, passes its selftest, and its tarball
installs and uninstalls for one user.

Skipped when there is no dist/QuantDesk/QuantDesk (building takes minutes, so `make test` does
not build it). CI runs `make bundle` after `make test`, then this file (.ci/run). A bundle left
in dist/ from older sources is tested as it is: rebuild after changing the code.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from test_selftest import check_selftest_output

from desktop_app import __version__, resources

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
BUNDLE = DIST / "QuantDesk" / ("QuantDesk.exe" if sys.platform == "win32" else "QuantDesk")
TARBALL = DIST / f"QuantDesk-{__version__}-linux-{os.uname().machine}.tar.gz"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        not BUNDLE.is_file(),
        reason=f"no bundle at {BUNDLE.relative_to(ROOT)}: run `make bundle` (CI does, then runs "
        "this file)",
    ),
]


def run_bundle(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BUNDLE), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", **env},
        timeout=300,
        check=False,
    )


def test_version() -> None:
    proc = run_bundle("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"QuantDesk {__version__}\n"


def test_selftest_spawns_its_worker_from_the_frozen_executable(tmp_path: Path) -> None:
    # The engine step only passes if multiprocessing re-entered the executable as a worker.
    proc = run_bundle("--selftest", TMPDIR=str(tmp_path))
    check_selftest_output(proc, "frozen build")
    assert list(tmp_path.iterdir()) == []


def test_a_command_runs_from_the_bundle(app_home: Path) -> None:
    proc = run_bundle("hardware", "--json")
    assert proc.returncode == 0, proc.stderr
    assert '"features_source": "llama.cpp"' in proc.stdout  # llama.cpp's library answered


def test_bundle_leaves_out_what_the_app_does_not_use() -> None:
    internal = BUNDLE.parent / "_internal"
    names = {p.name for p in internal.rglob("*")}
    for unused in ("libQt6Quick.so.6", "libQt6Qml.so.6", "libQt6Pdf.so.6", "libqgtk3.so"):
        assert unused not in names
    for needed in ("libqxcb.so", "libqwayland.so", "libqoffscreen.so", "libqsvg.so"):
        assert needed in names, f"Qt plugin {needed} is missing"
    assert (internal / "llama_cpp" / "lib" / "libllama.so").is_file()
    assert (internal / "resources" / "icons" / "quantdesk-256.png").is_file()
    assert not (internal / "resources" / "screenshots").exists()
    dangling = [p for p in internal.rglob("*") if p.is_symlink() and not p.exists()]
    assert dangling == []


@pytest.mark.skipif(not TARBALL.is_file(), reason=f"no tarball at dist/{TARBALL.name}")
def test_tarball_installs_and_uninstalls_for_one_user(tmp_path: Path) -> None:
    with tarfile.open(TARBALL) as tar:
        tar.extractall(tmp_path / "unpacked", filter="tar")
    [folder] = (tmp_path / "unpacked").iterdir()
    assert folder.name == TARBALL.name.removesuffix(".tar.gz")
    home = tmp_path / "home"
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    proc = subprocess.run(
        [str(folder / "install.sh")], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    app = home / ".local" / "opt" / "QuantDesk" / "QuantDesk"
    assert app.is_file()
    assert (home / ".local" / "bin" / "quantdesk").resolve() == app.resolve()
    share = home / ".local" / "share"
    desktop = (share / "applications" / resources.desktop_entry().name).read_text()
    assert f"Exec={app}\n" in desktop and f"TryExec={app}\n" in desktop
    icons = share / "icons" / "hicolor"
    for size in resources.ICON_SIZES:
        assert (icons / f"{size}x{size}" / "apps" / f"{resources.APP_ID}.png").is_file()
    assert (share / "metainfo" / resources.appstream_metainfo().name).is_file()
    installed = subprocess.run([str(app), "--version"], capture_output=True, text=True, check=False)
    assert installed.stdout == f"QuantDesk {__version__}\n"

    proc = subprocess.run(
        [str(folder / "install.sh"), "--uninstall"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert not app.parent.exists()
    assert not (home / ".local" / "bin" / "quantdesk").exists()
    assert not (share / "applications" / resources.desktop_entry().name).exists()
    assert not list(icons.rglob(f"{resources.APP_ID}.*"))


def test_appimage_appdir_runs_the_bundle(tmp_path: Path) -> None:
    # appimagetool is not installed here: the script still makes the AppDir, whose AppRun must
    # start the bundle from inside it, next to the desktop entry and icon appimagetool reads.
    appdir = tmp_path / "QuantDesk.AppDir"
    script = ROOT / "installers" / "linux" / "appimage" / "build-appimage.sh"
    env = {**os.environ, "APPDIR": str(appdir), "APPIMAGETOOL": ""}
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if not (Path(p) / "appimagetool").exists()
    )
    proc = subprocess.run([str(script)], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "appimagetool not found" in proc.stdout
    run = subprocess.run(
        [str(appdir / "AppRun"), "--version"], capture_output=True, text=True, check=False
    )
    assert run.stdout == f"QuantDesk {__version__}\n"
    entry = (appdir / f"{resources.APP_ID}.desktop").read_text()
    assert "Exec=QuantDesk\n" in entry and f"Icon={resources.APP_ID}\n" in entry
    assert (appdir / ".DirIcon").resolve() == (appdir / f"{resources.APP_ID}.png").resolve()
    assert (appdir / "usr" / "share" / "metainfo" / f"{resources.APP_ID}.appdata.xml").is_file()
