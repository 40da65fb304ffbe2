//! YOLO-format element detectors (Ultralytics v8/v11 layout), e.g. an export of OmniParser's
//! icon detector or a model the user trained.
//!
//! Input `[1, 3, H, W]` RGB in 0..1 (H, W from the model, 640 when dynamic), the screen
//! letterboxed into it (scaled to fit, centred, grey padding). Output `[1, 4 + classes, N]`:
//! per candidate a centre-size box in input pixels and one score per class (no objectness).
//! Candidates above the confidence threshold go through class-aware non-maximum suppression.
//! Class names come from the model's `names` metadata (what Ultralytics writes) or a side
//! file `MODEL.names` (one name per line).

use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{Rgba, RgbaImage};
use ort::session::Session;
use ort::value::{Tensor, TensorElementType};

use super::{Detector, ElementKind, ImageInfo, PerceiveError, Proposal};
use crate::geometry::Rect;
use crate::onnx::{self, ModelError};

pub const SOURCE: &str = "yolo";

const LAYOUT: &str = "one input f32[1,3,H,W] and an output f32[1,4+classes,N] (Ultralytics YOLOv8/v11)";

pub struct YoloDetector {
    session: Session,
    path: PathBuf,
    input: String,
    size: (usize, usize),
    pub classes: Vec<String>,
    pub confidence: f32,
    pub iou: f32,
}

/// A candidate after decoding, in image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub rect: Rect,
    pub class: usize,
    pub score: f32,
}

impl YoloDetector {
    pub fn open(env: &ort::environment::Environment, path: &Path, threads: usize) -> Result<Self, ModelError> {
        let session = onnx::open_session(env, path, threads, "give the path of a YOLO-format ONNX model")?;
        let ok = session.inputs().len() == 1
            && onnx::tensor_rank(session.inputs()[0].dtype()) == Some((TensorElementType::Float32, 4))
            && onnx::fixed_dim(session.inputs()[0].dtype(), 1).is_none_or(|c| c == 3)
            && !session.outputs().is_empty()
            && onnx::tensor_rank(session.outputs()[0].dtype()) == Some((TensorElementType::Float32, 3));
        if !ok {
            return Err(ModelError::layout(path, "YOLO", LAYOUT, &session));
        }
        let dt = session.inputs()[0].dtype();
        let size = (onnx::fixed_dim(dt, 3).unwrap_or(640) as usize, onnx::fixed_dim(dt, 2).unwrap_or(640) as usize);
        let out = session.outputs()[0].dtype();
        // The fields axis (4 + classes) is the shorter of the two when both are fixed.
        let fields = match (onnx::fixed_dim(out, 1), onnx::fixed_dim(out, 2)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (Some(a), None) => Some(a),
            _ => None,
        };
        if fields.is_some_and(|f| f < 5) {
            return Err(ModelError::layout(path, "YOLO", LAYOUT, &session));
        }
        let mut classes = class_names(&session, path);
        let fixed_classes = fields.map(|f| f as usize - 4);
        if let Some(n) = fixed_classes
            && classes.len() != n
        {
            classes = (0..n).map(|i| classes.get(i).cloned().unwrap_or_else(|| format!("class{i}"))).collect();
        }
        let input = session.inputs()[0].name().to_string();
        Ok(Self { session, path: path.to_path_buf(), input, size, classes, confidence: 0.3, iou: 0.5 })
    }

    pub fn detect_all(&mut self, image: &RgbaImage) -> Result<Vec<Detection>, ModelError> {
        let (iw, ih) = image.dimensions();
        let (mw, mh) = self.size;
        let scale = (mw as f64 / iw as f64).min(mh as f64 / ih as f64);
        let (sw, sh) = (((iw as f64 * scale).round() as u32).max(1), ((ih as f64 * scale).round() as u32).max(1));
        let (ox, oy) = ((mw as u32 - sw.min(mw as u32)) / 2, (mh as u32 - sh.min(mh as u32)) / 2);
        let resized = imageops::resize(image, sw.min(mw as u32), sh.min(mh as u32), FilterType::Triangle);
        let mut canvas = RgbaImage::from_pixel(mw as u32, mh as u32, Rgba([114, 114, 114, 255]));
        imageops::replace(&mut canvas, &resized, ox as i64, oy as i64);
        let plane = mw * mh;
        let mut data = vec![0f32; 3 * plane];
        for (i, p) in canvas.pixels().enumerate() {
            data[i] = p[0] as f32 / 255.0;
            data[plane + i] = p[1] as f32 / 255.0;
            data[2 * plane + i] = p[2] as f32 / 255.0;
        }
        let err = |e: ort::Error| ModelError::Other { path: self.path.clone(), detail: e.to_string() };
        let tensor = Tensor::from_array(([1usize, 3, mh, mw], data)).map_err(err)?;
        let input = self.input.clone();
        let outputs = self.session.run(ort::inputs![input.as_str() => tensor]).map_err(err)?;
        let (shape, values) = outputs[0].try_extract_tensor::<f32>().map_err(err)?;
        let dims: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
        if dims.len() != 3 || dims[0] != 1 || dims[1].min(dims[2]) < 5 {
            return Err(ModelError::Other {
                path: self.path.clone(),
                detail: format!("expected an output of 1x(4+classes)xN, got {dims:?}"),
            });
        }
        let unletterbox = |x: f32, y: f32| (((x as f64 - ox as f64) / scale), ((y as f64 - oy as f64) / scale));
        let found = decode(values, dims[1], dims[2], self.confidence)
            .into_iter()
            .filter_map(|(cx, cy, w, h, class, score)| {
                let (x0, y0) = unletterbox(cx - w / 2.0, cy - h / 2.0);
                let (x1, y1) = unletterbox(cx + w / 2.0, cy + h / 2.0);
                let rect = Rect::from_edges(x0.round() as i32, y0.round() as i32, x1.round() as i32, y1.round() as i32)
                    .clamp_to(iw, ih);
                (!rect.is_empty()).then_some(Detection { rect, class, score })
            })
            .collect();
        Ok(nms(found, self.iou))
    }

    fn kind_of(&self, class: usize) -> ElementKind {
        kind_for_class(self.classes.get(class).map(String::as_str).unwrap_or(""))
    }
}

/// Decode `[rows, cols]` (either `[4+C, N]` or, from some exports, `[N, 4+C]`): candidates
/// `(cx, cy, w, h, class, score)` scoring at least `confidence`.
pub fn decode(values: &[f32], rows: usize, cols: usize, confidence: f32) -> Vec<(f32, f32, f32, f32, usize, f32)> {
    // The candidate axis is the long one (8400 boxes vs a handful of classes).
    let transposed = rows > cols;
    let (n, fields) = if transposed { (rows, cols) } else { (cols, rows) };
    let at = |field: usize, i: usize| if transposed { values[i * fields + field] } else { values[field * n + i] };
    let mut out = Vec::new();
    for i in 0..n {
        let (mut best, mut score) = (0usize, f32::MIN);
        for c in 0..fields - 4 {
            let s = at(4 + c, i);
            if s > score {
                (best, score) = (c, s);
            }
        }
        if score >= confidence && score.is_finite() {
            let (w, h) = (at(2, i), at(3, i));
            if w > 0.0 && h > 0.0 && w.is_finite() && h.is_finite() {
                out.push((at(0, i), at(1, i), w, h, best, score));
            }
        }
    }
    out
}

/// Class-aware non-maximum suppression: within a class, a box overlapping a better one by
/// more than `iou` goes.
pub fn nms(mut found: Vec<Detection>, iou: f32) -> Vec<Detection> {
    found.sort_by(|a, b| {
        b.score.total_cmp(&a.score).then((a.rect.y, a.rect.x, a.class).cmp(&(b.rect.y, b.rect.x, b.class)))
    });
    let mut kept: Vec<Detection> = Vec::new();
    for d in found {
        if !kept.iter().any(|k| k.class == d.class && k.rect.iou(&d.rect) > iou as f64) {
            kept.push(d);
        }
    }
    kept
}

fn class_names(session: &Session, path: &Path) -> Vec<String> {
    let side = path.with_extension("names");
    if let Ok(text) = std::fs::read_to_string(&side) {
        return text.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
    }
    session.metadata().ok().and_then(|m| m.custom("names")).map(|s| parse_names(&s)).unwrap_or_default()
}

/// Ultralytics writes `{0: 'icon', 1: 'button'}` (a Python dict) into the metadata.
pub fn parse_names(s: &str) -> Vec<String> {
    let mut pairs: Vec<(usize, String)> = s
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .split(',')
        .filter_map(|item| {
            let (k, v) = item.split_once(':')?;
            let name = v.trim().trim_matches(|c| c == '\'' || c == '"').to_string();
            Some((k.trim().parse().ok()?, name))
        })
        .collect();
    pairs.sort();
    pairs.into_iter().map(|(_, n)| n).collect()
}

/// What a class name says about the element.
pub fn kind_for_class(name: &str) -> ElementKind {
    let n = name.to_lowercase().replace(['-', ' '], "_");
    let has = |w: &str| n.contains(w);
    if has("check") {
        ElementKind::CheckBox
    } else if has("radio") {
        ElementKind::RadioButton
    } else if has("toggle") || has("switch") {
        ElementKind::Toggle
    } else if has("slider") || has("scroll") {
        ElementKind::Slider
    } else if has("combo") || has("dropdown") || has("select") {
        ElementKind::ComboBox
    } else if has("input") || has("field") || has("textbox") || has("edit") || has("entry") {
        ElementKind::TextField
    } else if has("button") || has("btn") {
        ElementKind::Button
    } else if has("tab") {
        ElementKind::Tab
    } else if has("menu") {
        ElementKind::MenuItem
    } else if has("link") {
        ElementKind::Link
    } else if has("text") || has("label") {
        ElementKind::Text
    } else if has("image") || has("picture") {
        ElementKind::Image
    } else {
        ElementKind::Icon
    }
}

impl Detector for YoloDetector {
    fn name(&self) -> &str {
        SOURCE
    }

    fn detect(&mut self, image: &RgbaImage, _info: &ImageInfo) -> Result<Vec<Proposal>, PerceiveError> {
        let found = self
            .detect_all(image)
            .map_err(|e| PerceiveError::Detector { detector: SOURCE.into(), detail: e.to_string() })?;
        Ok(found.into_iter().map(|d| Proposal::new(d.rect, self.kind_of(d.class), d.score, SOURCE)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_reads_either_axis_order_and_keeps_the_best_class() {
        // Eight candidates (two real ones), two classes: [4+2, 8], fields (cx, cy, w, h, s0, s1).
        let real = [[10.0, 20.0, 8.0, 4.0, 0.1, 0.9], [50.0, 30.0, 10.0, 6.0, 0.8, 0.05]];
        let cand = |i: usize, f: usize| {
            if i < 2 {
                real[i][f]
            } else if f < 4 {
                1.0
            } else {
                0.0
            }
        };
        let fields_major: Vec<f32> = (0..6).flat_map(|f| (0..8).map(move |i| cand(i, f))).collect();
        let out = decode(&fields_major, 6, 8, 0.3);
        assert_eq!(out, vec![(10.0, 20.0, 8.0, 4.0, 1, 0.9), (50.0, 30.0, 10.0, 6.0, 0, 0.8)]);
        // Some exports transpose it to [N, 4+C].
        let n_major: Vec<f32> = (0..8).flat_map(|i| (0..6).map(move |f| cand(i, f))).collect();
        assert_eq!(decode(&n_major, 8, 6, 0.3), out);
    }

    #[test]
    fn nms_is_per_class() {
        let d = |x, class, score| Detection { rect: Rect::new(x, 0, 20, 20), class, score };
        let kept = nms(vec![d(0, 0, 0.9), d(2, 0, 0.8), d(2, 1, 0.7), d(100, 0, 0.6)], 0.5);
        assert_eq!(kept, vec![d(0, 0, 0.9), d(2, 1, 0.7), d(100, 0, 0.6)]);
    }

    #[test]
    fn ultralytics_names_metadata_parses_in_index_order() {
        assert_eq!(parse_names("{1: 'button', 0: 'icon'}"), vec!["icon", "button"]);
        assert_eq!(kind_for_class("icon"), ElementKind::Icon);
        assert_eq!(kind_for_class("CheckBox"), ElementKind::CheckBox);
        assert_eq!(kind_for_class("text-input"), ElementKind::TextField);
    }
}
