//! PP-OCR text recognition (CTC): crops of text lines → strings.
//!
//! Each crop is scaled to the model's height (48) keeping its aspect ratio; crops are sorted
//! by width and run in small batches padded to the widest in the batch, so short labels (most of a
//! GUI) cost little. Greedy CTC decoding: the best class per time step, repeats merged,
//! blanks (class 0) dropped; class `i` is character `i - 1` of the dictionary, and the class
//! after the dictionary is a space.

use std::path::{Path, PathBuf};

use image::RgbaImage;
use image::imageops::{self, FilterType};
use ort::session::Session;
use ort::value::{Tensor, TensorElementType};

use crate::onnx::{self, ModelError};

pub struct TextRecModel {
    session: Session,
    path: PathBuf,
    input: String,
    height: usize,
    /// Class → text; index 0 is the CTC blank.
    classes: Vec<String>,
    /// Largest batch, in crops × padded width.
    pub batch_columns: usize,
}

/// Crop widths are padded up to a multiple of this.
const PAD_STEP: usize = 16;

/// Crops wider than this many times their height are squeezed (a very long line).
const MAX_RATIO: usize = 40;

impl TextRecModel {
    /// Open a recognition model. The character list comes from `dictionary` (one character
    /// per line) if given, else from the model's `character` metadata (RapidOCR's models).
    pub fn open(
        env: &ort::environment::Environment,
        path: &Path,
        dictionary: Option<&Path>,
        threads: usize,
    ) -> Result<Self, ModelError> {
        let session = onnx::open_session(env, path, threads, "run `markpilot models fetch` or give another path")?;
        const LAYOUT: &str = "one input f32[N,3,48,W] and one output f32[N,T,classes] (PP-OCR CTC recognition)";
        let ok = session.inputs().len() == 1
            && onnx::tensor_rank(session.inputs()[0].dtype()) == Some((TensorElementType::Float32, 4))
            && session.outputs().len() == 1
            && onnx::tensor_rank(session.outputs()[0].dtype()) == Some((TensorElementType::Float32, 3));
        if !ok {
            return Err(ModelError::layout(path, "text recognition", LAYOUT, &session));
        }
        let height = onnx::fixed_dim(session.inputs()[0].dtype(), 2).unwrap_or(48) as usize;
        let chars: Vec<String> = match dictionary {
            Some(d) => {
                let text = std::fs::read_to_string(d).map_err(|e| ModelError::Missing {
                    path: d.to_path_buf(),
                    hint: format!("the character dictionary cannot be read ({e})"),
                })?;
                text.lines().map(|l| l.trim_end_matches('\r').to_string()).collect()
            }
            None => {
                let meta =
                    session.metadata().map_err(|e| ModelError::Load { path: path.into(), detail: e.to_string() })?;
                let text = meta.custom("character").ok_or_else(|| ModelError::Layout {
                    path: path.into(),
                    what: "text recognition".into(),
                    expected: "a character dictionary (a file, or `character` in the model's metadata)".into(),
                    found: "no dictionary given and none in the model".into(),
                })?;
                text.lines().map(|l| l.to_string()).collect()
            }
        };
        let mut classes = Vec::with_capacity(chars.len() + 2);
        classes.push(String::new());
        classes.extend(chars);
        classes.push(" ".into());
        if let Some(n) = onnx::fixed_dim(session.outputs()[0].dtype(), 2) {
            // Some exports leave out the trailing space class.
            if n as usize == classes.len() - 1 {
                classes.pop();
            } else if n as usize != classes.len() {
                return Err(ModelError::Layout {
                    path: path.into(),
                    what: "text recognition".into(),
                    expected: format!(
                        "{} classes (the dictionary's {} characters, blank and space)",
                        classes.len(),
                        classes.len() - 2
                    ),
                    found: format!("{n} classes in the model's output"),
                });
            }
        }
        let input = session.inputs()[0].name().to_string();
        Ok(Self { session, path: path.to_path_buf(), input, height, classes, batch_columns: 2048 })
    }

    /// Whether the dictionary has this character (a Korean model has '가').
    pub fn knows(&self, c: char) -> bool {
        let mut buf = [0u8; 4];
        let c: &str = c.encode_utf8(&mut buf);
        self.classes.iter().any(|k| k == c)
    }

    /// Read each crop (one text line each); character positions are in the crop's pixels.
    pub fn recognize(&mut self, lines: &[RgbaImage]) -> Result<Vec<Reading>, ModelError> {
        let hgt = self.height;
        let prepared: Vec<(RgbaImage, bool)> = lines.iter().map(|l| self.prepare(l)).collect();
        let crops: Vec<&RgbaImage> = prepared.iter().map(|(c, _)| c).collect();
        let mut order: Vec<usize> = (0..crops.len()).collect();
        order.sort_by_key(|&i| crops[i].width());
        let mut out = vec![Reading::default(); crops.len()];
        // Each crop is padded to its width rounded up to a multiple of PAD_STEP, whatever else
        // is read with it: the padding changes what the model reads, and a line must read the
        // same on every frame (results reused between frames equal a cold run's). Batches
        // hold crops of one padded width, small enough to stay in cache: measured on this
        // 2-core machine, PP-OCRv4 recognition costs ~0.06 ms per input column up to ~2000
        // columns a batch and ~0.09 ms beyond (12 crops of 320 columns).
        let padded = |i: usize| (crops[i].width() as usize).next_multiple_of(PAD_STEP);
        let mut batches: Vec<&[usize]> = Vec::new();
        let mut start = 0;
        for end in 1..=order.len() {
            let width = padded(order[end - 1]);
            let next_fits = end < order.len()
                && padded(order[end]) == width
                && (end + 1 - start) * width <= self.batch_columns.max(width)
                && end - start < 16;
            if !next_fits {
                batches.push(&order[start..end]);
                start = end;
            }
        }
        for chunk in batches {
            let width = padded(chunk[0]);
            let n = chunk.len();
            let plane = hgt * width;
            let mut data = vec![0f32; n * 3 * plane];
            for (b, &i) in chunk.iter().enumerate() {
                let crop = &crops[i];
                let base = b * 3 * plane;
                for (x, y, p) in crop.enumerate_pixels() {
                    let o = y as usize * width + x as usize;
                    data[base + o] = p[2] as f32 / 127.5 - 1.0;
                    data[base + plane + o] = p[1] as f32 / 127.5 - 1.0;
                    data[base + 2 * plane + o] = p[0] as f32 / 127.5 - 1.0;
                }
            }
            let err = |e: ort::Error| ModelError::Other { path: self.path.clone(), detail: e.to_string() };
            let tensor = Tensor::from_array(([n, 3, hgt, width], data)).map_err(err)?;
            let input = self.input.clone();
            let t = std::time::Instant::now();
            let outputs = self.session.run(ort::inputs![input.as_str() => tensor]).map_err(|e| ModelError::Other {
                path: self.path.clone(),
                detail: format!("text recognition failed on a {n}x3x{hgt}x{width} input: {e}"),
            })?;
            let (shape, probs) = outputs[0].try_extract_tensor::<f32>().map_err(err)?;
            tracing::trace!(n, width, ms = t.elapsed().as_secs_f64() * 1000.0, "rec batch");
            let dims: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
            if dims.len() != 3 || dims[0] != n || dims[2] != self.classes.len() {
                return Err(ModelError::Other {
                    path: self.path.clone(),
                    detail: format!("expected an output of {n}xTx{}, got {dims:?}", self.classes.len()),
                });
            }
            let (steps, classes) = (dims[1], dims[2]);
            for (b, &i) in chunk.iter().enumerate() {
                let chars = ctc_decode(&probs[b * steps * classes..(b + 1) * steps * classes], classes, &self.classes);
                // Step t covers columns t·width/steps… of the padded input; back to the box's pixels.
                let (rotated, box_w) = (prepared[i].1, lines[i].width() as f32);
                let to_box = box_w / crops[i].width() as f32 * width as f32 / steps as f32;
                out[i] = Reading::from_chars(
                    chars
                        .into_iter()
                        .map(|(c, step, p)| (c, if rotated { -1.0 } else { (step as f32 + 0.5) * to_box }, p)),
                );
            }
        }
        Ok(out)
    }

    /// The crop scaled to the model's height (vertical text turned to read left to right;
    /// `true` when it was).
    fn prepare(&self, line: &RgbaImage) -> (RgbaImage, bool) {
        let mut crop = line.clone();
        let rotated = crop.height() as f32 >= crop.width() as f32 * 1.5 && crop.height() > 2 * self.height as u32 / 3;
        if rotated {
            crop = imageops::rotate270(&crop);
        }
        let (w, h) = (crop.width() as usize, crop.height() as usize);
        let new_w = ((w * self.height).div_ceil(h)).clamp(8, self.height * MAX_RATIO);
        (imageops::resize(&crop, new_w as u32, self.height as u32, FilterType::Triangle), rotated)
    }
}

/// What a line says: its text, the mean confidence of its characters, and each character
/// with its x position in the box (pixels from the box's left; negative when unknown, for
/// vertical text) and confidence.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    pub text: String,
    pub confidence: f32,
    pub chars: Vec<(String, f32, f32)>,
}

impl Reading {
    pub fn from_chars(chars: impl IntoIterator<Item = (String, f32, f32)>) -> Reading {
        let chars: Vec<(String, f32, f32)> = chars.into_iter().collect();
        let text: String = chars.iter().map(|(c, _, _)| c.as_str()).collect::<String>().trim().to_string();
        let kept: Vec<f32> = chars.iter().filter(|(c, _, _)| !c.trim().is_empty()).map(|(_, _, p)| *p).collect();
        let confidence = if kept.is_empty() { 0.0 } else { kept.iter().sum::<f32>() / kept.len() as f32 };
        Reading { text, confidence, chars }
    }
}

/// Greedy CTC decoding of one `[T, classes]` slice: each character with its time step and
/// probability.
pub fn ctc_decode(probs: &[f32], classes: usize, names: &[String]) -> Vec<(String, usize, f32)> {
    let mut out = Vec::new();
    let mut prev = 0usize;
    for (t, step) in probs.chunks_exact(classes).enumerate() {
        let (best, p) =
            step.iter().enumerate().fold((0usize, f32::MIN), |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc });
        if best != 0
            && best != prev
            && let Some(c) = names.get(best)
        {
            out.push((c.clone(), t, p));
        }
        prev = best;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctc_merges_repeats_drops_blanks_and_keeps_doubled_letters_split_by_a_blank() {
        let names: Vec<String> = ["", "O", "K", "l", " "].iter().map(|s| s.to_string()).collect();
        let step = |i: usize| {
            let mut v = vec![0.0f32; 5];
            v[i] = 0.9;
            v
        };
        // O O _ K _ l _ l  → "OKll"
        let probs: Vec<f32> = [1, 1, 0, 2, 0, 3, 0, 3].iter().flat_map(|&i| step(i)).collect();
        let chars = ctc_decode(&probs, 5, &names);
        let steps: Vec<usize> = chars.iter().map(|c| c.1).collect();
        assert_eq!(steps, vec![0, 3, 5, 7], "each character at the step it starts");
        let r = Reading::from_chars(chars.into_iter().map(|(c, t, p)| (c, t as f32, p)));
        assert_eq!(r.text, "OKll");
        assert!((r.confidence - 0.9).abs() < 1e-6);
        assert!(ctc_decode(&step(0), 5, &names).is_empty());
    }
}
