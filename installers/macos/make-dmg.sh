#!/usr/bin/env bash
# Build dist/QuantDesk.app and dist/QuantDesk-<version>-macos-<arch>.dmg on a Mac.
#
#   installers/macos/make-dmg.sh            (after: python3 -m venv .venv &&
#                                            .venv/bin/pip install -e ".[bundle]")
#
# Needs Xcode's command line tools (iconutil, hdiutil, codesign). Set CODESIGN_IDENTITY to a
# "Developer ID Application: ..." identity to sign; notarizing is a separate step
# (installers/README.md). Unsigned, the app opens with right-click > Open the first time.
set -euo pipefail
cd "$(dirname "$0")/../.."

PY=${PY:-.venv/bin/python}
VERSION=$("$PY" -c 'from desktop_app import __version__; print(__version__)')
ARCH=$(uname -m)  # arm64 or x86_64: a build runs on the architecture it was made on

# 1. The .icns icon from the rendered PNGs (iconutil wants these exact names).
iconset=build/QuantDesk.iconset
rm -rf "$iconset" && mkdir -p "$iconset"
for size in 16 32 128 256; do
  cp "resources/icons/quantdesk-$size.png" "$iconset/icon_${size}x${size}.png"
  cp "resources/icons/quantdesk-$((size * 2)).png" "$iconset/icon_${size}x${size}@2x.png"
done
cp resources/icons/quantdesk-512.png "$iconset/icon_512x512.png"
iconutil -c icns "$iconset" -o installers/macos/QuantDesk.icns

# 2. The app: the spec's BUNDLE section makes dist/QuantDesk.app next to dist/QuantDesk/.
"$PY" -m PyInstaller installers/quantdesk.spec --noconfirm --distpath dist --workpath build/pyinstaller
app=dist/QuantDesk.app
"$app/Contents/MacOS/QuantDesk" --version
"$app/Contents/MacOS/QuantDesk" --selftest

# 3. Sign (optional): the hardened runtime is what notarization requires.
if [ -n "${CODESIGN_IDENTITY:-}" ]; then
  codesign --force --deep --options runtime --timestamp \
    --entitlements installers/macos/entitlements.plist --sign "$CODESIGN_IDENTITY" "$app"
  codesign --verify --strict --verbose=2 "$app"
fi

# 4. The disk image: the app and a link to /Applications to drag it onto.
stage=build/dmg
rm -rf "$stage" && mkdir -p "$stage"
cp -R "$app" "$stage/"
ln -s /Applications "$stage/Applications"
dmg="dist/QuantDesk-$VERSION-macos-$ARCH.dmg"
rm -f "$dmg"
hdiutil create -volname "QuantDesk $VERSION" -srcfolder "$stage" -ov -format UDZO "$dmg"
rm -rf "$stage"
echo "wrote $dmg"
