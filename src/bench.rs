//! bench: time every hot perception stage over a set of screens.
//!
//! `markpilot bench` prints, per image and stage, the median and 95th-percentile
//! milliseconds, the elements found and the process's peak memory. Timing lives here, in
//! benchmarks; tests never assert on time.

use std::time::Instant;

use image::RgbaImage;
use serde::Serialize;

use crate::annotate::{AnnotateError, encode_png};
use crate::capture::{Capturer, Target};
use crate::mark::{self, MarkOptions};
use crate::perceive::{ImageInfo, Pipeline, ms};

/// One screen to benchmark.
pub struct BenchInput {
    pub name: String,
    pub image: RgbaImage,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageStats {
    pub stage: String,
    pub median_ms: f64,
    pub p95_ms: f64,
    pub runs: usize,
}

impl StageStats {
    pub fn from_samples(stage: &str, mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            if samples.is_empty() {
                return 0.0;
            }
            let i = ((samples.len() - 1) as f64 * q).round() as usize;
            (samples[i] * 100.0).round() / 100.0
        };
        Self { stage: stage.to_string(), median_ms: pick(0.5), p95_ms: pick(0.95), runs: samples.len() }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageBench {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub elements: usize,
    pub stages: Vec<StageStats>,
    /// Re-finding every element on a moved copy of the screen (replay).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refind: Option<RefindTally>,
}

/// How re-finding every element of a screen on a moved copy went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RefindTally {
    /// The copy's shift, in pixels.
    pub shift: (i32, i32),
    pub targets: usize,
    /// Accepted, on the element at the shifted place (box overlap ≥ 0.5).
    pub right: usize,
    /// Accepted, somewhere else: a wrong click.
    pub wrong: usize,
    /// Not accepted (not confident or ambiguous): replay would stop or ask.
    pub declined: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub images: Vec<ImageBench>,
    /// Capturing the chosen monitor, when a display was available.
    pub capture: Option<ImageBench>,
    pub peak_rss_mb: Option<f64>,
}

/// Peak resident memory of this process (Linux: VmHWM), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Run perception (the same [`Pipeline`] `annotate` runs) → mark → encode `runs` times
/// over one image, after one unmeasured warm-up run: page faults and first-touch
/// allocations are start-up costs, not the stages'. Every measured run is cold (the
/// pipeline forgets the previous frame). Then, when `changed` is given (the same screen
/// with a small part changed), the next step of an agent: perceive the image, then time
/// perceiving `changed`, reusing what did not change.
pub fn bench_image(
    input: &BenchInput,
    runs: usize,
    pipeline: &mut Pipeline,
    marks: &MarkOptions,
    changed: Option<&RgbaImage>,
    mut progress: impl FnMut(),
) -> Result<ImageBench, AnnotateError> {
    let (w, h) = input.image.dimensions();
    let info = ImageInfo::default();
    let mut per_stage: Vec<(String, Vec<f64>)> = Vec::new();
    // What the agent sends a model: the marked screen, downscaled to a profile's limit, as JPEG.
    let profile = crate::decide::ProviderProfile::default();
    let sent = crate::decide::sent_size(w, h, &profile);
    let mut elements = 0;
    pipeline.forget();
    pipeline.perceive(&input.image, &info)?;
    for _ in 0..runs.max(1) {
        pipeline.forget();
        let t0 = Instant::now();
        let (scene, timings) = pipeline.perceive(&input.image, &info)?;
        push_perception(&timings, pipeline, "perceive (cold)", ms(t0), &mut per_stage);
        let t = Instant::now();
        let (marked, _) = mark::render(&input.image, &scene, marks);
        push("mark", ms(t), &mut per_stage);
        push("perceive+mark", ms(t0), &mut per_stage);
        let t = Instant::now();
        let png = encode_png(&marked)?;
        push("encode:png", ms(t), &mut per_stage);
        std::hint::black_box(png);
        let t = Instant::now();
        let jpeg =
            crate::decide::encode_image(&marked, &sent, &profile).map_err(|e| AnnotateError::Encode(e.to_string()))?;
        push("encode:vlm-jpeg", ms(t), &mut per_stage);
        std::hint::black_box(jpeg);
        elements = scene.elements.len();
        progress();
    }
    if let Some(next) = changed.filter(|c| c.dimensions() == (w, h)) {
        let share = changed_share(&input.image, next);
        let stage = format!("perceive (next step, {:.1}% changed)", share * 100.0);
        for _ in 0..runs.max(1) {
            pipeline.forget();
            pipeline.perceive(&input.image, &info)?;
            let t = Instant::now();
            pipeline.perceive(next, &info)?;
            push(&stage, ms(t), &mut per_stage);
        }
    }
    let refind = refind_moved(&input.image, pipeline, &mut per_stage)?;
    Ok(ImageBench {
        name: input.name.clone(),
        width: w,
        height: h,
        elements,
        stages: per_stage.into_iter().map(|(name, samples)| StageStats::from_samples(&name, samples)).collect(),
        refind: Some(refind),
    })
}

/// Replay's search, timed: perceive the screen and a copy of it moved by (37, 23) pixels (a
/// window dragged a little), then re-find every element of the first on the second.
fn refind_moved(
    image: &RgbaImage,
    pipeline: &mut Pipeline,
    per_stage: &mut Vec<(String, Vec<f64>)>,
) -> Result<RefindTally, AnnotateError> {
    use crate::replay::refind::{ScreenView, refind};
    let shift = (37, 23);
    let moved = shifted(image, shift.0, shift.1);
    let info = ImageInfo::default();
    pipeline.forget();
    let (a, _) = pipeline.perceive(image, &info)?;
    pipeline.forget();
    let (b, _) = pipeline.perceive(&moved, &info)?;
    let view = |elements, image| ScreenView { elements, image, windows: &[], scale: 1.0 };
    let (va, vb) = (view(&a.elements, image), view(&b.elements, &moved));
    let mut tally = RefindTally { shift, ..Default::default() };
    let stage = "refind (per target, moved)";
    for e in &a.elements {
        let expected = crate::Rect { x: e.bbox.x + shift.0, y: e.bbox.y + shift.1, ..e.bbox };
        if expected.right() > moved.width() as i32 || expected.bottom() > moved.height() as i32 {
            continue; // moved off the screen
        }
        let t = Instant::now();
        let r = refind(e, &va, &vb);
        push(stage, ms(t), per_stage);
        tally.targets += 1;
        match r.found {
            Some(c) if c.bbox.iou(&expected) >= 0.5 => tally.right += 1,
            Some(_) => tally.wrong += 1,
            None => tally.declined += 1,
        }
    }
    Ok(tally)
}

/// `image` moved right and down by (dx, dy), the uncovered strip filled with its corner colour.
fn shifted(image: &RgbaImage, dx: i32, dy: i32) -> RgbaImage {
    let mut out = RgbaImage::from_pixel(image.width(), image.height(), *image.get_pixel(0, 0));
    image::imageops::replace(&mut out, image, dx as i64, dy as i64);
    out
}

/// One perception's stages: each detector, each detector's own stages, fusion, the whole.
fn push_perception(
    timings: &crate::perceive::PerceiveTimings,
    pipeline: &Pipeline,
    whole: &str,
    whole_ms: f64,
    per_stage: &mut Vec<(String, Vec<f64>)>,
) {
    for (name, t) in &timings.detectors {
        push(&format!("detect:{name}"), *t, per_stage);
    }
    for (name, t) in pipeline.stages() {
        push(&name, t, per_stage);
    }
    push("fusion+numbering", timings.fusion, per_stage);
    push(whole, whole_ms, per_stage);
}

fn push(name: &str, v: f64, per_stage: &mut Vec<(String, Vec<f64>)>) {
    match per_stage.iter_mut().find(|(n, _)| n == name) {
        Some((_, samples)) => samples.push(v),
        None => per_stage.push((name.to_string(), vec![v])),
    }
}

/// The share of pixels that differ between two images of one size.
pub fn changed_share(a: &RgbaImage, b: &RgbaImage) -> f64 {
    let differ = a.pixels().zip(b.pixels()).filter(|(p, q)| p != q).count();
    differ as f64 / (a.width() as f64 * a.height() as f64).max(1.0)
}

/// The screen of an agent's next step: `image` with `dialog` drawn over its middle.
pub fn with_dialog(image: &RgbaImage, dialog: &RgbaImage) -> RgbaImage {
    let mut out = image.clone();
    let x = (image.width() as i64 - dialog.width() as i64) / 2;
    let y = (image.height() as i64 - dialog.height() as i64) / 2;
    image::imageops::replace(&mut out, dialog, x, y);
    out
}

/// Capture `target` `runs` times.
pub fn bench_capture(capturer: &dyn Capturer, target: &Target, runs: usize) -> Result<ImageBench, AnnotateError> {
    let mut samples = Vec::new();
    let (mut w, mut h) = (0, 0);
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let f = capturer.capture(target)?;
        samples.push(ms(t));
        (w, h) = f.image.dimensions();
    }
    Ok(ImageBench {
        name: "capture".into(),
        width: w,
        height: h,
        elements: 0,
        stages: vec![StageStats::from_samples("capture", samples)],
        refind: None,
    })
}

/// The live screen, as the agent perceives it at every step: capture, then perceive with
/// the frame's place on the desktop known (what the accessibility tree needs).
pub fn bench_live(
    capturer: &dyn Capturer,
    target: &Target,
    runs: usize,
    pipeline: &mut Pipeline,
) -> Result<ImageBench, AnnotateError> {
    let mut per_stage: Vec<(String, Vec<f64>)> = Vec::new();
    let (mut w, mut h, mut elements) = (0, 0, 0);
    for _ in 0..runs.max(1) {
        let t0 = Instant::now();
        let frame = capturer.capture(target)?;
        push("capture", ms(t0), &mut per_stage);
        let scale = frame.monitor().map_or(1.0, |m| m.ratio().0);
        let info = ImageInfo { scale, screen: frame.mapping.clone() };
        pipeline.forget();
        let t = Instant::now();
        let (scene, timings) = pipeline.perceive(&frame.image, &info)?;
        push_perception(&timings, pipeline, "perceive", ms(t), &mut per_stage);
        push("capture+perceive", ms(t0), &mut per_stage);
        (w, h) = frame.image.dimensions();
        elements = scene.elements.len();
    }
    Ok(ImageBench {
        name: "live".into(),
        width: w,
        height: h,
        elements,
        stages: per_stage.into_iter().map(|(name, samples)| StageStats::from_samples(&name, samples)).collect(),
        refind: None,
    })
}

/// Screens that ship with markpilot for `bench` without arguments: GTK applications
/// (gtk3-widget-factory's three pages, a zenity form) captured by markpilot under Xvfb.
pub fn builtin_screens() -> Vec<BenchInput> {
    let raw: [(&str, &[u8]); 4] = [
        ("widget-factory-page1", include_bytes!("../assets/screens/widget-factory-page1.png")),
        ("widget-factory-page2", include_bytes!("../assets/screens/widget-factory-page2.png")),
        ("widget-factory-page3", include_bytes!("../assets/screens/widget-factory-page3.png")),
        ("zenity-forms", include_bytes!("../assets/screens/zenity-forms.png")),
    ];
    raw.iter()
        .filter_map(|(name, bytes)| {
            let img = image::load_from_memory(bytes).ok()?.into_rgba8();
            Some(BenchInput { name: name.to_string(), image: img })
        })
        .collect()
}

/// How the pipeline did on a ground-truth set: each image perceived once, cold, as
/// `annotate --image` does (no scale given: it is estimated), timed and scored.
#[derive(Debug, Clone, Serialize)]
pub struct SetReport {
    pub images: usize,
    pub overall: crate::score::Figures,
    pub per_source: std::collections::BTreeMap<String, crate::score::Figures>,
    pub per_app: std::collections::BTreeMap<String, crate::score::Figures>,
    pub per_role: std::collections::BTreeMap<String, crate::score::RoleFigures>,
    /// Median and p95 over the images of each stage: per detector, fusion, mark, and
    /// detect + fusion + mark as the wall clock saw it.
    pub stages: Vec<StageStats>,
    /// The share of text-region pixels hidden under number badges (the data a model reads).
    pub badge_text_cover: f64,
    /// Whether the marks can be read and leave the data readable.
    pub legibility: Legibility,
    #[serde(skip)]
    pub scores: Vec<crate::score::ImageScore>,
    /// Per image: the elements' boxes, as `annotate --json` gives them.
    #[serde(skip)]
    pub predictions: std::collections::BTreeMap<String, Vec<crate::geometry::Rect>>,
}

/// How legible the marks are, over a set.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Legibility {
    /// The share of the text's ink (pixels of a text region that stand out from its
    /// background) under badges.
    pub ink_under_badges: f64,
    /// The screens where most ink is under badges, most first (file, share).
    pub worst_ink: Vec<(String, f64)>,
    pub badges: usize,
    /// Badges over the box of another mark (one that does not hold the badge's own element,
    /// as a row holds its check box).
    pub badges_on_other_boxes: usize,
    /// The badge digits' height in the image a model gets at `max_side` 1280: the smallest
    /// badge's over the screens, and that screen.
    pub min_digit_px_sent: f64,
    pub min_digit_screen: String,
}

/// Pixels of a text region further than this (in luminance, 0–255) from its border's median
/// are ink.
const INK_CONTRAST: f64 = 48.0;

fn luma(p: &image::Rgba<u8>) -> f64 {
    0.299 * p.0[0] as f64 + 0.587 * p.0[1] as f64 + 0.114 * p.0[2] as f64
}

/// The text's ink under badges on one screen: (ink pixels under a badge, ink pixels).
pub fn ink_cover(
    image: &RgbaImage,
    texts: &[crate::geometry::Rect],
    badges: impl Iterator<Item = crate::geometry::Rect>,
) -> (u64, u64) {
    let (width, height) = image.dimensions();
    let (w, h) = (width as usize, height as usize);
    let mut mask = vec![0u8; w * h];
    for t in texts {
        let r = t.clamp_to(width, height);
        if r.w < 2 || r.h < 2 {
            continue;
        }
        let (x0, y0, x1, y1) = (r.x as u32, r.y as u32, r.right() as u32 - 1, r.bottom() as u32 - 1);
        let mut border: Vec<f64> = (x0..=x1)
            .flat_map(|x| [(x, y0), (x, y1)])
            .chain((y0..=y1).flat_map(|y| [(x0, y), (x1, y)]))
            .map(|(x, y)| luma(image.get_pixel(x, y)))
            .collect();
        border.sort_by(f64::total_cmp);
        let bg = border[border.len() / 2];
        for y in y0..=y1 {
            for x in x0..=x1 {
                if (luma(image.get_pixel(x, y)) - bg).abs() > INK_CONTRAST {
                    mask[y as usize * w + x as usize] = 1;
                }
            }
        }
    }
    for b in badges {
        let r = b.clamp_to(width, height);
        for y in r.y.max(0) as usize..(r.bottom().max(0) as usize).min(h) {
            for v in &mut mask[y * w + r.x.max(0) as usize..y * w + (r.right().max(0) as usize).min(w)] {
                *v |= 2;
            }
        }
    }
    let ink = mask.iter().filter(|&&v| v & 1 != 0).count() as u64;
    let under = mask.iter().filter(|&&v| v == 3).count() as u64;
    (under, ink)
}

/// Badges that overlap the box of an element other than their own that does not hold it.
pub fn badges_on_other_boxes(elements: &[crate::perceive::Element], placed: &[mark::PlacedMark]) -> usize {
    placed
        .iter()
        .filter(|p| {
            let Some(own) = elements.iter().find(|e| e.id == p.id) else { return false };
            elements.iter().any(|e| e.id != p.id && e.bbox.intersects(&p.badge) && !e.bbox.contains(&own.bbox))
        })
        .count()
}

/// Run `pipeline` over every image of the set at `truth_path` (images beside it).
pub fn bench_set(
    truth_path: &std::path::Path,
    pipeline: &mut Pipeline,
    marks: &MarkOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<SetReport, AnnotateError> {
    use crate::score;
    let truth = score::Truth::load(truth_path)?;
    let dir = truth_path.parent().unwrap_or(std::path::Path::new("."));
    let mut per_stage: Vec<(String, Vec<f64>)> = Vec::new();
    let mut predictions = std::collections::BTreeMap::new();
    let (mut covered, mut text_px) = (0u64, 0u64);
    let (mut ink_under, mut ink_px) = (0u64, 0u64);
    let mut legibility = Legibility { min_digit_px_sent: f64::INFINITY, ..Default::default() };
    let mut ink_shares: Vec<(String, f64)> = Vec::new();
    for (i, im) in truth.images.iter().enumerate() {
        progress(i, truth.images.len());
        let image = crate::annotate::load_image(&dir.join(&im.file))?;
        pipeline.forget();
        let t0 = Instant::now();
        let t = Instant::now();
        let info = ImageInfo::new(crate::perceive::builtin::estimate_scale(&image, &Default::default()));
        push("scale estimate", ms(t), &mut per_stage);
        let (scene, timings) = pipeline.perceive(&image, &info)?;
        for (name, t) in &timings.detectors {
            push(&format!("detect:{name}"), *t, &mut per_stage);
        }
        push("fusion+numbering", timings.fusion, &mut per_stage);
        let t = Instant::now();
        let (_, placed) = mark::render(&image, &scene, marks);
        push("mark", ms(t), &mut per_stage);
        push("perceive+mark", ms(t0), &mut per_stage);
        let texts: Vec<crate::geometry::Rect> = truth.texts_of(im.id).map(|t| rect_of(&t.bbox)).collect();
        let (c, n) = cover(&texts, placed.iter().map(|p| p.badge), image.width(), image.height());
        covered += c;
        text_px += n;
        let (u, k) = ink_cover(&image, &texts, placed.iter().map(|p| p.badge));
        (ink_under, ink_px) = (ink_under + u, ink_px + k);
        if k > 0 {
            ink_shares.push((im.file.clone(), u as f64 / k as f64));
        }
        legibility.badges += placed.len();
        legibility.badges_on_other_boxes += badges_on_other_boxes(&scene.elements, &placed);
        let (w, h) = image.dimensions();
        let sent = crate::coords::Resize::fit(w, h, 1280, 0);
        let smallest = placed.iter().map(|p| p.digit_px).min().unwrap_or(0);
        let digits = smallest as f64 * sent.to_width as f64 / w.max(1) as f64;
        if !placed.is_empty() && digits < legibility.min_digit_px_sent {
            (legibility.min_digit_px_sent, legibility.min_digit_screen) = (digits, im.file.clone());
        }
        predictions.insert(im.file.clone(), scene.elements.iter().map(|e| e.bbox).collect::<Vec<_>>());
    }
    let scores = score::score_set(&truth, |im| {
        predictions.get(&im.file).map(|v: &Vec<crate::geometry::Rect>| {
            v.iter().map(|r| [r.x as f64, r.y as f64, r.w as f64, r.h as f64]).collect()
        })
    });
    Ok(SetReport {
        images: truth.images.len(),
        overall: score::aggregate(&scores),
        per_source: score::grouped(&scores, |r| &r.source),
        per_app: score::grouped(&scores, |r| &r.app),
        per_role: score::per_role(&scores),
        stages: per_stage.into_iter().map(|(name, samples)| StageStats::from_samples(&name, samples)).collect(),
        badge_text_cover: if text_px > 0 { covered as f64 / text_px as f64 } else { 0.0 },
        legibility: {
            ink_shares.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            ink_shares.truncate(5);
            legibility.worst_ink = ink_shares;
            legibility.ink_under_badges = if ink_px > 0 { ink_under as f64 / ink_px as f64 } else { 0.0 };
            if !legibility.min_digit_px_sent.is_finite() {
                legibility.min_digit_px_sent = 0.0;
            }
            legibility
        },
        scores,
        predictions,
    })
}

fn rect_of(b: &[f64; 4]) -> crate::geometry::Rect {
    crate::geometry::Rect::new(
        b[0].round() as i32,
        b[1].round() as i32,
        b[2].max(0.0).round() as u32,
        b[3].max(0.0).round() as u32,
    )
}

/// Pixels of the text regions (their union) that badges cover, and the union's size.
pub fn cover(
    texts: &[crate::geometry::Rect],
    badges: impl Iterator<Item = crate::geometry::Rect>,
    width: u32,
    height: u32,
) -> (u64, u64) {
    let (w, h) = (width as usize, height as usize);
    let mut mask = vec![0u8; w * h];
    let paint = |mask: &mut [u8], r: &crate::geometry::Rect, bit: u8| {
        let r = r.clamp_to(width, height);
        for y in r.y.max(0) as usize..(r.bottom().max(0) as usize).min(h) {
            for v in &mut mask[y * w + r.x.max(0) as usize..y * w + (r.right().max(0) as usize).min(w)] {
                *v |= bit;
            }
        }
    };
    for t in texts {
        paint(&mut mask, t, 1);
    }
    for b in badges {
        paint(&mut mask, &b, 2);
    }
    let text = mask.iter().filter(|&&v| v & 1 != 0).count() as u64;
    let both = mask.iter().filter(|&&v| v == 3).count() as u64;
    (both, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_cover_the_text_pixels_they_overlap_once() {
        use crate::geometry::Rect;
        let texts = [Rect::new(0, 0, 10, 10), Rect::new(5, 0, 10, 10)];
        let badges = [Rect::new(0, 0, 4, 4), Rect::new(2, 2, 4, 4), Rect::new(50, 50, 5, 5)];
        assert_eq!(cover(&texts, badges.into_iter(), 100, 100), (16 + 12, 150));
    }

    #[test]
    fn ink_under_badges_counts_the_dark_strokes_of_text_and_not_its_background() {
        use crate::geometry::Rect;
        // A 40x10 text region on white with a 2 px dark stroke across it (80 ink pixels).
        let mut img = RgbaImage::from_pixel(100, 50, image::Rgba([255, 255, 255, 255]));
        for x in 10..50 {
            for y in 14..16 {
                img.put_pixel(x, y, image::Rgba([20, 20, 20, 255]));
            }
        }
        let text = [Rect::new(10, 10, 40, 10)];
        // A badge over a quarter of the stroke; another over the region's empty part only.
        let badges = [Rect::new(10, 12, 10, 5), Rect::new(30, 17, 10, 3)];
        assert_eq!(ink_cover(&img, &text, badges.into_iter()), (20, 80));
    }

    #[test]
    fn a_badge_over_a_neighbour_counts_and_one_inside_its_own_row_does_not() {
        use crate::geometry::Rect;
        use crate::perceive::{Element, ElementKind};
        let el = |id, bbox| Element::simple(id, ElementKind::Button, None, bbox, "test");
        // A row holding a check box, and a button beside the row.
        let elements =
            [el(1, Rect::new(0, 0, 200, 20)), el(2, Rect::new(4, 4, 12, 12)), el(3, Rect::new(210, 0, 40, 20))];
        let badge = |id, r| mark::PlacedMark { id, badge: r, color: mark::palette::color_for(id), digit_px: 12 };
        // The check box's badge sits in its row: fine. The row's badge sits on the button: not.
        let placed = [badge(2, Rect::new(18, 4, 10, 12)), badge(1, Rect::new(205, 0, 10, 12))];
        assert_eq!(badges_on_other_boxes(&elements, &placed), 1);
    }

    #[test]
    fn median_and_p95_come_from_the_sorted_samples() {
        let s = StageStats::from_samples("x", (1..=100).rev().map(|v| v as f64).collect());
        assert_eq!(s.median_ms, 51.0);
        assert_eq!(s.p95_ms, 95.0);
        assert_eq!(s.runs, 100);
    }

    #[test]
    fn the_builtin_screens_decode() {
        let screens = builtin_screens();
        assert_eq!(screens.len(), 4);
        assert!(screens.iter().all(|s| s.image.width() >= 300 && s.image.height() >= 300));
    }
}
