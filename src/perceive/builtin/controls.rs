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
    /// A scroll bar's trough or a slider's groove: at most 22 pixels across, at least three
    /// times (and 48 pixels) as long.
    pub fn is_strip(&self) -> bool {
        let (short, long) = (self.rect.w.min(self.rect.h), self.rect.w.max(self.rect.h));
        (6..=22).contains(&short) && long >= 48 && long >= 3 * short
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
        // A thin scroll thumb (an overlay scroll bar's) is narrower than any control.
        let thin_strip = cw.min(ch) >= 5 && cw.max(ch) >= 48 && cw.max(ch) >= 6 * cw.min(ch);
        if (cw < cfg.min_control || ch < cfg.min_control) && !thin_strip || cw > max_w || ch > max_h {
            continue;
        }
        // Touching three or four edges of the image: the background. (A maximised window's
        // text area, list or scroll bar touches one or two.)
        let edges = (c.x0 == 0) as u8 + (c.y0 == 0) as u8 + (c.x1 >= w) as u8 + (c.y1 >= h) as u8;
        if edges >= 3 {
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
pub fn assemble(image: &RgbaImage, mask: &[u8], mut cands: Vec<Candidate>, mut lines: Vec<InkLine>) -> Vec<Proposal> {
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
    // The rounded corners of a filled face show as specks of ink in its corners: they are
    // its outline, not items on it.
    lines.retain(|l| {
        let b = l.bbox;
        !(l.blobs == 1
            && cands.iter().any(|c| {
                let r = c.rect;
                let small = b.w.max(b.h) <= (r.h / 4).max(10) && b.w.max(b.h) * 4 <= r.w;
                let at_x = (b.x - r.x).abs() <= 2 || (b.right() - r.right()).abs() <= 2;
                let at_y = (b.y - r.y).abs() <= 2 || (b.bottom() - r.bottom()).abs() <= 2;
                small && at_x && at_y
            }))
    });
    // Deterministic order: by area, then position.
    cands.sort_by_key(|c| (c.rect.area(), c.rect.y, c.rect.x));
    let n = cands.len();
    let mut alive = vec![true; n];
    let mut text_area = vec![false; n];

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
        // A scroll bar (or a slider's groove): a thin, long strip with no words in it (a
        // title bar or an entry has). What lies in it (the thumb, the arrows, the ends of
        // the thumb) is part of it.
        if cands[i].is_strip() && !texts.iter().any(|l| l.is_word() && l.blobs >= 2) {
            let strip = cands[i].rect.inflate(1);
            for j in 0..n {
                if j != i && alive[j] && strip.contains(&cands[j].rect) {
                    alive[j] = false;
                }
            }
            continue;
        }
        // An editor's or a terminal's page of text is one element, whatever its lines.
        if controls == 0 && is_text_area(&cands[i], &texts) {
            text_area[i] = true;
            continue;
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
        // A speck in the middle of a face is its symbol (a minus, a point), not the rounded
        // corners' ink.
        let (cx, cy) = c.rect.center();
        let central = |l: &InkLine| {
            let (lx, ly) = l.bbox.center();
            (lx - cx).abs() <= c.rect.w as f64 / 4.0 && (ly - cy).abs() <= c.rect.h as f64 / 4.0
        };
        let empty = !lines
            .iter()
            .any(|l| (!l.is_speck() || central(l)) && c.rect.contains_point(l.bbox.center().0, l.bbox.center().1));
        if empty && c.rect.w > 40 && c.rect.h > 40 {
            alive[i] = false;
            continue;
        }
        if empty
            && !c.is_small_square()
            && !c.is_strip()
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
    let mut empty: Vec<bool> = Vec::new();
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
        let kind = if text_area[i] {
            ElementKind::TextField
        } else if c.is_strip() && !inside.iter().any(|&l| lines[l].is_word() && lines[l].blobs >= 2) {
            ElementKind::Slider
        } else {
            classify(c, inside.iter().map(|&l| &lines[l]))
        };
        let score = (0.45 + 0.35 * c.cover + if inside.is_empty() { 0.0 } else { 0.15 }).min(0.99);
        controls.push((c.rect, kind, score));
        empty.push(inside.is_empty());
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

    // Tiles of a list set between rules: one row each, with every line in it.
    let faces: Vec<Rect> = controls.iter().map(|(r, _, _)| *r).collect();
    for (row, taken) in super::tiles::tile_rows(mask, image.width(), &lines, &used_line, &faces) {
        for l in taken {
            used_line[l] = true;
        }
        controls.push((row, ElementKind::ListRow, 0.7));
        empty.push(false);
    }

    // An icon just left of its label (a list item, a toolbar button without a face) is one
    // element with it: the label's line grows over the icon.
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by_key(|&l| (lines[l].bbox.y, lines[l].bbox.x));
    for &t in &order {
        let text = &lines[t];
        if used_line[t] || !text.is_word() || text.is_paragraph() {
            continue;
        }
        let h = text.core_h.max(1) as i32;
        let (_, ty) = text.bbox.center();
        let icon = (0..lines.len()).find(|&j| {
            let l = &lines[j];
            j != t
                && !used_line[j]
                && (l.looks_like_icon() || small_symbol(l))
                && !l.is_speck()
                && l.bbox.right() <= text.bbox.x
                && text.bbox.x - l.bbox.right() <= (h * 6 / 5).max(4)
                && (l.bbox.h as i32) <= 2 * h + 4
                && (l.bbox.center().1 - ty).abs() <= 0.3 * l.bbox.h.max(text.bbox.h) as f64
        });
        if let Some(j) = icon {
            let parts: Vec<(Rect, u8)> = lines[j].parts.iter().map(|&(r, _)| (r, 0)).collect();
            let ibox = lines[j].bbox;
            let l = &mut lines[t];
            l.bbox = l.bbox.union(&ibox);
            l.parts.extend(parts);
            l.blobs += 1;
            used_line[j] = true;
        }
    }

    // An icon with its caption centred below it (an icon view's item, a toolbar button
    // with its text under the icon) is one element. The icon may be in pieces (a drawn
    // document: lines of ink; a folder: a flat face) and the caption may wrap.
    let mut gone = vec![false; controls.len()];
    let mut items = Vec::new();
    for c in 0..lines.len() {
        let cap = &lines[c];
        let h = cap.core_h.max(1) as i32;
        if used_line[c] || cap.is_speck() || !cap.is_word() || cap.is_paragraph() || cap.bbox.w as i32 > 12 * h {
            continue;
        }
        let (ccx, _) = cap.bbox.center();
        let half = (cap.bbox.w as i32).max(4 * h) / 2 + 2;
        let above = Rect::from_edges(ccx as i32 - half, cap.bbox.y - 5 * h, ccx as i32 + half, cap.bbox.y + 1);
        let frags: Vec<usize> = (0..lines.len())
            .filter(|&j| {
                let l = &lines[j];
                // A colourful icon's pieces pass for coloured words, but are narrow or tall.
                let tall = l.bbox.h * 20 >= cap.bbox.h * 27 && l.bbox.w <= 3 * l.bbox.h;
                let icon_like = !l.is_word() || tall || (l.is_tinted() && l.bbox.w as i32 <= 2 * h);
                j != c && !used_line[j] && icon_like && !l.is_speck() && above.contains(&l.bbox)
            })
            .collect();
        let faces: Vec<usize> = (0..controls.len())
            .filter(|&k| {
                let (r, kind, _) = &controls[k];
                // A face with a picture on it (a zip file's zipper) is still an icon.
                !gone[k]
                    && (empty[k] || r.w.max(r.h) as i32 <= 5 * h)
                    && (!matches!(kind, ElementKind::CheckBox | ElementKind::RadioButton) || r.h as i32 > 2 * h)
                    && above.contains(r)
            })
            .collect();
        let pieces: Vec<Rect> =
            frags.iter().map(|&j| lines[j].bbox).chain(faces.iter().map(|&k| controls[k].0)).collect();
        // One picture: its pieces touch or nearly (a row of tool buttons above a label does
        // not make one icon).
        if !connected(&pieces, (h / 2).max(4)) {
            continue;
        }
        let icon = pieces.iter().copied().reduce(|a, b| a.union(&b));
        let Some(icon) = icon else { continue };
        let centred = (icon.center().0 - ccx).abs() <= 0.2 * icon.w.max(cap.bbox.w) as f64 + 3.0;
        let gap = cap.bbox.y - icon.bottom();
        if !centred || (icon.h as i32) < h * 6 / 5 || gap > (icon.h as i32 * 3 / 5).max(6) {
            continue;
        }
        let mut item = icon.union(&cap.bbox);
        used_line[c] = true;
        for &j in &frags {
            used_line[j] = true;
        }
        for &k in &faces {
            gone[k] = true;
        }
        // More lines of a caption that wraps, centred under the first.
        let mut last = cap.bbox;
        for _ in 0..3 {
            let Some(j) = (0..lines.len()).find(|&j| {
                let l = &lines[j];
                !used_line[j]
                    && !l.is_speck()
                    && l.bbox.y >= last.bottom() - 2
                    && l.bbox.y - last.bottom() <= h / 2 + 2
                    && l.bbox.w <= (4 * item.w.max(cap.bbox.w)).min(12 * h as u32)
                    && (l.bbox.center().0 - ccx).abs() <= 0.25 * cap.bbox.w.max(l.bbox.w) as f64 + 3.0
            }) else {
                break;
            };
            item = item.union(&lines[j].bbox);
            last = lines[j].bbox;
            used_line[j] = true;
        }
        items.push(Proposal::new(item, ElementKind::ListRow, 0.7, SOURCE));
    }
    let mut gone = gone.into_iter();
    controls.retain(|_| !gone.next().unwrap_or(false));

    let mut out: Vec<Proposal> = controls.into_iter().map(|(r, k, s)| Proposal::new(r, k, s, SOURCE)).collect();
    let item_boxes: Vec<Rect> = items.iter().map(|p| p.bbox).collect();
    out.extend(items);
    // Cells of a table or list, free of any control: one element per row.
    // Cells that are links are each a target of their own (an index, a list of links).
    let free: Vec<usize> = (0..lines.len())
        .filter(|&l| !used_line[l] && !lines[l].is_speck() && !lines[l].is_paragraph() && !lines[l].is_tinted())
        .collect();
    let boxes: Vec<Rect> = free.iter().map(|&l| lines[l].bbox).collect();
    let cells: Vec<super::rows::Cell> = free
        .iter()
        .map(|&l| super::rows::Cell {
            rect: lines[l].bbox,
            bg: super::background(image, &lines[l].bbox),
            icon: lines[l].looks_like_icon(),
        })
        .collect();
    let mut others: Vec<Rect> = out.iter().map(|p| p.bbox).collect();
    others.extend(
        (0..lines.len())
            .filter(|&l| !used_line[l] && !free.contains(&l) && !lines[l].is_speck())
            .map(|l| lines[l].bbox),
    );
    let first_row = out.len();
    for table in super::rows::tables(&cells, &others) {
        // A header row set off by a rule (and the rows below not) is column headers, each
        // its own element.
        let ink = |r: &super::rows::Row| r.items.iter().skip(1).fold(boxes[r.items[0]], |a, &i| a.union(&boxes[i]));
        let ruled = |a: &super::rows::Row, b: &super::rows::Row| {
            has_rule(mask, image.width(), ink(a).bottom(), ink(b).y, table.bounds.x, table.bounds.right())
        };
        // A rule from top to bottom between the columns: two lists side by side (the tab
        // strips of two notebooks), not one table.
        if split_by_rule(mask, image.width(), &table, &boxes) {
            continue;
        }
        let rows = &table.rows;
        let header = rows.len() >= 3 && ruled(&rows[0], &rows[1]) && !ruled(&rows[1], &rows[2]);
        for row in rows.iter().skip(header as usize) {
            for &i in &row.items {
                used_line[free[i]] = true;
            }
            out.push(Proposal::new(row.rect, ElementKind::ListRow, 0.7, SOURCE));
        }
    }
    // An icon view's item does not span rows of a table (cells stacked in a column are not
    // an icon with its caption), and a row's icon with the row's first cell beside it is not
    // a check box with its label: both are the row's.
    let rows: Vec<Rect> = out[first_row..].iter().map(|p| p.bbox).collect();
    let inside = |b: &Rect| rows.iter().any(|r| r.intersection(b).area() * 10 >= b.area() * 9 && b.h <= r.h);
    out.retain(|p| {
        let spans = rows.iter().filter(|r| r.overlap_y(&p.bbox) * 3 >= r.h as i32 && r.overlap_x(&p.bbox) > 0).count();
        let labelled_toggle = matches!(p.kind, ElementKind::CheckBox | ElementKind::RadioButton)
            && p.bbox.w > 2 * p.bbox.h
            && inside(&p.bbox);
        let item_over_rows = p.kind == ElementKind::ListRow && !rows.contains(&p.bbox) && spans >= 2;
        !(item_over_rows || labelled_toggle)
    });
    // What is left inside a row (a cell the table's columns missed, a row's icon) is part
    // of the row, unless it is a link.
    let mut links: Vec<(Rect, u8)> = Vec::new();
    for (li, l) in lines.iter().enumerate() {
        if used_line[li] {
            continue;
        }
        if l.is_speck() {
            if let Some(b) = super::symbols::bar_symbol(l, &lines, &used_line) {
                out.push(Proposal::new(b, ElementKind::Icon, 0.5, SOURCE));
            }
            continue;
        }
        if !l.is_tinted() && !l.is_paragraph() && inside(&l.bbox) {
            continue;
        }
        // Short, faint, lone specks are more likely noise than content.
        if l.blobs == 1 && l.bbox.w.max(l.bbox.h) < 7 {
            continue;
        }
        // A lone thin bar under or over a line of words (an underline, the mark of the
        // current page in a menu) belongs to that line.
        if l.blobs == 1
            && l.bbox.h <= 6
            && l.bbox.w >= 2 * l.bbox.h
            && lines.iter().any(|m| {
                m.is_word()
                    && !m.is_speck()
                    && m.bbox.overlap_x(&l.bbox) * 2 >= l.bbox.w as i32
                    && m.bbox.gap_y(&l.bbox) <= (m.core_h as i32 / 2).max(2)
                    && m.bbox.h > l.bbox.h
            })
        {
            continue;
        }
        // Links inside running text: runs of words drawn in a colour the rest is not.
        let runs = if l.looks_like_icon() { Vec::new() } else { super::links::link_runs(l, mask, image.width()) };
        let whole = l.parts.iter().all(|&(_, t)| t != 0) && runs.len() == 1;
        if whole {
            links.push((l.bbox, runs[0].1));
            continue;
        }
        let has_runs = !runs.is_empty();
        links.extend(runs);
        let kind = if l.looks_like_icon() {
            ElementKind::Icon
        } else if !has_runs && super::links::is_link(image, &l.bbox) {
            ElementKind::Link
        } else {
            ElementKind::Text
        };
        let score = (0.4 + 0.05 * l.blobs.min(8) as f32).min(0.9);
        out.push(Proposal::new(l.bbox, kind, score, SOURCE));
    }
    let merged = super::links::join_pieces(links);
    out.extend(merged.into_iter().map(|r| Proposal::new(r, ElementKind::Link, 0.75, SOURCE)));
    // A checked check box or radio drawn as a filled square or disc in a colour with a light
    // tick or dot on it has no face of its own (its fill is ink): in a row, beside a label,
    // it is a control of its own. Not inside another control. One found as a face with a
    // symbol is that toggle, not a button.
    for p in out.iter_mut().filter(|p| p.kind == ElementKind::Button && p.text.is_none()) {
        if let Some(kind) = super::symbols::filled_toggle(image, &p.bbox) {
            p.kind = kind;
        }
    }
    for l in lines.iter().filter(|l| l.blobs <= 2) {
        let b = l.bbox;
        let Some(kind) = super::symbols::filled_toggle(image, &b) else { continue };
        let inside_control = out.iter().any(|p| {
            p.kind != ElementKind::ListRow && !p.kind.is_content() && p.bbox.inflate(2).contains(&b) && p.bbox != b
        });
        let known = out
            .iter()
            .any(|p| matches!(p.kind, ElementKind::CheckBox | ElementKind::RadioButton) && p.bbox.overlap(&b) > 0.5);
        if !inside_control && !known {
            out.push(Proposal::new(b, kind, 0.7, SOURCE));
        }
    }
    let words: Vec<Rect> = lines.iter().filter(|l| l.is_word() && l.blobs >= 2).map(|l| l.bbox).collect();
    super::joins::join_strip_ends(&mut out, &words);
    super::joins::join_field_steppers(&mut out);
    super::joins::join_grid_items(&mut out, &item_boxes);
    out
}

/// Whether boxes form one cluster when those at most `gap` pixels apart are linked.
fn connected(boxes: &[Rect], gap: i32) -> bool {
    let Some(first) = boxes.first() else { return true };
    let mut reached = vec![false; boxes.len()];
    reached[0] = true;
    let mut todo = vec![*first];
    while let Some(b) = todo.pop() {
        for (i, r) in boxes.iter().enumerate() {
            if !reached[i] && b.gap_x(r) <= gap && b.gap_y(r) <= gap {
                reached[i] = true;
                todo.push(*r);
            }
        }
    }
    reached.into_iter().all(|r| r)
}

/// Whether a vertical rule (a column of line pixels over most of the table's height) runs
/// between the table's cells.
pub(super) fn split_by_rule(mask: &[u8], width: u32, table: &super::rows::Table, boxes: &[Rect]) -> bool {
    let b = table.bounds;
    let w = width as i32;
    let h = (mask.len() as i32) / w.max(1);
    let (y0, y1) = (b.y.max(0), b.bottom().min(h));
    let mut covered = vec![false; b.w as usize];
    for row in &table.rows {
        for &i in &row.items {
            let r = boxes[i];
            for x in r.x.max(b.x)..r.right().min(b.right()) {
                covered[(x - b.x) as usize] = true;
            }
        }
    }
    let need = ((y1 - y0) as f32 * 0.9) as usize;
    (b.x.max(0)..b.right().min(w))
        .filter(|&x| !covered[(x - b.x) as usize])
        .any(|x| (y0..y1).filter(|&y| mask[(y * w + x) as usize] == super::edges::LINE).count() >= need.max(1))
}

/// Whether a horizontal rule (a row of line pixels over most of `x0..x1`) lies between
/// rows `y0` and `y1`.
fn has_rule(mask: &[u8], width: u32, y0: i32, y1: i32, x0: i32, x1: i32) -> bool {
    let (w, x0, x1) = (width as i32, x0.max(0), x1.min(width as i32));
    let need = ((x1 - x0) as f32 * 0.6) as usize;
    (y0.max(0)..y1.min((mask.len() as i32) / w.max(1))).any(|y| {
        let row = &mask[(y * w + x0) as usize..(y * w + x1) as usize];
        row.iter().filter(|&&v| v == super::edges::LINE).count() >= need.max(1)
    })
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

/// Whether a region holding only these lines is a page of text (an editor, a terminal, a
/// text view): wide, one type size, rows set close (at most about two x-heights apart; a
/// list's rows are spaced wider) on one grid (blank lines skip rows, but the space between
/// paragraphs and headings of a page of prose break it), filling much of the region.
fn is_text_area(c: &Candidate, texts: &[&InkLine]) -> bool {
    let rows: u32 = texts.iter().map(|l| l.rows).sum();
    let mut heights: Vec<u32> = texts.iter().filter(|l| l.is_word()).map(|l| l.core_h).collect();
    if rows < 4 || heights.len() < 3 {
        return false;
    }
    heights.sort_unstable();
    let em = heights[heights.len() / 2].max(1) as f32;
    // Pictures (taller than the text) make it a list or a view, not a page of text.
    let pictures = texts.iter().filter(|l| l.looks_like_icon() && l.bbox.h as f32 >= 1.3 * em).count();
    if pictures * 10 > texts.len() {
        return false;
    }
    // The x-height: the usual height of the letters themselves (most are lower case).
    let mut glyphs: Vec<u32> = texts
        .iter()
        .flat_map(|l| l.parts.iter().map(|(r, _)| r.h).filter(|&h| h as f32 >= 0.45 * l.core_h as f32))
        .collect();
    if glyphs.is_empty() {
        return false;
    }
    glyphs.sort_unstable();
    let xh = glyphs[glyphs.len() / 2].max(1) as f32;
    // Row pitch: between the tops of successive rows (a paragraph brings its own).
    let mut tops: Vec<i32> = texts.iter().filter(|l| l.rows == 1).map(|l| l.bbox.y).collect();
    tops.sort_unstable();
    tops.dedup_by(|a, b| (*a - *b) as f32 <= 0.5 * em);
    let mut steps: Vec<f32> = tops.windows(2).map(|w| (w[1] - w[0]) as f32).collect();
    steps.extend(texts.iter().filter(|l| l.rows >= 2).map(|l| l.bbox.h as f32 / l.rows as f32));
    if steps.is_empty() {
        return false;
    }
    steps.sort_by(f32::total_cmp);
    let step = steps[steps.len() / 2];
    let ink = texts.iter().skip(1).fold(texts[0].bbox, |a, l| a.union(&l.bbox));
    // Pages of text are wide; menus and lists set as close are narrow.
    let close = step <= 1.95 * xh;
    let big = c.rect.w as f32 >= 40.0 * em && c.rect.h as f32 >= 6.0 * step;
    if !(close && big && ink.h * 2 >= c.rect.h.min(ink.h * 4)) {
        return false;
    }
    let uniform = heights.iter().filter(|&&h| (h as f32 - em).abs() <= 0.3 * em).count() * 10 >= heights.len() * 9;
    if !uniform {
        return false;
    }
    if tops.len() < 4 {
        return true; // a few paragraphs set solid, all of one size
    }
    let (first, last) = (tops[0] as f32, tops[tops.len() - 1] as f32);
    let pitch = (last - first) / ((last - first) / step).round().max(1.0);
    let on_grid = tops
        .iter()
        .filter(|&&t| {
            let k = ((t as f32 - first) / pitch).round();
            (t as f32 - first - k * pitch).abs() <= (0.15 * pitch).max(2.0)
        })
        .count();
    on_grid * 20 >= tops.len() * 17
}

/// A small squarish symbol of one or two blobs, 7 to 9 pixels (a menu item's icon).
fn small_symbol(l: &InkLine) -> bool {
    let (w, h) = (l.bbox.w, l.bbox.h);
    l.blobs <= 2 && (7..=9).contains(&h) && (7..=9).contains(&w)
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
    // A face of 24 pixels or more with a symbol on it is a tool button: check boxes and
    // radio buttons are drawn smaller.
    let tool_button = w.min(h) >= 24.0 && !inside.is_empty();
    if c.is_small_square() && !tool_button && inside.iter().all(|l| l.bbox.w as f32 <= w) {
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
