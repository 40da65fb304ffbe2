//! The `text` detector: PP-OCR detection + recognition through ONNX Runtime.
//!
//! Detection runs per content block ([`regions`]), recognition in width-sorted batches. Both
//! results are cached by the pixels they came from, for one frame: the next frame re-detects
//! only blocks whose pixels changed and re-reads only lines whose pixels changed. Since the
//! blocks depend only on the frame, the result equals a cold run's on the same frame.

pub mod det;
pub mod languages;
pub mod rec;
pub mod regions;
mod second;
pub mod tess;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use std::time::Instant;

use image::RgbaImage;

use super::{Detector, ElementKind, ImageInfo, PerceiveError, Proposal, ms};
use crate::geometry::Rect;
use crate::onnx::ModelError;

pub use det::{DetParams, TextDetModel};
pub use rec::{Reading, TextRecModel};

pub const SOURCE: &str = "text";

/// Where the models are and how sure a reading must be.
#[derive(Debug, Clone, PartialEq)]
pub struct TextConfig {
    pub det: PathBuf,
    pub rec: PathBuf,
    /// One character per line; `None`: the recognition model's `character` metadata.
    pub dictionary: Option<PathBuf>,
    pub threads: usize,
    /// Readings less confident than this are dropped (icons read as "口" or "?").
    pub min_confidence: f32,
    /// The languages on screen (ISO 639-1): those PP-OCR cannot read get a second reader.
    pub languages: Vec<String>,
    /// Tesseract's data folder (None: TESSDATA_PREFIX, else the usual places).
    pub tessdata: Option<PathBuf>,
}

/// Counters of the last frame, for benchmarks and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TextStats {
    pub blocks: usize,
    pub blocks_detected: usize,
    pub lines: usize,
    pub lines_read: usize,
    /// Lines the second reader (Tesseract) was asked to read, and how many it read.
    pub lines_second: usize,
    pub lines_second_taken: usize,
    /// Milliseconds finding blocks, detecting and recognising (the second reader's time is
    /// part of `rec_ms` and on its own in `second_ms`).
    pub blocks_ms: f64,
    pub det_ms: f64,
    pub rec_ms: f64,
    pub second_ms: f64,
}

type BlockKey = (Rect, u64);
/// A line crop's size and pixels (not its position: the same label anywhere reads the same).
type LineKey = (u32, u32, u64);

/// Real pixels around a block given to the detector: DBNet misses text too close to the
/// edge of its input (seen: a menu bar 11 px from the top of a block went unseen).
const BLOCK_MARGIN: i32 = 24;

/// Confidence a one-character reading needs: below it, it is an icon read as a letter.
const SURE: f32 = 0.8;

/// Below this, a one- or two-character word at the end of a line is a fragment of an icon
/// or border cut by the line's box.
const UNSURE: f32 = 0.7;

/// Pixels kept left and right of a line's ink when reading it.
const REC_MARGIN: i32 = 4;

pub struct TextDetector {
    det: TextDetModel,
    pub rec: TextRecModel,
    /// The reader of the lines PP-OCR cannot read (Korean), when a language needs one.
    pub second: Option<tess::Tesseract>,
    min_confidence: f32,
    /// Caching between frames (on by default; off measures cold runs).
    pub reuse: bool,
    blocks: HashMap<BlockKey, Vec<(Rect, f32)>>,
    lines: HashMap<LineKey, Reading>,
    pub stats: TextStats,
}

impl TextDetector {
    pub fn open(env: &ort::environment::Environment, cfg: &TextConfig) -> Result<Self, ModelError> {
        let det = TextDetModel::open(env, &cfg.det, cfg.threads)?;
        let rec = TextRecModel::open(env, &cfg.rec, cfg.dictionary.as_deref(), cfg.threads)?;
        Ok(Self {
            det,
            rec,
            second: None,
            min_confidence: cfg.min_confidence,
            reuse: true,
            blocks: HashMap::new(),
            lines: HashMap::new(),
            stats: TextStats::default(),
        })
    }

    /// Text lines of the image: box, reading, confidence.
    pub fn read(&mut self, image: &RgbaImage) -> Result<Vec<(Rect, String, f32)>, ModelError> {
        let (w, h) = image.dimensions();
        let t = Instant::now();
        let blocks = regions::InkGrid::of(image).blocks();
        let mut stats = TextStats { blocks: blocks.len(), blocks_ms: ms(t), ..TextStats::default() };
        let t = Instant::now();
        let mut block_cache = HashMap::with_capacity(blocks.len());
        let mut boxes: Vec<(Rect, f32)> = Vec::new();
        for b in blocks {
            // A margin of real pixels around the block gives the detector context.
            let region = b.inflate(BLOCK_MARGIN).clamp_to(w, h);
            let key = (region, regions::region_hash(image, region));
            let found = match self.blocks.remove(&key).filter(|_| self.reuse) {
                Some(found) => found,
                None => {
                    stats.blocks_detected += 1;
                    self.det.detect(image, region)?
                }
            };
            // The margin may show the edge of a neighbouring block's text: each block keeps
            // only the lines centred in it.
            boxes.extend(found.iter().copied().filter(|(r, _)| {
                let (cx, cy) = r.center();
                b.contains_point(cx, cy)
            }));
            block_cache.insert(key, found);
        }
        self.blocks = block_cache;
        stats.det_ms = ms(t);
        let t = Instant::now();

        // Each line is read from its box narrowed to its ink (plus a small margin): less to
        // read, and identical labels anywhere on the screen (or moved since the last frame)
        // have identical crops, read once.
        // The crop read is the line's ink on its own background with a margin of that
        // background — not the real surroundings, whose borders, highlight bars and
        // neighbouring icons are read as letters otherwise.
        let lines: Vec<(LineCrop, Rect, LineKey)> = boxes
            .iter()
            .filter_map(|(r, _)| {
                let crop = LineCrop::of(image, *r)?;
                Some((crop, *r, crop.key(image)))
            })
            .collect();
        let previous = std::mem::take(&mut self.lines);
        let mut readings: HashMap<LineKey, Reading> = HashMap::with_capacity(lines.len());
        let mut todo: Vec<(LineKey, LineCrop, Rect)> = Vec::new();
        let mut queued: HashSet<LineKey> = HashSet::new();
        for (crop, det_box, key) in &lines {
            if readings.contains_key(key) || !queued.insert(*key) {
                continue;
            }
            if let Some(r) = previous.get(key).filter(|_| self.reuse) {
                readings.insert(*key, r.clone());
            } else {
                todo.push((*key, *crop, *det_box));
            }
        }
        stats.lines = lines.len();
        stats.lines_read = todo.len();
        let crops: Vec<RgbaImage> = todo.iter().map(|(_, c, _)| c.render(image)).collect();
        let first = self.rec.recognize(&crops)?;
        let t_second = Instant::now();
        for (((key, line, det_box), r), crop) in todo.iter().zip(first).zip(&crops) {
            let r = match self.second.as_mut() {
                Some(second) => {
                    second::read_again(second, image, *det_box, line, crop, r, self.min_confidence, &mut stats)
                }
                None => r,
            };
            readings.insert(*key, r);
        }
        stats.second_ms = ms(t_second);
        let mut out = Vec::new();
        for (crop, det_box, key) in &lines {
            for (rect, text, conf) in split_words(image, crop.tight, *det_box, &readings[key]) {
                // A lone character needs to be sure of itself: icons read as letters are not.
                let needed = if text.chars().count() == 1 { SURE } else { self.min_confidence };
                if conf >= needed && !is_decoration(&text) {
                    out.push((rect, text, conf));
                }
            }
        }
        self.lines = readings;
        stats.rec_ms = ms(t);
        self.stats = stats;
        tracing::debug!(?stats, "text");
        Ok(out)
    }
}

/// The crop read for a line: its ink box on the background of its detection box, with a
/// margin of that background — REC_MARGIN left and right, and above and below what its
/// detection box had (the recogniser is trained on such boxes; measured on our GTK screens,
/// crops with text at a fixed 44 % of their height read 93 of 107 names exactly instead of
/// 102, at 33 % only 67).
#[derive(Debug, Clone, Copy)]
struct LineCrop {
    tight: Rect,
    pad_y: u32,
    bg: [u8; 3],
}

impl LineCrop {
    fn of(image: &RgbaImage, det_box: Rect) -> Option<LineCrop> {
        let tight = regions::ink_bounds(image, det_box)?;
        let pad_y = ((det_box.h as i32 - tight.h as i32) / 2).max(2) as u32;
        let bg = regions::background(image, det_box.clamp_to(image.width(), image.height()));
        Some(LineCrop { tight, pad_y, bg })
    }

    fn size(&self) -> (u32, u32) {
        (self.tight.w + 2 * REC_MARGIN as u32, self.tight.h + 2 * self.pad_y)
    }

    /// Size and content, not position: the same label anywhere reads the same.
    fn key(&self, image: &RgbaImage) -> LineKey {
        let [r, g, b] = self.bg;
        let hash =
            regions::region_hash(image, self.tight) ^ u64::from_le_bytes([r, g, b, 0, 0, 0, 0, 0]).rotate_left(17);
        let (w, h) = self.size();
        (w, h, hash)
    }

    fn render(&self, image: &RgbaImage) -> RgbaImage {
        let (w, h) = self.size();
        let [r, g, b] = self.bg;
        let mut out = RgbaImage::from_pixel(w, h, image::Rgba([r, g, b, 255]));
        let t = self.tight;
        let ink = image::imageops::crop_imm(image, t.x as u32, t.y as u32, t.w, t.h);
        image::imageops::replace(&mut out, &*ink, REC_MARGIN as i64, self.pad_y as i64);
        out
    }
}

/// A line split where its ink has a gap wider than about a character: menu bars and tool
/// bars put separate targets on one line ("File  Edit  View"), and a tab's close button or a
/// button's icon sits beside its label. Characters go to the piece their position falls in.
fn split_words(image: &RgbaImage, line: Rect, crop: Rect, reading: &Reading) -> Vec<(Rect, String, f32)> {
    if reading.chars.iter().any(|(_, x, _)| *x < 0.0) || reading.text.is_empty() {
        return vec![(line, reading.text.clone(), reading.confidence)];
    }
    let inked = regions::inked_columns(image, crop, line);
    // Positions are in the read crop, which starts REC_MARGIN left of the ink.
    let left = (line.x - REC_MARGIN) as f32;
    let mut chars: Vec<(String, f32, f32)> = reading.chars.iter().map(|(c, x, p)| (c.clone(), left + x, *p)).collect();
    let row = line;
    let (mut keep_x0, mut keep_x1) = (line.x, line.right());
    // An icon, check box or radio indicator right beside a label is read as a letter ("O
    // radiobutton", "] checkbutton"): a first or last word of one or two characters that is
    // squarish and clearly taller than the rest of the line, or read without confidence, is
    // that, and goes.
    let words = ink_runs(&inked, line.x, 3);
    if words.len() >= 2 {
        let height_of = |x0: i32, x1: i32| {
            regions::ink_box(image, crop, Rect::from_edges(x0, row.y, x1, row.bottom())).map_or(0, |r| r.h)
        };
        let last = words.len() - 1;
        for (i, piece, rest) in
            [(0, words[0], (words[1].0, words[last].1)), (last, words[last], (words[0].0, words[last - 1].1))]
        {
            let Some(ink) = regions::ink_box(image, crop, Rect::from_edges(piece.0, row.y, piece.1, row.bottom()))
            else {
                continue;
            };
            let in_piece = |x: f32| x >= piece.0 as f32 - 2.0 && x <= piece.1 as f32 + 2.0;
            let count = chars.iter().filter(|(c, x, _)| !c.trim().is_empty() && in_piece(*x)).count();
            let squarish = (ink.w as f32) <= 1.6 * ink.h as f32 && (ink.w as f32) >= 0.5 * ink.h as f32;
            // Hangul syllables are squarish and stand taller than Latin letters: read with
            // confidence, they are words.
            let hangul = chars
                .iter()
                .filter(|(c, x, _)| !c.trim().is_empty() && in_piece(*x))
                .all(|(c, _, p)| c.chars().all(languages::is_hangul_syllable) && *p >= SURE);
            let icon = squarish && ink.h as f32 >= 1.15 * height_of(rest.0, rest.1) as f32 && !(hangul && count > 0);
            let unsure =
                chars.iter().filter(|(c, x, _)| !c.trim().is_empty() && in_piece(*x)).all(|(_, _, p)| *p < UNSURE);
            if count <= 2 && (icon || unsure) {
                chars.retain(|(_, x, _)| !in_piece(*x));
                if i == 0 {
                    keep_x0 = words[1].0;
                } else {
                    keep_x1 = words[last - 1].1;
                }
            }
        }
    }
    let line = if (keep_x0, keep_x1) == (row.x, row.right()) {
        row
    } else {
        match regions::ink_box(image, crop, Rect::from_edges(keep_x0, row.y, keep_x1, row.bottom())) {
            Some(r) if keep_x0 < keep_x1 => r,
            _ => return Vec::new(),
        }
    };
    // Targets: pieces between gaps wider than about a character.
    let min_gap = (line.h as f32 * 0.9).max(6.0) as i32;
    let inked = regions::inked_columns(image, crop, line);
    let pieces = ink_runs(&inked, line.x, min_gap);
    let mut texts: Vec<(String, Vec<f32>)> = vec![(String::new(), Vec::new()); pieces.len().max(1)];
    for (c, x, p) in &chars {
        let i = pieces
            .iter()
            .enumerate()
            .min_by(|a, b| dist(*x, *a.1).total_cmp(&dist(*x, *b.1)))
            .map(|(i, _)| i)
            .unwrap_or(0);
        texts[i].0.push_str(c);
        if !c.trim().is_empty() {
            texts[i].1.push(*p);
        }
    }
    let rects: Vec<Option<Rect>> = if pieces.len() < 2 {
        vec![Some(line)]
    } else {
        pieces
            .iter()
            .map(|&(x0, x1)| regions::ink_box(image, crop, Rect::from_edges(x0, line.y, x1, line.bottom())))
            .collect()
    };
    rects
        .into_iter()
        .zip(texts)
        .filter_map(|(rect, (text, probs))| {
            let text = text.trim().to_string();
            if text.is_empty() || probs.is_empty() {
                return None;
            }
            Some((rect?, text, probs.iter().sum::<f32>() / probs.len() as f32))
        })
        .collect()
}

/// Runs of inked columns (`inked[i]` is column `x0 + i`) separated by at least `min_gap`
/// empty columns, as `(first, last + 1)`.
fn ink_runs(inked: &[bool], x0: i32, min_gap: i32) -> Vec<(i32, i32)> {
    let mut runs: Vec<(i32, i32)> = Vec::new();
    let (mut start, mut last_ink, mut gap) = (None::<i32>, 0i32, 0i32);
    for (i, &ink) in inked.iter().enumerate() {
        let x = x0 + i as i32;
        if ink {
            if let Some(s) = start
                && gap >= min_gap
            {
                runs.push((s, last_ink + 1));
                start = None;
            }
            start.get_or_insert(x);
            last_ink = x;
            gap = 0;
        } else {
            gap += 1;
        }
    }
    if let Some(s) = start {
        runs.push((s, last_ink + 1));
    }
    runs
}

fn dist(x: f32, (x0, x1): (i32, i32)) -> f32 {
    if x < x0 as f32 {
        x0 as f32 - x
    } else if x > x1 as f32 {
        x - x1 as f32
    } else {
        0.0
    }
}

/// A lone symbol (an arrow, a box, a plus) is an icon read as a character, not a label.
fn is_decoration(text: &str) -> bool {
    let mut chars = text.chars();
    matches!((chars.next(), chars.next()), (Some(c), None) if !c.is_alphanumeric())
}

impl Detector for TextDetector {
    fn name(&self) -> &str {
        SOURCE
    }

    fn stages(&self) -> Vec<(String, f64)> {
        let s = &self.stats;
        let mut stages = vec![
            ("text:blocks".into(), s.blocks_ms),
            ("text:detect".into(), s.det_ms),
            ("text:recognise".into(), s.rec_ms - s.second_ms),
        ];
        if self.second.is_some() {
            stages.push(("text:second reader".into(), s.second_ms));
        }
        stages
    }

    fn forget(&mut self) {
        self.blocks.clear();
        self.lines.clear();
    }

    fn detect(&mut self, image: &RgbaImage, _info: &ImageInfo) -> Result<Vec<Proposal>, PerceiveError> {
        let lines =
            self.read(image).map_err(|e| PerceiveError::Detector { detector: SOURCE.into(), detail: e.to_string() })?;
        Ok(lines
            .into_iter()
            .map(|(rect, text, conf)| {
                let mut p = Proposal::new(rect, ElementKind::Text, conf, SOURCE);
                p.text = Some(text);
                p
            })
            .collect())
    }
}
