#!/bin/sh
# Install QuantDesk for the current user (no root): run from the unpacked tarball.
#
#   ./install.sh              install or update
#   ./install.sh --uninstall  remove the app (your models, chats and settings stay)
#
# The app goes to ~/.local/opt/QuantDesk, a `quantdesk` command to ~/.local/bin, and the menu
# entry, icons and AppStream metainfo to ~/.local/share (XDG_DATA_HOME), where desktops look.
set -eu

APP_ID=io.github.quantdesk.QuantDesk
HERE=$(cd "$(dirname "$0")" && pwd)
OPT="$HOME/.local/opt/QuantDesk"
BIN="$HOME/.local/bin"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
ICONS="$DATA/icons/hicolor"

refresh_caches() {
  # Optional helpers: menus pick the entry up without them, only later.
  command -v update-desktop-database >/dev/null 2>&1 \
    && update-desktop-database -q "$DATA/applications" || true
  command -v gtk-update-icon-cache >/dev/null 2>&1 \
    && gtk-update-icon-cache -q -t "$ICONS" || true
}

if [ "${1:-}" = "--uninstall" ]; then
  rm -rf "$OPT"
  rm -f "$BIN/quantdesk" "$DATA/applications/$APP_ID.desktop" "$DATA/metainfo/$APP_ID.metainfo.xml"
  for png in "$ICONS"/*/apps/"$APP_ID".png "$ICONS"/scalable/apps/"$APP_ID".svg; do
    rm -f "$png"
  done
  refresh_caches
  echo "QuantDesk removed. Your models, chats and settings are still in ~/.local/share/QuantDesk"
  echo "and ~/.config/QuantDesk; delete those folders to remove them too."
  exit 0
fi

if [ ! -x "$HERE/QuantDesk/QuantDesk" ]; then
  echo "install.sh: run me from the unpacked QuantDesk tarball (QuantDesk/QuantDesk is missing)" >&2
  exit 1
fi

# Replace any earlier version whole: a copy next to it, then a rename, so a failed copy leaves
# the installed app as it was.
mkdir -p "$(dirname "$OPT")" "$BIN" "$DATA/applications" "$DATA/metainfo"
rm -rf "$OPT.new"
cp -R "$HERE/QuantDesk" "$OPT.new"
rm -rf "$OPT"
mv "$OPT.new" "$OPT"
ln -sf "$OPT/QuantDesk" "$BIN/quantdesk"

for png in "$HERE"/icons/quantdesk-*.png; do
  size=$(basename "$png" .png | sed 's/^quantdesk-//')
  mkdir -p "$ICONS/${size}x${size}/apps"
  cp "$png" "$ICONS/${size}x${size}/apps/$APP_ID.png"
done
mkdir -p "$ICONS/scalable/apps"
cp "$HERE/icons/quantdesk.svg" "$ICONS/scalable/apps/$APP_ID.svg"

# The menu entry runs the installed binary by its full path (~/.local/bin is not on every
# desktop session's PATH).
sed -e "s|^Exec=.*|Exec=$OPT/QuantDesk|" -e "s|^TryExec=.*|TryExec=$OPT/QuantDesk|" \
  "$HERE/$APP_ID.desktop" > "$DATA/applications/$APP_ID.desktop"
cp "$HERE/$APP_ID.metainfo.xml" "$DATA/metainfo/"
refresh_caches

echo "QuantDesk installed in $OPT"
echo "Start it from your desktop's menu, or run: $BIN/quantdesk"
case ":$PATH:" in
  *":$BIN:"*) ;;
  *) echo "($BIN is not on your PATH; add it to run 'quantdesk' by name.)" ;;
esac
