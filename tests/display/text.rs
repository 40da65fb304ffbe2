//! Model-backed perception on real GTK screens under Xvfb, with the real PP-OCR models
//! through ONNX Runtime (fetched by `markpilot models fetch`, which `./scripts/test` runs).

use crate::common;

use crate::common::XSession;
use crate::common::screens;
use crate::common::truth::{self, Quality, Reading};
use serde_json::Value;

fn annotate(s: &XSession, name: &str, detectors: &str, languages: &str) -> Value {
    let mut args = vec![
        "annotate".to_string(),
        "--detectors".into(),
        detectors.into(),
        "--languages".into(),
        languages.into(),
        "--json".into(),
        "-".into(),
    ];
    match std::env::var_os("MARKPILOT_TEST_ARTIFACTS") {
        Some(dir) => {
            let dir = std::path::PathBuf::from(dir);
            let _ = std::fs::create_dir_all(&dir);
            let stem = dir.join(name.replace(' ', "-")).to_string_lossy().into_owned();
            args.extend(["--out".into(), format!("{stem}-{}.png", detectors.replace(',', "+"))]);
            args.extend(["--save-frame".into(), format!("{stem}.frame.png")]);
        }
        None => args.extend(["--out".into(), s.scratch("marked.png")]),
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = s.markpilot(&args);
    assert!(o.status.success(), "annotate failed: {}", common::stderr(&o));
    let skipped = common::stderr(&o);
    assert!(!skipped.contains("skipping"), "a detector was skipped (run `markpilot models fetch`): {skipped}");
    serde_json::from_slice(&o.stdout).expect("one JSON document on stdout")
}

fn client(s: &XSession, title: &str) -> (i64, i64, i64, i64) {
    let w = s.wait_for_window(title);
    (w["x"].as_i64().unwrap(), w["y"].as_i64().unwrap(), w["width"].as_i64().unwrap(), w["height"].as_i64().unwrap())
}

/// Reading and fused recall on one screen.
fn measure(s: &XSession, tree: &Value, app: &str, title: &str, name: &str) -> (Reading, Quality) {
    measure_in(s, tree, app, title, name, "en")
}

/// [`measure`] with these languages on screen.
fn measure_in(s: &XSession, tree: &Value, app: &str, title: &str, name: &str, languages: &str) -> (Reading, Quality) {
    let t = truth::parse(tree, app);
    let area = client(s, title);
    let text_only = annotate(s, name, "text", languages);
    let reading = truth::reading(&t, &truth::text_lines(&text_only));
    eprintln!("{}", reading.line(name));
    for w in &reading.wrong {
        eprintln!("    misread: {w}");
    }
    let fused = annotate(s, name, "builtin,text", languages);
    let q = truth::measure(&t, &truth::mark_centres(&fused), area);
    eprintln!("{}", q.line(name));
    for m in &q.missed {
        eprintln!("    missed: {m}");
    }
    for d in &q.doubled {
        eprintln!("    doubled: {d}");
    }
    (reading, q)
}

#[test]
fn text_reading_and_fused_marks_meet_the_bar_on_real_gtk_screens() {
    let mut s = XSession::start(1920, 1080);
    let (mut reading, mut quality) = (Reading::default(), Quality::default());
    screens::each_zenity_dialog(&mut s, |s, tree, title, name| {
        let (r, q) = measure(s, tree, "zenity", title, name);
        reading.add(&r);
        quality.add(&q);
    });
    s.spawn("gtk3-widget-factory", &[]);
    screens::each_widget_factory_page(&s, "widget factory", |s, tree, name| {
        let (r, q) = measure(s, tree, "gtk3-widget-factory", "gtk3-widget-factory", name);
        reading.add(&r);
        quality.add(&q);
    });
    eprintln!("{}", reading.line("ALL SCREENS"));
    eprintln!("{}", quality.line("ALL SCREENS"));
    assert!(reading.rate() >= 0.95, "read {:.3} of the names exactly (bar: 0.95)", reading.rate());
    assert!(quality.recall() >= 0.95, "recall {:.3} is below 0.95", quality.recall());
    assert!(quality.double_rate() <= 0.05, "{:.3} of elements hold two or more marks", quality.double_rate());
    assert!(
        quality.marks_per_element() <= 1.5,
        "{:.2} marks per element (bar: about 1.5)",
        quality.marks_per_element()
    );
}

/// Korean desktops: zenity dialogs with Korean text under `LANG=ko_KR.UTF-8` (GTK's and
/// zenity's own words Korean too; mixed lines such as "파일 저장 (Ctrl+S)" and "2026년 12월
/// 1일"), the English dialogs under the Korean locale, and gtk3-widget-factory (an
/// English application on a Korean desktop). Ground truth: AT-SPI names.
#[test]
fn korean_screens_are_read_with_their_hangul_labels() {
    let mut s = XSession::start(1920, 1080);
    let ko = [("LANG", "ko_KR.UTF-8"), ("LC_ALL", "ko_KR.UTF-8")];
    let (mut korean, mut quality) = (Reading::default(), Quality::default());
    let mut each = |s: &XSession, tree: &Value, title: &str, name: &str| {
        let (r, q) = measure_in(s, tree, "zenity", title, name, "en,ko");
        korean.add(&r);
        quality.add(&q);
    };
    screens::each_dialog_of(&mut s, screens::ZENITY_KOREAN, &ko, &mut each);
    screens::each_dialog_of(&mut s, screens::ZENITY, &ko, &mut each);
    eprintln!("{}", korean.line("KOREAN DESKTOP"));
    eprintln!("{}", quality.line("KOREAN DESKTOP"));
    // The same pages read with and without Korean: the second reader changes nothing there.
    let (mut with_korean, mut english_only) = (Reading::default(), Reading::default());
    s.spawn_with("gtk3-widget-factory", &[], &ko);
    screens::each_widget_factory_page(&s, "widget factory ko", |s, tree, name| {
        let t = truth::parse(tree, "gtk3-widget-factory");
        for (languages, sum) in [("en,ko", &mut with_korean), ("en", &mut english_only)] {
            let r = truth::reading(&t, &truth::text_lines(&annotate(s, name, "text", languages)));
            eprintln!("{}", r.line(&format!("{name} ({languages})")));
            for w in &r.wrong {
                eprintln!("    misread: {w}");
            }
            sum.add(&r);
        }
    });
    eprintln!("{}", with_korean.line("ENGLISH APP, KOREAN DESKTOP"));
    eprintln!("{}", english_only.line("THE SAME, ENGLISH ONLY"));
    assert!(korean.rate() >= 0.90, "read {:.3} of the names on Korean screens exactly (bar: 0.90)", korean.rate());
    assert!(quality.recall() >= 0.95, "recall {:.3} is below 0.95", quality.recall());
    assert!(
        with_korean.exact >= english_only.exact,
        "an English app on a Korean desktop: {} names read exactly with Korean on, {} without",
        with_korean.exact,
        english_only.exact
    );
}

fn capture_frame(s: &XSession, name: &str) -> image::RgbaImage {
    let path = s.scratch(&format!("{name}.png"));
    let o = s.markpilot(&["annotate", "--detectors", "builtin", "--save-frame", &path, "--out", &s.scratch("m.png")]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    image::open(&path).unwrap().into_rgba8()
}

fn text_pipeline() -> markpilot::perceive::Pipeline {
    let cfg = markpilot::perceive::setup::PerceptionConfig {
        detectors: Some("builtin,text".into()),
        models_dir: Some(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")),
        ..Default::default()
    };
    let (pipeline, skipped) = cfg.build().unwrap();
    assert!(skipped.is_empty(), "run `markpilot models fetch`: {skipped:?}");
    pipeline
}

/// Between agent steps most of the screen stays: the next frame re-detects only the blocks
/// whose pixels changed and re-reads only changed lines, and the result is exactly what a
/// cold run on that frame gives.
#[test]
fn reusing_unchanged_regions_gives_exactly_what_a_cold_run_gives() {
    let mut s = XSession::start(1920, 1080);
    s.spawn("gtk3-widget-factory", &[]);
    s.wait_for_window("gtk3-widget-factory");
    s.wait_for_app("gtk3-widget-factory", 100);
    s.activate("gtk3-widget-factory", "radio button", "Page 2");
    s.wait_for_stable_screen();
    let before = capture_frame(&s, "before");
    // A dialog opens over it: a small part of the screen changes.
    s.spawn("zenity", &["--entry", "--title", "Rename", "--text", "New name:", "--entry-text", "draft.txt"]);
    s.wait_for_window("Rename");
    s.wait_for_app("zenity", 5);
    let after = capture_frame(&s, "after");
    let changed = before.pixels().zip(after.pixels()).filter(|(a, b)| a != b).count() as f64
        / (after.width() * after.height()) as f64;
    eprintln!("{:.1} % of the pixels changed", changed * 100.0);
    assert!(changed > 0.0 && changed < 0.10, "{changed}");

    let info = markpilot::perceive::ImageInfo::default();
    let mut warm = text_pipeline();
    warm.perceive(&before, &info).unwrap();
    let (reused, t_reused) = warm.perceive(&after, &info).unwrap();
    let (cold, t_cold) = text_pipeline().perceive(&after, &info).unwrap();
    assert_eq!(reused, cold, "reusing the previous frame's results changed the outcome");
    let texts = cold.elements.iter().filter(|e| e.text.is_some()).count();
    assert!(texts >= 40, "page 2 has plenty of text: {texts}");
    assert!(cold.elements.iter().any(|e| e.text.as_deref() == Some("New name:")), "the dialog is read");
    let ms = |t: &markpilot::perceive::PerceiveTimings| t.detectors.iter().find(|(n, _)| n == "text").unwrap().1;
    eprintln!("text: cold {:.1} ms, reusing {:.1} ms", ms(&t_cold), ms(&t_reused));
}
