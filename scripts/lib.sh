# Shared by scripts/markpilot and scripts/test: install what is missing, build, and start
# a private virtual display. Source it; do not run it.

MARKPILOT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Debian packages the build needs (xcap links libxcb, libgbm, libwayland; its pipewire
# bindings run bindgen, which needs libclang).
BUILD_PACKAGES=(pkg-config libclang-dev libxcb1-dev libdbus-1-dev libpipewire-0.3-dev libspa-0.2-dev
  libgbm-dev libwayland-dev libegl-dev)
# What a virtual display with a real GTK window needs.
DISPLAY_PACKAGES=(xvfb openbox zenity dbus dbus-x11 fonts-dejavu-core adwaita-icon-theme)
# What the tests add: GTK apps to look at, the accessibility bus and its Python bindings
# (ground truth), xrdb (HiDPI), xprop, xrandr (monitors), xdotool (moving windows).
TEST_PACKAGES=(gtk-3-examples at-spi2-core python3 python3-gi gir1.2-atspi-2.0 x11-xserver-utils x11-utils xdotool)

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }

# Install the Debian packages that are not installed yet, saying which.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  say "installing missing packages: ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_rust() {
  command -v cargo >/dev/null || { echo "error: cargo not found; install Rust from https://rustup.rs first" >&2; exit 1; }
}

# Start Xvfb on a free display (-displayfd), D-Bus, and openbox; export DISPLAY. Everything
# started here is stopped by stop_virtual_display (install it as an EXIT trap).
VD_PIDS=()
start_virtual_display() {
  local size="${1:-1920x1080}"
  local fifo
  fifo="$(mktemp -u)"
  mkfifo "$fifo"
  Xvfb -displayfd 3 -noreset -nolisten tcp -screen 0 "${size}x24" 3>"$fifo" >/dev/null 2>&1 &
  VD_PIDS+=($!)
  local n
  read -r n <"$fifo"
  rm -f "$fifo"
  export DISPLAY=":$n"
  eval "$(dbus-launch --sh-syntax)"
  VD_PIDS+=("$DBUS_SESSION_BUS_PID")
  openbox --sm-disable >/dev/null 2>&1 &
  VD_PIDS+=($!)
}

stop_virtual_display() {
  for ((i = ${#VD_PIDS[@]} - 1; i >= 0; i--)); do
    kill "${VD_PIDS[$i]}" 2>/dev/null || true
  done
  VD_PIDS=()
}
