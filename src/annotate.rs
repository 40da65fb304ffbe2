//! annotate: capture (or read) an image, perceive it, mark it — what `markpilot annotate`
//! shows a person, and exactly what the agent shows its model.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Instant;

use image::{ImageEncoder, RgbaImage};
use serde::Serialize;
use serde_json::{Value, json};
use thiserror::Error;

use crate::capture::{CaptureError, Capturer, Frame, Target, WindowInfo};
use crate::coords::MonitorInfo;
use crate::mark::{self, MarkOptions, PlacedMark};
use crate::perceive::{ImageInfo, PerceiveError, Pipeline, Scene, ms};
use crate::secrets::Secrets;

/// The largest image read: 16K a side, 40 megapixels (three 4K monitors side by side are 25).
pub const MAX_SIDE: u32 = 16_384;
pub const MAX_PIXELS: u64 = 40_000_000;

/// Where the image comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Capture(Target),
    Image(PathBuf),
}

#[derive(Debug, Error)]
pub enum AnnotateError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Perceive(#[from] PerceiveError),
    #[error("cannot read image {path}: {detail}")]
    ImageRead { path: PathBuf, detail: String },
    #[error("{path} is not an image markpilot can read ({detail}); use PNG, JPEG, BMP, GIF or WebP")]
    ImageFormat { path: PathBuf, detail: String },
    #[error(
        "image {path} is {width}x{height}; markpilot reads screens up to {MAX_SIDE} pixels a side and {} megapixels",
        MAX_PIXELS / 1_000_000
    )]
    TooLarge { path: PathBuf, width: u32, height: u32 },
    #[error("image {path} is empty ({width}x{height})")]
    EmptyImage { path: PathBuf, width: u32, height: u32 },
    #[error("cannot encode the marked image: {0}")]
    Encode(String),
    /// A ground-truth set (`bench --set`) that cannot be read.
    #[error(transparent)]
    Truth(#[from] crate::score::ScoreError),
}

/// Milliseconds per stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StageTimings {
    /// `None` when the image came from a file.
    pub capture: Option<f64>,
    pub detect: f64,
    pub detectors: Vec<(String, f64)>,
    pub fusion: f64,
    pub mark: f64,
    /// Detectors that failed on this image, and why.
    pub failures: Vec<(String, String)>,
}

/// The result of one annotation.
#[derive(Debug, Clone)]
pub struct Annotation {
    pub frame: Frame,
    pub scene: Scene,
    pub marked: RgbaImage,
    pub marks: Vec<PlacedMark>,
    pub timings: StageTimings,
    /// The frame as captured, when secrets were painted over in `frame` (what the screen
    /// really shows, to compare the next capture with).
    pub unconcealed: Option<RgbaImage>,
}

impl Annotation {
    /// What the screen really showed (the frame before secrets were painted over): what
    /// the next capture is compared with.
    pub fn screen(&self) -> &RgbaImage {
        self.unconcealed.as_ref().unwrap_or(&self.frame.image)
    }
}

/// Read an image file into RGBA, with errors that say what is wrong.
pub fn load_image(path: &Path) -> Result<RgbaImage, AnnotateError> {
    let bytes = std::fs::read(path)
        .map_err(|e| AnnotateError::ImageRead { path: path.to_path_buf(), detail: e.to_string() })?;
    let reader = image::ImageReader::new(Cursor::new(&bytes))
        .with_guessed_format()
        .map_err(|e| AnnotateError::ImageRead { path: path.to_path_buf(), detail: e.to_string() })?;
    if reader.format().is_none() {
        return Err(AnnotateError::ImageFormat {
            path: path.to_path_buf(),
            detail: "unrecognised file contents".into(),
        });
    }
    // Check the size before decoding: a 10000×10000 image is 400 MB of pixels.
    let (width, height) = image::ImageReader::new(Cursor::new(&bytes))
        .with_guessed_format()
        .ok()
        .and_then(|r| r.into_dimensions().ok())
        .unwrap_or((0, 0));
    if width > MAX_SIDE || height > MAX_SIDE || width as u64 * height as u64 > MAX_PIXELS {
        return Err(AnnotateError::TooLarge { path: path.to_path_buf(), width, height });
    }
    let img =
        reader.decode().map_err(|e| AnnotateError::ImageFormat { path: path.to_path_buf(), detail: e.to_string() })?;
    let rgba = img.into_rgba8();
    if rgba.width() == 0 || rgba.height() == 0 {
        return Err(AnnotateError::EmptyImage { path: path.to_path_buf(), width: rgba.width(), height: rgba.height() });
    }
    Ok(rgba)
}

/// Get the frame for a source, timing the capture.
pub fn acquire(source: &Source, capturer: &dyn Capturer) -> Result<(Frame, Option<f64>), AnnotateError> {
    match source {
        Source::Image(path) => Ok((Frame::from_image(load_image(path)?), None)),
        Source::Capture(target) => {
            let t = Instant::now();
            let frame = capturer.capture(target)?;
            Ok((frame, Some(ms(t))))
        }
    }
}

/// How to annotate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnnotateOptions {
    pub marks: MarkOptions,
    /// The screen scale the image was drawn at (HiDPI). Default: the captured monitor's
    /// scale; for image files, estimated from the size of the text (1 or 2).
    pub scale: Option<f64>,
}

/// Perceive and mark a frame.
pub fn annotate_frame(
    frame: Frame,
    capture_ms: Option<f64>,
    pipeline: &mut Pipeline,
    opts: &AnnotateOptions,
) -> Result<Annotation, AnnotateError> {
    annotate_concealing(frame, capture_ms, pipeline, opts, &Secrets::default())
}

/// Perceive a frame, take every secret out of it (element text, and the pixels of fields
/// holding one: [`Secrets::conceal`]), then mark it: what a run shows its model, its events
/// and its recording.
pub fn annotate_concealing(
    mut frame: Frame,
    capture_ms: Option<f64>,
    pipeline: &mut Pipeline,
    opts: &AnnotateOptions,
    secrets: &Secrets,
) -> Result<Annotation, AnnotateError> {
    let marks = &opts.marks;
    let scale = opts.scale.unwrap_or_else(|| match frame.monitor() {
        Some(m) => m.ratio().0,
        None => crate::perceive::builtin::estimate_scale(&frame.image, &Default::default()),
    });
    let info = ImageInfo { scale, screen: frame.mapping.clone() };
    let (mut scene, pt) = pipeline.perceive(&frame.image, &info)?;
    let hide = secrets.conceal(&mut scene);
    let unconcealed = (!hide.is_empty()).then(|| {
        let raw = frame.image.clone();
        crate::secrets::paint_over(&mut frame.image, &hide);
        raw
    });
    let t = Instant::now();
    let (marked, placed) = mark::render(&frame.image, &scene, marks);
    let mark_ms = ms(t);
    let timings = StageTimings {
        capture: capture_ms,
        detect: pt.detect_total(),
        detectors: pt.detectors,
        fusion: pt.fusion,
        mark: mark_ms,
        failures: pt.failures,
    };
    Ok(Annotation { frame, scene, marked, marks: placed, timings, unconcealed })
}

/// The whole of `markpilot annotate`: acquire, perceive, mark.
pub fn annotate(
    source: &Source,
    capturer: &dyn Capturer,
    pipeline: &mut Pipeline,
    opts: &AnnotateOptions,
) -> Result<Annotation, AnnotateError> {
    let (frame, capture_ms) = acquire(source, capturer)?;
    annotate_frame(frame, capture_ms, pipeline, opts)
}

/// Encode as PNG with fast compression (screens compress well even so).
pub fn encode_png(image: &RgbaImage) -> Result<Vec<u8>, AnnotateError> {
    let mut out = Vec::new();
    let enc = image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    );
    enc.write_image(image.as_raw(), image.width(), image.height(), image::ExtendedColorType::Rgba8)
        .map_err(|e| AnnotateError::Encode(e.to_string()))?;
    Ok(out)
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn monitor_json(m: &MonitorInfo) -> Value {
    serde_json::to_value(m).unwrap_or(Value::Null)
}

fn window_json(w: &WindowInfo) -> Value {
    serde_json::to_value(w).unwrap_or(Value::Null)
}

/// The JSON document `annotate --json` prints. Scripts depend on this shape:
/// `{"image":{"width","height"},"monitor":{…}|null,"elements":[{"id","bbox":{"x","y","w","h"},
/// "kind","text","score","source"}],"timings_ms":{"capture","detect","mark",…}}`.
/// Boxes are in image pixels; ids start at 1. `origin` (the input point of image pixel
/// (0, 0)), `window`, each element's `badge` (where its number is drawn), `states` (what
/// the accessibility tree says of it: "checked", "disabled"…) and `path` (where it sits in
/// that tree) are extra, additive keys.
pub fn report_json(a: &Annotation) -> Value {
    let elements: Vec<Value> = a
        .scene
        .elements
        .iter()
        .map(|e| {
            let badge = a.marks.iter().find(|m| m.id == e.id).map(|m| {
                let b = m.badge;
                json!({"x": b.x, "y": b.y, "w": b.w, "h": b.h})
            });
            json!({
                "id": e.id,
                "bbox": {"x": e.bbox.x, "y": e.bbox.y, "w": e.bbox.w, "h": e.bbox.h},
                "kind": e.kind.as_str(),
                "text": e.text,
                "score": round2(e.score as f64),
                "source": e.source,
                "mask": e.mask.is_some(),
                "states": e.states,
                "path": e.path,
                "badge": badge,
            })
        })
        .collect();
    let origin = a.frame.mapping.as_ref().map(|m| {
        let p = m.frame_to_input(0.0, 0.0);
        json!({"x": p.x, "y": p.y, "space": m.input})
    });
    json!({
        "image": {"width": a.frame.image.width(), "height": a.frame.image.height()},
        "monitor": a.frame.monitor().map(monitor_json),
        "window": a.frame.window.as_ref().map(window_json),
        "origin": origin,
        "elements": elements,
        "timings_ms": {
            "capture": a.timings.capture.map(round2),
            "detect": round2(a.timings.detect),
            "detectors": a.timings.detectors.iter().map(|(name, t)| (name.clone(), json!(round2(*t)))).collect::<serde_json::Map<_, _>>(),
            "fusion": round2(a.timings.fusion),
            "mark": round2(a.timings.mark),
        },
    })
}
