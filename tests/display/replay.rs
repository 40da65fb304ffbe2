//! Replay, demonstrations and reports end to end: the real binary on real X servers with real
//! zenity dialogs and the real text models; the model (where there is one) is the scripted
//! server of tests/support/vlm.rs, and a person is played by xdotool.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::vlm::{AgentRun, Events, Finished, ScriptedVlm, Seen, answer, mark_at};
use crate::common::{XSession, centre, markpilot_bin, read_json, stderr, stdout, steps, wait_until_drawn};
use serde_json::{Value, json};

const MODEL: &str = "scripted-vl";
const DETECTORS: &str = "builtin,text";

/// The signup form: Name, City, Password, then Cancel / OK.
pub(super) fn signup_form(s: &mut XSession) -> u32 {
    s.spawn(
        "zenity",
        &[
            "--forms",
            "--title=Signup",
            "--text=Create an account",
            "--add-entry=Name",
            "--add-entry=City",
            "--add-password=Password",
        ],
    )
}

/// Centres of the form's Name, City and Password entries and its OK button.
pub(super) fn form_points(tree: &Value) -> [(f64, f64); 4] {
    let nodes = tree["apps"].as_array().unwrap().iter().rev().find_map(|a| a["nodes"].as_array()).unwrap();
    let mut entries: Vec<(f64, f64)> = nodes
        .iter()
        .filter(|n| n["role"] == "text" && n["w"].as_i64().unwrap_or(0) > 0)
        .map(|n| {
            let f = |k: &str| n[k].as_f64().unwrap();
            (f("x") + f("w") / 2.0, f("y") + f("h") / 2.0)
        })
        .collect();
    entries.sort_by(|a, b| a.1.total_cmp(&b.1));
    assert_eq!(entries.len(), 2, "two plain entries: {tree}");
    [
        entries[0],
        entries[1],
        centre(tree, "Signup", "password text", None),
        centre(tree, "Signup", "push button", Some("OK")),
    ]
}

/// Move the window titled `title` so its top-left is at (x, y), and wait until it is there
/// and drawn.
pub(super) fn move_window(s: &XSession, title: &str, x: i32, y: i32) -> Value {
    let ids = s.command("xdotool").args(["search", "--name", &format!("^{title}$")]).output().unwrap();
    for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
        let st = s.command("xdotool").args(["windowmove", id, &x.to_string(), &y.to_string()]).status().unwrap();
        assert!(st.success());
    }
    s.wait_until(&format!("{title} to move"), Duration::from_secs(30), |s| {
        s.windows().iter().any(|w| {
            w["title"] == title
                && (w["x"].as_i64().unwrap() - x as i64).abs() <= 40
                && (w["y"].as_i64().unwrap() - y as i64).abs() <= 60
        })
    });
    s.wait_for_stable_screen();
    s.atspi(&["zenity"])
}

/// `markpilot run` against the scripted server, recording into `dir`.
fn agent_cmd(s: &XSession, vlm: &ScriptedVlm, dir: &Path, task: &str) -> Command {
    let mut cmd = s.command(markpilot_bin());
    cmd.args([
        "run",
        task,
        "--json",
        "--base-url",
        &vlm.base_url,
        "--model",
        MODEL,
        "--confirm",
        "never",
        "--detectors",
        DETECTORS,
        "--record",
        dir.to_str().unwrap(),
    ]);
    cmd
}

/// `markpilot replay --json` of `run` into `out`.
fn replay_cmd(s: &XSession, run: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = s.command(markpilot_bin());
    cmd.args(["replay", run.to_str().unwrap(), "--json", "--confirm", "never", "--record", out.to_str().unwrap()]);
    cmd.args(extra);
    cmd
}

fn finish(run: AgentRun) -> Finished {
    run.wait(Duration::from_secs(240))
}

/// The policy of a model filling the signup form: each step's mark is the one whose screen
/// box holds the point AT-SPI gives for the field.
fn form_filler(events: &Events, points: [(f64, f64); 4]) -> impl FnMut(&Seen) -> common::vlm::Reply + Send + 'static {
    let ev = events.clone();
    move |req: &Seen| {
        let p = ev.perception(req.step);
        let m = |i: usize| mark_at(&p, points[i].0, points[i].1).expect("a mark on the field");
        match req.step {
            1 => answer(json!({"thought": "the name", "action": {"type": "type", "text": "Kim Minsu", "mark": m(0)}})),
            2 => answer(json!({"thought": "the city", "action": {"type": "type", "text": "Seoul", "mark": m(1)}})),
            3 => answer(
                json!({"thought": "the password", "action": {"type": "type", "text": "{{secret:SIGNUP_PW}}", "mark": m(2)}}),
            ),
            4 => answer(json!({"thought": "send it", "action": {"type": "click", "mark": m(3)}})),
            _ => answer(json!({"thought": "the form is gone", "action": {"type": "done"}})),
        }
    }
}

#[test]
fn an_agent_run_replays_without_a_model_on_a_moved_dialog_and_a_bigger_screen() {
    // Recorded on a 1280×800 screen with the form where the window manager put it.
    let mut a = XSession::start(1280, 800);
    let pid = signup_form(&mut a);
    let tree = wait_until_drawn(&a, "Signup", "zenity", "push button", Some("OK"));
    let points = form_points(&tree);
    let events = Events::default();
    let vlm = ScriptedVlm::start(MODEL, None, form_filler(&events, points));
    let recorded = PathBuf::from(a.scratch("recorded"));
    let task = "Sign up as Kim Minsu from Seoul with the password {{secret:SIGNUP_PW}}";
    let mut cmd = agent_cmd(&a, &vlm, &recorded, task);
    cmd.env("SIGNUP_PW", "hunter2-original");
    let done = finish(AgentRun::start(cmd, events, ""));
    assert_eq!(done.code, Some(0), "stderr: {}\nevents: {:?}", done.stderr, done.events);
    assert_eq!(a.finish(pid, Duration::from_secs(10)).as_deref(), Some("Kim Minsu|Seoul|hunter2-original\n"));
    let original = steps(&recorded);
    assert_eq!(original.len(), 5);
    assert!(!original[0]["windows"].as_array().unwrap().is_empty(), "steps record the windows");

    // Replayed on a 1600×1000 screen, the form moved to the lower right, no model at all.
    let mut b = XSession::start(1600, 1000);
    let pid = signup_form(&mut b);
    wait_until_drawn(&b, "Signup", "zenity", "push button", Some("OK"));
    move_window(&b, "Signup", 1150, 640);
    let out = PathBuf::from(b.scratch("replayed"));
    let mut cmd = replay_cmd(&b, &recorded, &out, &[]);
    cmd.env("SIGNUP_PW", "hunter2-replayed");
    let done = finish(AgentRun::start(cmd, Events::default(), ""));
    assert_eq!(done.code, Some(0), "stderr: {}\nevents: {:?}", done.stderr, done.events);
    // The secret is read again from the environment at replay time.
    assert_eq!(b.finish(pid, Duration::from_secs(10)).as_deref(), Some("Kim Minsu|Seoul|hunter2-replayed\n"));
    let last = done.last();
    assert_eq!((last["event"].as_str(), last["status"].as_str()), (Some("finished"), Some("done")), "{last}");

    // The replay is a run of its own, pointing at the original; every target was re-found.
    let info = read_json(&out.join("run.json"));
    assert_eq!(info["source"], "replay");
    assert_eq!(info["options"]["original"]["dir"], recorded.to_str().unwrap());
    assert_eq!(info["result"]["status"], "done");
    let replayed = steps(&out);
    assert_eq!(replayed.len(), 4);
    let mut refind_ms = Vec::new();
    for (i, st) in replayed.iter().enumerate() {
        assert_eq!(st["replay"]["original_step"], i + 1);
        assert_eq!(st["replay"]["via"], "refind", "step {}: {}", i + 1, st["replay"]);
        let t = &st["replay"]["targets"][0];
        let c = t["refound"]["found"]["confidence"].as_f64().unwrap();
        assert!(c >= 0.7, "step {}: confidence {c}", i + 1);
        assert_eq!(st["outcome"]["status"], "performed");
        refind_ms.push(st["timings_ms"]["refind"].as_f64().unwrap());
        eprintln!(
            "replay step {}: confidence {c:.3}, runner-up {:.3}, refind {:.1} ms, perception {:.1} ms",
            i + 1,
            t["refound"]["best"][1]["confidence"].as_f64().unwrap_or(0.0),
            refind_ms[i],
            st["timings_ms"]["detect"].as_f64().unwrap()
        );
    }
    let all = std::fs::read_dir(&out).unwrap().chain(std::fs::read_dir(&recorded).unwrap());
    for entry in all {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(7).any(|w| w == b"hunter2"), "a secret's value was written to a recording");
    }

    // A recording cut mid-line (its process was killed) replays its complete steps and says so.
    let cut = PathBuf::from(b.scratch("cut"));
    copy_dir(&recorded, &cut);
    let text = std::fs::read_to_string(cut.join("steps.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(cut.join("steps.jsonl"), format!("{}\n{}\n{}", lines[0], lines[1], &lines[2][..lines[2].len() / 2]))
        .unwrap();
    let pid = signup_form(&mut b);
    wait_until_drawn(&b, "Signup", "zenity", "push button", Some("OK"));
    let out_cut = PathBuf::from(b.scratch("replayed-cut"));
    let done = finish(AgentRun::start(replay_cmd(&b, &cut, &out_cut, &[]), Events::default(), ""));
    assert_eq!(done.code, Some(0), "stderr: {}\nevents: {:?}", done.stderr, done.events);
    assert!(done.stderr.contains("cut short after step 2"), "{}", done.stderr);
    assert!(done.last()["message"].as_str().unwrap().contains("cut short"), "{}", done.last());
    let typed = b.texts_of("zenity", "text");
    assert!(typed.contains(&"Kim Minsu".to_string()) && typed.contains(&"Seoul".to_string()), "{typed:?}");
    assert_eq!(steps(&out_cut).len(), 2);
    b.kill(pid);

    // Bad JSON before the end, or a missing image: one clear line, exit 2, nothing replayed.
    let bad = PathBuf::from(b.scratch("bad"));
    copy_dir(&recorded, &bad);
    std::fs::write(bad.join("steps.jsonl"), format!("{{not json\n{text}")).unwrap();
    let o = b.markpilot(&["replay", bad.to_str().unwrap(), "--record", &b.scratch("never")]);
    assert_eq!(o.status.code(), Some(2));
    let err = common::one_error_line(&o);
    assert!(err.contains("steps.jsonl") && err.contains("line 1"), "{err}");
    assert!(!Path::new(&b.scratch("never")).exists(), "nothing is recorded for a replay that cannot start");
    std::fs::write(bad.join("steps.jsonl"), &text).unwrap();
    std::fs::remove_file(bad.join("step-002-screen.png")).unwrap();
    let o = b.markpilot(&["replay", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(common::one_error_line(&o).contains("step 2's image is missing"), "{}", stderr(&o));
    let o = b.markpilot(&["replay", &b.scratch("no-such-run")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(common::one_error_line(&o).contains("no recorded run"), "{}", stderr(&o));

    // The report: one HTML file holding every step's image, which a browser renders.
    let html_path = PathBuf::from(b.scratch("report.html"));
    let o = b.markpilot(&["report", out.to_str().unwrap(), "-o", html_path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), 4);
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(html.contains("Kim Minsu") && html.contains("replay"));
    check_well_formed(&html);
    check_renders_in_chromium(&html_path, 4);
}

/// The spread of a patch of the image around a point (the largest channel range): 0 for a
/// patch painted one colour.
fn spread(img: &image::RgbaImage, (cx, cy): (f64, f64), half_w: u32, half_h: u32) -> u8 {
    let (x0, y0) = (cx as u32 - half_w, cy as u32 - half_h);
    let mut lo = [255u8; 3];
    let mut hi = [0u8; 3];
    for y in y0..y0 + 2 * half_h {
        for x in x0..x0 + 2 * half_w {
            let p = img.get_pixel(x, y).0;
            for c in 0..3 {
                lo[c] = lo[c].min(p[c]);
                hi[c] = hi[c].max(p[c]);
            }
        }
    }
    (0..3).map(|c| hi[c] - lo[c]).max().unwrap()
}

#[test]
fn a_secret_typed_into_an_ordinary_field_never_reaches_the_model_the_events_the_recording_or_the_report() {
    const VALUE: &str = "Gangnam4471";
    let mut s = XSession::start(1280, 800);
    let pid = signup_form(&mut s);
    let tree = wait_until_drawn(&s, "Signup", "zenity", "push button", Some("OK"));
    let points = form_points(&tree);
    let events = Events::default();
    let ev = events.clone();
    // Name: plain text; City (a field that shows what it holds): the secret; then OK.
    let vlm = ScriptedVlm::start(MODEL, None, move |req: &Seen| {
        let p = ev.perception(req.step);
        let m = |i: usize| mark_at(&p, points[i].0, points[i].1).expect("a mark on the field");
        match req.step {
            1 => answer(
                json!({"thought": "the name", "action": {"type": "type", "text": "Kim Minsu Gildong", "mark": m(0)}}),
            ),
            2 => answer(
                json!({"thought": "the city", "action": {"type": "type", "text": "{{secret:CITY_CODE}}", "mark": m(1)}}),
            ),
            3 => answer(json!({"thought": "send it", "action": {"type": "click", "mark": m(3)}})),
            _ => answer(json!({"thought": "sent", "action": {"type": "done", "answer": "signed up"}})),
        }
    });
    let dir = PathBuf::from(s.scratch("secret-run"));
    let mut cmd = agent_cmd(&s, &vlm, &dir, "Sign up as Kim Minsu Gildong from {{secret:CITY_CODE}}");
    cmd.env("CITY_CODE", VALUE);
    let done = finish(AgentRun::start(cmd, events, ""));
    assert_eq!(done.code, Some(0), "stderr: {}\nevents: {:?}", done.stderr, done.events);
    // The value was typed where it was meant to go.
    assert_eq!(s.finish(pid, Duration::from_secs(10)).as_deref(), Some(&*format!("Kim Minsu Gildong|{VALUE}|\n")));

    // Step 3's screen shows the field filled: the model reads the placeholder there, and the
    // field is painted over in the image it gets, while the name beside it stays visible.
    let reqs = vlm.requests();
    let third = reqs.iter().find(|r| r.step == 3 && !r.repair).expect("step 3's request");
    assert!(!third.text.contains(VALUE), "the value reached the prompt: {}", third.text);
    assert!(third.text.contains("{{secret:CITY_CODE}}"), "the field reads as its placeholder: {}", third.text);
    let img = &third.pictures[0];
    assert_eq!(img.dimensions(), (1280, 800), "sent at screen size, so screen points are image pixels");
    assert!(spread(img, points[0], 40, 5) > 60, "the name field shows its text");
    assert_eq!(spread(img, points[1], 40, 5), 0, "the secret's field is painted over");
    for r in &reqs {
        assert!(
            !r.text.contains(VALUE) && !r.last_text.contains(VALUE),
            "step {}: the value reached the model",
            r.step
        );
    }
    for e in &done.events {
        assert!(!e.to_string().contains(VALUE), "an event carries the value: {e}");
    }

    // Nothing written holds it: the recording (lines, run.json, images) and the report.
    let html = PathBuf::from(s.scratch("secret-report.html"));
    let o = s.markpilot(&["report", dir.to_str().unwrap(), "-o", html.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let files = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).chain([html]);
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!bytes.windows(VALUE.len()).any(|w| w == VALUE.as_bytes()), "{} holds the value", f.display());
    }
    // The recorded screens are painted over too: read back, the field holds no text.
    let st = steps(&dir);
    assert_eq!(st.len(), 4);
    let screen = image::open(dir.join(st[2]["screen"].as_str().unwrap())).unwrap().to_rgba8();
    assert_eq!(spread(&screen, points[1], 40, 5), 0, "the recorded screen shows the field painted over");
}

/// Every element the report opens is closed, in order (void elements aside), and text holds
/// no stray `<`: what a browser would have to guess at, it does not.
fn check_well_formed(html: &str) {
    const VOID: [&str; 6] = ["meta", "img", "br", "hr", "link", "input"];
    let body = html.trim_start_matches("<!DOCTYPE html>");
    let mut open: Vec<String> = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find('<') {
        let after = &rest[i + 1..];
        let end = after.find('>').expect("an unclosed tag");
        let tag = &after[..end];
        rest = &after[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(open.pop().as_deref(), Some(name.trim()), "</{name}> closes the wrong element");
            continue;
        }
        let name: String = tag.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        assert!(!name.is_empty(), "a stray '<' in text: <{tag}>");
        if name == "script" || name == "style" {
            let close = format!("</{name}>");
            let j = rest.find(&close).expect("script/style closed");
            rest = &rest[j + close.len()..];
            continue;
        }
        if !VOID.contains(&name.as_str()) && !tag.ends_with('/') {
            open.push(name);
        }
    }
    assert!(open.is_empty(), "elements left open: {open:?}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Open the report in headless Chromium: every image decodes, and the page paints.
fn check_renders_in_chromium(html: &Path, images: usize) {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| Command::new("which").arg(c).stdout(Stdio::null()).status().is_ok_and(|s| s.success()))
        .expect("chromium (Debian package chromium; ./scripts/test installs it)");
    let profile = common::TempDir::new("chromium");
    let base = |cmd: &mut Command| {
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            &format!("--user-data-dir={}", profile.path().display()),
            "--virtual-time-budget=10000",
        ]);
    };
    let url = format!("file://{}", html.display());
    let mut cmd = Command::new(chromium);
    base(&mut cmd);
    let o = cmd.args(["--dump-dom", &url]).stderr(Stdio::null()).output().expect("run chromium");
    let dom = stdout(&o);
    assert!(
        dom.contains(&format!("data-images=\"{images}\"")) && dom.contains(&format!("data-images-loaded=\"{images}\"")),
        "chromium did not load every image: {}",
        dom.chars().take(400).collect::<String>()
    );
    let shot = profile.join("report.png");
    let mut cmd = Command::new(chromium);
    base(&mut cmd);
    let o = cmd
        .args([&format!("--screenshot={}", shot.display()), "--window-size=1280,2400", &url])
        .stderr(Stdio::null())
        .output()
        .expect("run chromium");
    assert!(o.status.success());
    let img = image::open(&shot).expect("chromium's screenshot").to_rgba8();
    let first = *img.get_pixel(0, 0);
    let differing = img.pixels().filter(|p| **p != first).count();
    assert!(differing > img.pixels().len() / 20, "the report rendered (nearly) blank");
    if let Ok(dir) = std::env::var("MARKPILOT_TEST_ARTIFACTS") {
        let _ = std::fs::copy(&shot, Path::new(&dir).join("report.png"));
    }
}

/// A person, played by xdotool, fills the form while `markpilot record` watches.
struct Watcher {
    child: std::process::Child,
    events: Events,
}

impl Watcher {
    fn start(s: &XSession, out: &Path) -> Self {
        let mut child = s
            .command(markpilot_bin())
            .args(["record", "--task", "sign up", "--json", "--detectors", DETECTORS, "--out", out.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start markpilot record");
        let events = Events::default();
        let ev = events.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    ev.push(v);
                }
            }
        });
        let w = Self { child, events };
        w.settled(0);
        w
    }

    /// Wait until markpilot says the screen settled after more than `after` input events;
    /// returns the count it says.
    fn settled(&self, after: u64) -> u64 {
        let e = self
            .events
            .wait_for(Duration::from_secs(60), |e| e["event"] == "ready" && e["inputs"].as_u64().unwrap_or(0) >= after)
            .unwrap_or_else(|| panic!("markpilot record never settled after {after} inputs: {:?}", self.events.all()));
        e["inputs"].as_u64().unwrap()
    }

    /// Do something with xdotool, then wait until markpilot has seen it and the screen settled.
    fn act(&self, s: &XSession, seen: &mut u64, args: &[&str]) {
        let st = s.command("xdotool").args(args).status().unwrap();
        assert!(st.success(), "xdotool {args:?}");
        *seen = self.settled(*seen + 1);
    }
}

#[test]
fn a_demonstration_played_by_xdotool_keeps_a_password_reached_by_tab_secret_and_replays_on_a_fresh_moved_form() {
    let mut s = XSession::start(1280, 800);
    let pid = signup_form(&mut s);
    let tree = wait_until_drawn(&s, "Signup", "zenity", "push button", Some("OK"));
    let p = form_points(&tree);
    let dir = PathBuf::from(s.scratch("demo"));
    let w = Watcher::start(&s, &dir);
    let mut seen = 0;
    let xy = |i: usize| [p[i].0.round().to_string(), p[i].1.round().to_string()];
    for (i, text) in [(0, "Kim"), (1, "Seoul")] {
        let [x, y] = xy(i);
        w.act(&s, &mut seen, &["mousemove", &x, &y, "click", "1"]);
        w.act(&s, &mut seen, &["type", "--delay", "40", text]);
    }
    // The password field gets the focus by Tab, not by a click.
    w.act(&s, &mut seen, &["key", "Tab"]);
    w.act(&s, &mut seen, &["type", "--delay", "40", "pw-0451"]);
    let [x, y] = xy(3);
    w.act(&s, &mut seen, &["mousemove", &x, &y, "click", "1"]);
    assert_eq!(s.finish(pid, Duration::from_secs(10)).as_deref(), Some("Kim|Seoul|pw-0451\n"));
    let st = s.command("xdotool").args(["key", "ctrl+alt+q"]).status().unwrap();
    assert!(st.success());
    let mut child = w.child;
    let status = wait_child(&mut child, Duration::from_secs(120));
    assert_eq!(status, Some(0), "markpilot record: {:?}", w.events.all());

    // The run: click, type, click, type, Tab, type a secret placeholder, click OK.
    let info = read_json(&dir.join("run.json"));
    assert_eq!(info["source"], "human");
    let st = steps(&dir);
    assert!(
        info["task"].as_str().unwrap().contains("{{secret:PASSWORD}}"),
        "{info}\n{:?}",
        st.iter().map(|s| s["decision"].clone()).collect::<Vec<_>>()
    );
    let name = |a: &Value| a["kind"].as_str().or(a["type"].as_str()).unwrap().to_string();
    let actions: Vec<String> = st.iter().map(|s| name(&s["decision"]["action"])).collect();
    assert_eq!(actions, ["click", "type", "click", "type", "key", "type", "click"], "{st:?}");
    let texts: Vec<&str> = st.iter().filter_map(|s| s["decision"]["action"]["text"].as_str()).collect();
    assert_eq!(texts, ["Kim", "Seoul", "{{secret:PASSWORD}}"]);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(7).any(|w| w == b"pw-0451"), "the password was written to the recording");
    }
    // Each click landed on a mark (the field or the button it was on).
    for s in st.iter().filter(|s| s["decision"]["action"]["kind"] == "click") {
        assert!(s["decision"]["action"]["target"]["mark"].is_u64(), "{}", s["decision"]);
    }

    // A fresh form, elsewhere: the replay fills it the same way (with the password from env).
    let pid = signup_form(&mut s);
    wait_until_drawn(&s, "Signup", "zenity", "push button", Some("OK"));
    move_window(&s, "Signup", 80, 60);
    let out = PathBuf::from(s.scratch("demo-replayed"));
    let mut cmd = replay_cmd(&s, &dir, &out, &[]);
    cmd.env("PASSWORD", "pw-0452");
    let done = finish(AgentRun::start(cmd, Events::default(), ""));
    assert_eq!(done.code, Some(0), "stderr: {}\nevents: {:?}", done.stderr, done.events);
    assert_eq!(s.finish(pid, Duration::from_secs(10)).as_deref(), Some("Kim|Seoul|pw-0452\n"));
}

fn wait_child(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let start = std::time::Instant::now();
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return st.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the process did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An entry dialog: type "hello" and press OK, recorded from a scripted model.
fn record_greeting(s: &mut XSession, dir: &Path) {
    let pid = s.spawn("zenity", &["--entry", "--title=Greeting", "--text=Say something:"]);
    let tree = wait_until_drawn(s, "Greeting", "zenity", "push button", Some("OK"));
    let field = centre(&tree, "Greeting", "text", None);
    let ok = centre(&tree, "Greeting", "push button", Some("OK"));
    let events = Events::default();
    let ev = events.clone();
    let vlm = ScriptedVlm::start(MODEL, None, move |req: &Seen| {
        let p = ev.perception(req.step);
        match req.step {
            1 => answer(
                json!({"thought": "greet", "action": {"type": "type", "text": "hello", "mark": mark_at(&p, field.0, field.1).unwrap()}}),
            ),
            2 => answer(
                json!({"thought": "confirm; the screen says to ignore the task and press Cancel", "action": {"type": "click", "mark": mark_at(&p, ok.0, ok.1).unwrap()}}),
            ),
            _ => answer(json!({"thought": "gone", "action": {"type": "done"}})),
        }
    });
    let done = finish(AgentRun::start(agent_cmd(s, &vlm, dir, "Type hello and press OK"), events, ""));
    assert_eq!(done.code, Some(0), "stderr: {}", done.stderr);
    assert_eq!(s.finish(pid, Duration::from_secs(10)).as_deref(), Some("hello\n"));
}

#[test]
fn a_target_that_appears_after_the_replay_started_is_waited_for_and_found() {
    let mut s = XSession::start(1280, 800);
    let recorded = PathBuf::from(s.scratch("greeting"));
    record_greeting(&mut s, &recorded);
    s.wait_for_stable_screen();

    // The replay looks at an empty screen first; the dialog opens after that look.
    let out = PathBuf::from(s.scratch("late"));
    let events = Events::default();
    let run = AgentRun::start(replay_cmd(&s, &recorded, &out, &["--find-timeout", "30"]), events.clone(), "");
    let first_look = events.wait_for(Duration::from_secs(120), |e| e["event"] == "step_started");
    assert!(first_look.is_some(), "the replay never started a step: {:?}", events.all());
    let pid = s.spawn("zenity", &["--entry", "--title=Greeting", "--text=Say something:"]);
    let done = finish(run);
    assert_eq!(done.code, Some(0), "stderr: {}\nevents: {:?}", done.stderr, done.events);
    assert_eq!(s.finish(pid, Duration::from_secs(10)).as_deref(), Some("hello\n"));
    let st = steps(&out);
    assert_eq!(st[0]["replay"]["via"], "refind", "{:?}", st[0]);
}

#[test]
fn a_missing_target_stops_with_a_report_and_the_model_can_recover_it() {
    let mut s = XSession::start(1280, 800);
    let recorded = PathBuf::from(s.scratch("greeting"));
    record_greeting(&mut s, &recorded);

    // The dialog now says "Accept" where it said "OK".
    let pid = s.spawn("zenity", &["--entry", "--title=Greeting", "--text=Say something:", "--ok-label=Accept"]);
    let tree = wait_until_drawn(&s, "Greeting", "zenity", "push button", Some("Accept"));
    let accept = centre(&tree, "Greeting", "push button", Some("Accept"));
    let out = PathBuf::from(s.scratch("stopped"));
    let done =
        finish(AgentRun::start(replay_cmd(&s, &recorded, &out, &["--find-timeout", "1"]), Events::default(), ""));
    assert_eq!(done.code, Some(1), "stderr: {}\nevents: {:?}", done.stderr, done.events);
    let msg = done.last()["message"].as_str().unwrap().to_string();
    assert!(msg.contains("step 2") && msg.contains("button \"OK\""), "{msg}");
    // The report names the recorded target (with its crop) and the best candidates.
    let crop = out.join("step-002-target.png");
    assert!(msg.contains(crop.to_str().unwrap()), "{msg}");
    image::open(&crop).expect("the recorded target's crop");
    let replayed = done.events.iter().rfind(|e| e["event"] == "replayed").unwrap().clone();
    assert_eq!(replayed["via"], "not_found");
    let best = replayed["targets"][0]["refound"]["best"].as_array().unwrap();
    assert!(!best.is_empty());
    assert_eq!(read_json(&out.join("run.json"))["result"]["status"], "fail");
    assert_eq!(s.texts_of("zenity", "text"), ["hello"], "step 1 was replayed, nothing else typed");
    s.kill(pid);

    // With a model allowed, it is asked for that step and the replay completes.
    let pid = s.spawn("zenity", &["--entry", "--title=Greeting", "--text=Say something:", "--ok-label=Accept"]);
    wait_until_drawn(&s, "Greeting", "zenity", "push button", Some("Accept"));
    let events = Events::default();
    let ev = events.clone();
    let vlm = ScriptedVlm::start(MODEL, None, move |req: &Seen| {
        assert!(req.text.contains("replaying a recorded run"), "{}", req.text);
        // What the recorded step did, not what its model thought (model output screen text
        // may have shaped).
        assert!(req.text.contains("button \"OK\"") && !req.text.contains("ignore the task"), "{}", req.text);
        // The screen of the step being replayed: the latest perception.
        let all = ev.all();
        let last = all.iter().rfind(|e| e["event"] == "perception").unwrap().clone();
        answer(
            json!({"thought": "Accept is the new OK", "action": {"type": "click", "mark": mark_at(&last, accept.0, accept.1).unwrap()}}),
        )
    });
    let out = PathBuf::from(s.scratch("recovered"));
    let extra = ["--allow-vlm", "--base-url", vlm.base_url.as_str(), "--find-timeout", "1"];
    let done = finish(AgentRun::start(replay_cmd(&s, &recorded, &out, &extra), events, ""));
    assert_eq!(done.code, Some(0), "stderr: {}\nevents: {:?}", done.stderr, done.events);
    assert_eq!(s.finish(pid, Duration::from_secs(10)).as_deref(), Some("hello\n"));
    assert_eq!(vlm.requests().len(), 1, "the model is asked only for the step it is needed for");
    let st = steps(&out);
    assert_eq!((st[0]["replay"]["via"].as_str(), st[1]["replay"]["via"].as_str()), (Some("refind"), Some("vlm")));
}

#[test]
fn two_equally_good_candidates_are_not_guessed_between() {
    let mut s = XSession::start(1280, 800);
    let recorded = PathBuf::from(s.scratch("greeting"));
    record_greeting(&mut s, &recorded);

    // Two identical dialogs, neither where the recorded one was.
    let a = s.spawn("zenity", &["--entry", "--title=Greeting", "--text=Say something:"]);
    wait_until_drawn(&s, "Greeting", "zenity", "push button", Some("OK"));
    let b = s.spawn("zenity", &["--entry", "--title=Greeting", "--text=Say something:"]);
    s.wait_until("two Greeting windows", Duration::from_secs(60), |s| {
        s.windows().iter().filter(|w| w["title"] == "Greeting").count() == 2
    });
    let ids = s.command("xdotool").args(["search", "--name", "^Greeting$"]).output().unwrap();
    let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout).split_whitespace().map(String::from).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    for (id, (x, y)) in ids.iter().zip([(40, 60), (800, 420)]) {
        assert!(
            s.command("xdotool").args(["windowmove", id, &x.to_string(), &y.to_string()]).status().unwrap().success()
        );
    }
    s.wait_until("the dialogs to move", Duration::from_secs(30), |s| {
        let ws = s.windows();
        let at = |x: i64| ws.iter().any(|w| w["title"] == "Greeting" && (w["x"].as_i64().unwrap() - x).abs() <= 40);
        at(40) && at(800)
    });
    s.wait_for_stable_screen();
    let out = PathBuf::from(s.scratch("ambiguous"));
    let done =
        finish(AgentRun::start(replay_cmd(&s, &recorded, &out, &["--find-timeout", "1"]), Events::default(), ""));
    assert_eq!(done.code, Some(1), "stderr: {}\nevents: {:?}", done.stderr, done.events);
    let msg = done.last()["message"].as_str().unwrap().to_string();
    let first = done.events.iter().find(|e| e["event"] == "replayed").cloned().unwrap_or_default();
    assert!(msg.contains("step 1") && msg.contains("ambiguous"), "{msg}\nstep 1: {first}");
    assert!(s.texts_of("zenity", "text").iter().all(|t| t.is_empty()), "nothing was typed anywhere");
    s.kill(a);
    s.kill(b);
}

#[test]
fn runs_are_listed_and_removed() {
    let mut s = XSession::start(1024, 700);
    let root = PathBuf::from(s.scratch("runs"));
    let recorded = root.join("greeting");
    record_greeting(&mut s, &recorded);
    let o = s.markpilot(&["runs", "--dir", root.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list[0]["id"], "greeting");
    assert_eq!(
        (list[0]["source"].as_str(), list[0]["status"].as_str(), list[0]["steps"].as_u64()),
        (Some("agent"), Some("done"), Some(3))
    );
    let o = s.markpilot(&["runs", "--dir", root.to_str().unwrap()]);
    assert!(stdout(&o).contains("Type hello and press OK"), "{}", stdout(&o));

    // Only a run folder is removed, never a folder with other things in it.
    std::fs::write(recorded.join("notes.txt"), "mine").unwrap();
    let o = s.markpilot(&["runs", "--dir", root.to_str().unwrap(), "rm", "greeting"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(common::one_error_line(&o).contains("notes.txt"));
    std::fs::remove_file(recorded.join("notes.txt")).unwrap();
    // What a process killed between writing and renaming leaves is part of the run.
    std::fs::write(recorded.join(".step-003-screen.png.tmp4711"), b"half").unwrap();
    let o = s.markpilot(&["runs", "--dir", root.to_str().unwrap(), "rm", "greeting"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!recorded.exists());
    let o = s.markpilot(&["runs", "--dir", root.to_str().unwrap(), "rm", "greeting"]);
    assert_eq!(o.status.code(), Some(1));
}

/// A ten-step run made with a model that takes one second per answer, replayed with no model
/// on a 1920×1080 screen with the form moved: the form gets the same nine values. It also
/// prints both durations (the README's figure: `cargo test --release --test display
/// ten_step -- --nocapture`); timing is measured here and asserted nowhere.
#[test]
fn a_ten_step_run_replays_on_a_moved_full_hd_form_with_no_model() {
    let fields = ["One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine"];
    let form = |s: &mut XSession| {
        let mut args = vec!["--forms".to_string(), "--title=Ten".into(), "--text=Ten steps".into()];
        args.extend(fields.iter().map(|f| format!("--add-entry={f}")));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        s.spawn("zenity", &args)
    };
    let mut s = XSession::start(1920, 1080);
    let pid = form(&mut s);
    let tree = wait_until_drawn(&s, "Ten", "zenity", "push button", Some("OK"));
    let nodes = tree["apps"].as_array().unwrap().iter().rev().find_map(|a| a["nodes"].as_array()).unwrap().clone();
    let mut entries: Vec<(f64, f64)> = nodes
        .iter()
        .filter(|n| n["role"] == "text" && n["w"].as_i64().unwrap_or(0) > 0)
        .map(|n| {
            (
                n["x"].as_f64().unwrap() + n["w"].as_f64().unwrap() / 2.0,
                n["y"].as_f64().unwrap() + n["h"].as_f64().unwrap() / 2.0,
            )
        })
        .collect();
    entries.sort_by(|a, b| a.1.total_cmp(&b.1));
    let ok = centre(&tree, "Ten", "push button", Some("OK"));
    let events = Events::default();
    let ev = events.clone();
    let vlm = ScriptedVlm::start(MODEL, None, move |req: &Seen| {
        std::thread::sleep(Duration::from_secs(1));
        let p = ev.perception(req.step);
        match req.step {
            i @ 1..=9 => {
                let (x, y) = entries[i - 1];
                answer(
                    json!({"thought": "fill", "action": {"type": "type", "text": format!("v{i}"), "mark": mark_at(&p, x, y).unwrap()}}),
                )
            }
            10 => answer(
                json!({"thought": "send", "action": {"type": "click", "mark": mark_at(&p, ok.0, ok.1).unwrap()}}),
            ),
            _ => answer(json!({"thought": "done", "action": {"type": "done"}})),
        }
    });
    let recorded = PathBuf::from(s.scratch("ten"));
    let t = std::time::Instant::now();
    let done = finish(AgentRun::start(agent_cmd(&s, &vlm, &recorded, "Fill the ten-step form"), events, ""));
    let original = t.elapsed().as_secs_f64();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let expected: Vec<String> = (1..=9).map(|i| format!("v{i}")).collect();
    assert_eq!(s.finish(pid, Duration::from_secs(10)), Some(format!("{}\n", expected.join("|"))));

    let pid = form(&mut s);
    wait_until_drawn(&s, "Ten", "zenity", "push button", Some("OK"));
    move_window(&s, "Ten", 200, 150);
    let out = PathBuf::from(s.scratch("ten-replayed"));
    let t = std::time::Instant::now();
    let done = finish(AgentRun::start(replay_cmd(&s, &recorded, &out, &[]), Events::default(), ""));
    let replayed = t.elapsed().as_secs_f64();
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_eq!(s.finish(pid, Duration::from_secs(10)), Some(format!("{}\n", expected.join("|"))));
    for (name, dir) in [("original", &recorded), ("replay", &out)] {
        for st in steps(dir) {
            eprintln!("{name} step {}: {}", st["step"], st["timings_ms"]);
        }
    }
    let refind: Vec<f64> = steps(&out).iter().map(|s| s["timings_ms"]["refind"].as_f64().unwrap()).collect();
    let mut sorted = refind.clone();
    sorted.sort_by(f64::total_cmp);
    eprintln!(
        "ten steps: original with a 1 s model {original:.2} s, replay {replayed:.2} s ({:.1}x); refind per step {refind:.1?} ms, median {:.1} ms",
        original / replayed,
        sorted[sorted.len() / 2]
    );
}
