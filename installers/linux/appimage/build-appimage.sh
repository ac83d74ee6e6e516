#!/usr/bin/env bash
# Make build/appimage/QuantDesk.AppDir from the Linux bundle, and with appimagetool (on PATH,
# or APPIMAGETOOL=/path/to/appimagetool) dist/QuantDesk-<version>-<arch>.AppImage.
#
#   make bundle && installers/linux/appimage/build-appimage.sh
#
# Without appimagetool the AppDir is still made (run its AppRun to try it); see
# installers/README.md for where to get the tool.
set -euo pipefail
cd "$(dirname "$0")/../../.."

APP_ID=io.github.quantdesk.QuantDesk
PY=${PY:-.venv/bin/python}
VERSION=$("$PY" -c 'from desktop_app import __version__; print(__version__)')
ARCH=$(uname -m)
APPDIR=${APPDIR:-build/appimage/QuantDesk.AppDir}

if [ ! -x dist/QuantDesk/QuantDesk ]; then
  echo "build-appimage.sh: no dist/QuantDesk/QuantDesk; run 'make bundle' first" >&2
  exit 1
fi

rm -rf "$APPDIR"
mkdir -p "$(dirname "$APPDIR")"
mkdir -p "$APPDIR/usr/lib" "$APPDIR/usr/share/applications" "$APPDIR/usr/share/metainfo"
# Hard links (no second copy of 200 MB) where the AppDir is on the same file system.
cp -al dist/QuantDesk "$APPDIR/usr/lib/QuantDesk" 2>/dev/null || cp -a dist/QuantDesk "$APPDIR/usr/lib/QuantDesk"
cp installers/linux/appimage/AppRun "$APPDIR/AppRun"

# The AppDir's root holds the desktop entry and the icon appimagetool reads; the copies under
# usr/share are what desktop integration tools (appimaged, Gear Lever) install.
sed -e "s|^Exec=.*|Exec=QuantDesk|" -e "/^TryExec=/d" \
  resources/linux/$APP_ID.desktop > "$APPDIR/$APP_ID.desktop"
cp "$APPDIR/$APP_ID.desktop" "$APPDIR/usr/share/applications/"
cp resources/linux/$APP_ID.metainfo.xml "$APPDIR/usr/share/metainfo/$APP_ID.appdata.xml"
cp resources/icons/quantdesk-256.png "$APPDIR/$APP_ID.png"
ln -s "$APP_ID.png" "$APPDIR/.DirIcon"
for png in resources/icons/quantdesk-*.png; do
  size=$(basename "$png" .png | sed 's/^quantdesk-//')
  mkdir -p "$APPDIR/usr/share/icons/hicolor/${size}x${size}/apps"
  cp "$png" "$APPDIR/usr/share/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
done

tool=${APPIMAGETOOL:-$(command -v appimagetool || true)}
if [ -z "$tool" ]; then
  echo "AppDir ready: $APPDIR (try: $APPDIR/AppRun --version)"
  echo "appimagetool not found: set APPIMAGETOOL or put it on PATH to make the .AppImage"
  exit 0
fi
out="dist/QuantDesk-$VERSION-$ARCH.AppImage"
ARCH=$ARCH "$tool" "$APPDIR" "$out"
echo "wrote $out"
