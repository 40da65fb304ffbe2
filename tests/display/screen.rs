//! Capturing a real X screen (Xvfb): monitors, regions, windows, scale, and the errors a
//! person gets for a bad target.

use crate::common;

use crate::common::{XSession, one_error_line, stderr};
use serde_json::Value;

fn json(o: &std::process::Output) -> Value {
    assert!(o.status.success(), "markpilot failed: {}", stderr(o));
    serde_json::from_slice(&o.stdout).expect("JSON on stdout")
}

#[test]
fn monitors_lists_the_screen_with_its_geometry() {
    let s = XSession::start_with(1280, 800, false);
    let ms = json(&s.markpilot(&["monitors", "--json"]));
    let m = &ms[0];
    assert_eq!(ms.as_array().unwrap().len(), 1);
    assert_eq!((m["index"].as_u64(), m["x"].as_i64(), m["y"].as_i64()), (Some(0), Some(0), Some(0)));
    assert_eq!((m["width"].as_u64(), m["height"].as_u64()), (Some(1280), Some(800)));
    assert_eq!((m["physical_width"].as_u64(), m["physical_height"].as_u64()), (Some(1280), Some(800)));
    assert_eq!(m["scale_factor"].as_f64(), Some(1.0));
    let table = common::stdout(&s.markpilot(&["monitors"]));
    assert!(table.contains("1280x800"), "{table}");
}

#[test]
fn at_scale_2_monitors_report_logical_and_physical_sizes_and_frames_map_back() {
    let s = XSession::start_with(1280, 800, false);
    let mut xrdb = s
        .command("xrdb")
        .args(["-merge"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("xrdb (package x11-xserver-utils)");
    use std::io::Write;
    xrdb.stdin.take().unwrap().write_all(b"Xft.dpi: 192\n").unwrap();
    assert!(xrdb.wait().unwrap().success());
    let m = &json(&s.markpilot(&["monitors", "--json"]))[0];
    assert_eq!(m["scale_factor"].as_f64(), Some(2.0));
    assert_eq!((m["width"].as_u64(), m["height"].as_u64()), (Some(640), Some(400)), "logical size");
    assert_eq!((m["physical_width"].as_u64(), m["physical_height"].as_u64()), (Some(1280), Some(800)));
    // A region given in physical pixels: the frame's origin is its physical position.
    let doc =
        json(&s.markpilot(&["annotate", "--region", "200,100,300,200", "--out", &s.scratch("m.png"), "--json", "-"]));
    assert_eq!((doc["image"]["width"].as_u64(), doc["image"]["height"].as_u64()), (Some(300), Some(200)));
    assert_eq!((doc["origin"]["x"].as_i64(), doc["origin"]["y"].as_i64()), (Some(200), Some(100)));
    assert_eq!(doc["origin"]["space"], "physical");
}

#[test]
fn annotating_a_window_captures_just_that_window_and_finds_its_buttons() {
    let mut s = XSession::start(1280, 800);
    s.spawn("zenity", &["--question", "--title", "Keep changes?", "--text", "Keep the changes you made?"]);
    let w = s.wait_for_window("Keep changes?");
    s.wait_for_app("zenity", 5);
    let doc =
        json(&s.markpilot(&["annotate", "--window", "Keep changes?", "--out", &s.scratch("m.png"), "--json", "-"]));
    assert_eq!(doc["image"]["width"], w["width"]);
    assert_eq!(doc["image"]["height"], w["height"]);
    assert_eq!(doc["origin"]["x"], w["x"]);
    assert_eq!(doc["origin"]["y"], w["y"]);
    assert_eq!(doc["window"]["title"], "Keep changes?");
    // The two buttons sit at the bottom right: two button marks side by side there.
    let height = w["height"].as_i64().unwrap();
    let buttons: Vec<&Value> = doc["elements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "button" && e["bbox"]["y"].as_i64().unwrap() > height / 2)
        .collect();
    assert_eq!(buttons.len(), 2, "{}", doc["elements"]);
    // A case-insensitive part of the title finds the same window.
    let again =
        json(&s.markpilot(&["annotate", "--window", "keep CHANGES", "--out", &s.scratch("m.png"), "--json", "-"]));
    assert_eq!(again["window"]["id"], doc["window"]["id"]);
}

#[test]
fn the_same_screen_gets_the_same_numbers_on_every_capture() {
    let mut s = XSession::start(1280, 800);
    s.spawn(
        "zenity",
        &[
            "--list",
            "--title",
            "Pick a fruit",
            "--column",
            "Fruit",
            "--column",
            "Colour",
            "Apple",
            "red",
            "Banana",
            "yellow",
            "Cherry",
            "dark red",
        ],
    );
    s.wait_for_window("Pick a fruit");
    s.wait_for_app("zenity", 5);
    let first = json(&s.markpilot(&["annotate", "--out", &s.scratch("m.png"), "--json", "-"]));
    assert!(first["elements"].as_array().unwrap().len() >= 8);
    for _ in 0..3 {
        let again = json(&s.markpilot(&["annotate", "--out", &s.scratch("m.png"), "--json", "-"]));
        assert_eq!(again["elements"], first["elements"]);
    }
}

#[test]
fn bad_targets_get_one_clear_line() {
    let mut s = XSession::start(1024, 768);
    s.spawn("zenity", &["--info", "--title", "Saved", "--text", "All saved."]);
    s.wait_for_window("Saved");

    let line = one_error_line(&s.markpilot(&["annotate", "--monitor", "4"]));
    assert_eq!(line, "markpilot: no monitor 4: there is 1 monitor (index 0)");

    let line = one_error_line(&s.markpilot(&["annotate", "--region", "1000,700,100,100"]));
    assert_eq!(line, "markpilot: region 1000,700 100x100 is outside monitor 0 (1024x768 pixels)");

    let line = one_error_line(&s.markpilot(&["annotate", "--window", "Spreadsheet"]));
    assert!(line.starts_with("markpilot: no window matches \"Spreadsheet\"; open windows: "), "{line}");
    assert!(line.contains("\"Saved\""), "the error lists the windows there are: {line}");
}

#[test]
fn without_a_window_manager_window_capture_explains_what_is_missing() {
    let s = XSession::start_with(1024, 768, false);
    let line = one_error_line(&s.markpilot(&["annotate", "--window", "Anything"]));
    assert!(line.contains("window listing needs a window manager"), "{line}");
    // Monitor capture still works.
    let doc = json(&s.markpilot(&["annotate", "--out", &s.scratch("m.png"), "--json", "-"]));
    assert_eq!(doc["image"]["width"].as_u64(), Some(1024));
}
