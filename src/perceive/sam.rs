//! SAM-family segmenters (SAM, MobileSAM, EfficientSAM exports in the standard layout).
//!
//! The encoder runs once per frame: the image scaled so its longest side is 1024, SAM's
//! mean/std, padded bottom-right to 1024×1024 (`[1,3,1024,1024]`), or, for exports that
//! pre-process inside the graph, the scaled image as `[H,W,3]` in 0..255. The decoder then
//! runs once per prompt — a box another detector found (labels 2 and 3), or a point of a
//! coarse grid (label 1) when there are no boxes — with the inputs `image_embeddings,
//! point_coords, point_labels, mask_input, has_mask_input, orig_im_size` and outputs
//! `masks, iou_predictions, low_res_masks`. Masks come back at the scaled size (we pass that
//! as `orig_im_size`, which keeps them a quarter of a full-resolution mask on a 1080p
//! screen) and are mapped to the frame. A mask is kept when its predicted IoU and its
//! stability (area above +1 over area above -1 in logit space) are high enough; masks
//! covering the same thing are de-duplicated.

use std::path::{Path, PathBuf};

use image::RgbaImage;
use image::imageops::{self, FilterType};
use ort::session::Session;
use ort::value::{Tensor, TensorElementType};

use super::{Detector, ElementKind, ImageInfo, Mask, PerceiveError, Proposal};
use crate::geometry::Rect;
use crate::onnx::{self, ModelError};

pub const SOURCE: &str = "sam";
const SIDE: usize = 1024;
const MEAN: [f32; 3] = [123.675, 116.28, 103.53];
const STD: [f32; 3] = [58.395, 57.12, 57.375];
const DECODER_INPUTS: [&str; 6] =
    ["image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size"];

pub struct SamSegmenter {
    encoder: Session,
    decoder: Session,
    encoder_path: PathBuf,
    decoder_path: PathBuf,
    /// `true`: the encoder takes `[H,W,3]` 0..255 and normalises itself.
    hwc_input: bool,
    /// Points per side of the grid used when no boxes are given.
    pub grid: usize,
    pub min_iou: f32,
    pub min_stability: f32,
    /// At most this many box prompts per frame (largest first).
    pub max_prompts: usize,
}

/// Decoder points (scaled frame), their labels, and the box prompt's index if any.
type Prompt = (Vec<[f32; 2]>, Vec<f32>, Option<usize>);

/// A kept mask in frame pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub mask: Mask,
    pub iou: f32,
    pub stability: f32,
    /// The prompt box's index, for box prompts.
    pub prompt: Option<usize>,
}

impl SamSegmenter {
    pub fn open(
        env: &ort::environment::Environment,
        encoder_path: &Path,
        decoder_path: &Path,
        threads: usize,
    ) -> Result<Self, ModelError> {
        let encoder = onnx::open_session(env, encoder_path, threads, "give the path of a SAM image encoder")?;
        let decoder = onnx::open_session(env, decoder_path, threads, "give the path of a SAM mask decoder")?;
        let input = encoder.inputs().first().map(|i| (onnx::tensor_rank(i.dtype()), i.dtype()));
        let side_ok = |t: &ort::value::ValueType, dims: [usize; 2]| {
            dims.iter().all(|&d| onnx::fixed_dim(t, d).is_none_or(|v| v == SIDE as i64))
        };
        let output_ok = encoder
            .outputs()
            .first()
            .is_some_and(|o| onnx::tensor_rank(o.dtype()) == Some((TensorElementType::Float32, 4)));
        let hwc_input = match input {
            Some((Some((TensorElementType::Float32, 4)), t)) if side_ok(t, [2, 3]) && output_ok => false,
            Some((Some((TensorElementType::Float32, 3)), _)) if output_ok => true,
            _ => {
                return Err(ModelError::layout(
                    encoder_path,
                    "SAM image encoder",
                    "an input f32[1,3,1024,1024] (or f32[H,W,3]) and an output f32[1,256,64,64]",
                    &encoder,
                ));
            }
        };
        let names: Vec<&str> = decoder.inputs().iter().map(|i| i.name()).collect();
        let outs: Vec<&str> = decoder.outputs().iter().map(|o| o.name()).collect();
        if DECODER_INPUTS.iter().any(|n| !names.contains(n))
            || !outs.contains(&"masks")
            || !outs.contains(&"iou_predictions")
        {
            return Err(ModelError::layout(
                decoder_path,
                "SAM mask decoder",
                "inputs image_embeddings, point_coords, point_labels, mask_input, has_mask_input, orig_im_size and outputs masks, iou_predictions",
                &decoder,
            ));
        }
        Ok(Self {
            encoder,
            decoder,
            encoder_path: encoder_path.into(),
            decoder_path: decoder_path.into(),
            hwc_input,
            grid: 8,
            min_iou: 0.7,
            min_stability: 0.85,
            max_prompts: 48,
        })
    }

    /// Segment the image, prompted by `boxes` (frame pixels) or, when empty, by the grid.
    pub fn segment(&mut self, image: &RgbaImage, boxes: &[Rect]) -> Result<Vec<Segment>, ModelError> {
        let (iw, ih) = image.dimensions();
        let scale = SIDE as f64 / iw.max(ih) as f64;
        let (sw, sh) = (((iw as f64 * scale).round() as usize).max(1), ((ih as f64 * scale).round() as usize).max(1));
        let embeddings = self.encode(image, sw, sh)?;
        let prompts: Vec<Prompt> = if boxes.is_empty() {
            let n = self.grid.max(1);
            (0..n * n)
                .map(|i| {
                    let (gx, gy) = ((i % n) as f64 + 0.5, (i / n) as f64 + 0.5);
                    let p = [(gx / n as f64 * sw as f64) as f32, (gy / n as f64 * sh as f64) as f32];
                    (vec![p, [0.0, 0.0]], vec![1.0, -1.0], None)
                })
                .collect()
        } else {
            let mut order: Vec<usize> = (0..boxes.len()).collect();
            order.sort_by_key(|&i| std::cmp::Reverse(boxes[i].area()));
            order.truncate(self.max_prompts);
            order.sort();
            order
                .into_iter()
                .map(|i| {
                    let b = boxes[i];
                    let s = |v: i32| (v as f64 * scale) as f32;
                    (vec![[s(b.x), s(b.y)], [s(b.right()), s(b.bottom())]], vec![2.0, 3.0], Some(i))
                })
                .collect()
        };
        let mut out: Vec<Segment> = Vec::new();
        for (points, labels, prompt) in prompts {
            if let Some(seg) = self.decode(&embeddings, &points, &labels, (sw, sh), (iw, ih), scale)? {
                out.push(Segment { prompt, ..seg });
            }
        }
        Ok(dedup(out))
    }

    fn encode(&mut self, image: &RgbaImage, sw: usize, sh: usize) -> Result<(Vec<i64>, Vec<f32>), ModelError> {
        let path = self.encoder_path.clone();
        let err = |e: ort::Error| ModelError::Other { path: path.clone(), detail: e.to_string() };
        let scaled = imageops::resize(image, sw as u32, sh as u32, FilterType::Triangle);
        let tensor = if self.hwc_input {
            let data: Vec<f32> = scaled.pixels().flat_map(|p| [p[0] as f32, p[1] as f32, p[2] as f32]).collect();
            Tensor::from_array(([sh, sw, 3], data)).map_err(err)?
        } else {
            let plane = SIDE * SIDE;
            let mut data = vec![0f32; 3 * plane];
            for (x, y, p) in scaled.enumerate_pixels() {
                let o = y as usize * SIDE + x as usize;
                for c in 0..3 {
                    data[c * plane + o] = (p[c] as f32 - MEAN[c]) / STD[c];
                }
            }
            Tensor::from_array(([1usize, 3, SIDE, SIDE], data)).map_err(err)?
        };
        let input = self.encoder.inputs()[0].name().to_string();
        let outputs = self.encoder.run(ort::inputs![input.as_str() => tensor]).map_err(err)?;
        let (shape, values) = outputs[0].try_extract_tensor::<f32>().map_err(err)?;
        let dims: Vec<i64> = shape.iter().copied().collect();
        if dims.len() != 4 || dims[0] != 1 {
            return Err(ModelError::Other { path, detail: format!("expected embeddings of 1xCxHxW, got {dims:?}") });
        }
        Ok((dims, values.to_vec()))
    }

    fn decode(
        &mut self,
        (dims, embeddings): &(Vec<i64>, Vec<f32>),
        points: &[[f32; 2]],
        labels: &[f32],
        (sw, sh): (usize, usize),
        (iw, ih): (u32, u32),
        scale: f64,
    ) -> Result<Option<Segment>, ModelError> {
        let path = self.decoder_path.clone();
        let err = |e: ort::Error| ModelError::Other { path: path.clone(), detail: e.to_string() };
        let shape: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
        let n = points.len();
        let inputs = ort::inputs![
            "image_embeddings" => Tensor::from_array((shape, embeddings.clone())).map_err(err)?,
            "point_coords" => Tensor::from_array(([1usize, n, 2], points.iter().flatten().copied().collect::<Vec<f32>>())).map_err(err)?,
            "point_labels" => Tensor::from_array(([1usize, n], labels.to_vec())).map_err(err)?,
            "mask_input" => Tensor::from_array(([1usize, 1, 256, 256], vec![0f32; 256 * 256])).map_err(err)?,
            "has_mask_input" => Tensor::from_array(([1usize], vec![0f32])).map_err(err)?,
            "orig_im_size" => Tensor::from_array(([2usize], vec![sh as f32, sw as f32])).map_err(err)?,
        ];
        let outputs = self.decoder.run(inputs).map_err(err)?;
        let (mshape, masks) = outputs["masks"].try_extract_tensor::<f32>().map_err(err)?;
        let (_, ious) = outputs["iou_predictions"].try_extract_tensor::<f32>().map_err(err)?;
        let md: Vec<usize> = mshape.iter().map(|&d| d.max(0) as usize).collect();
        if md.len() != 4 || md[2] != sh || md[3] != sw || ious.len() < md[1] {
            return Err(ModelError::Other {
                path,
                detail: format!("expected masks of 1xKx{sh}x{sw} and K IoU predictions, got {md:?} and {}", ious.len()),
            });
        }
        let plane = sh * sw;
        // The best of the K masks by predicted IoU.
        let Some(k) = (0..md[1]).max_by(|&a, &b| ious[a].total_cmp(&ious[b])) else { return Ok(None) };
        let logits = &masks[k * plane..(k + 1) * plane];
        let (hi, lo) = (logits.iter().filter(|&&v| v > 1.0).count(), logits.iter().filter(|&&v| v > -1.0).count());
        let stability = if lo == 0 { 0.0 } else { hi as f32 / lo as f32 };
        if ious[k] < self.min_iou || stability < self.min_stability {
            return Ok(None);
        }
        Ok(mask_in_frame(logits, sw, sh, iw, ih, scale).map(|mask| Segment {
            mask,
            iou: ious[k],
            stability,
            prompt: None,
        }))
    }
}

/// A scaled-frame logit mask → a [`Mask`] in frame pixels (nearest sample), `None` if empty.
fn mask_in_frame(logits: &[f32], sw: usize, sh: usize, iw: u32, ih: u32, scale: f64) -> Option<Mask> {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..sh {
        for x in 0..sw {
            if logits[y * sw + x] > 0.0 {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
            }
        }
    }
    if x0 >= x1 {
        return None;
    }
    let to_frame = |v: usize| (v as f64 / scale).round() as i32;
    let bbox = Rect::from_edges(to_frame(x0), to_frame(y0), to_frame(x1), to_frame(y1)).clamp_to(iw, ih);
    if bbox.is_empty() {
        return None;
    }
    let mut bits = Vec::with_capacity(bbox.area() as usize);
    for fy in bbox.y..bbox.bottom() {
        let sy = (((fy as f64 + 0.5) * scale) as usize).min(sh - 1);
        for fx in bbox.x..bbox.right() {
            let sx = (((fx as f64 + 0.5) * scale) as usize).min(sw - 1);
            bits.push(logits[sy * sw + sx] > 0.0);
        }
    }
    Some(Mask { bbox, bits })
}

/// Masks covering the same region (box IoU > 0.8) keep the most confident.
fn dedup(mut segs: Vec<Segment>) -> Vec<Segment> {
    segs.sort_by(|a, b| (b.iou * b.stability).total_cmp(&(a.iou * a.stability)));
    let mut kept: Vec<Segment> = Vec::new();
    for s in segs {
        if !kept.iter().any(|k| k.mask.bbox.iou(&s.mask.bbox) > 0.8) {
            kept.push(s);
        }
    }
    kept.sort_by_key(|s| (s.mask.bbox.y, s.mask.bbox.x));
    kept
}

impl Detector for SamSegmenter {
    fn name(&self) -> &str {
        SOURCE
    }

    fn detect(&mut self, image: &RgbaImage, info: &ImageInfo) -> Result<Vec<Proposal>, PerceiveError> {
        self.detect_with_prior(image, info, &[])
    }

    fn uses_prior(&self) -> bool {
        true
    }

    fn detect_with_prior(
        &mut self,
        image: &RgbaImage,
        _info: &ImageInfo,
        prior: &[Proposal],
    ) -> Result<Vec<Proposal>, PerceiveError> {
        let boxes: Vec<Rect> = prior.iter().map(|p| p.bbox).collect();
        let segs = self
            .segment(image, &boxes)
            .map_err(|e| PerceiveError::Detector { detector: SOURCE.into(), detail: e.to_string() })?;
        Ok(segs
            .into_iter()
            .map(|s| {
                let kind = s.prompt.map_or(ElementKind::Other, |i| prior[i].kind);
                let mut p = Proposal::new(s.mask.bbox, kind, s.iou, SOURCE);
                p.mask = Some(s.mask);
                p
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scaled_mask_maps_back_to_frame_pixels() {
        // A 2000×1000 frame scales by 0.512 to 1024×512; a logit square at 100..200 there is
        // 195..391 in the frame.
        let (sw, sh) = (1024, 512);
        let mut logits = vec![-5.0f32; sw * sh];
        for y in 100..200 {
            for x in 100..200 {
                logits[y * sw + x] = 5.0;
            }
        }
        let m = mask_in_frame(&logits, sw, sh, 2000, 1000, 0.512).unwrap();
        assert_eq!(m.bbox, Rect::from_edges(195, 195, 391, 391));
        assert!(m.get(290, 290) && !m.get(194, 290) && !m.get(392, 300));
    }

    #[test]
    fn duplicate_masks_keep_the_most_confident() {
        let seg = |x, iou| Segment {
            mask: Mask { bbox: Rect::new(x, 0, 50, 50), bits: vec![true; 2500] },
            iou,
            stability: 0.95,
            prompt: None,
        };
        let kept = dedup(vec![seg(0, 0.8), seg(2, 0.9), seg(200, 0.75)]);
        assert_eq!(kept.iter().map(|s| (s.mask.bbox.x, s.iou)).collect::<Vec<_>>(), vec![(2, 0.9), (200, 0.75)]);
    }
}
