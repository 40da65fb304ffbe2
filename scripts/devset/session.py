"""A private X session for taking development-set screens: Xvfb on a free display, a D-Bus
session bus, the AT-SPI bus, openbox without window decorations, and helpers to start
applications, drive them with xdotool, wait for them to settle and capture the screen."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MARKPILOT = os.path.join(ROOT, "target", "release", "markpilot")

OPENBOX_RC = """<?xml version="1.0" encoding="UTF-8"?>
<openbox_config xmlns="http://openbox.org/3.4/rc">
  <focus><focusNew>yes</focusNew><followMouse>no</followMouse></focus>
  <placement><policy>Smart</policy><center>yes</center></placement>
  <applications>
    <application class="*" type="normal">
      <decor>no</decor>%s
    </application>
    <application class="*" type="dialog"><decor>no</decor></application>
  </applications>
</openbox_config>
"""


def atspi_launcher():
    for p in ("/usr/libexec/at-spi-bus-launcher", "/usr/lib/at-spi2-core/at-spi-bus-launcher"):
        if os.path.exists(p):
            return p
    raise SystemExit("at-spi-bus-launcher not found (package at-spi2-core)")


class Session:
    """Xvfb + D-Bus + AT-SPI + openbox. `maximize`: normal windows fill the screen."""

    def __init__(self, width, height, maximize=True, dpi=96):
        self.width, self.height = width, height
        self.walk_visible = False
        self.home = tempfile.mkdtemp(prefix="markpilot-devset-")
        self.procs = []
        fd_r, fd_w = os.pipe()
        xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(fd_w), "-noreset", "-nolisten", "tcp", "-dpi", str(dpi),
             "-screen", "0", f"{width}x{height}x24"],
            pass_fds=(fd_w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(fd_w)
        self.procs.append(xvfb)
        n = b""
        while not n.endswith(b"\n"):
            c = os.read(fd_r, 1)
            if not c:
                raise SystemExit("Xvfb did not start")
            n += c
        os.close(fd_r)
        self.display = ":" + n.decode().strip()
        self.base_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.home,
            "XDG_RUNTIME_DIR": self.home,
            "XDG_CONFIG_HOME": os.path.join(self.home, "config"),
            "XDG_DATA_HOME": os.path.join(self.home, "data"),
            "XDG_CACHE_HOME": os.path.join(self.home, "cache"),
            "DISPLAY": self.display,
            "LANG": "C.UTF-8",
            "GDK_BACKEND": "x11",
            "QT_QPA_PLATFORM": "xcb",
            "GSETTINGS_BACKEND": "memory",
            "GTK_OVERLAY_SCROLLING": "0",
            "QT_LINUX_ACCESSIBILITY_ALWAYS_ON": "1",
            "QT_ACCESSIBILITY": "1",
        }
        os.makedirs(os.path.join(self.home, "config", "openbox"), exist_ok=True)
        with open(os.path.join(self.home, "config", "openbox", "rc.xml"), "w") as f:
            f.write(OPENBOX_RC % ("\n      <maximized>yes</maximized>" if maximize else ""))
        dbus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self.base_env)
        self.procs.append(dbus)
        self.base_env["DBUS_SESSION_BUS_ADDRESS"] = dbus.stdout.readline().decode().strip()
        self.procs.append(subprocess.Popen([atspi_launcher(), "--launch-immediately"], env=self.base_env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if dpi != 96:
            subprocess.run(["xrdb", "-merge"], input=f"Xft.dpi: {dpi}\n".encode(), env=self.base_env, check=True)
        subprocess.run(["xsetroot", "-solid", "#3a6ea5"], env=self.base_env)
        self.procs.append(subprocess.Popen(["openbox", "--sm-disable"], env=self.base_env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.wait(lambda: b"window id" in self.out(["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"]), 20, "openbox")
        time.sleep(0.5)

    def env(self, extra=None):
        e = dict(self.base_env)
        e.update(extra or {})
        return e

    def out(self, cmd, extra_env=None, check=False):
        r = subprocess.run(cmd, env=self.env(extra_env), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise RuntimeError(f"{cmd} failed")
        return r.stdout

    def spawn(self, cmd, extra_env=None, cwd=None):
        p = subprocess.Popen(cmd, env=self.env(extra_env), cwd=cwd or self.home, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(p)
        return p

    def wait(self, cond, timeout, what):
        end = time.time() + timeout
        while time.time() < end:
            try:
                if cond():
                    return
            except Exception:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {what}")

    def windows(self):
        """Top-level windows the markpilot binary sees: id, title, x, y, width, height."""
        r = self.out([MARKPILOT, "windows", "--json"])
        try:
            return json.loads(r)
        except ValueError:
            return []

    def window(self, title=None, timeout=30):
        """The newest window whose title contains `title` (any window when None)."""
        found = []

        def ok():
            ws = [w for w in self.windows() if w.get("width", 0) > 20 and w.get("height", 0) > 20
                  and (title is None or title.lower() in (w.get("title") or "").lower())]
            found[:] = ws
            return bool(ws)
        self.wait(ok, timeout, f"a window titled {title!r}")
        return found[-1]

    def xdo(self, *args):
        subprocess.run(["xdotool", *[str(a) for a in args]], env=self.env(), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def capture(self, path):
        """The whole screen as PNG, through markpilot's own capture."""
        r = subprocess.run([MARKPILOT, "annotate", "--monitor", "0", "--detectors", "builtin", "--out", "/dev/null",
                            "--save-frame", path, "--json", "/dev/null"], env=self.env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise RuntimeError(f"capture failed: {r.stderr.decode().strip()}")

    def screen_hash(self):
        tmp = os.path.join(self.home, "probe.png")
        self.capture(tmp)
        with open(tmp, "rb") as f:
            return hashlib.sha1(f.read()).hexdigest()

    def wait_still(self, timeout=20, interval=0.6):
        """Until two captures `interval` apart are identical (caret blinks are off)."""
        last = None
        end = time.time() + timeout
        while time.time() < end:
            h = self.screen_hash()
            if h == last:
                return True
            last = h
            time.sleep(interval)
        return False

    def atspi(self, app, pid=None):
        cmd = ["/usr/bin/python3", os.path.join(HERE, "atspi_tree.py"), app] + (["--visible"] if self.walk_visible else [])
        if pid is not None:
            cmd += ["--pid", str(pid)]
        r = subprocess.run(cmd, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        self.atspi_note = r.stderr.decode().strip()
        try:
            return json.loads(r.stdout)
        except ValueError:
            return {"apps": []}

    def settled_atspi(self, app, pid=None, tries=8):
        """Ask until two answers agree (trees fill in lazily) and hold some showing nodes."""
        def key(t):
            return [(n["role"], n["name"], n["x"], n["y"], n["w"], n["h"], tuple(n["states"]))
                    for a in t["apps"] for n in a["nodes"]]
        last = None
        for _ in range(tries):
            t = self.atspi(app, pid)
            k = key(t)
            if k and k == last:
                return t
            last = k
            time.sleep(0.7)
        if not last:
            raise RuntimeError(f"no accessibility tree for {app}: {self.atspi_note}")
        return t

    def close(self):
        for p in reversed(self.procs):
            try:
                if os.getpgid(p.pid) == p.pid:
                    os.killpg(p.pid, signal.SIGTERM)  # an application and what it started
                else:
                    p.terminate()
            except Exception:
                pass
        for p in reversed(self.procs):
            try:
                p.wait(timeout=5)
            except Exception:
                try:
                    p.kill()
                except Exception:
                    pass
        shutil.rmtree(self.home, ignore_errors=True)
