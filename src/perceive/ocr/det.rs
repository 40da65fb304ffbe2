//! PP-OCR text detection (DBNet): a probability map of "text here", thresholded into boxes.
//!
//! Pre-processing as PaddleOCR/RapidOCR do it: BGR, `x / 127.5 - 1`, sides padded to
//! multiples of 32 (by repeating the edge pixels, so the padding looks like the flat space
//! around a block). Post-processing: threshold 0.3, 2×2 dilation, connected components, box
//! score = mean probability in the box (kept from `box_threshold`), and "unclip": the box
//! grows by `area × unclip_ratio / perimeter` on every side, since DBNet marks the shrunk
//! core of each text line. Screen text is axis-aligned, so boxes stay rectangles.

use std::path::{Path, PathBuf};

use image::RgbaImage;
use ort::session::Session;
use ort::value::{Tensor, TensorElementType};

use crate::geometry::Rect;
use crate::onnx::{self, ModelError};
use crate::perceive::components::{Connectivity, label};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetParams {
    pub threshold: f32,
    pub box_threshold: f32,
    pub unclip_ratio: f32,
}

impl Default for DetParams {
    fn default() -> Self {
        Self { threshold: 0.3, box_threshold: 0.5, unclip_ratio: 1.6 }
    }
}

pub struct TextDetModel {
    session: Session,
    path: PathBuf,
    input: String,
    pub params: DetParams,
}

const LAYOUT: &str = "one input f32[N,3,H,W] and one output f32[N,1,H,W] (PP-OCR DBNet)";

impl TextDetModel {
    pub fn open(env: &ort::environment::Environment, path: &Path, threads: usize) -> Result<Self, ModelError> {
        let session = onnx::open_session(env, path, threads, "run `markpilot models fetch` or give another path")?;
        let ok_in = session.inputs().len() == 1
            && onnx::tensor_rank(session.inputs()[0].dtype()) == Some((TensorElementType::Float32, 4))
            && onnx::fixed_dim(session.inputs()[0].dtype(), 1).is_none_or(|c| c == 3);
        let ok_out = session.outputs().len() == 1
            && onnx::tensor_rank(session.outputs()[0].dtype()) == Some((TensorElementType::Float32, 4));
        if !ok_in || !ok_out {
            return Err(ModelError::layout(path, "text detection", LAYOUT, &session));
        }
        let input = session.inputs()[0].name().to_string();
        Ok(Self { session, path: path.to_path_buf(), input, params: DetParams::default() })
    }

    /// Text boxes (image pixels) inside `region` of `image`, with their scores.
    pub fn detect(&mut self, image: &RgbaImage, region: Rect) -> Result<Vec<(Rect, f32)>, ModelError> {
        let region = region.clamp_to(image.width(), image.height());
        if region.is_empty() {
            return Ok(Vec::new());
        }
        let (w, h) = (region.w as usize, region.h as usize);
        let (pw, ph) = (w.div_ceil(32).max(1) * 32, h.div_ceil(32).max(1) * 32);
        let mut data = vec![0f32; 3 * pw * ph];
        let (iw, raw) = (image.width() as usize, image.as_raw());
        let plane = pw * ph;
        for y in 0..ph {
            let sy = region.y as usize + y.min(h - 1);
            let src_row = &raw[(sy * iw + region.x as usize) * 4..(sy * iw + region.x as usize + w) * 4];
            for x in 0..pw {
                let p = &src_row[x.min(w - 1) * 4..x.min(w - 1) * 4 + 3];
                let o = y * pw + x;
                // BGR order.
                data[o] = p[2] as f32 / 127.5 - 1.0;
                data[plane + o] = p[1] as f32 / 127.5 - 1.0;
                data[2 * plane + o] = p[0] as f32 / 127.5 - 1.0;
            }
        }
        let run_err = |e: ort::Error| ModelError::Other { path: self.path.clone(), detail: e.to_string() };
        let tensor = Tensor::from_array(([1usize, 3, ph, pw], data)).map_err(run_err)?;
        let input = self.input.clone();
        let outputs = self.session.run(ort::inputs![input.as_str() => tensor]).map_err(|e| ModelError::Other {
            path: self.path.clone(),
            detail: format!("text detection failed on a {pw}x{ph} input: {e}"),
        })?;
        let (shape, prob) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| ModelError::Other { path: self.path.clone(), detail: e.to_string() })?;
        let dims: Vec<i64> = shape.iter().copied().collect();
        if dims.len() != 4 || dims[2] as usize != ph || dims[3] as usize != pw || prob.len() < plane {
            return Err(ModelError::Other {
                path: self.path.clone(),
                detail: format!("expected a probability map of 1x1x{ph}x{pw}, got {dims:?}"),
            });
        }
        Ok(boxes_from_map(&prob[..plane], pw, w, h, &self.params)
            .into_iter()
            .map(|(r, s)| {
                (Rect::new(r.x + region.x, r.y + region.y, r.w, r.h).clamp_to(image.width(), image.height()), s)
            })
            .filter(|(r, _)| r.w > 3 && r.h > 3)
            .collect())
    }
}

/// Boxes from a probability map (`stride` wide), looking only at its top-left `w`×`h`.
pub fn boxes_from_map(prob: &[f32], stride: usize, w: usize, h: usize, p: &DetParams) -> Vec<(Rect, f32)> {
    // Threshold, then dilate with a 2×2 kernel (a pixel is set when it or its left, upper or
    // upper-left neighbour is).
    let mut bits = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            bits[y * w + x] = (prob[y * stride + x] > p.threshold) as u8;
        }
    }
    let mut dilated = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            let on = |dx: usize, dy: usize| x >= dx && y >= dy && bits[(y - dy) * w + x - dx] == 1;
            dilated[y * w + x] = (on(0, 0) || on(1, 0) || on(0, 1) || on(1, 1)) as u8;
        }
    }
    let labels = label(&dilated, w as u32, h as u32, 1, Connectivity::Eight);
    let mut out = Vec::new();
    for c in &labels.comps {
        if c.width().min(c.height()) < 3 {
            continue;
        }
        let (x0, y0, x1, y1) = (c.x0 as usize, c.y0 as usize, c.x1 as usize, c.y1 as usize);
        let mut sum = 0f64;
        for y in y0..y1 {
            sum += prob[y * stride + x0..y * stride + x1].iter().map(|&v| v as f64).sum::<f64>();
        }
        let score = (sum / ((x1 - x0) * (y1 - y0)) as f64) as f32;
        if score < p.box_threshold {
            continue;
        }
        let (bw, bh) = (c.width() as f32, c.height() as f32);
        let d = (bw * bh * p.unclip_ratio / (2.0 * (bw + bh))).round() as i32;
        let r = c.rect().inflate(d);
        if r.w.min(r.h) < 5 {
            continue;
        }
        out.push((r, score));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_core_in_the_map_becomes_an_unclipped_box() {
        let (w, h) = (64, 32);
        let mut prob = vec![0.0f32; w * h];
        for y in 12..18 {
            for x in 10..50 {
                prob[y * w + x] = 0.9;
            }
        }
        let boxes = boxes_from_map(&prob, w, w, h, &DetParams::default());
        assert_eq!(boxes.len(), 1);
        let (r, s) = boxes[0];
        assert!(s > 0.6, "{s}");
        // 41×7 core after dilation; unclip distance 41·7·1.6 / (2·48) ≈ 5.
        assert_eq!(r, Rect::from_edges(5, 7, 56, 24));
    }

    #[test]
    fn weak_or_thin_blobs_are_not_text() {
        let (w, h) = (64, 32);
        let mut prob = vec![0.0f32; w * h];
        for x in 0..60 {
            prob[5 * w + x] = 0.9; // a one-pixel line
        }
        for y in 15..25 {
            for x in 10..40 {
                prob[y * w + x] = 0.35; // above the threshold, below the box threshold
            }
        }
        assert!(boxes_from_map(&prob, w, w, h, &DetParams::default()).is_empty());
    }
}
