//! The `a11y` detector on live applications under Xvfb: the accessibility tree read by
//! markpilot (pure Rust over D-Bus) and fused with vision, measured against ground truth
//! taken independently through libatspi (tests/support/live_truth.py, the conventions of the
//! perception metric), on GTK 3, GTK 4, Qt 5 and Chromium; and what happens when the tree is
//! missing, covered, hung, or drawn at twice the scale on a monitor away from the origin.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::XSession;
use markpilot::score::{self, ImageScore};
use serde_json::Value;

const QT_ENV: [(&str, &str); 3] =
    [("QT_LINUX_ACCESSIBILITY_ALWAYS_ON", "1"), ("QT_ACCESSIBILITY", "1"), ("QT_QPA_PLATFORM", "xcb")];

/// Start an application in the session with extra environment; its pid.
fn start(s: &mut XSession, program: &str, args: &[&str], env: &[(&str, &str)]) -> u32 {
    let child = s
        .command(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {program}: {e}"));
    let pid = child.id();
    s.adopt(child);
    pid
}

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
    let pid = start(&mut s, "gtk3-widget-factory", &[], &[]);
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
    let pid = start(&mut s, "gnome-calculator", &[], &[("GSK_RENDERER", "cairo")]);
    s.wait_for_window("Calculator");
    let report = keep(measure(&s, "gnome-calculator", &gtk4_window("Calculator")));
    assert!(element(&report, "button", "Undo").is_some(), "{report}");
    s.kill(pid);

    // Qt 5: a settings dialog and an editor.
    let pid = start(&mut s, "qt5ct", &[], &QT_ENV);
    s.wait_for_window("Qt5 Configuration Tool");
    let report = keep(measure(&s, "qt5ct", &none));
    let default = element(&report, "radio_button", "Default").expect("the palette's Default radio button");
    assert!(states(default).contains(&"checked"), "{default}");
    let scheme = element(&report, "combo_box", "airy").expect("the colour scheme combo box");
    assert!(states(scheme).contains(&"disabled"), "{scheme}");
    s.kill(pid);
    let notes = s.scratch("notes.txt");
    std::fs::write(&notes, "first line\nsecond line of the notes\n").unwrap();
    let pid = start(&mut s, "featherpad", &[&notes], &QT_ENV);
    s.wait_for_window(&notes);
    keep(measure(&s, "FeatherPad", &none));
    s.kill(pid);

    // Chromium, told to publish its tree: the renderer's (the flag) and the browser's own
    // bridge to AT-SPI (the variable; without it Chromium stays off the bus).
    let page = s.scratch("page.html");
    std::fs::write(&page, PAGE).unwrap();
    let profile = s.scratch("chromium-profile");
    let url = format!("file://{page}");
    let pid = start(
        &mut s,
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
