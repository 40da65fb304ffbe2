//! The `markpilot` binary on image files and bad input: no display needed.

use crate::common::{TempDir, one_error_line, run_markpilot, stderr, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn screen(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/screens").join(name)
}

#[test]
fn json_to_stdout_is_exactly_one_document_with_the_stable_shape() {
    let dir = TempDir::new("json");
    let img = screen("zenity-forms.png");
    let o = run_markpilot(
        dir.path(),
        &[],
        &["annotate", "--image", img.to_str().unwrap(), "--detectors", "builtin", "--out", "m.png", "--json", "-"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).expect("stdout is one JSON document");
    assert!(doc["timings_ms"]["detectors"]["builtin"].as_f64().is_some(), "per-detector timings");
    assert_eq!(doc["image"]["width"], 317);
    assert_eq!(doc["image"]["height"], 403);
    assert!(doc["monitor"].is_null(), "an image file has no monitor");
    assert!(doc["timings_ms"]["detect"].as_f64().is_some());
    assert!(doc["timings_ms"]["mark"].as_f64().is_some());
    assert!(doc["timings_ms"].get("capture").is_some());
    let els = doc["elements"].as_array().expect("elements");
    assert!(els.len() >= 10, "a form dialog has many elements, found {}", els.len());
    for (i, e) in els.iter().enumerate() {
        assert_eq!(e["id"].as_u64(), Some(i as u64 + 1), "ids run 1..N");
        let b = &e["bbox"];
        let (x, y, w, h) =
            (b["x"].as_i64().unwrap(), b["y"].as_i64().unwrap(), b["w"].as_i64().unwrap(), b["h"].as_i64().unwrap());
        assert!(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 317 && y + h <= 403, "bbox inside the image: {b}");
        assert!(e["kind"].as_str().is_some_and(|k| !k.is_empty()));
        assert!(e.get("text").is_some(), "text is present (null without OCR)");
        let score = e["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&score));
        assert_eq!(e["source"], "builtin");
        assert_eq!(e["mask"], false);
    }
    let marked = image::open(dir.join("m.png")).expect("marked PNG").into_rgba8();
    assert_eq!(marked.dimensions(), (317, 403));
}

#[test]
fn the_same_image_gets_the_same_numbers_every_time() {
    let dir = TempDir::new("det");
    let img = screen("widget-factory-page1.png");
    let run = || {
        let o = run_markpilot(
            dir.path(),
            &[],
            &["annotate", "--image", img.to_str().unwrap(), "--out", "m.png", "--json", "-"],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
        doc["elements"].clone()
    };
    let first = run();
    for _ in 0..3 {
        assert_eq!(run(), first);
    }
}

#[test]
fn the_element_table_and_a_json_file_come_together() {
    let dir = TempDir::new("table");
    let img = screen("zenity-forms.png");
    let o = run_markpilot(dir.path(), &[], &["annotate", "--image", img.to_str().unwrap(), "--json", "els.json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("  id  kind"), "table header first: {out}");
    assert!(out.contains("wrote marked.png"), "{out}");
    assert!(dir.join("marked.png").exists(), "--out defaults to marked.png");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("els.json")).unwrap()).unwrap();
    let n = doc["elements"].as_array().unwrap().len();
    assert!(out.contains(&format!("{n} elements on 317x403")), "{out}");
}

#[test]
fn mark_styles_draw_differently() {
    let dir = TempDir::new("styles");
    let img = screen("zenity-forms.png");
    let mut outs = Vec::new();
    for style in ["box", "number", "mask"] {
        let out = format!("{style}.png");
        let o = run_markpilot(
            dir.path(),
            &[],
            &["annotate", "--image", img.to_str().unwrap(), "--out", &out, "--style", style],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        outs.push(image::open(dir.join(&out)).unwrap().into_rgba8());
    }
    assert_ne!(outs[0], outs[1], "number-only draws no boxes");
    // Without masks from a segmenter, mask style falls back to boxes.
    assert_eq!(outs[0], outs[2]);
}

#[test]
fn a_missing_image_is_a_clear_error() {
    let dir = TempDir::new("missing");
    let line = one_error_line(&run_markpilot(dir.path(), &[], &["annotate", "--image", "nope.png"]));
    assert!(line.contains("cannot read image nope.png"), "{line}");
    assert!(!dir.join("marked.png").exists(), "nothing is written on failure");
}

#[test]
fn a_file_that_is_not_an_image_is_a_clear_error() {
    let dir = TempDir::new("notimg");
    std::fs::write(dir.join("notes.png"), "these are notes, not pixels\n").unwrap();
    let line = one_error_line(&run_markpilot(dir.path(), &[], &["annotate", "--image", "notes.png"]));
    assert!(line.contains("notes.png is not an image markpilot can read"), "{line}");
}

#[test]
fn an_empty_file_is_a_clear_error() {
    let dir = TempDir::new("empty");
    std::fs::write(dir.join("empty.png"), b"").unwrap();
    let line = one_error_line(&run_markpilot(dir.path(), &[], &["annotate", "--image", "empty.png"]));
    assert!(line.contains("empty.png is not an image"), "{line}");
}

#[test]
fn a_truncated_png_is_a_clear_error() {
    let dir = TempDir::new("trunc");
    let bytes = std::fs::read(screen("zenity-forms.png")).unwrap();
    std::fs::write(dir.join("cut.png"), &bytes[..bytes.len() / 3]).unwrap();
    let line = one_error_line(&run_markpilot(dir.path(), &[], &["annotate", "--image", "cut.png"]));
    assert!(line.contains("cut.png is not an image markpilot can read"), "{line}");
}

#[test]
fn a_zero_sized_image_is_a_clear_error() {
    let dir = TempDir::new("zero");
    // A GIF header that declares a 0x0 canvas.
    let gif: &[u8] = b"GIF89a\x00\x00\x00\x00\x00\x00\x00;";
    std::fs::write(dir.join("zero.gif"), gif).unwrap();
    let line = one_error_line(&run_markpilot(dir.path(), &[], &["annotate", "--image", "zero.gif"]));
    assert!(line.contains("zero.gif"), "{line}");
}

#[test]
fn without_a_display_capture_says_so() {
    let dir = TempDir::new("nodisplay");
    for args in [
        &["annotate"][..],
        &["monitors"],
        &["windows"],
        &["annotate", "--window", "Editor"],
        &["annotate", "--region", "0,0,10,10"],
    ] {
        let line = one_error_line(&run_markpilot(dir.path(), &[], args));
        assert!(line.starts_with("markpilot: no display:"), "{args:?}: {line}");
        assert!(line.contains("Xvfb"), "the error says how to get a display: {line}");
    }
}

#[test]
fn an_unreachable_display_is_reported_as_no_display() {
    let dir = TempDir::new("baddisplay");
    let line = one_error_line(&run_markpilot(dir.path(), &[("DISPLAY", ":9753")], &["monitors"]));
    assert!(line.starts_with("markpilot: no display:"), "{line}");
}

#[test]
fn recording_reporting_and_listing_runs_fail_clearly_on_bad_input() {
    let dir = TempDir::new("runs-bad");
    let out = dir.join("demo");
    let o = run_markpilot(dir.path(), &[("DISPLAY", ":9753")], &["record", "--out", out.to_str().unwrap()]);
    assert!(one_error_line(&o).starts_with("markpilot: no display:"));
    assert!(!out.exists(), "nothing is recorded without a screen");
    let o = run_markpilot(dir.path(), &[], &["record", "--stop-key", "ctrl+nonsense"]);
    assert!(stderr(&o).contains("unknown key name"), "{}", stderr(&o));
    let o = run_markpilot(dir.path(), &[], &["report", dir.join("nothing").to_str().unwrap()]);
    assert!(one_error_line(&o).contains("no recorded run"));
    let o = run_markpilot(dir.path(), &[], &["replay", dir.path().to_str().unwrap(), "--speed", "0"]);
    assert!(stderr(&o).contains("speed between"), "{}", stderr(&o));
    let o = run_markpilot(dir.path(), &[], &["runs", "--dir", dir.join("none").to_str().unwrap()]);
    assert!(o.status.success());
    assert!(stdout(&o).starts_with("no recorded runs"), "{}", stdout(&o));
}

#[test]
fn malformed_regions_are_rejected_before_capturing() {
    let dir = TempDir::new("region");
    for (region, expect) in [
        ("1,2,3", "X,Y,W,H"),
        ("a,0,10,10", "not an integer"),
        ("0,0,0,10", "W and H must be ≥ 1"),
        ("-5,0,10,10", "≥ 0"),
        // Would overflow the right edge (a panic in a debug build, a wrap in release).
        ("2000000000,0,2000000000,1", "beyond any screen"),
        ("0,0,1048577,10", "beyond any screen"),
    ] {
        let o = run_markpilot(dir.path(), &[], &["annotate", "--region", region]);
        assert!(!o.status.success());
        let err = stderr(&o);
        assert!(err.contains(expect), "{region}: {err}");
    }
}

#[test]
fn sources_are_mutually_exclusive_and_styles_are_checked() {
    let dir = TempDir::new("args");
    let o = run_markpilot(dir.path(), &[], &["annotate", "--image", "a.png", "--window", "x"]);
    assert!(!o.status.success());
    let o = run_markpilot(dir.path(), &[], &["annotate", "--image", "a.png", "--style", "sparkles"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("unknown mark style"), "{}", stderr(&o));
}

#[test]
fn an_unwritable_output_is_a_clear_error_and_leaves_no_partial_file() {
    let dir = TempDir::new("unwritable");
    let img = screen("zenity-forms.png");
    let line = one_error_line(&run_markpilot(
        dir.path(),
        &[],
        &["annotate", "--image", img.to_str().unwrap(), "--out", "no/such/dir/m.png"],
    ));
    assert!(line.contains("cannot write the marked image to no/such/dir/m.png"), "{line}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn bench_reports_every_stage_with_median_and_p95() {
    let dir = TempDir::new("bench");
    let img = screen("zenity-forms.png");
    let o = run_markpilot(
        dir.path(),
        &[],
        &["bench", "--image", img.to_str().unwrap(), "--runs", "3", "--detectors", "builtin", "--json"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let img = &doc["images"][0];
    assert!(img["elements"].as_u64().unwrap() > 0);
    let stages: Vec<&str> = img["stages"].as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert_eq!(
        stages,
        [
            "detect:builtin",
            "fusion+numbering",
            "perceive (cold)",
            "mark",
            "perceive+mark",
            "encode:png",
            "encode:vlm-jpeg",
            "refind (per target, moved)"
        ]
    );
    // Replay's search: every element of the screen looked for on a moved copy, one sample each.
    let r = &img["refind"];
    let targets = r["targets"].as_u64().unwrap();
    assert!(targets > 0);
    assert_eq!(r["right"].as_u64().unwrap() + r["wrong"].as_u64().unwrap() + r["declined"].as_u64().unwrap(), targets);
    assert_eq!(r["wrong"], 0, "a target found in the wrong place: {r}");
    for s in img["stages"].as_array().unwrap() {
        let runs = if s["stage"].as_str().unwrap().starts_with("refind") { targets } else { 3 };
        assert_eq!(s["runs"], runs);
        assert!(s["p95_ms"].as_f64().unwrap() >= s["median_ms"].as_f64().unwrap());
    }
    assert!(doc["peak_rss_mb"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_without_images_uses_the_built_in_screens() {
    let dir = TempDir::new("bench2");
    let o = run_markpilot(dir.path(), &[], &["bench", "--runs", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for name in ["widget-factory-page1", "widget-factory-page2", "widget-factory-page3", "zenity-forms"] {
        assert!(out.contains(name), "{out}");
    }
    assert!(out.contains("peak memory (RSS)"));
}

#[test]
fn bench_with_a_bad_image_fails_cleanly() {
    let dir = TempDir::new("bench3");
    std::fs::write(dir.join("x.png"), "nope").unwrap();
    let line = one_error_line(&run_markpilot(dir.path(), &[], &["bench", "--image", "x.png", "--runs", "1"]));
    assert!(line.contains("x.png is not an image"), "{line}");
}

#[test]
fn a_200_percent_screenshot_with_scale_2_gets_the_same_marks_twice_as_large() {
    let dir = TempDir::new("scale");
    let one = image::open(screen("zenity-forms.png")).unwrap().into_rgba8();
    let two = image::imageops::resize(&one, one.width() * 2, one.height() * 2, image::imageops::FilterType::Nearest);
    two.save(dir.join("twice.png")).unwrap();
    let run = |args: &[&str]| -> Value {
        let o = run_markpilot(dir.path(), &[], args);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let one = screen("zenity-forms.png");
    let a =
        run(&["annotate", "--image", one.to_str().unwrap(), "--detectors", "builtin", "--out", "a.png", "--json", "-"]);
    let b = run(&[
        "annotate",
        "--image",
        "twice.png",
        "--scale",
        "2",
        "--detectors",
        "builtin",
        "--out",
        "b.png",
        "--json",
        "-",
    ]);
    let (ea, eb) = (a["elements"].as_array().unwrap(), b["elements"].as_array().unwrap());
    assert_eq!(ea.len(), eb.len());
    for (x, y) in ea.iter().zip(eb) {
        assert_eq!(x["kind"], y["kind"]);
        let (wa, wb) = (x["bbox"]["w"].as_i64().unwrap(), y["bbox"]["w"].as_i64().unwrap());
        assert!((wa * 2 - wb).abs() <= 3, "{} vs {}", x["bbox"], y["bbox"]);
    }
    let o = run_markpilot(dir.path(), &[], &["annotate", "--image", "twice.png", "--scale", "9"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("expected a scale between 0.5 and 4"), "{}", stderr(&o));
}

/// Regression: writing the marked image to a device or FIFO (`--out /dev/null`) once
/// renamed a regular file over it. The output must be written through, leaving the node.
#[test]
fn out_to_a_fifo_writes_through_it_and_leaves_it_a_fifo() {
    use std::os::unix::fs::FileTypeExt;
    let dir = TempDir::new("fifo");
    let fifo = dir.join("pipe.png");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let img = screen("zenity-forms.png");
    let o = run_markpilot(dir.path(), &[], &["annotate", "--image", img.to_str().unwrap(), "--out", "pipe.png"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = reader.join().unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG came through the FIFO");
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
}

/// `markpilot run` with bad input: one line on stderr, exit code 2, nothing started.
fn run_error(dir: &TempDir, env: &[(&str, &str)], args: &[&str]) -> String {
    let o = run_markpilot(dir.path(), env, args);
    assert_eq!(o.status.code(), Some(2), "stderr: {}", stderr(&o));
    one_error_line(&o)
}

#[test]
fn run_rejects_bad_input_with_one_line_and_exit_code_2() {
    let dir = TempDir::new("run-errors");
    let home = dir.path().to_str().unwrap();
    let env = [("HOME", home)];
    assert!(run_error(&dir, &env, &["run", "  "]).contains("the task is empty"));
    let line = run_error(&dir, &env, &["run", "x", "--provider", "nope"]);
    assert!(line.contains("unknown provider \"nope\"") && line.contains("openai, anthropic"), "{line}");
    let line = run_error(&dir, &env, &["run", "x", "--provider", "anthropic"]);
    assert!(line.contains("set the environment variable ANTHROPIC_API_KEY"), "{line}");
    let o = run_markpilot(dir.path(), &env, &["run", "x", "--confirm", "sometimes"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).lines().next().unwrap().contains("never, risky or always"), "{}", stderr(&o));
    std::fs::write(dir.join("bad.toml"), "[agent]\nmax_step = 3\n").unwrap();
    let line = run_error(&dir, &env, &["run", "x", "--config", "bad.toml", "--base-url", "http://127.0.0.1:9/v1"]);
    assert!(line.contains("bad.toml") && line.contains("max_step"), "{line}");
    let line = run_error(&dir, &env, &["run", "x", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"]);
    assert!(line.to_lowercase().contains("display"), "{line}");
    let line = run_error(
        &dir,
        &env,
        &[
            "run",
            "log in with {{secret:MP_UNSET_PASSWORD}}",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--model",
            "m",
            "--dry-run",
        ],
    );
    assert!(line.contains("does not set MP_UNSET_PASSWORD"), "{line}");
}

#[test]
fn mcp_refuses_to_start_without_a_display_or_with_an_unset_secret() {
    let dir = TempDir::new("mcp");
    let line = one_error_line(&run_markpilot(dir.path(), &[], &["mcp", "--detectors", "builtin", "--no-record"]));
    assert!(line.contains("display"), "{line}");
    let line = one_error_line(&run_markpilot(
        dir.path(),
        &[],
        &["mcp", "--dry-run", "--detectors", "builtin", "--secrets", "MARKPILOT_UNSET_SECRET"],
    ));
    assert!(line.contains("does not set MARKPILOT_UNSET_SECRET"), "{line}");
}
