#!/usr/bin/env bash
# Build the Linux bundle (dist/QuantDesk/) and its tarball
# (dist/QuantDesk-<version>-linux-<arch>.tar.gz, with the menu entry, icons and install.sh).
# `make bundle` runs this after installing ".[bundle]"; PY names the Python to use.
set -euo pipefail
cd "$(dirname "$0")/../.."

PY=${PY:-.venv/bin/python}
VERSION=$("$PY" -c 'from desktop_app import __version__; print(__version__)')
NAME="QuantDesk-$VERSION-linux-$(uname -m)"

echo "== PyInstaller (dist/QuantDesk)"
"$PY" -m PyInstaller installers/quantdesk.spec --noconfirm --log-level WARN \
  --distpath dist --workpath build/pyinstaller

# Symbols are most of the size of the interpreter's own libraries (libpython: 23 MB -> 5 MB).
# numpy's bundled OpenBLAS is left alone: stripping it makes it unloadable.
if command -v strip >/dev/null; then
  echo "== strip"
  find dist/QuantDesk/_internal -type f \( -name '*.so' -o -name '*.so.*' \) \
    ! -path '*/numpy.libs/*' -print0 | xargs -0 strip --strip-unneeded
fi

echo "== $NAME.tar.gz"
stage="build/tarball/$NAME"
rm -rf build/tarball
mkdir -p "$stage/icons"
cp -al dist/QuantDesk "$stage/"  # hard links: no second copy of 200 MB
cp resources/linux/io.github.quantdesk.QuantDesk.desktop \
  resources/linux/io.github.quantdesk.QuantDesk.metainfo.xml installers/linux/install.sh "$stage/"
cp resources/icons/quantdesk-*.png resources/icons/quantdesk.svg "$stage/icons/"
compress=gzip
command -v pigz >/dev/null && compress=pigz
tar -C build/tarball -cf - "$NAME" | "$compress" -6 > "dist/$NAME.tar.gz"
(cd dist && sha256sum "$NAME.tar.gz" > "$NAME.tar.gz.sha256")
rm -rf build/tarball

du -sh dist/QuantDesk "dist/$NAME.tar.gz"
