//! The perception quality gate: the development set — real screens of GTK 3, GTK 4, Qt and
//! Tk applications and web pages, light and dark, at scale 1 and 2, with ground truth from
//! AT-SPI, from Tk and from the DOM (made once by `scripts/make-screens`, kept in
//! tests/devset) — annotated as `markpilot annotate --image` annotates them, and scored with
//! the perception metric (`markpilot::score`, the reference scorer's measurement). The
//! figures are printed overall, per toolkit and per application; the floors are what
//! perception reaches today less a small margin, so a change that loses quality fails here.
//!
//! The screens are annotated in this process, through the library calls `annotate --image`
//! makes (the pipeline built from the detector list, models loaded once per worker, each
//! screen perceived cold), and a test here checks on screens of every toolkit that this gives
//! exactly what the binary prints. No scale is given, and nothing about the set is known to
//! the pipeline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use markpilot::annotate::{self, AnnotateOptions};
use markpilot::capture::Frame;
use markpilot::perceive::Pipeline;
use markpilot::perceive::setup::PerceptionConfig;
use markpilot::score::{self, Figures, ImageScore, Truth};
use serde_json::Value;

use crate::common;

fn devset() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/devset")
}

/// What annotate said about one screen: element boxes and badge boxes.
struct Marks {
    boxes: Vec<[f64; 4]>,
    badges: Vec<[f64; 4]>,
}

fn rect(v: &Value) -> Option<[f64; 4]> {
    Some([v["x"].as_f64()?, v["y"].as_f64()?, v["w"].as_f64()?, v["h"].as_f64()?])
}

fn marks_of(doc: &Value) -> Marks {
    let elements = doc["elements"].as_array().cloned().unwrap_or_default();
    Marks {
        boxes: elements.iter().filter_map(|e| rect(&e["bbox"])).collect(),
        badges: elements.iter().filter_map(|e| rect(&e["badge"])).collect(),
    }
}

/// The pipeline `annotate --detectors LIST` builds (no config file, the checkout's models);
/// every detector asked for must start.
fn pipeline(detectors: &str) -> Pipeline {
    let cfg = PerceptionConfig { detectors: Some(detectors.into()), ..Default::default() };
    let (pipeline, skipped) = cfg.build().expect("a valid detector list");
    assert!(skipped.is_empty(), "a detector was skipped (run `markpilot models fetch`): {skipped:?}");
    pipeline
}

/// `annotate --image FILE --json -` in this process: the document the binary would print
/// (less its timings). The pipeline forgets earlier screens first, as a new process would.
fn annotate_here(pipeline: &mut Pipeline, dir: &Path, file: &str) -> Value {
    let image = annotate::load_image(&dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    pipeline.forget();
    let ann = annotate::annotate_frame(Frame::from_image(image), None, pipeline, &AnnotateOptions::default())
        .unwrap_or_else(|e| panic!("annotate {file}: {e}"));
    assert!(ann.timings.failures.is_empty(), "{file}: a detector failed: {:?}", ann.timings.failures);
    let mut doc = annotate::report_json(&ann);
    doc.as_object_mut().map(|o| o.remove("timings_ms"));
    doc
}

/// The binary itself: `markpilot annotate --image FILE --json -`, less its timings.
fn annotate_binary(dir: &Path, file: &str, detectors: &str) -> Value {
    let image = dir.join(file);
    let image = image.to_str().expect("utf-8 path");
    let out = common::run_markpilot(
        dir,
        &[],
        &["annotate", "--image", image, "--detectors", detectors, "--out", "/dev/null", "--json", "-"],
    );
    assert!(out.status.success(), "annotate {file} failed: {}", common::stderr(&out));
    let skipped = common::stderr(&out);
    assert!(!skipped.contains("skipping"), "a detector was skipped (run `markpilot models fetch`): {skipped}");
    let mut doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document on stdout");
    doc.as_object_mut().map(|o| o.remove("timings_ms"));
    doc
}

/// The share of text-region pixels (their union) the badges cover.
fn badge_cover(truth: &Truth, image: u64, width: u32, height: u32, badges: &[[f64; 4]]) -> (u64, u64) {
    let r = |b: &[f64; 4]| markpilot::Rect::new(b[0] as i32, b[1] as i32, b[2] as u32, b[3] as u32);
    let texts: Vec<markpilot::Rect> = truth.texts_of(image).map(|t| r(&t.bbox)).collect();
    markpilot::bench::cover(&texts, badges.iter().map(r), width, height)
}

struct SetRun {
    scores: Vec<ImageScore>,
    badge_cover: f64,
}

/// Annotate every screen of the set (two workers, a pipeline each) and score the marks.
fn run(detectors: &str) -> SetRun {
    let dir = devset();
    let truth = Truth::load(&dir.join("annotations.json")).expect("the development set's ground truth");
    let marks: Mutex<BTreeMap<String, Marks>> = Mutex::new(BTreeMap::new());
    let next = Mutex::new(0usize);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let mut pipeline = pipeline(detectors);
                loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        *n += 1;
                        *n - 1
                    };
                    let Some(im) = truth.images.get(i) else { break };
                    let m = marks_of(&annotate_here(&mut pipeline, &dir, &im.file));
                    marks.lock().unwrap().insert(im.file.clone(), m);
                }
            });
        }
    });
    let marks = marks.into_inner().unwrap();
    assert_eq!(marks.len(), truth.images.len(), "every screen was annotated");
    let scores = score::score_set(&truth, |im| marks.get(&im.file).map(|m| m.boxes.clone()));
    let (mut covered, mut text) = (0, 0);
    for im in &truth.images {
        let (c, t) = badge_cover(&truth, im.id, im.width, im.height, &marks[&im.file].badges);
        covered += c;
        text += t;
    }
    SetRun { scores, badge_cover: covered as f64 / text.max(1) as f64 }
}

fn report(name: &str, r: &SetRun) -> Figures {
    let overall = score::aggregate(&r.scores);
    let mut groups = vec![(format!("{name}: all"), overall.clone())];
    groups.extend(score::grouped(&r.scores, |s| &s.source).into_iter().map(|(k, v)| (format!("  {k}"), v)));
    eprintln!("{}", score::table(&groups));
    let apps: Vec<(String, Figures)> = score::grouped(&r.scores, |s| &s.app).into_iter().collect();
    eprintln!("{}", score::table(&apps));
    let mut worst = apps.clone();
    worst.sort_by(|a, b| a.1.combined.total_cmp(&b.1.combined));
    eprintln!(
        "{name}: worst applications: {}",
        worst.iter().take(3).map(|(k, f)| format!("{k} {:.3}", f.combined)).collect::<Vec<_>>().join(", ")
    );
    eprintln!(
        "{name}: {:.2} marks per element or text region; badges cover {:.2}% of the text regions' pixels\n",
        overall.marks_per_thing,
        r.badge_cover * 100.0
    );
    overall
}

struct Floors {
    click_recall: f64,
    ambiguity: f64,
    precision: f64,
    combined: f64,
    /// The worst toolkit's combined figure.
    toolkit_combined: f64,
    /// The most of the text regions' pixels the badges may cover.
    badge_cover: f64,
}

fn check(name: &str, r: &SetRun, f: &Floors) {
    let o = report(name, r);
    assert!(o.images >= 60, "the development set has {} screens", o.images);
    assert!(o.click_recall >= f.click_recall, "{name}: click_recall {:.3} < {}", o.click_recall, f.click_recall);
    assert!(o.ambiguity <= f.ambiguity, "{name}: ambiguity {:.3} > {}", o.ambiguity, f.ambiguity);
    assert!(o.precision_proxy >= f.precision, "{name}: precision {:.3} < {}", o.precision_proxy, f.precision);
    assert!(o.combined >= f.combined, "{name}: combined {:.3} < {}", o.combined, f.combined);
    for (toolkit, t) in score::grouped(&r.scores, |s| &s.source) {
        assert!(
            t.combined >= f.toolkit_combined,
            "{name}: {toolkit} combined {:.3} < {}",
            t.combined,
            f.toolkit_combined
        );
    }
    assert!(o.marks_per_thing <= 1.6, "{name}: {:.2} marks per element or text region", o.marks_per_thing);
    assert!(r.badge_cover <= f.badge_cover, "{name}: badges cover {:.2}% of the text", r.badge_cover * 100.0);
}

#[test]
fn builtin_detector_holds_its_floors_on_the_development_set() {
    let r = run("builtin");
    let floors = Floors {
        click_recall: 0.91,
        ambiguity: 0.09,
        precision: 0.915,
        combined: 0.84,
        toolkit_combined: 0.79,
        badge_cover: 0.02,
    };
    check("builtin", &r, &floors);
}

#[test]
fn default_pipeline_holds_its_floors_on_the_development_set() {
    let r = run("builtin,text");
    let floors = Floors {
        click_recall: 0.92,
        ambiguity: 0.09,
        precision: 0.925,
        combined: 0.85,
        toolkit_combined: 0.80,
        badge_cover: 0.02,
    };
    check("builtin,text", &r, &floors);
}

/// The gate's in-process annotation is the binary's: on the first screen of every toolkit,
/// annotated one after another by one pipeline (so what it keeps between screens is shown
/// to be forgotten), every element's box, kind, text, states and badge equal what
/// `markpilot annotate --image --json -` prints.
#[test]
fn the_gate_annotates_exactly_as_annotate_image_does() {
    let dir = devset();
    let truth = Truth::load(&dir.join("annotations.json")).expect("the development set's ground truth");
    let mut firsts: BTreeMap<&str, &str> = BTreeMap::new();
    for im in &truth.images {
        firsts.entry(im.source.as_str()).or_insert(im.file.as_str());
    }
    assert!(firsts.len() >= 4, "screens of several toolkits: {firsts:?}");
    let detectors = "builtin,text";
    let mut here = pipeline(detectors);
    for file in firsts.values() {
        let ours = annotate_here(&mut here, &dir, file);
        let theirs = annotate_binary(&dir, file, detectors);
        assert!(!ours["elements"].as_array().unwrap().is_empty(), "{file}: no elements");
        assert_eq!(ours, theirs, "{file}: in-process annotation differs from `annotate --image`");
    }
}
