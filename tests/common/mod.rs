//! Test support: a private X session (Xvfb, a D-Bus session bus, the AT-SPI bus, openbox),
//! real GTK applications in it, the `markpilot` binary, and AT-SPI ground truth.
//!
//! Every session picks its own display number (`Xvfb -displayfd`), so tests run in
//! parallel and never collide with another X server on the machine. Everything a session
//! starts is stopped when it is dropped, also when a test fails.

#![allow(dead_code)]

pub mod screens;
pub mod truth;

#[path = "../support/vlm.rs"]
pub mod vlm;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Path of the binary under test.
pub fn markpilot_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_markpilot"))
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "markpilot-test-{}-{}-{}",
            tag,
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run the binary with `args` in `dir`, with exactly the environment given (plus PATH).
pub fn run_markpilot(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(markpilot_bin());
    cmd.current_dir(dir).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run markpilot")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A failing command prints exactly one line on stderr, naming the problem: return it.
pub fn one_error_line(o: &Output) -> String {
    assert!(!o.status.success(), "expected failure; stdout: {}", stdout(o));
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {err}");
    lines[0].to_string()
}

/// A private X session with the accessibility bus and a window manager.
pub struct XSession {
    pub display: String,
    pub dbus_address: String,
    runtime_dir: TempDir,
    /// Every process this session started (Xvfb first); stopped in reverse order.
    children: Vec<Child>,
    pgid: u32,
}

fn read_first_line(child: &mut Child, what: &str) -> String {
    let out = child.stdout.take().unwrap_or_else(|| panic!("{what}: no stdout"));
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).unwrap_or_else(|e| panic!("{what}: {e}"));
    let line = line.trim().to_string();
    assert!(!line.is_empty(), "{what} printed nothing (is it installed? run ./scripts/test)");
    line
}

impl XSession {
    /// Start Xvfb (`width`×`height`, 24-bit), D-Bus, AT-SPI and openbox.
    pub fn start(width: u32, height: u32) -> Self {
        Self::start_with(width, height, true)
    }

    /// Like [`start`](Self::start), optionally without a window manager.
    pub fn start_with(width: u32, height: u32, window_manager: bool) -> Self {
        Self::start_with_args(width, height, window_manager, &[])
    }

    /// [`start_with`](Self::start_with), with more Xvfb arguments (`-extension DAMAGE` turns
    /// an extension off).
    pub fn start_with_args(width: u32, height: u32, window_manager: bool, xvfb_args: &[&str]) -> Self {
        let runtime_dir = TempDir::new("xdg");
        let mut xvfb = Command::new("Xvfb")
            .args(["-displayfd", "1", "-noreset", "-nolisten", "tcp", "-screen", "0", &format!("{width}x{height}x24")])
            .args(xvfb_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start Xvfb (install it with ./scripts/test)");
        let pgid = xvfb.id();
        let n = read_first_line(&mut xvfb, "Xvfb");
        let display = format!(":{n}");
        let mut session = Self { display, dbus_address: String::new(), runtime_dir, children: vec![xvfb], pgid };

        // A test process killed half-way (a harness's timeout, a person's kill -9) runs no
        // Drop: a watchdog in the session's process group ends the whole group, itself with
        // it, within a second of the test process ending.
        let watchdog = session
            .command("sh")
            .args([
                "-c",
                // `env kill`: the external kill (dash's own takes no `--` and no group).
                "while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; env kill -KILL -- \"-$2\"",
                "markpilot-test-watchdog",
                &std::process::id().to_string(),
                &pgid.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the session's watchdog (sh)");
        session.children.push(watchdog);

        let mut dbus = session
            .command("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        session.dbus_address = read_first_line(&mut dbus, "dbus-daemon");
        session.children.push(dbus);

        let launcher = ["/usr/libexec/at-spi-bus-launcher", "/usr/lib/at-spi2-core/at-spi-bus-launcher"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("at-spi-bus-launcher (package at-spi2-core)");
        let atspi = session
            .command(launcher)
            .arg("--launch-immediately")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start AT-SPI bus");
        session.children.push(atspi);

        if window_manager {
            let wm = session
                .command("openbox")
                .arg("--sm-disable")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start openbox");
            session.children.push(wm);
            // The window manager is up when it has announced itself and windows can be listed.
            session.wait_until("openbox to manage windows", Duration::from_secs(30), |s| {
                let o = s.command("xprop").args(["-root", "_NET_SUPPORTING_WM_CHECK"]).output();
                o.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("window id"))
                    && s.markpilot(&["windows", "--json"]).status.success()
            });
        } else {
            session
                .wait_until("the X server", Duration::from_secs(30), |s| s.markpilot(&["monitors"]).status.success());
        }
        session
    }

    /// Split the X screen into two RandR monitors side by side and keep only the right one
    /// (its origin at half the width): markpilot's monitor 0 lies away from the desktop's
    /// origin.
    pub fn only_the_right_half_as_monitor(&self, width: u32, height: u32) {
        let half = width / 2;
        let left = format!("{half}/270x{height}/203+0+0");
        let right = format!("{half}/270x{height}/203+{half}+0");
        for args in
            [["--setmonitor", "LEFT", left.as_str(), "none"], ["--setmonitor", "RIGHT", right.as_str(), "screen"]]
        {
            assert!(self.command("xrandr").args(args).status().unwrap().success());
        }
    }

    /// A command that runs inside this session (display, buses, theme, locale).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.runtime_dir.path())
            .env("XDG_RUNTIME_DIR", self.runtime_dir.path())
            .env("XDG_CONFIG_HOME", self.runtime_dir.join("config"))
            .env("DISPLAY", &self.display)
            .env("LANG", "C.UTF-8")
            .env("GDK_BACKEND", "x11")
            .env("GTK_THEME", "Adwaita")
            .env("GSETTINGS_BACKEND", "memory")
            .env("NO_AT_BRIDGE", "0")
            .process_group(self.pgid as i32);
        if !self.dbus_address.is_empty() {
            cmd.env("DBUS_SESSION_BUS_ADDRESS", &self.dbus_address);
        }
        cmd
    }

    /// Start an application in the session; it is stopped with the session.
    pub fn spawn(&mut self, program: &str, args: &[&str]) -> u32 {
        self.spawn_with(program, args, &[])
    }

    /// [`spawn`](Self::spawn), with more environment (`QT_LINUX_ACCESSIBILITY_ALWAYS_ON=1`…).
    pub fn spawn_with(&mut self, program: &str, args: &[&str], env: &[(&str, &str)]) -> u32 {
        let child = self
            .command(program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}"));
        let id = child.id();
        self.children.push(child);
        id
    }

    /// Let the session stop a process started with [`command`](Self::command).
    pub fn adopt(&mut self, child: Child) {
        self.children.push(child);
    }

    /// Stop one application started with [`spawn`](Self::spawn) and return what it printed.
    pub fn finish(&mut self, pid: u32, deadline: Duration) -> Option<String> {
        let idx = self.children.iter().position(|c| c.id() == pid)?;
        let mut child = self.children.remove(idx);
        let start = Instant::now();
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if start.elapsed() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut out = String::new();
        if let Some(mut so) = child.stdout.take() {
            let _ = so.read_to_string(&mut out);
        }
        Some(out)
    }

    /// Kill an application (its window goes away).
    pub fn kill(&mut self, pid: u32) {
        if let Some(idx) = self.children.iter().position(|c| c.id() == pid) {
            let mut c = self.children.remove(idx);
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A path in the session's scratch directory (removed with the session). Tests write
    /// marked images here rather than to /dev/null.
    /// Start a desktop keyring (GNOME Keyring's Secret Service) on the session bus, unlocked.
    pub fn start_keyring(&mut self) {
        use std::io::Write as _;
        let mut child = self
            .command("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gnome-keyring-daemon (package gnome-keyring)");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(b"markpilot-test-keyring");
        }
        self.children.push(child);
        self.wait_until("the keyring on the session bus", Duration::from_secs(30), |s| {
            let o = s
                .command("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .output();
            o.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("boolean true"))
        });
    }

    /// The session's `$XDG_CONFIG_HOME`.
    pub fn config_home(&self) -> PathBuf {
        self.runtime_dir.join("config")
    }

    pub fn scratch(&self, name: &str) -> String {
        self.runtime_dir.join(name).to_string_lossy().into_owned()
    }

    /// Run markpilot inside the session.
    pub fn markpilot(&self, args: &[&str]) -> Output {
        self.command(markpilot_bin()).args(args).output().expect("run markpilot")
    }

    /// Poll `cond` until it holds; panic with `what` after `limit` (a generous bound, not a
    /// timing assumption: the loop ends as soon as the condition holds).
    pub fn wait_until(&self, what: &str, limit: Duration, mut cond: impl FnMut(&Self) -> bool) {
        let start = Instant::now();
        while !cond(self) {
            assert!(start.elapsed() < limit, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The session's windows, as `markpilot windows --json` lists them.
    pub fn windows(&self) -> Vec<Value> {
        let o = self.markpilot(&["windows", "--json"]);
        serde_json::from_slice::<Value>(&o.stdout).ok().and_then(|v| v.as_array().cloned()).unwrap_or_default()
    }

    pub fn wait_for_window(&self, title: &str) -> Value {
        let mut found = None;
        self.wait_until(&format!("a window titled {title:?}"), Duration::from_secs(60), |s| {
            found = s
                .windows()
                .into_iter()
                .find(|w| w["title"].as_str() == Some(title) && w["width"].as_u64().unwrap_or(0) > 50);
            found.is_some()
        });
        found.expect("window")
    }

    /// The AT-SPI tree of the named applications.
    pub fn atspi(&self, apps: &[&str]) -> Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/atspi_dump.py");
        let o = self.command("/usr/bin/python3").arg(&script).args(apps).output().expect("run atspi_dump.py");
        assert!(o.status.success(), "atspi_dump.py failed: {}", stderr(&o));
        serde_json::from_slice(&o.stdout).expect("AT-SPI JSON")
    }

    /// The AT-SPI tree once it stops growing: three answers in a row with the same objects.
    pub fn settled_atspi(&self, app: &str) -> Value {
        // The objects and where they are: a page still sliding in (GtkStack's transition)
        // has all its objects, at places that are still changing.
        let count = |t: &Value| {
            let nodes = t["apps"].as_array().and_then(|a| a.first()).and_then(|a| a["nodes"].as_array());
            nodes.map_or((0, 0), |n| {
                let place: i64 = n
                    .iter()
                    .map(|v| ["x", "y", "w", "h"].iter().map(|k| v[*k].as_i64().unwrap_or(0)).sum::<i64>())
                    .sum();
                (n.len(), place)
            })
        };
        // Three answers in a row that agree: a tree still being filled in (an expander's
        // children, an icon view's items) can pause once between two batches.
        let mut prev = self.atspi(&[app]);
        let mut agreed = 0;
        let mut settled = None;
        self.wait_until(&format!("{app}'s accessibility tree to settle"), Duration::from_secs(30), |s| {
            std::thread::sleep(Duration::from_millis(200));
            let cur = s.atspi(&[app]);
            let same = count(&cur) == count(&prev) && count(&cur).0 > 0;
            agreed = if same { agreed + 1 } else { 0 };
            prev = cur.clone();
            if agreed >= 2 {
                settled = Some(cur);
            }
            agreed >= 2
        });
        settled.unwrap_or(prev)
    }

    /// Run the first action of an accessible object (press a button, pick a page).
    pub fn activate(&self, app: &str, role: &str, name: &str) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/atspi_dump.py");
        let o = self
            .command("/usr/bin/python3")
            .arg(&script)
            .args(["--activate", app, role, name])
            .output()
            .expect("run atspi_dump.py");
        assert!(o.status.success(), "activate {role} {name:?}: {}", stderr(&o));
    }

    /// The texts of an application's objects with this role (entries' contents), in tree
    /// order; the newest instance's last.
    pub fn texts_of(&self, app: &str, role: &str) -> Vec<String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/atspi_dump.py");
        let o = self
            .command("/usr/bin/python3")
            .arg(&script)
            .args(["--text", app, role])
            .output()
            .expect("run atspi_dump.py");
        assert!(o.status.success(), "text of {role} in {app}: {}", stderr(&o));
        let texts: Vec<Option<String>> = serde_json::from_slice(&o.stdout).expect("JSON list of texts");
        texts.into_iter().flatten().collect()
    }

    /// Replace the text of an application's (last) editable object with this role.
    pub fn set_text(&self, app: &str, role: &str, text: &str) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/atspi_dump.py");
        let o = self
            .command("/usr/bin/python3")
            .arg(&script)
            .args(["--set-text", app, role, text])
            .output()
            .expect("run atspi_dump.py");
        assert!(o.status.success(), "set the text of {role} in {app}: {}", stderr(&o));
    }

    /// Wait until the application shows up in AT-SPI with its frame on screen and at least
    /// `min_nodes` objects, then until the screen stops changing.
    pub fn wait_for_app(&self, app: &str, min_nodes: usize) -> Value {
        let mut tree = Value::Null;
        self.wait_until(&format!("{app} in the accessibility tree"), Duration::from_secs(60), |s| {
            tree = s.atspi(&[app]);
            let nodes = tree["apps"]
                .as_array()
                .and_then(|a| a.first())
                .and_then(|a| a["nodes"].as_array())
                .map_or(0, |n| n.len());
            nodes >= min_nodes
        });
        self.wait_for_stable_screen();
        self.atspi(&[app])
    }

    /// Capture until two consecutive frames (almost) agree: animations such as spinners
    /// may keep a few pixels moving.
    pub fn wait_for_stable_screen(&self) {
        let dir = TempDir::new("stable");
        let shot = |i: u32| -> Option<image::RgbaImage> {
            let p = dir.join(&format!("s{i}.png"));
            let o = self.markpilot(&[
                "annotate",
                "--out",
                dir.join("m.png").to_str()?,
                "--save-frame",
                p.to_str()?,
                "--json",
                dir.join("j.json").to_str()?,
            ]);
            if !o.status.success() {
                return None;
            }
            image::open(&p).ok().map(|i| i.into_rgba8())
        };
        let mut prev = shot(0);
        let mut i = 1;
        self.wait_until("the screen to settle", Duration::from_secs(30), |_| {
            let cur = shot(i);
            i += 1;
            let same = match (&prev, &cur) {
                (Some(a), Some(b)) if a.dimensions() == b.dimensions() => {
                    let diff = a.pixels().zip(b.pixels()).filter(|(p, q)| p != q).count();
                    diff * 1000 < a.pixels().len() // under 0.1 %
                }
                _ => false,
            };
            prev = cur;
            same
        });
    }
}

impl Drop for XSession {
    fn drop(&mut self) {
        // Applications and helpers first, the X server last.
        while let Some(mut c) = self.children.pop() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Anything the helpers started themselves (the AT-SPI registry, its bus).
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.pgid)]).stderr(Stdio::null()).status();
    }
}

/// The centre of the first AT-SPI node with this role (and name, if given), in the
/// application whose window has the title `window` (an application that just exited may
/// still be listed under the same name).
pub fn centre(tree: &Value, window: &str, role: &str, name: Option<&str>) -> (f64, f64) {
    try_centre(tree, window, role, name)
        .unwrap_or_else(|| panic!("no {role} {name:?} in the window {window:?}: {tree}"))
}

/// Wait until the window titled `window` is placed and drawn: AT-SPI puts the widget inside
/// the window's frame, and `annotate` finds a mark there. (A window that is mapped but not yet
/// placed reports widget positions relative to its own corner, and until it is drawn the
/// screen may still show the pixels of a window that just closed.)
pub fn wait_until_drawn(s: &XSession, window: &str, app: &str, role: &str, name: Option<&str>) -> Value {
    let w = s.wait_for_window(window);
    let (wx, wy) = (w["x"].as_f64().unwrap(), w["y"].as_f64().unwrap());
    let mut tree = Value::Null;
    s.wait_until(&format!("{window} to be placed and drawn"), Duration::from_secs(60), |s| {
        tree = s.atspi(&[app]);
        let Some(c) = try_centre(&tree, window, role, name) else {
            return false;
        };
        if c.0 < wx || c.1 < wy {
            return false;
        }
        let o = s.markpilot(&["annotate", "--out", &s.scratch("drawn.png"), "--json", "-"]);
        let Ok(v) = serde_json::from_slice::<Value>(&o.stdout) else { return false };
        // Element boxes are in frame pixels; the frame starts at the monitor's origin.
        let c = (c.0 - v["origin"]["x"].as_f64().unwrap_or(0.0), c.1 - v["origin"]["y"].as_f64().unwrap_or(0.0));
        v["elements"].as_array().is_some_and(|es| {
            es.iter().any(|e| {
                let b = &e["bbox"];
                let f = |k: &str| b[k].as_f64().unwrap_or(0.0);
                c.0 >= f("x") && c.0 < f("x") + f("w") && c.1 >= f("y") && c.1 < f("y") + f("h")
            })
        })
    });
    tree
}

pub fn try_centre(tree: &Value, window: &str, role: &str, name: Option<&str>) -> Option<(f64, f64)> {
    let nodes = tree["apps"]
        .as_array()?
        .iter()
        .rev()
        .filter_map(|a| a["nodes"].as_array())
        .find(|nodes| nodes.iter().any(|n| n["name"] == window))?;
    let n = nodes
        .iter()
        .find(|n| n["role"] == role && name.is_none_or(|nm| n["name"] == nm) && n["w"].as_i64().unwrap_or(0) > 0)?;
    let f = |k: &str| n[k].as_f64().unwrap();
    Some((f("x") + f("w") / 2.0, f("y") + f("h") / 2.0))
}

/// A JSON file (run.json), or a panic naming it.
pub fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A run folder's steps.jsonl, one value per line.
pub fn steps(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("steps.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each step line is JSON"))
        .collect()
}

/// Every file under a folder, at any depth.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}
