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

/// The frame `annotate` saves (built-in detector only), with more environment.
fn saved_frame(s: &XSession, extra: &[&str], env: &[(&str, &str)]) -> (image::RgbaImage, String) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let png = s.scratch(&format!("frame-{}.png", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    let mut args = vec!["annotate", "--detectors", "builtin", "--out", "/dev/null", "--save-frame", &png];
    args.extend_from_slice(extra);
    let o = s.command(common::markpilot_bin()).args(&args).envs(env.iter().copied()).output().unwrap();
    assert!(o.status.success(), "annotate failed: {}", stderr(&o));
    (image::open(&png).unwrap().to_rgba8(), stderr(&o))
}

#[test]
fn shared_memory_frames_are_xcap_frames_pixel_for_pixel_on_monitors_and_regions() {
    let mut s = XSession::start(1280, 800);
    s.spawn("zenity", &["--list", "--title", "Fruit", "--column", "Fruit", "Apple", "Banana", "Cherry"]);
    s.wait_for_window("Fruit");
    s.wait_for_app("zenity", 5);
    let debug = [("RUST_LOG", "markpilot=debug")];
    let xcap = [("MARKPILOT_CAPTURE", "xcap")];
    let (fast, log) = saved_frame(&s, &[], &debug);
    assert!(log.contains("capturing through MIT-SHM"), "{log}");
    let (slow, _) = saved_frame(&s, &[], &xcap);
    assert_eq!(fast.dimensions(), (1280, 800));
    assert!(fast == slow, "the MIT-SHM frame differs from xcap's");
    let region = ["--region", "100,50,333,211"];
    let (fast, _) = saved_frame(&s, &region, &[]);
    let (slow, _) = saved_frame(&s, &region, &xcap);
    assert_eq!(fast.dimensions(), (333, 211));
    assert!(fast == slow, "the MIT-SHM region differs from xcap's");
    // A monitor away from the screen's origin: the same pixels, and a region outside it
    // still gets its one clear line.
    s.only_the_right_half_as_monitor(1280, 800);
    let (fast, _) = saved_frame(&s, &[], &[]);
    let (slow, _) = saved_frame(&s, &[], &xcap);
    assert_eq!(fast.dimensions(), (640, 800));
    assert!(fast == slow, "the MIT-SHM frame of the right-hand monitor differs from xcap's");
    let o = s.markpilot(&["annotate", "--detectors", "builtin", "--out", "/dev/null", "--region", "600,0,100,100"]);
    assert!(!o.status.success());
    assert!(one_error_line(&o).contains("is outside monitor 0 (640x800 pixels)"), "{}", stderr(&o));
}

#[test]
fn without_mit_shm_capture_falls_back_to_xcap_and_says_so_at_debug_level() {
    let mut s = XSession::start_with_args(1024, 700, true, &["-extension", "MIT-SHM"]);
    s.spawn("zenity", &["--list", "--title", "Fruit", "--column", "Fruit", "Apple", "Banana", "Cherry"]);
    s.wait_for_window("Fruit");
    let (frame, log) = saved_frame(&s, &[], &[("RUST_LOG", "markpilot=debug")]);
    assert_eq!(frame.dimensions(), (1024, 700));
    assert!(log.contains("MIT-SHM capture is not available"), "{log}");
    let (region, _) = saved_frame(&s, &["--region", "10,10,200,100"], &[]);
    assert_eq!(region.dimensions(), (200, 100));
    assert!(region == image::imageops::crop_imm(&frame, 10, 10, 200, 100).to_image());
}
