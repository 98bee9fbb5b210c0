#!/usr/bin/env bash
# Takes the Neovim pictures of docs/editors.md (docs/pictures/neovim-*.png): Debian's Neovim
# in xterm under Xvfb, with editors/neovim, on a copy of examples/shop with one typo (for a
# diagnostic) and one wrong test assertion (for a failed code lens).
# Needs: apt-get install xvfb xterm imagemagick neovim fonts-dejavu-core; a built netpol
# (NETPOL_BIN, default target/debug/netpol).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
netpol=$(realpath "${NETPOL_BIN:-$repo/target/debug/netpol}")
work=$(mktemp -d)
trap 'kill "${xterm_pid:-}" "${xvfb_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
display=:${NETPOL_DISPLAY:-77}
Xvfb "$display" -screen 0 1000x720x24 -nolisten tcp &
xvfb_pid=$!
sleep 1
for shot in diagnostics hover; do
  rm -rf "$work/shop" "$work/ready"
  cp -r "$repo/examples/shop" "$work/shop"
  sed -i -e 's/^frontend      -> checkout:grpc/frontend      -> chekout:grpc/' \
    -e 's/  denied frontend -> payments:443/  allowed frontend -> payments:443/' "$work/shop/shop.netpol"
  if [ "$shot" = hover ]; then
    # The hover picture: the program as shipped.
    cp "$repo/examples/shop/shop.netpol" "$work/shop/shop.netpol"
  fi
  DISPLAY=$display NETPOL_REPO=$repo NETPOL_CMD=$netpol NETPOL_SHOT=$shot NETPOL_READY=$work/ready \
    xterm -geometry 110x40+0+0 -fa 'DejaVu Sans Mono' -fs 10 -bg '#1e1e1e' -fg '#d4d4d4' \
    -e nvim -u "$repo/editors/neovim/screenshot.lua" "$work/shop/shop.netpol" &
  xterm_pid=$!
  for _ in $(seq 1 300); do [ -f "$work/ready" ] && break; sleep 0.1; done
  [ -f "$work/ready" ] || { echo "neovim did not get ready" >&2; exit 1; }
  sleep 0.5
  DISPLAY=$display import -window root -crop 1000x700+0+0 +repage -colors 64 \
    "$repo/docs/pictures/neovim-$shot.png"
  kill "$xterm_pid"
  wait "$xterm_pid" 2>/dev/null || true
done
echo "wrote docs/pictures/neovim-diagnostics.png and docs/pictures/neovim-hover.png"
