//! The built-in, model-free GUI element detector.
//!
//! 1. [`edges`]: every pixel is flat, ink (short edges: glyphs, icons) or line (long
//!    straight edges: borders, separators).
//! 2. Flat pixels split into regions bounded by edges. A region of control size that fills
//!    its box and touches all four sides of it is a control candidate (button face, entry,
//!    check box, selected row, tab, ...).
//! 3. Ink pixels form blobs, grouped into words and lines ([`text`]); a squarish lone blob
//!    is an icon.
//! 4. Structure: a candidate holding several items is a container (a list, a frame, a tab
//!    strip) and gives way to its items; of nested candidates the tighter one stays; a line
//!    inside a control is that control's content; a check box takes the label beside it.

mod controls;
pub mod edges;
pub mod text;

use image::RgbaImage;
use serde::{Deserialize, Serialize};

use super::components::{Connectivity, label};
use super::{Detector, PerceiveError, Proposal};
use crate::geometry::Rect;

/// Tunables of the built-in detector. The defaults suit ordinary desktop GUIs at 1× to 2×.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BuiltinConfig {
    /// Channel difference between neighbours that counts as an edge.
    pub edge_threshold: u8,
    /// Horizontal edge runs at least this long are lines (borders), not ink.
    pub line_min_h: u32,
    /// Vertical edge runs at least this long are lines.
    pub line_min_v: u32,
    /// Smallest control side, in pixels.
    pub min_control: u32,
    /// Largest control, as a fraction of the image's width and height.
    pub max_control_frac: f32,
    /// Largest gap inside a line of text, per unit of line height.
    pub word_gap: f32,
}

impl Default for BuiltinConfig {
    fn default() -> Self {
        Self {
            edge_threshold: 24,
            line_min_h: 28,
            line_min_v: 22,
            min_control: 8,
            max_control_frac: 0.7,
            word_gap: 0.75,
        }
    }
}

impl BuiltinConfig {
    /// Scale the pixel sizes for a HiDPI frame (scale 2 → borders and glyphs twice as big).
    pub fn scaled(&self, scale: f64) -> Self {
        let s = scale.clamp(0.5, 4.0);
        let px = |v: u32| ((v as f64 * s).round() as u32).max(1);
        Self {
            line_min_h: px(self.line_min_h),
            line_min_v: px(self.line_min_v),
            min_control: px(self.min_control),
            ..*self
        }
    }
}

/// The built-in detector (source name `builtin`).
#[derive(Debug, Clone, Default)]
pub struct BuiltinDetector {
    pub config: BuiltinConfig,
}

pub const SOURCE: &str = "builtin";

impl BuiltinDetector {
    pub fn new(config: BuiltinConfig) -> Self {
        Self { config }
    }
}

impl Detector for BuiltinDetector {
    fn name(&self) -> &str {
        SOURCE
    }

    fn detect(&mut self, image: &RgbaImage) -> Result<Vec<Proposal>, PerceiveError> {
        let (w, h) = image.dimensions();
        if w == 0 || h == 0 {
            return Err(PerceiveError::EmptyImage { width: w, height: h });
        }
        Ok(detect(image, &self.config))
    }
}

/// Run the whole detector on one image.
pub fn detect(image: &RgbaImage, cfg: &BuiltinConfig) -> Vec<Proposal> {
    let (w, h) = image.dimensions();
    let mask = edges::classify(image.as_raw(), w, h, cfg.edge_threshold, cfg.line_min_h, cfg.line_min_v);

    let regions = label(&mask, w, h, edges::FLAT, Connectivity::Four);
    let candidates = controls::candidates(image, &regions, cfg);

    let ink = label(&mask, w, h, edges::INK, Connectivity::Eight);
    let max_blob_h = (h / 8).clamp(24, 96);
    let blobs: Vec<(Rect, u32)> = ink
        .comps
        .iter()
        .filter(|c| c.height() <= max_blob_h && c.width() <= w / 3 && c.count >= 2)
        .map(|c| (c.rect(), c.count))
        .collect();
    let lines = text::paragraphs(text::group(blobs, text::Grouping { gap_per_height: cfg.word_gap, min_gap: 3 }));

    controls::assemble(image, candidates, lines, cfg)
}
