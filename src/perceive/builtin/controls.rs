//! Control candidates from flat regions, and the structure pass that turns candidates and
//! ink lines into proposals.

use image::RgbaImage;

use super::text::InkLine;
use super::{BuiltinConfig, SOURCE};
use crate::geometry::Rect;
use crate::perceive::components::Labelling;
use crate::perceive::{ElementKind, Proposal};

/// A flat region that may be a control's face.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub rect: Rect,
    /// Region pixels over box area (text inside makes holes).
    pub fill: f32,
    /// How completely the region reaches the four sides of its box (0..1, the worst side).
    pub cover: f32,
    /// Mean colour.
    pub color: [f32; 3],
}

impl Candidate {
    fn luma(&self) -> f32 {
        0.299 * self.color[0] + 0.587 * self.color[1] + 0.114 * self.color[2]
    }
    fn is_small_square(&self) -> bool {
        let (w, h) = (self.rect.w as f32, self.rect.h as f32);
        w <= 30.0 && h <= 30.0 && (0.7..=1.45).contains(&(w / h))
    }
}

#[derive(Default, Clone, Copy)]
struct Acc {
    sum: [f64; 3],
    n: u64,
    top: [u32; 4],
    bottom: [u32; 4],
    left: u32,
    right: u32,
}

/// Regions that look like the face of a control.
pub fn candidates(image: &RgbaImage, regions: &Labelling, cfg: &BuiltinConfig) -> Vec<Candidate> {
    let (w, h) = image.dimensions();
    let max_w = (w as f32 * cfg.max_control_frac) as u32;
    let max_h = (h as f32 * cfg.max_control_frac) as u32;
    let mut slot = vec![u32::MAX; regions.comps.len()];
    let mut picked = Vec::new();
    for (i, c) in regions.comps.iter().enumerate() {
        let (cw, ch) = (c.width(), c.height());
        if cw < cfg.min_control || ch < cfg.min_control || cw > max_w || ch > max_h {
            continue;
        }
        // Touching the image edge: background, or a control cut by the capture.
        if c.x0 == 0 || c.y0 == 0 || c.x1 >= w || c.y1 >= h {
            continue;
        }
        if c.fill() < 0.45 {
            tracing::trace!(rect = %c.rect(), fill = c.fill(), "region rejected: too sparse");
            continue;
        }
        slot[i] = picked.len() as u32;
        picked.push(i);
    }
    let mut acc = vec![Acc::default(); picked.len()];
    let raw = image.as_raw();
    for r in &regions.runs {
        let s = slot[r.comp as usize];
        if s == u32::MAX {
            continue;
        }
        let c = &regions.comps[r.comp as usize];
        let a = &mut acc[s as usize];
        let len = r.x1 - r.x0;
        let off_top = r.y - c.y0;
        if off_top < 4 {
            a.top[off_top as usize] += len;
        }
        let off_bottom = c.y1 - 1 - r.y;
        if off_bottom < 4 {
            a.bottom[off_bottom as usize] += len;
        }
        if r.x0 <= c.x0 + 2 {
            a.left += 1;
        }
        if r.x1 + 2 >= c.x1 {
            a.right += 1;
        }
        // Colour from every other pixel of the run.
        let base = (r.y as usize * w as usize) * 4;
        let mut x = r.x0 as usize;
        while x < r.x1 as usize {
            let p = base + x * 4;
            a.sum[0] += raw[p] as f64;
            a.sum[1] += raw[p + 1] as f64;
            a.sum[2] += raw[p + 2] as f64;
            a.n += 1;
            x += 2;
        }
    }
    let mut out = Vec::new();
    for (s, &i) in picked.iter().enumerate() {
        let c = &regions.comps[i];
        let a = &acc[s];
        let (cw, ch) = (c.width() as f32, c.height() as f32);
        let top = *a.top.iter().max().unwrap_or(&0) as f32 / cw;
        let bottom = *a.bottom.iter().max().unwrap_or(&0) as f32 / cw;
        let cover = top.min(bottom).min(a.left as f32 / ch).min(a.right as f32 / ch);
        // A disk (slider knob, round button) reaches its box's sides only at one point.
        let aspect = cw / ch;
        let disk = (0.8..=1.25).contains(&aspect) && c.fill() >= 0.68 && cover >= 0.45;
        if cover < 0.72 && !disk {
            tracing::trace!(rect = %c.rect(), cover, fill = c.fill(), "region rejected: does not fill its box");
            continue;
        }
        let n = a.n.max(1) as f64;
        // Edges mark the pixel before a change, so a face's last column and row are edge
        // pixels: give them back.
        let rect = Rect::new(c.x0 as i32, c.y0 as i32, (c.width() + 1).min(w - c.x0), (c.height() + 1).min(h - c.y0));
        out.push(Candidate {
            rect,
            fill: c.fill(),
            cover,
            color: [(a.sum[0] / n) as f32, (a.sum[1] / n) as f32, (a.sum[2] / n) as f32],
        });
    }
    out
}

/// Mean colour of a thin ring just outside `r` (what surrounds a region).
fn ring_color(image: &RgbaImage, r: &Rect, d: i32) -> Option<[f32; 3]> {
    let (w, h) = (image.width() as i32, image.height() as i32);
    let mut sum = [0f32; 3];
    let mut n = 0;
    let pts = [
        (r.x + r.w as i32 / 2, r.y - d),
        (r.x + r.w as i32 / 2, r.bottom() - 1 + d),
        (r.x - d, r.y + r.h as i32 / 2),
        (r.right() - 1 + d, r.y + r.h as i32 / 2),
        (r.x + r.w as i32 / 4, r.y - d),
        (r.x + 3 * r.w as i32 / 4, r.bottom() - 1 + d),
    ];
    for (x, y) in pts {
        if x >= 0 && y >= 0 && x < w && y < h {
            let p = image.get_pixel(x as u32, y as u32).0;
            for k in 0..3 {
                sum[k] += p[k] as f32;
            }
            n += 1;
        }
    }
    (n > 0).then(|| sum.map(|s| s / n as f32))
}

fn color_distance(a: [f32; 3], b: [f32; 3]) -> f32 {
    (0..3).map(|k| (a[k] - b[k]).abs()).fold(0.0, f32::max)
}

/// The smallest candidate (by area) containing at least `min_frac` of `r`, other than `skip`.
fn smallest_container(
    cands: &[Candidate],
    alive: &[bool],
    r: &Rect,
    min_frac: f64,
    skip: Option<usize>,
) -> Option<usize> {
    let area = r.area().max(1) as f64;
    let mut best: Option<(u64, usize)> = None;
    for (i, c) in cands.iter().enumerate() {
        if !alive[i] || Some(i) == skip || skip.is_some() && c.rect.area() <= r.area() {
            continue;
        }
        let inter = c.rect.intersection(r).area() as f64;
        if inter / area >= min_frac && best.is_none_or(|(a, _)| c.rect.area() < a) {
            best = Some((c.rect.area(), i));
        }
    }
    best.map(|(_, i)| i)
}

/// Faces cut in two by a thin line drawn across them (a slider's trough behind a
/// translucent knob, a separator over a button) are one face again: same columns, same
/// colour, a gap of a few pixels.
fn join_split_faces(mut cands: Vec<Candidate>) -> Vec<Candidate> {
    cands.sort_by_key(|c| (c.rect.y, c.rect.x, c.rect.w, c.rect.h));
    let mut i = 0;
    while i < cands.len() {
        let mut joined = false;
        for j in i + 1..cands.len() {
            let (a, b) = (&cands[i], &cands[j]);
            if b.rect.y > a.rect.bottom() + 4 {
                break;
            }
            let aligned = (a.rect.x - b.rect.x).abs() <= 2 && (a.rect.right() - b.rect.right()).abs() <= 2;
            let gap = b.rect.y - a.rect.bottom();
            let tall = a.rect.h.max(b.rect.h);
            if aligned
                && (0..=4).contains(&gap)
                && color_distance(a.color, b.color) <= 24.0
                && a.rect.union(&b.rect).h <= 3 * tall
            {
                let b = cands.remove(j);
                let a = &mut cands[i];
                let (aa, ba) = (a.rect.area() as f32, b.rect.area() as f32);
                a.fill = (a.fill * aa + b.fill * ba) / (aa + ba);
                a.color = [0, 1, 2].map(|k| (a.color[k] * aa + b.color[k] * ba) / (aa + ba));
                a.cover = a.cover.min(b.cover);
                a.rect = a.rect.union(&b.rect);
                joined = true;
                break;
            }
        }
        if !joined {
            i += 1;
        }
    }
    cands
}

/// An item directly inside a candidate.
#[derive(Debug, Clone, Copy)]
enum Item {
    Control(usize),
    Line(usize),
}

/// Decide which candidates are controls, attach lines, and emit proposals.
pub fn assemble(image: &RgbaImage, mut cands: Vec<Candidate>, lines: Vec<InkLine>) -> Vec<Proposal> {
    cands = join_split_faces(cands);
    // A filled part of a symbol (the body of a microphone icon) is a flat region too:
    // drop regions drawn in ink-like contrast to their surroundings that lie inside a
    // symbol's ink without filling it (a control's face fills the outline around it).
    cands.retain(|c| {
        let inky = ring_color(image, &c.rect, 2).is_some_and(|ring| color_distance(ring, c.color) >= 80.0);
        !inky
            || !lines.iter().any(|l| {
                !l.is_word()
                    && l.bbox.intersection(&c.rect).area() * 10 >= c.rect.area() * 9
                    && !c.rect.inflate(3).contains(&l.bbox)
                    && l.bbox.area() <= 8 * c.rect.area()
            })
    });
    // Deterministic order: by area, then position.
    cands.sort_by_key(|c| (c.rect.area(), c.rect.y, c.rect.x));
    let n = cands.len();
    let mut alive = vec![true; n];

    // Nesting: each candidate's parent is the smallest larger candidate holding ≥ 90% of it.
    let mut parent: Vec<Option<usize>> = vec![None; n];
    for i in 0..n {
        parent[i] = smallest_container(&cands, &alive, &cands[i].rect, 0.9, Some(i));
    }

    // Containers give way to their items; of nested candidates the tighter one stays.
    // Smallest first, so a candidate's children are settled before it is judged.
    for i in 0..n {
        let items = direct_items(i, &cands, &alive, &parent, &lines);
        let controls = items.iter().filter(|it| matches!(it, Item::Control(_))).count();
        let texts: Vec<&InkLine> =
            items.iter().filter_map(|it| if let Item::Line(l) = it { Some(&lines[*l]) } else { None }).collect();
        // A button face holding one small region and one label is an icon button with a
        // label ("● Record"): the inner region is its icon, not a control of its own.
        if controls == 1 && texts.len() == 1 && texts[0].is_word() {
            let child = items.iter().find_map(|it| if let Item::Control(j) = it { Some(*j) } else { None });
            if let Some(j) = child
                && cands[j].rect.area() * 4 <= cands[i].rect.area()
                && cands[j].rect.h * 2 <= cands[i].rect.h * 3 / 2 + cands[j].rect.h
            {
                alive[j] = false;
                continue;
            }
        }
        if controls >= 1 || is_container(&cands[i], &texts) {
            tracing::trace!(rect = %cands[i].rect, controls, lines = ?texts.iter().map(|l| (l.bbox, l.blobs)).collect::<Vec<_>>(), "candidate gives way to its items");
            alive[i] = false;
        }
    }

    // Empty regions are backdrops, not controls, when large (a pane, a notebook page, the
    // inside of a frame) or the colour of their surroundings.
    for i in 0..n {
        if !alive[i] {
            continue;
        }
        let c = &cands[i];
        let empty = !lines.iter().any(|l| !l.is_speck() && c.rect.contains_point(l.bbox.center().0, l.bbox.center().1));
        if empty && c.rect.w > 40 && c.rect.h > 40 {
            alive[i] = false;
            continue;
        }
        if empty
            && !c.is_small_square()
            && let Some(ring) = ring_color(image, &c.rect, 3)
            && color_distance(ring, c.color) < 8.0
            && c.rect.h > 12
        {
            alive[i] = false;
        }
    }

    // Lines belong to the smallest surviving candidate holding most of them; the face is
    // grown by its border's width so outlines and focus rings count as inside.
    let grown: Vec<Candidate> = cands.iter().map(|c| Candidate { rect: c.rect.inflate(3), ..c.clone() }).collect();
    let mut owned: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (li, l) in lines.iter().enumerate() {
        if let Some(i) = smallest_container(&grown, &alive, &l.bbox, 0.7, None) {
            owned[i].push(li);
        }
    }

    let mut controls: Vec<(Rect, ElementKind, f32)> = Vec::new();
    let mut used_line = vec![false; lines.len()];
    for i in 0..n {
        if !alive[i] {
            continue;
        }
        let c = &cands[i];
        let inside = &owned[i];
        for &l in inside {
            used_line[l] = true;
        }
        let kind = classify(c, inside.iter().map(|&l| &lines[l]));
        let score = (0.45 + 0.35 * c.cover + if inside.is_empty() { 0.0 } else { 0.15 }).min(0.99);
        controls.push((c.rect, kind, score));
    }

    // A check box or radio button takes the label just right of it (or the line that
    // swallowed its outline).
    let free: Vec<usize> = (0..lines.len()).filter(|&l| !used_line[l]).collect();
    for (rect, kind, score) in controls.iter_mut() {
        if !matches!(kind, ElementKind::CheckBox | ElementKind::RadioButton) {
            continue;
        }
        let (_, cy) = rect.center();
        let best = free
            .iter()
            .copied()
            .filter(|&l| !used_line[l])
            .filter(|&l| {
                let b = &lines[l].bbox;
                let (_, ly) = b.center();
                let beside = b.x >= rect.x && b.x - rect.right() <= (rect.h as i32 * 3 / 2).max(6);
                let swallowed = b.intersection(rect).area() as f64 >= 0.6 * rect.area() as f64 && b.w > rect.w;
                (beside || swallowed) && (ly - cy).abs() <= rect.h as f64 * 0.45
            })
            .min_by_key(|&l| lines[l].bbox.x);
        if let Some(l) = best {
            used_line[l] = true;
            *rect = rect.union(&lines[l].bbox);
            *score = (*score + 0.05).min(0.99);
        }
    }

    let mut out: Vec<Proposal> = controls.into_iter().map(|(r, k, s)| Proposal::new(r, k, s, SOURCE)).collect();
    for (li, l) in lines.iter().enumerate() {
        if used_line[li] || l.is_speck() {
            continue;
        }
        let kind = if l.looks_like_icon() {
            ElementKind::Icon
        } else if is_link(image, &l.bbox) {
            ElementKind::Link
        } else {
            ElementKind::Text
        };
        // Short, faint, lone specks are more likely noise than content.
        if l.blobs == 1 && l.bbox.w.max(l.bbox.h) < 7 {
            continue;
        }
        let score = (0.4 + 0.05 * l.blobs.min(8) as f32).min(0.9);
        out.push(Proposal::new(l.bbox, kind, score, SOURCE));
    }
    out
}

fn direct_items(
    i: usize,
    cands: &[Candidate],
    alive: &[bool],
    parent: &[Option<usize>],
    lines: &[InkLine],
) -> Vec<Item> {
    let mut items = Vec::new();
    let r = cands[i].rect;
    for (j, p) in parent.iter().enumerate() {
        if *p == Some(i) && alive[j] {
            items.push(Item::Control(j));
        }
    }
    for (li, l) in lines.iter().enumerate() {
        if l.is_speck() {
            continue;
        }
        let inter = r.intersection(&l.bbox).area() as f64;
        if inter < 0.7 * l.bbox.area() as f64 {
            continue;
        }
        // Directly inside: not inside a live child candidate.
        let in_child = items.iter().any(|it| match it {
            Item::Control(j) => cands[*j].rect.intersection(&l.bbox).area() as f64 >= 0.7 * l.bbox.area() as f64,
            Item::Line(_) => false,
        });
        if !in_child {
            items.push(Item::Line(li));
        }
    }
    items
}

/// Whether a candidate with these lines directly inside is a group rather than a control.
fn is_container(c: &Candidate, texts: &[&InkLine]) -> bool {
    if texts.len() < 2 {
        return false;
    }
    let words = texts.iter().filter(|l| l.is_word()).count();
    let tallest = texts.iter().map(|l| l.bbox.h).max().unwrap_or(1);
    // Stacked lines: a list, a text view, a group box.
    let stacked = texts.iter().any(|a| texts.iter().any(|b| a.bbox.gap_y(&b.bbox) > 0));
    if stacked || c.rect.h > tallest * 3 + 8 {
        return true;
    }
    // One row: a label with an icon (combo box, icon button) is one control; several
    // labels (a tab strip, a toolbar) are not.
    words >= 2 || texts.len() >= 3
}

fn classify<'a>(c: &Candidate, inside: impl Iterator<Item = &'a InkLine>) -> ElementKind {
    let inside: Vec<&InkLine> = inside.collect();
    let (w, h) = (c.rect.w as f32, c.rect.h as f32);
    if c.is_small_square() && inside.iter().all(|l| l.bbox.w as f32 <= w) {
        // A round face leaves its corners out of the region.
        return if c.fill < 0.84 && inside.is_empty() || c.fill < 0.7 {
            ElementKind::RadioButton
        } else {
            ElementKind::CheckBox
        };
    }
    let aspect = w / h.max(1.0);
    if inside.iter().any(|l| l.is_paragraph()) {
        return if c.luma() >= 200.0 { ElementKind::TextField } else { ElementKind::Other };
    }
    if aspect >= 2.2 && h <= 64.0 {
        let bright = c.luma() >= 200.0;
        let left_text = inside
            .iter()
            .filter(|l| !l.looks_like_icon())
            .any(|l| ((l.bbox.x - c.rect.x) as f32) < (0.12 * w).max(h * 0.9));
        let centred = inside.iter().any(|l| {
            let (lx, _) = l.bbox.center();
            let (cx, _) = c.rect.center();
            (lx - cx).abs() < 0.12 * w as f64
        });
        if bright && (inside.is_empty() || left_text && !centred) {
            return ElementKind::TextField;
        }
        if inside.len() == 2 && inside.iter().any(|l| l.looks_like_icon()) {
            return ElementKind::ComboBox;
        }
        return ElementKind::Button;
    }
    if inside.is_empty() && aspect > 1.3 && aspect < 2.4 && h <= 40.0 {
        return ElementKind::Toggle;
    }
    if inside.is_empty() {
        return if c.is_small_square() || w.max(h) < 48.0 { ElementKind::Button } else { ElementKind::Other };
    }
    ElementKind::Button
}

/// Link text: its darkest ink is clearly blue.
fn is_link(image: &RgbaImage, r: &Rect) -> bool {
    let r = r.clamp_to(image.width(), image.height());
    let mut best = (u32::MAX, [0u8; 3]);
    for y in r.y..r.bottom() {
        for x in r.x..r.right() {
            let p = image.get_pixel(x as u32, y as u32).0;
            let l = p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114;
            if l < best.0 {
                best = (l, [p[0], p[1], p[2]]);
            }
        }
    }
    let [r_, g, b] = best.1;
    b as i32 > r_ as i32 + 60 && b as i32 > g as i32 + 25
}
