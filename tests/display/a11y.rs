//! The `a11y` detector on live applications under Xvfb: the accessibility tree read by
//! markpilot (pure Rust over D-Bus) and fused with vision, measured against ground truth
//! taken independently through libatspi (tests/support/live_truth.py, the conventions of the
//! perception metric), on GTK 3, GTK 4, Qt 5 and Chromium; and what happens when the tree is
//! missing, covered, hung, or drawn at twice the scale on a monitor away from the origin.

use crate::common;

use std::path::Path;
use std::time::Duration;

use crate::common::XSession;
use markpilot::score::{self, ImageScore};
use serde_json::Value;

const QT_ENV: [(&str, &str); 3] =
    [("QT_LINUX_ACCESSIBILITY_ALWAYS_ON", "1"), ("QT_ACCESSIBILITY", "1"), ("QT_QPA_PLATFORM", "xcb")];

/// Ground truth of an application, once two readings in a row agree (`extra`: the helper's
/// options, asked afresh for each reading: a window still settling moves).
fn truth(s: &XSession, app: &str, extra: &dyn Fn(&XSession) -> Vec<String>) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/live_truth.py");
    let read = || -> Value {
        let o = s
            .command("/usr/bin/python3")
            .arg(&script)
            .args([app, "1280", "800"])
            .args(extra(s))
            .output()
            .expect("run live_truth.py");
        assert!(o.status.success(), "live_truth.py failed: {}", common::stderr(&o));
        serde_json::from_slice(&o.stdout).expect("ground truth JSON")
    };
    let mut last = read();
    let mut settled = None;
    s.wait_until(&format!("{app}'s tree to settle"), Duration::from_secs(60), |_| {
        let now = read();
        let same = now == last && now["elements"].as_array().is_some_and(|e| e.len() >= 5);
        last = now;
        if same {
            settled = Some(last.clone());
        }
        same
    });
    settled.expect("settled truth")
}

fn boxes(v: &Value, key: &str) -> Vec<[f64; 4]> {
    v[key]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let b = &e["bbox"];
            let n = |i: usize, k: &str| b.get(i).or_else(|| b.get(k)).and_then(Value::as_f64).unwrap_or(0.0);
            [n(0, "x"), n(1, "y"), n(2, "w"), n(3, "h")]
        })
        .collect()
}

fn annotate(s: &XSession, detectors: &str, name: &str) -> Value {
    let out = match std::env::var_os("MARKPILOT_TEST_ARTIFACTS") {
        Some(dir) => {
            let _ = std::fs::create_dir_all(&dir);
            Path::new(&dir).join(format!("a11y-{name}-{}.png", detectors.replace(',', "+"))).display().to_string()
        }
        None => s.scratch("marked.png"),
    };
    let o = s.markpilot(&["annotate", "--detectors", detectors, "--out", &out, "--json", "-"]);
    assert!(o.status.success(), "annotate failed: {}", common::stderr(&o));
    serde_json::from_slice(&o.stdout).expect("one JSON document on stdout")
}

/// Vision alone and vision with the tree, on the screen as it is now.
struct Measured {
    vision: ImageScore,
    fused: ImageScore,
    report: Value,
}

fn measure(s: &XSession, app: &str, extra: &dyn Fn(&XSession) -> Vec<String>) -> Measured {
    let t = truth(s, app, extra);
    let gt: Vec<([f64; 4], String)> = boxes(&t, "elements")
        .into_iter()
        .zip(t["elements"].as_array().into_iter().flatten())
        .map(|(b, e)| (b, e["role"].as_str().unwrap_or("").to_string()))
        .collect();
    let texts = boxes(&t, "texts");
    let vision = score::score_image(&gt, &texts, &boxes(&annotate(s, "builtin,text", app), "elements"));
    let report = annotate(s, "builtin,text,a11y", app);
    let fused = score::score_image(&gt, &texts, &boxes(&report, "elements"));
    for (i, (b, role)) in gt.iter().enumerate() {
        if !fused.hit[i] {
            eprintln!("    {app}: missed {role} at {b:?}");
        }
        if fused.amb_leaf[i] {
            eprintln!("    {app}: doubled {role} at {b:?}");
        }
    }
    let line = |what: &str, f: &score::Figures| {
        eprintln!(
            "{app:<20} {what:<18} elements {:>3}  marks {:>5.1}  click_recall {:.3}  ambiguity {:.3}  precision {:.3}",
            f.gt_elements, f.marks_per_image, f.click_recall, f.ambiguity, f.precision_proxy
        )
    };
    line("builtin,text", &score::aggregate([&vision]));
    line("builtin,text,a11y", &score::aggregate([&fused]));
    Measured { vision, fused, report }
}

fn element<'a>(report: &'a Value, kind: &str, text: &str) -> Option<&'a Value> {
    report["elements"]
        .as_array()?
        .iter()
        .find(|e| e["kind"] == kind && e["text"].as_str().is_some_and(|t| t.contains(text)))
}

fn states(e: &Value) -> Vec<&str> {
    e["states"].as_array().into_iter().flatten().filter_map(Value::as_str).collect()
}

fn none(_: &XSession) -> Vec<String> {
    Vec::new()
}

/// For GTK 4: walk what is visible, and the window (as it is now) its boxes are relative to.
fn gtk4_window(title: &'static str) -> impl Fn(&XSession) -> Vec<String> {
    move |s: &XSession| {
        let w = s.wait_for_window(title);
        let n = |k: &str| w[k].as_i64().unwrap_or(0);
        vec!["--visible".into(), "--window".into(), format!("{},{},{},{}", n("x"), n("y"), n("width"), n("height"))]
    }
}

#[test]
fn the_tree_fused_with_vision_marks_every_element_once_on_gtk3_gtk4_qt_and_chromium() {
    let mut s = XSession::start(1280, 800);
    let mut vision = Vec::new();
    let mut fused = Vec::new();
    let mut keep = |m: Measured| {
        vision.push(m.vision);
        fused.push(m.fused);
        m.report
    };

    // GTK 3.
    let pid = s.spawn_with("gtk3-widget-factory", &[], &[]);
    s.wait_for_window("gtk3-widget-factory");
    let report = keep(measure(&s, "gtk3-widget-factory", &none));
    let check = element(&report, "check_box", "checkbutton").expect("a check box named by the tree");
    assert!(check["source"].as_str().unwrap().starts_with("a11y"), "{check}");
    let checked = report["elements"].as_array().unwrap().iter().filter(|e| states(e).contains(&"checked")).count();
    assert!(checked >= 2, "the factory's checked check buttons say so: {checked}");
    assert!(
        report["elements"].as_array().unwrap().iter().any(|e| states(e).contains(&"disabled")),
        "the factory's insensitive widgets say so"
    );
    s.kill(pid);

    // GTK 4 (boxes relative to the window, "showing" left off).
    let pid = s.spawn_with("gnome-calculator", &[], &[("GSK_RENDERER", "cairo")]);
    s.wait_for_window("Calculator");
    let report = keep(measure(&s, "gnome-calculator", &gtk4_window("Calculator")));
    assert!(element(&report, "button", "Undo").is_some(), "{report}");
    s.kill(pid);

    // Qt 5: a settings dialog and an editor.
    let pid = s.spawn_with("qt5ct", &[], &QT_ENV);
    s.wait_for_window("Qt5 Configuration Tool");
    let report = keep(measure(&s, "qt5ct", &none));
    let default = element(&report, "radio_button", "Default").expect("the palette's Default radio button");
    assert!(states(default).contains(&"checked"), "{default}");
    let scheme = element(&report, "combo_box", "airy").expect("the colour scheme combo box");
    assert!(states(scheme).contains(&"disabled"), "{scheme}");
    s.kill(pid);
    let notes = s.scratch("notes.txt");
    std::fs::write(&notes, "first line\nsecond line of the notes\n").unwrap();
    let pid = s.spawn_with("featherpad", &[&notes], &QT_ENV);
    s.wait_for_window(&notes);
    keep(measure(&s, "FeatherPad", &none));
    s.kill(pid);

    // Chromium, told to publish its tree: the renderer's (the flag) and the browser's own
    // bridge to AT-SPI (the variable; without it Chromium stays off the bus).
    let page = s.scratch("page.html");
    std::fs::write(&page, PAGE).unwrap();
    let profile = s.scratch("chromium-profile");
    let url = format!("file://{page}");
    let pid = s.spawn_with(
        "chromium",
        &[
            "--force-renderer-accessibility",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--password-store=basic",
            "--window-size=1000,700",
            &format!("--user-data-dir={profile}"),
            &format!("--app={url}"),
        ],
        &[("ACCESSIBILITY_ENABLED", "1")],
    );
    s.wait_for_window("Order form");
    let report = keep(measure(&s, "Chromium", &none));
    let password = element(&report, "text_field", "Password").expect("the password field");
    assert!(states(password).contains(&"password"), "{password}");
    assert!(element(&report, "link", "privacy notice").is_some(), "a link inside running text");
    assert!(element(&report, "list_row", "Tea | 2 | 4.00").is_some(), "a table row read as one: {report}");
    s.kill(pid);

    let v = score::aggregate(&vision);
    let f = score::aggregate(&fused);
    eprintln!(
        "ALL vision:  recall {:.3} ambiguity {:.3} precision {:.3}\nALL fused:   recall {:.3} ambiguity {:.3} precision {:.3}",
        v.click_recall, v.ambiguity, v.precision_proxy, f.click_recall, f.ambiguity, f.precision_proxy
    );
    assert!(f.click_recall >= 0.98, "click_recall {:.3} with the tree (bar 0.98)", f.click_recall);
    assert!(f.ambiguity <= 0.03, "ambiguity {:.3} with the tree (bar 0.03)", f.ambiguity);
}

const PAGE: &str = r##"<!doctype html><html><head><meta charset="utf-8"><title>Order form</title>
<style>body{font-family:sans-serif;margin:24px} td,th{padding:4px 10px;border-bottom:1px solid #ccc}
label{display:block;margin:8px 0}</style></head>
<body><h1>Order form</h1>
<p>Read the <a href="#terms">terms of sale</a> and the <a href="#privacy">privacy notice</a> before
you order. Questions go to <a href="#help">the help desk</a>.</p>
<form><label>Name <input type="text" value="Ada"></label>
<label>Password <input type="password"></label>
<label><input type="checkbox" checked> Send me the newsletter</label>
<label>Size <select><option>Small</option><option selected>Medium</option><option>Large</option></select></label>
<button type="button">Cancel</button> <button type="button">Place order</button></form>
<table><tr><th>Item</th><th>Qty</th><th>Price</th></tr><tr><td>Tea</td><td>2</td><td>4.00</td></tr>
<tr><td>Cake</td><td>1</td><td>3.50</td></tr></table>
</body></html>
"##;

/// The window titled so, as a box on screen: (x, y, w, h).
fn window_box(s: &XSession, title: &str) -> (f64, f64, f64, f64) {
    let w = s.wait_for_window(title);
    let n = |k: &str| w[k].as_f64().unwrap_or(0.0);
    (n("x"), n("y"), n("width"), n("height"))
}

fn centre_in(e: &Value, origin: (f64, f64), r: (f64, f64, f64, f64)) -> bool {
    let b = &e["bbox"];
    let n = |k: &str| b[k].as_f64().unwrap_or(0.0);
    let (cx, cy) = (origin.0 + n("x") + n("w") / 2.0, origin.1 + n("y") + n("h") / 2.0);
    cx >= r.0 && cy >= r.1 && cx < r.0 + r.2 && cy < r.1 + r.3
}

fn from_tree(e: &Value) -> bool {
    e["source"].as_str().is_some_and(|s| s.split('+').any(|p| p == "a11y"))
}

#[test]
fn vision_carries_on_where_the_tree_is_empty_covered_or_hung() {
    let mut s = XSession::start(1280, 800);
    let factory = s.spawn_with("gtk3-widget-factory", &[], &[]);
    s.wait_for_window("gtk3-widget-factory");
    s.wait_for_app("gtk3-widget-factory", 50);
    // A dialog without a tree (its bridge off), moved over the middle of the factory.
    let dialog = s.spawn_with("zenity", &["--entry", "--title=No tree", "--text=Name:"], &[("NO_AT_BRIDGE", "1")]);
    s.wait_for_window("No tree");
    let moved = s.command("xdotool").args(["search", "--name", "^No tree$", "windowmove", "500", "300"]).status();
    assert!(moved.unwrap().success());
    s.wait_until("the dialog over the factory", Duration::from_secs(30), |s| {
        s.windows().iter().any(|w| w["title"] == "No tree" && (495..=530).contains(&w["x"].as_i64().unwrap_or(0)))
    });
    s.wait_for_stable_screen();
    let over = window_box(&s, "No tree");

    let report = annotate(&s, "builtin,a11y", "covered");
    let elements = report["elements"].as_array().unwrap();
    let tree = elements.iter().filter(|e| from_tree(e)).count();
    assert!(tree >= 30, "the factory's tree is read where it shows: {tree} elements");
    let hidden: Vec<&Value> = elements.iter().filter(|e| from_tree(e) && centre_in(e, (0.0, 0.0), over)).collect();
    assert!(hidden.is_empty(), "nodes under the dialog are dropped: {hidden:?}");
    let seen = elements.iter().filter(|e| !from_tree(e) && centre_in(e, (0.0, 0.0), over)).count();
    assert!(seen >= 3, "vision marks the dialog the tree knows nothing of: {seen} marks");

    // An application that stops answering is skipped and named; vision still marks it all.
    let config = s.scratch("config.toml");
    std::fs::write(&config, "[perception]\na11y_timeout_ms = 400\n").unwrap();
    assert!(s.command("kill").args(["-STOP", &factory.to_string()]).status().unwrap().success());
    let o = s.markpilot(&["annotate", "--config", &config, "--detectors", "builtin,a11y", "--json", "-"]);
    assert!(s.command("kill").args(["-CONT", &factory.to_string()]).status().unwrap().success());
    assert!(o.status.success(), "annotate failed: {}", common::stderr(&o));
    let err = common::stderr(&o);
    assert!(err.contains("a11y:") && err.contains("skipped"), "the hung application is named: {err}");
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let elements = report["elements"].as_array().unwrap();
    assert!(elements.len() >= 30 && elements.iter().all(|e| !from_tree(e)), "vision alone: {report}");
    s.kill(dialog);
}

#[test]
fn tree_boxes_land_on_the_pixels_at_twice_the_scale_on_a_monitor_away_from_the_origin() {
    // One 2048-wide X screen whose only RandR monitor is its right half (origin 1024,0), and
    // a GTK 3 dialog drawn at GDK_SCALE=2 there: the toolkit's boxes are in logical pixels.
    let mut s = XSession::start(2048, 768);
    s.only_the_right_half_as_monitor(2048, 768);
    s.spawn_with("zenity", &["--entry", "--title=Twice", "--text=Name:"], &[("GDK_SCALE", "2")]);
    s.wait_for_window("Twice");
    let moved = s.command("xdotool").args(["search", "--name", "^Twice$", "windowmove", "1300", "150"]).status();
    assert!(moved.unwrap().success());
    s.wait_until("the dialog on the right monitor", Duration::from_secs(30), |s| {
        s.windows().iter().any(|w| w["title"] == "Twice" && w["x"].as_i64().unwrap_or(0) >= 1250)
    });
    s.wait_for_stable_screen();
    let tree = s.settled_atspi("zenity");
    let node = |role: &str, name: &str| {
        let n = tree["apps"][0]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["role"] == role && (name.is_empty() || n["name"] == name))
            .unwrap_or_else(|| panic!("no {role} {name:?} in {tree}"))
            .clone();
        let v = |k: &str| n[k].as_f64().unwrap() * 2.0;
        (v("x"), v("y"), v("w"), v("h"))
    };
    let report = annotate(&s, "a11y", "twice");
    let origin = (report["origin"]["x"].as_f64().unwrap(), report["origin"]["y"].as_f64().unwrap());
    assert_eq!(origin, (1024.0, 0.0), "{report}");
    let elements = report["elements"].as_array().unwrap();
    for (role, name, kind) in
        [("push button", "OK", "button"), ("push button", "Cancel", "button"), ("text", "", "text_field")]
    {
        let want = node(role, name);
        let e = elements
            .iter()
            .find(|e| e["kind"] == kind && (name.is_empty() || e["text"] == name))
            .unwrap_or_else(|| panic!("no {kind} {name:?}: {report}"));
        let b = &e["bbox"];
        let n = |k: &str| b[k].as_f64().unwrap();
        let got = (origin.0 + n("x"), origin.1 + n("y"), n("w"), n("h"));
        let close = |a: f64, b: f64| (a - b).abs() <= 2.0;
        assert!(
            close(got.0, want.0) && close(got.1, want.1) && close(got.2, want.2) && close(got.3, want.3),
            "{kind} {name:?}: markpilot {got:?}, the tree ×2 {want:?}"
        );
    }
}

#[test]
fn without_the_accessibility_bus_the_tree_is_skipped_in_one_line() {
    let dir = common::TempDir::new("nobus");
    let image = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/devset/gtk3-galculator.png");
    let env = [("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus"), ("AT_SPI_BUS_ADDRESS", "")];
    let args = ["annotate", "--image", image.to_str().unwrap(), "--detectors", "builtin,a11y", "--json", "-"];
    let o = common::run_markpilot(dir.path(), &env, &args);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let err = common::stderr(&o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("skipping detector a11y") && lines[0].contains("accessibility bus"), "{err}");
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["elements"].as_array().unwrap().len() >= 10, "vision carries on");
}

/// A line of the element table the model is shown: `7 radio_button "Custom" [checked]`.
struct Row {
    id: u64,
    kind: String,
    text: String,
    states: String,
}

fn table(text: &str) -> Vec<Row> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ' ');
            let id = parts.next()?.parse().ok()?;
            let kind = parts.next()?.to_string();
            let rest = parts.next().unwrap_or("");
            let (text, states) = match rest.rfind(" [") {
                Some(i) if rest.ends_with(']') => (&rest[..i], &rest[i + 2..rest.len() - 1]),
                _ if rest.starts_with('[') && rest.ends_with(']') => ("", &rest[1..rest.len() - 1]),
                _ => (rest, ""),
            };
            Some(Row { id, kind, text: text.trim_matches('"').to_string(), states: states.to_string() })
        })
        .collect()
}

/// Whether qt5ct's palette radio button `name` is checked, by the tree (read through libatspi).
fn radio_checked(s: &XSession, name: &str) -> bool {
    let tree = s.atspi(&["qt5ct"]);
    tree["apps"][0]["nodes"].as_array().into_iter().flatten().any(|n| {
        n["role"] == "radio button"
            && n["name"] == name
            && n["states"].as_array().unwrap().iter().any(|s| s == "checked")
    })
}

#[test]
fn an_agent_picks_by_the_tables_names_and_states_on_a_qt_dialog_and_the_run_replays() {
    use common::vlm::{AgentRun, Events, ScriptedVlm, Seen, answer};
    use serde_json::json;
    const KEY_VAR: &str = "MARKPILOT_TEST_API_KEY";
    const KEY: &str = "sk-test-a11y-5e1d";

    let mut s = XSession::start(1280, 800);
    let qt = s.spawn_with("qt5ct", &[], &QT_ENV);
    s.wait_for_window("Qt5 Configuration Tool");
    s.wait_until("qt5ct's palette in the tree", Duration::from_secs(60), |s| radio_checked(s, "Default"));
    s.wait_for_stable_screen();

    // The model reads the table only: the radio button named "Custom", and whether it is checked.
    let vlm = ScriptedVlm::start("scripted-vl", Some(KEY), |r: &Seen| {
        let rows = table(&r.text);
        let radio = |name: &str| rows.iter().find(|row| row.kind == "radio_button" && row.text == name);
        let custom = radio("Custom").expect("a radio button named Custom in the table");
        match radio("Default") {
            Some(d) if d.states.contains("checked") && !custom.states.contains("checked") => {
                answer(json!({"thought": "Custom is not checked yet", "action": {"type": "click", "mark": custom.id}}))
            }
            _ if custom.states.contains("checked") => {
                answer(json!({"thought": "it is", "action": {"type": "done", "answer": "Custom is checked"}}))
            }
            _ => answer(json!({"action": {"type": "fail", "reason": "the table does not say what is checked"}})),
        }
    });
    let dir = std::path::PathBuf::from(s.scratch("run"));
    let mut cmd = s.command(common::markpilot_bin());
    cmd.env(KEY_VAR, KEY).args([
        "run",
        "choose the custom palette",
        "--json",
        "--provider",
        "scripted",
        "--base-url",
        &vlm.base_url,
        "--model",
        "scripted-vl",
        "--api-key-env",
        KEY_VAR,
        "--record",
        dir.to_str().unwrap(),
        "--detectors",
        "builtin,a11y",
    ]);
    let done = AgentRun::start(cmd, Events::default(), "").wait(Duration::from_secs(240));
    assert_eq!(done.code, Some(0), "{}\n{:?}", done.stderr, done.events);
    assert!(radio_checked(&s, "Custom"), "the click reached Qt's radio button");
    let steps = common::steps(&dir);
    assert_eq!(steps.len(), 2);
    // The recording keeps what the tree said: replay and reports see it too.
    let recorded = |text: &str| -> Value {
        let elements = steps[0]["elements"].as_array().unwrap();
        let radio = elements.iter().find(|e| e["kind"] == "radio_button" && e["text"] == text);
        radio.unwrap_or_else(|| panic!("{text}: {elements:?}")).clone()
    };
    assert_eq!(recorded("Default")["states"], json!(["checked"]));
    assert!(recorded("Custom")["source"].as_str().unwrap().starts_with("a11y"));
    let path = recorded("Custom")["path"].as_str().unwrap_or_default().to_string();
    assert!(path.contains("\"Qt5 Configuration Tool\"") && path.ends_with("\"Palette\""), "replay's clue: {path:?}");

    // The dialog afresh (Default checked again), and the run replayed without the model.
    s.kill(qt);
    s.spawn_with("qt5ct", &[], &QT_ENV);
    s.wait_for_window("Qt5 Configuration Tool");
    s.wait_until("qt5ct's palette in the tree", Duration::from_secs(60), |s| radio_checked(s, "Default"));
    s.wait_for_stable_screen();
    let out = s.scratch("replayed");
    let o = s.markpilot(&["replay", dir.to_str().unwrap(), "--json", "--confirm", "never", "--record", &out]);
    assert!(o.status.success(), "replay failed: {}", common::stderr(&o));
    s.wait_until("the replayed click to land", Duration::from_secs(30), |s| radio_checked(s, "Custom"));
}
