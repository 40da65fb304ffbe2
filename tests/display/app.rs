//! The desktop app end to end: the real `markpilot-app` (Tauri, WebKitGTK) under Xvfb,
//! driven through tauri-driver and Debian's WebKitWebDriver like a person would use it; a
//! real zenity dialog to work on; the scripted model server of tests/support/vlm.rs.
//!
//! Needs `cargo build -p markpilot-app` and tauri-driver (`./scripts/test` does both).

#[path = "../support/webdriver.rs"]
mod webdriver;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::vlm::{Reply, ScriptedVlm, Seen, answer};
use crate::common::{XSession, files_under, markpilot_bin, wait_until_drawn};
use serde_json::{Value, json};
use webdriver::WebDriver;

const MODEL: &str = "scripted-vl";
const KEY: &str = "sk-app-test-4c1d9e";

fn app_binary() -> PathBuf {
    let bin = markpilot_bin().with_file_name("markpilot-app");
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build -p markpilot-app` (./scripts/test does)",
        bin.display()
    );
    bin
}

fn tauri_driver() -> PathBuf {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/bin/tauri-driver");
    if local.is_file() {
        return local;
    }
    PathBuf::from("tauri-driver")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// tauri-driver in the session, on free ports; killed on drop.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_driver(s: &XSession) -> (Driver, u16) {
    let (port, native) = (free_port(), free_port());
    let child = s
        .command(tauri_driver())
        .args(["--port", &port.to_string(), "--native-port", &native.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tauri-driver (cargo install tauri-driver --locked; ./scripts/test does)");
    (Driver(child), port)
}

/// The app's settings: one profile on the scripted server, text reading on, runs in `runs`.
fn write_settings(s: &XSession, base_url: &str, runs: &str) {
    let dir = s.config_home().join("markpilot");
    std::fs::create_dir_all(&dir).unwrap();
    let settings = json!({
        "profiles": [{"name": "scripted", "protocol": "openai", "base_url": base_url, "model": MODEL, "coordinates": false}],
        "detectors": "builtin,text",
        "mark_style": "box",
        "record_dir": runs,
    });
    std::fs::write(dir.join("app.json"), settings.to_string()).unwrap();
}

/// The id of the first element-table line (`7 button "Send"`) that `pred` accepts.
fn mark_in_table(text: &str, pred: impl Fn(&str) -> bool) -> Option<u64> {
    text.lines().filter(|l| pred(l)).find_map(|l| l.split_whitespace().next()?.parse().ok())
}

fn save_shot(wd: &WebDriver, name: &str) {
    let png = wd.screenshot();
    image::load_from_memory(&png).expect("the app's screenshot is a PNG");
    if let Ok(dir) = std::env::var("MARKPILOT_TEST_ARTIFACTS") {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(Path::new(&dir).join(format!("app-{name}.png")), &png);
    }
}

/// The app's processes (itself and its WebKit helpers) in this session: `(pid, name)`.
fn app_processes(s: &XSession) -> Vec<(String, String)> {
    let display = format!("DISPLAY={}\0", s.display);
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let pid = e.ok()?.file_name().to_string_lossy().into_owned();
            pid.parse::<u32>().ok()?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?.trim().to_string();
            let ours = ["markpilot-app", "WebKitWebProces", "WebKitNetworkPr"].iter().any(|n| comm.starts_with(n));
            let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            (ours && env.windows(display.len()).any(|w| w == display.as_bytes())).then_some((pid, comm))
        })
        .collect()
}

/// Memory (kB) of the app and its WebKit processes: proportional set size (shared
/// libraries counted once across processes), and each one's resident size.
fn app_memory_kb(s: &XSession) -> (u64, Vec<String>) {
    let field = |text: &str, name: &str| -> Option<u64> {
        text.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse().ok()
    };
    let each: Vec<(String, u64, u64)> = app_processes(s)
        .into_iter()
        .filter_map(|(pid, name)| {
            let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
            Some((name, field(&rollup, "Pss:")?, field(&rollup, "Rss:")?))
        })
        .collect();
    (
        each.iter().map(|(_, pss, _)| pss).sum(),
        each.iter().map(|(n, pss, rss)| format!("{n} PSS {} MB / RSS {} MB", pss / 1024, rss / 1024)).collect(),
    )
}

/// CPU seconds used by the app's processes so far.
fn app_cpu_seconds(s: &XSession) -> f64 {
    app_processes(s)
        .into_iter()
        .filter_map(|(pid, _)| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|st| {
            let fields: Vec<&str> = st.rsplit_once(')')?.1.split_whitespace().collect();
            Some((fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?) as f64 / 100.0)
        })
        .sum()
}

#[test]
fn a_task_is_given_approved_watched_and_stopped_in_the_app() {
    let mut s = XSession::start(1280, 800);
    let zenity = s.spawn("zenity", &["--entry", "--title=Message", "--text=Your message:", "--ok-label=Send"]);
    wait_until_drawn(&s, "Message", "zenity", "push button", Some("Send"));

    // The model types into the entry, then sends (a risky click the person must approve).
    s.start_keyring();
    let vlm = ScriptedVlm::start(MODEL, Some(KEY), |req: &Seen| {
        if req.text.contains("Wait for the sky") {
            // The long task: a slow model that keeps waiting.
            std::thread::sleep(Duration::from_millis(700));
            return answer(json!({"thought": "still waiting", "action": {"type": "wait", "seconds": 0.5}}));
        }
        if req.text.contains("single word OK") {
            return Reply::Answer("OK".into()); // the settings page's connection test
        }
        // The step, from the history the agent sends.
        let field = mark_in_table(&req.text, |l| l.contains(" text_field"));
        let send = mark_in_table(&req.text, |l| l.contains("\"Send\""));
        if req.text.contains("2. click") {
            Reply::Answer(json!({"thought": "sent", "action": {"type": "done", "answer": "sent"}}).to_string())
        } else if req.text.contains("1. type") {
            answer(json!({"thought": "send it", "action": {"type": "click", "mark": send.expect("the Send button")}}))
        } else {
            answer(
                json!({"thought": "write the message", "action": {"type": "type", "text": "hello from the app", "mark": field.expect("an entry")}}),
            )
        }
    });
    let runs = s.scratch("runs");
    write_settings(&s, &vlm.base_url, &runs);

    let (_driver, port) = start_driver(&s);
    let wd = WebDriver::start(port, app_binary().to_str().unwrap());
    // The key goes into the keyring from the settings page, and never comes back.
    let loads =
        wd.wait_for("the settings", Duration::from_secs(30), "return Number(document.body.dataset.settingsLoads || 0)");
    wd.click("button[data-view='settings']");
    wd.wait_for(
        "the settings page",
        Duration::from_secs(30),
        &format!("return Number(document.body.dataset.settingsLoads) > {loads}"),
    );
    wd.type_into("#profiles .p-key", KEY);
    wd.click("#profiles .p-save-key");
    wd.wait_for(
        "the key to be stored",
        Duration::from_secs(30),
        "return document.querySelector('#profiles .p-note').textContent.includes('stored in the system keyring')",
    );
    wd.click("#profiles .p-test");
    let tested = wd.wait_for(
        "the connection test",
        Duration::from_secs(60),
        "const t = document.querySelector('#profiles .p-note').textContent; return t.includes('answered') || t.includes('error') ? t : ''",
    );
    assert!(tested.as_str().unwrap().contains("answered"), "{tested}");
    save_shot(&wd, "0-settings");
    let settings_file = std::fs::read_to_string(s.config_home().join("markpilot/app.json")).unwrap();
    assert!(!settings_file.contains(KEY), "the key is not in the settings file");
    let page = wd.execute("return document.documentElement.outerHTML").as_str().unwrap().to_string();
    assert!(!page.contains(KEY), "the key is not in the window after saving");
    wd.click("button[data-view='run']");
    save_shot(&wd, "1-start");
    let idle_cpu_before = app_cpu_seconds(&s);
    std::thread::sleep(Duration::from_secs(3));
    let idle_cpu = (app_cpu_seconds(&s) - idle_cpu_before) / 3.0;

    wd.type_into("#task", "Type 'hello from the app' into the message field and send it");
    wd.click("#start");
    // The Send click needs the person: the window comes back with the question.
    wd.wait_for("the confirmation", Duration::from_secs(120), "return !document.getElementById('confirm-box').hidden");
    let asked = wd.text("#confirm-action");
    assert!(asked.starts_with("click mark"), "{asked}");
    assert!(wd.text("#confirm-reason").to_lowercase().contains("send"), "{}", wd.text("#confirm-reason"));
    wd.wait_for(
        "the marked screenshot",
        Duration::from_secs(30),
        "const i = document.getElementById('shot-img'); return i.complete && i.naturalWidth > 0",
    );
    // Two animation frames: what is laid out is painted before the screenshot.
    wd.execute("window.__painted = false; requestAnimationFrame(() => requestAnimationFrame(() => { window.__painted = true; })); return true");
    wd.wait_for("a paint", Duration::from_secs(10), "return window.__painted");
    save_shot(&wd, "2-confirm");
    let marks = wd.execute("return document.querySelectorAll('#elements li').length").as_u64().unwrap();
    assert!(marks >= 4, "the element list has the marks: {marks}");
    let memory_kb = app_memory_kb(&s);
    wd.click("#approve");

    let state = wd.wait_for(
        "the run to finish",
        Duration::from_secs(120),
        "const s = document.getElementById('state').textContent; return s === 'running' || s === 'paused' ? '' : s",
    );
    assert_eq!(state, "done", "outcome: {}", wd.text("#outcome"));
    assert_eq!(s.finish(zenity, Duration::from_secs(10)).as_deref(), Some("hello from the app\n"));
    let problems = vlm.problems();
    assert!(!problems.iter().any(|p| p.contains("API key")), "every request carried the keyring's key: {problems:?}");
    let steps = wd.execute("return document.querySelectorAll('#steps li').length").as_u64().unwrap();
    assert_eq!(steps, 3, "three steps appeared");
    let latencies = wd.execute("return window.__markpilot.latencies");
    save_shot(&wd, "3-done");

    // The recorded run is listed; its report is exported.
    wd.click("button[data-view='runs']");
    wd.wait_for("the runs list", Duration::from_secs(30), "return document.querySelectorAll('#runs-body tr').length");
    wd.click("#runs-body tr button");
    wd.wait_for("the run to open", Duration::from_secs(30), "return !document.getElementById('run-detail').hidden");
    wd.click("#export");
    let note =
        wd.wait_for("the report", Duration::from_secs(60), "return document.getElementById('detail-note').textContent");
    let report = note.as_str().unwrap().trim_start_matches("Report written to ").to_string();
    if let Ok(dir) = std::env::var("MARKPILOT_TEST_ARTIFACTS") {
        for n in 1..=3 {
            let from = Path::new(&report).with_file_name(format!("step-00{n}-screen.png"));
            let _ = std::fs::copy(from, Path::new(&dir).join(format!("app-run-step-{n}.png")));
        }
    }
    let html = std::fs::read_to_string(&report).unwrap_or_else(|e| panic!("{report}: {e}"));
    assert_eq!(html.matches("data:image/png;base64,").count(), 3);
    save_shot(&wd, "4-runs");
    // Nothing the app wrote holds the key: its settings, the run folder, the report.
    let run_folder = Path::new(&report).parent().unwrap().to_path_buf();
    for dir in [s.config_home().join("markpilot"), run_folder] {
        for f in files_under(&dir) {
            let bytes = std::fs::read(&f).unwrap();
            assert!(!bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()), "{} holds the API key", f.display());
        }
    }

    // A long task, stopped from the window: it ends within the step in progress.
    wd.click("button[data-view='run']");
    wd.execute("document.getElementById('task').value = 'Wait for the sky to turn green'; return true");
    wd.click("#start");
    wd.wait_for("two steps", Duration::from_secs(120), "return window.__markpilot.stepsSeen >= 2");
    let seen = wd.execute("return window.__markpilot.stepsSeen").as_u64().unwrap();
    let pressed = Instant::now();
    wd.execute("document.getElementById('stop').click(); return true");
    let state = wd.wait_for(
        "the run to stop",
        Duration::from_secs(60),
        "const s = document.getElementById('state').textContent; return s === 'running' || s === 'paused' ? '' : s",
    );
    let stop_ms = pressed.elapsed().as_millis();
    assert_eq!(state, "stopped");
    let last = wd.execute("return window.__markpilot.stepsSeen").as_u64().unwrap();
    assert!(last <= seen + 1, "stopped within one step: {seen} → {last}");
    let runs_now: Vec<Value> = std::fs::read_dir(&runs)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("run.json")).ok())
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect();
    assert!(runs_now.iter().any(|r| r["result"]["status"] == "stopped"), "{runs_now:?}");
    save_shot(&wd, "5-stopped");

    // Again, stopped with the global shortcut (X11), from outside the window.
    wd.click("#start");
    wd.wait_for("a step", Duration::from_secs(120), "return window.__markpilot.stepsSeen >= 1");
    let st = s.command("xdotool").args(["key", "ctrl+shift+Escape"]).status().unwrap();
    assert!(st.success());
    let state = wd.wait_for(
        "the run to stop",
        Duration::from_secs(60),
        "const s = document.getElementById('state').textContent; return s === 'running' || s === 'paused' ? '' : s",
    );
    assert_eq!(state, "stopped", "Ctrl+Shift+Escape stops the run");

    eprintln!(
        "app figures: idle CPU {:.2}% of a core; memory during the run {} MB PSS ({}); \
         perception → screenshot shown {latencies} ms; Stop → stopped {stop_ms} ms",
        idle_cpu * 100.0,
        memory_kb.0 / 1024,
        memory_kb.1.join(", ")
    );
    wd.close();
}
