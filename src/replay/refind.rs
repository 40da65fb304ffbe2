//! Re-finding a recorded element on a new screen.
//!
//! A recorded step names its target by mark, and marks are numbered afresh on every screen,
//! so the number means nothing on replay. What carries over is what the element *is*: its
//! text, its kind and size, where it sits relative to its window and to the labelled
//! elements around it, and what it looks like. Each candidate on the current screen gets a
//! score per clue and a confidence (their weighted mean); the best is accepted only when it
//! is confident and clearly ahead of the runner-up, so two equally good candidates (two "OK"
//! buttons in two identical dialogs) are never guessed between.

use std::collections::HashMap;

use image::RgbaImage;

use crate::capture::WindowBox;
use crate::geometry::Rect;
use crate::perceive::{Element, ElementKind};

/// Accept a match at or above this confidence…
pub const MIN_CONFIDENCE: f64 = 0.7;
/// …and only when the runner-up is at least this much less confident.
pub const MIN_MARGIN: f64 = 0.08;

/// Candidates whose appearance is compared (the best by every other clue).
const APPEARANCE_CANDIDATES: usize = 12;
/// Labelled neighbours considered around a target.
const NEIGHBOURS: usize = 8;

/// One screen: its elements, its pixels and windows, and its scale (physical pixels per
/// logical point: distances and sizes grow with it).
#[derive(Debug, Clone, Copy)]
pub struct ScreenView<'a> {
    pub elements: &'a [Element],
    pub image: &'a RgbaImage,
    pub windows: &'a [WindowBox],
    pub scale: f64,
}

// The scores and the result are part of a run's record (record.rs owns them, so the record
// does not depend on replay); re-finding fills them in.
pub use crate::record::{Candidate, Refound, Scores};

/// Find `target` (an element of `recorded`) on `current`.
pub fn refind(target: &Element, recorded: &ScreenView, current: &ScreenView) -> Refound {
    let ratio = if recorded.scale > 0.0 && current.scale > 0.0 { current.scale / recorded.scale } else { 1.0 };
    let ctx = Context::new(target, recorded, current, ratio);
    let mut scored: Vec<Candidate> = current
        .elements
        .iter()
        .map(|c| {
            let scores = ctx.scores(c);
            Candidate {
                id: c.id,
                kind: c.kind,
                text: c.text.clone(),
                bbox: c.bbox,
                confidence: ctx.confidence(&scores),
                scores,
            }
        })
        .collect();
    scored.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    // Appearance is the costly clue: only for those that could still win.
    let crop = Crop::of(recorded.image, target.bbox);
    for c in scored.iter_mut().take(APPEARANCE_CANDIDATES) {
        c.scores.appearance = match (&crop, Crop::of(current.image, c.bbox)) {
            (Some(a), Some(b)) => Some(a.similarity(&b)),
            _ => None,
        };
        c.confidence = ctx.confidence(&c.scores);
    }
    scored.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    scored.truncate(5);
    let (found, reason) = match scored.as_slice() {
        [] => (None, Some("the screen has no elements".to_string())),
        [best, rest @ ..] => {
            let runner_up = rest.first().map_or(0.0, |c| c.confidence);
            // Looks tell states apart (focus, hover, a caret, the default button), not
            // identities: two candidates alike in everything else are ambiguous.
            let alike_but_looks = rest.first().is_some_and(|r| {
                let without_looks = |c: &Candidate| ctx.confidence(&Scores { appearance: None, ..c.scores.clone() });
                without_looks(best) - without_looks(r) < MIN_MARGIN
            });
            if best.confidence < MIN_CONFIDENCE {
                (None, Some(format!("no confident match (best {:.2} < {MIN_CONFIDENCE})", best.confidence)))
            } else if best.confidence - runner_up < MIN_MARGIN || alike_but_looks {
                (
                    None,
                    Some(format!(
                        "ambiguous: marks {} and {} match about equally ({:.2} and {runner_up:.2})",
                        best.id, rest[0].id, best.confidence
                    )),
                )
            } else {
                (Some(best.clone()), None)
            }
        }
    };
    Refound { found, best: scored, reason }
}

/// What is known about the target, computed once per search.
struct Context<'a> {
    target: &'a Element,
    text: Option<String>,
    /// Recorded labelled neighbours: normalised text and offset from the target's centre
    /// (already scaled to the current screen).
    neighbours: Vec<(String, f64, f64)>,
    /// Current labelled elements by normalised text: their centres.
    labels: HashMap<String, Vec<(f64, f64)>>,
    /// The recorded window holding the target, and the current windows of the same title.
    window: Option<&'a WindowBox>,
    current_windows: &'a [WindowBox],
    /// The recorded screen had the same size: an element still in its place counts.
    same_screen: bool,
    ratio: f64,
}

impl<'a> Context<'a> {
    fn new(target: &'a Element, recorded: &ScreenView<'a>, current: &ScreenView<'a>, ratio: f64) -> Self {
        let (tx, ty) = target.bbox.center();
        let mut neighbours: Vec<(String, f64, f64)> = recorded
            .elements
            .iter()
            .filter(|e| e.id != target.id && e.bbox != target.bbox)
            .filter_map(|e| {
                let t = normalise(e.text.as_deref()?);
                if t.is_empty() {
                    return None;
                }
                let (x, y) = e.bbox.center();
                Some((t, (x - tx) * ratio, (y - ty) * ratio))
            })
            .filter(|(_, dx, dy)| dx.hypot(*dy) <= 450.0 * ratio)
            .collect();
        neighbours.sort_by(|a, b| a.1.hypot(a.2).total_cmp(&b.1.hypot(b.2)));
        neighbours.truncate(NEIGHBOURS);
        let mut labels: HashMap<String, Vec<(f64, f64)>> = HashMap::new();
        for e in current.elements {
            if let Some(t) = e.text.as_deref().map(normalise).filter(|t| !t.is_empty()) {
                labels.entry(t).or_default().push(e.bbox.center());
            }
        }
        let window = recorded.windows.iter().filter(|w| w.rect.contains_point(tx, ty)).min_by_key(|w| w.rect.area());
        Self {
            target,
            text: target.text.as_deref().map(normalise).filter(|t| !t.is_empty()),
            neighbours,
            labels,
            window,
            current_windows: current.windows,
            same_screen: recorded.image.dimensions() == current.image.dimensions(),
            ratio,
        }
    }

    fn scores(&self, c: &Element) -> Scores {
        let ctext = c.text.as_deref().map(normalise).filter(|t| !t.is_empty());
        let is_value = matches!(self.target.kind, ElementKind::TextField | ElementKind::ComboBox);
        let mut conflict = false;
        let text = match (&self.text, &ctext) {
            (None, None) => 1.0,
            (None, Some(_)) => 0.6,
            (Some(_), None) => 0.0,
            (Some(a), Some(b)) if a == b => 1.0,
            (Some(a), Some(b)) => {
                let s = similarity(a, b);
                conflict = s < 0.6 && !is_value;
                if s >= 0.6 { 0.9 * s } else { 0.0 }
            }
        };
        let kind = kind_similarity(self.target.kind, c.kind);
        let (tw, th) = (self.target.bbox.w as f64 * self.ratio, self.target.bbox.h as f64 * self.ratio);
        let size = (-((c.bbox.w as f64 / tw.max(1.0)).ln().abs() + (c.bbox.h as f64 / th.max(1.0)).ln().abs())).exp();
        let place = if self.same_screen {
            let d = (c.bbox.x - self.target.bbox.x).abs() + (c.bbox.y - self.target.bbox.y).abs();
            if d <= 4 { 1.0 } else { 0.5 }
        } else {
            0.5
        };
        Scores {
            text,
            kind,
            size,
            neighbours: self.neighbour_score(c),
            window: self.window_score(c),
            place,
            appearance: None,
            path: self.path_score(c),
            conflict,
        }
    }

    /// Share of the target's labelled neighbours found at the same offset from `c` (near
    /// ones count more; the tolerance grows with the distance, as layouts stretch).
    fn neighbour_score(&self, c: &Element) -> Option<f64> {
        if self.neighbours.is_empty() {
            return None;
        }
        let (cx, cy) = c.bbox.center();
        let (mut found, mut total) = (0.0, 0.0);
        for (text, dx, dy) in &self.neighbours {
            let dist = dx.hypot(*dy);
            let weight = 1.0 / (1.0 + dist / 150.0);
            total += weight;
            let tolerance = 12.0 * self.ratio + 0.15 * dist;
            let (ex, ey) = (cx + dx, cy + dy);
            if let Some(best) = self
                .labels
                .get(text)
                .and_then(|ps| ps.iter().map(|(x, y)| (x - ex).hypot(y - ey)).min_by(f64::total_cmp))
                && best <= tolerance
            {
                found += weight * (1.0 - 0.5 * best / tolerance);
            }
        }
        Some(found / total)
    }

    /// Is `c` in a window of the recorded window's title, as far from its left or right
    /// (top or bottom) edge as the target was? Windows that moved or were resized keep
    /// their controls anchored to an edge.
    fn window_score(&self, c: &Element) -> Option<f64> {
        let w = self.window?;
        let (cx, cy) = c.bbox.center();
        let t = &self.target.bbox;
        let r = self.ratio;
        let best = self
            .current_windows
            .iter()
            .filter(|cw| cw.rect.contains_point(cx, cy))
            .map(|cw| {
                let title = if cw.title == w.title {
                    1.0
                } else if cw.app == w.app && !w.app.is_empty() {
                    0.5
                } else {
                    return 0.0;
                };
                let off = |a: i32, b: i32| (a - b) as f64;
                let dx = (off(c.bbox.x, cw.rect.x) - off(t.x, w.rect.x) * r)
                    .abs()
                    .min((off(cw.rect.right(), c.bbox.right()) - off(w.rect.right(), t.right()) * r).abs());
                let dy = (off(c.bbox.y, cw.rect.y) - off(t.y, w.rect.y) * r)
                    .abs()
                    .min((off(cw.rect.bottom(), c.bbox.bottom()) - off(w.rect.bottom(), t.bottom()) * r).abs());
                title * (-(dx + dy) / (24.0 * r)).exp()
            })
            .fold(0.0, f64::max);
        Some(best)
    }

    /// The same place in the tree (the window's title may have changed a little: a
    /// document's name), or not.
    fn path_score(&self, c: &Element) -> Option<f64> {
        let (a, b) = (self.target.path.as_deref()?, c.path.as_deref()?);
        if a == b {
            return Some(1.0);
        }
        let s = similarity(&normalise(a), &normalise(b));
        Some(if s >= 0.8 { s } else { 0.0 })
    }

    fn confidence(&self, s: &Scores) -> f64 {
        // An entry's text is what it holds, not what it is: it says less.
        let text_weight = match (self.text.is_some(), self.target.kind) {
            (true, ElementKind::TextField | ElementKind::ComboBox) => 1.0,
            (true, _) => 3.0,
            (false, _) => 1.0,
        };
        let mut parts = vec![(s.text, text_weight), (s.kind, 1.0), (s.size, 1.0), (s.place, 1.0)];
        if let Some(n) = s.neighbours {
            parts.push((n, 3.0));
        }
        if let Some(w) = s.window {
            parts.push((w, 2.0));
        }
        if let Some(a) = s.appearance {
            parts.push((a, 2.0));
        }
        if let Some(p) = s.path {
            parts.push((p, 3.0));
        }
        let total: f64 = parts.iter().map(|(_, w)| w).sum();
        let c = parts.iter().map(|(v, w)| v * w).sum::<f64>() / total;
        if s.conflict { c.min(0.5) } else { c }
    }
}

/// Lower case, inner whitespace collapsed.
pub fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// 1 − edit distance / longer length, over characters.
pub fn similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().take(80).collect();
    let b: Vec<char> = b.chars().take(80).collect();
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    1.0 - prev[b.len()] as f64 / longest as f64
}

fn kind_similarity(a: ElementKind, b: ElementKind) -> f64 {
    use ElementKind::*;
    if a == b {
        return 1.0;
    }
    let group = |k: ElementKind| match k {
        Button | Toggle | MenuItem | Tab | Link => 0,
        CheckBox | RadioButton => 1,
        TextField | ComboBox => 2,
        Text | ListRow | Other => 3,
        Icon | Image => 4,
        Slider => 5,
    };
    if group(a) == group(b) { 0.6 } else { 0.2 }
}

/// A small grey thumbnail of an element, for comparing looks.
#[derive(Debug, Clone)]
pub struct Crop {
    w: usize,
    h: usize,
    grey: Vec<f64>,
}

impl Crop {
    const SIDE: usize = 24;

    /// `rect` of `image` averaged down to at most 24×24 cells (aspect kept roughly).
    pub fn of(image: &RgbaImage, rect: Rect) -> Option<Crop> {
        let r = rect.clamp_to(image.width(), image.height());
        if r.is_empty() {
            return None;
        }
        let (w, h) = if r.w >= r.h {
            (Self::SIDE, ((Self::SIDE as u32 * r.h / r.w) as usize).clamp(4, Self::SIDE))
        } else {
            (((Self::SIDE as u32 * r.w / r.h) as usize).clamp(4, Self::SIDE), Self::SIDE)
        };
        Some(Self::sample(image, r, w, h))
    }

    fn sample(image: &RgbaImage, r: Rect, w: usize, h: usize) -> Crop {
        let mut grey = Vec::with_capacity(w * h);
        for cy in 0..h {
            let y0 = r.y as u32 + (cy as u32 * r.h) / h as u32;
            let y1 = (r.y as u32 + ((cy as u32 + 1) * r.h) / h as u32).max(y0 + 1);
            for cx in 0..w {
                let x0 = r.x as u32 + (cx as u32 * r.w) / w as u32;
                let x1 = (r.x as u32 + ((cx as u32 + 1) * r.w) / w as u32).max(x0 + 1);
                let (mut sum, mut n) = (0.0, 0.0);
                for y in y0..y1.min(image.height()) {
                    for x in x0..x1.min(image.width()) {
                        let p = image.get_pixel(x, y).0;
                        sum += 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64;
                        n += 1.0;
                    }
                }
                grey.push(if n > 0.0 { sum / n } else { 0.0 });
            }
        }
        Crop { w, h, grey }
    }

    /// 0..1: how alike two thumbnails look (pattern by correlation, brightness by mean).
    pub fn similarity(&self, other: &Crop) -> f64 {
        let other = if (other.w, other.h) == (self.w, self.h) { other.clone() } else { other.resized(self.w, self.h) };
        let n = self.grey.len() as f64;
        let mean = |v: &[f64]| v.iter().sum::<f64>() / n;
        let (ma, mb) = (mean(&self.grey), mean(&other.grey));
        let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
        for (a, b) in self.grey.iter().zip(&other.grey) {
            cov += (a - ma) * (b - mb);
            va += (a - ma) * (a - ma);
            vb += (b - mb) * (b - mb);
        }
        let brightness = 1.0 - (4.0 * (ma - mb).abs() / 255.0).min(1.0);
        let flat = 4.0 * n;
        if va < flat && vb < flat {
            return brightness;
        }
        let pattern = if va < flat || vb < flat { 0.0 } else { (cov / (va * vb).sqrt()).max(0.0) };
        0.7 * pattern + 0.3 * brightness
    }

    fn resized(&self, w: usize, h: usize) -> Crop {
        let mut grey = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                let sx = (x * self.w / w).min(self.w - 1);
                let sy = (y * self.h / h).min(self.h - 1);
                grey.push(self.grey[sy * self.w + sx]);
            }
        }
        Crop { w, h, grey }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;

    fn el(id: u32, kind: ElementKind, text: Option<&str>, x: i32, y: i32, w: u32, h: u32) -> Element {
        Element {
            id,
            bbox: Rect::new(x, y, w, h),
            kind,
            text: text.map(String::from),
            score: 1.0,
            source: "builtin".into(),
            mask: None,
            states: Vec::new(),
            path: None,
        }
    }

    /// A dialog: a label, an entry, Cancel and OK, drawn at (ox, oy).
    fn dialog(first_id: u32, ox: i32, oy: i32) -> Vec<Element> {
        vec![
            el(first_id, ElementKind::Text, Some("Your name:"), ox + 10, oy + 10, 90, 16),
            el(first_id + 1, ElementKind::TextField, None, ox + 10, oy + 34, 280, 30),
            el(first_id + 2, ElementKind::Button, Some("Cancel"), ox + 120, oy + 80, 80, 30),
            el(first_id + 3, ElementKind::Button, Some("OK"), ox + 210, oy + 80, 80, 30),
        ]
    }

    fn paint(image: &mut RgbaImage, elements: &[Element]) {
        for e in elements {
            let v = 40 + (e.id * 37 % 200) as u8;
            for y in e.bbox.y..e.bbox.bottom() {
                for x in e.bbox.x..e.bbox.right() {
                    let shade = if (x - e.bbox.x) % 7 < 3 { v } else { v / 2 };
                    image.put_pixel(x as u32, y as u32, Rgba([shade, shade, shade, 255]));
                }
            }
        }
    }

    fn view<'a>(elements: &'a [Element], image: &'a RgbaImage, windows: &'a [WindowBox]) -> ScreenView<'a> {
        ScreenView { elements, image, windows, scale: 1.0 }
    }

    fn window(x: i32, y: i32) -> WindowBox {
        WindowBox { title: "Name".into(), app: "zenity".into(), rect: Rect::new(x, y, 300, 120) }
    }

    #[test]
    fn a_moved_dialog_s_button_and_unlabelled_entry_are_found_with_confidence() {
        let rec = dialog(1, 100, 100);
        let mut rec_img = RgbaImage::from_pixel(800, 600, Rgba([230, 230, 230, 255]));
        paint(&mut rec_img, &rec);
        let rec_w = [window(100, 100)];
        // Moved, on a bigger screen, with other things on it.
        let mut cur = vec![el(1, ElementKind::Button, Some("OK"), 20, 20, 60, 24)];
        cur.extend(dialog(2, 500, 300));
        let mut cur_img = RgbaImage::from_pixel(1200, 900, Rgba([230, 230, 230, 255]));
        // Painted as when recorded (the paint follows the ids).
        paint(&mut cur_img, &dialog(1, 500, 300));
        let cur_w = [window(500, 300)];
        for (target, want) in [(&rec[3], 5), (&rec[1], 3)] {
            let r = refind(target, &view(&rec, &rec_img, &rec_w), &view(&cur, &cur_img, &cur_w));
            let found = r.found.clone().unwrap_or_else(|| panic!("{target:?} not found: {r:?}"));
            assert_eq!(found.id, want);
            assert!(found.confidence > 0.9, "{found:?}");
        }
    }

    #[test]
    fn two_identical_dialogs_are_told_apart_by_where_the_tree_put_the_target() {
        let path = |title: &str| Some(format!("dialog {title:?} > panel \"Buttons\""));
        let mut rec = dialog(1, 100, 100);
        rec[3].path = path("Delete 3 files?");
        let mut rec_img = RgbaImage::from_pixel(800, 600, Rgba([230, 230, 230, 255]));
        paint(&mut rec_img, &rec);
        let mut cur = dialog(1, 300, 50);
        cur.extend(dialog(5, 300, 350));
        cur[3].path = path("Save changes?");
        cur[7].path = path("Delete 3 files?");
        let mut cur_img = RgbaImage::from_pixel(800, 600, Rgba([230, 230, 230, 255]));
        paint(&mut cur_img, &dialog(1, 300, 50));
        paint(&mut cur_img, &dialog(1, 300, 350));
        let r = refind(&rec[3], &view(&rec, &rec_img, &[]), &view(&cur, &cur_img, &[]));
        let found = r.found.unwrap_or_else(|| panic!("{:?}", r.reason));
        assert_eq!((found.id, found.scores.path), (8, Some(1.0)));
    }

    #[test]
    fn two_identical_dialogs_are_ambiguous_and_a_missing_button_is_not_found() {
        let rec = dialog(1, 100, 100);
        let mut rec_img = RgbaImage::from_pixel(800, 600, Rgba([230, 230, 230, 255]));
        paint(&mut rec_img, &rec);
        let mut cur = dialog(1, 300, 50);
        cur.extend(dialog(5, 300, 350));
        let mut cur_img = RgbaImage::from_pixel(800, 600, Rgba([230, 230, 230, 255]));
        paint(&mut cur_img, &dialog(1, 300, 50));
        paint(&mut cur_img, &dialog(1, 300, 350));
        let r = refind(&rec[3], &view(&rec, &rec_img, &[]), &view(&cur, &cur_img, &[]));
        assert!(r.found.is_none(), "{r:?}");
        assert!(r.reason.as_deref().unwrap().starts_with("ambiguous"), "{r:?}");
        assert_eq!(r.best.len(), 5);

        // The dialog now has no OK: Cancel is not taken for it.
        let cur: Vec<Element> = dialog(1, 300, 50).into_iter().filter(|e| e.text.as_deref() != Some("OK")).collect();
        let r = refind(&rec[3], &view(&rec, &rec_img, &[]), &view(&cur, &cur_img, &[]));
        assert!(r.found.is_none(), "{r:?}");
        assert!(r.reason.as_deref().unwrap().starts_with("no confident match"), "{r:?}");

        // Relabelled in place: a button that reads "Accept" is not the recorded "OK", however
        // well its place, size and neighbours fit.
        let mut cur = dialog(1, 100, 100);
        cur[3].text = Some("Accept".into());
        let r = refind(&rec[3], &view(&rec, &rec_img, &[]), &view(&cur, &rec_img, &[]));
        assert!(r.found.is_none(), "{r:?}");
        assert!(r.best[0].scores.conflict);
    }

    #[test]
    fn fuzzy_text_and_layout_agree_on_a_slightly_misread_label() {
        let rec = dialog(1, 100, 100);
        let img = RgbaImage::from_pixel(800, 600, Rgba([230, 230, 230, 255]));
        let mut cur = dialog(1, 100, 100);
        cur[2].text = Some("Cancei".into());
        let r = refind(&rec[2], &view(&rec, &img, &[]), &view(&cur, &img, &[]));
        assert_eq!(r.found.map(|c| c.id), Some(3));
    }

    #[test]
    fn text_similarity_is_edit_distance_based() {
        assert_eq!(similarity("ok", "ok"), 1.0);
        assert!((similarity("cancel", "cancei") - 5.0 / 6.0).abs() < 1e-9);
        assert_eq!(similarity("", ""), 1.0);
        assert_eq!(normalise("  Save   As…  "), "save as…");
    }
}
