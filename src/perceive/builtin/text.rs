//! Group ink blobs (glyphs, icon parts) into words and lines.
//!
//! Blobs that sit on a common baseline band and are separated by less than about one
//! line height join one line; a line of one squarish blob is more likely an icon.

use crate::geometry::Rect;

/// A line of ink: a word, a run of words, or an icon.
#[derive(Debug, Clone)]
pub struct InkLine {
    pub bbox: Rect,
    /// Blobs merged into this line.
    pub blobs: u32,
    /// Height of the tallest ordinary (non-punctuation) blob.
    pub core_h: u32,
    /// Rows of text merged into this line (a paragraph has several).
    pub rows: u32,
    /// The blobs, each with its tint: 0 for neutral ink (black, grey, white), 1..=6 for a
    /// hue (a link's colour), [`ANY_TINT`] for blobs too small to tell.
    pub parts: Vec<(Rect, u8)>,
    /// A cell of a table (its columns line up with others'), not prose.
    pub cell: bool,
}

/// A blob of a line with its tint.
type Part = (Rect, u8);

/// The tint of a blob too small to have one of its own (a dot, a comma).
pub const ANY_TINT: u8 = 255;

impl InkLine {
    /// Too small to be content: corners of rounded borders, stray anti-aliasing.
    pub fn is_speck(&self) -> bool {
        self.bbox.w.max(self.bbox.h) < 5 || self.bbox.area() < 16 || self.bbox.h < 4 || self.bbox.w < 3
    }

    /// Several glyphs side by side: a word or more, not a lone symbol (an arrow, a tick).
    pub fn is_word(&self) -> bool {
        // Touching glyphs (kerned or bold text) may form one blob: then the shape decides.
        let (w, h) = (self.bbox.w as f32, self.bbox.h as f32);
        !self.looks_like_icon() && (self.blobs >= 2 && w >= 1.2 * h || w >= 2.2 * h)
    }

    /// Drawn all in a colour (not neutral ink): a link, or a list of them.
    pub fn is_tinted(&self) -> bool {
        self.parts.iter().any(|&(_, t)| t != 0 && t != ANY_TINT) && self.parts.iter().all(|&(_, t)| t != 0)
    }

    /// Lines of a paragraph merged into this one.
    pub fn is_paragraph(&self) -> bool {
        self.rows >= 2
    }

    pub fn looks_like_icon(&self) -> bool {
        if self.rows >= 2 {
            return false;
        }
        let (w, h) = (self.bbox.w as f32, self.bbox.h as f32);
        let aspect = w / h.max(1.0);
        self.blobs <= 2 && h >= 10.0 && (0.6..=1.6).contains(&aspect) || self.blobs == 1 && h >= 14.0 && aspect < 2.5
    }
}

/// Parameters of grouping.
#[derive(Debug, Clone, Copy)]
pub struct Grouping {
    /// Largest gap between blobs of one line, as a fraction of the line height.
    pub gap_per_height: f32,
    /// Gap always allowed, in pixels.
    pub min_gap: i32,
}

impl Default for Grouping {
    fn default() -> Self {
        Self { gap_per_height: 0.75, min_gap: 3 }
    }
}

/// Group blob boxes (with their tints) into lines.
pub fn group(mut blobs: Vec<(Rect, u8)>, g: Grouping) -> Vec<InkLine> {
    blobs.sort_by_key(|(r, _)| (r.x, r.y, r.w, r.h));
    let mut open: Vec<InkLine> = Vec::new();
    let mut done: Vec<InkLine> = Vec::new();
    for (b, tint) in blobs {
        // Close lines that can no longer reach this blob (blobs come in x order).
        let mut i = 0;
        while i < open.len() {
            let l = &open[i];
            if l.bbox.right() + max_gap(l, g) < b.x {
                done.push(open.swap_remove(i));
            } else {
                i += 1;
            }
        }
        let mut best: Option<(usize, f32)> = None;
        for (i, l) in open.iter().enumerate() {
            if let Some(score) = fits(l, &b, g)
                && best.is_none_or(|(_, s)| score > s)
            {
                best = Some((i, score));
            }
        }
        match best {
            Some((i, _)) => {
                let l = &mut open[i];
                let small = is_punctuation(l, &b);
                l.bbox = l.bbox.union(&b);
                l.blobs += 1;
                l.parts.push((b, tint));
                if !small {
                    l.core_h = l.core_h.max(b.h);
                }
            }
            None => open.push(InkLine { bbox: b, blobs: 1, core_h: b.h, rows: 1, parts: vec![(b, tint)], cell: false }),
        }
    }
    done.extend(open);
    done.sort_by_key(|l| (l.bbox.y, l.bbox.x, l.bbox.w, l.bbox.h));
    split_at_bars(split_icon_rows(stack_parts(stack_bars(nest(done)))))
}

/// Items set in a row with bars between them ("previous | next | index": a navigation bar,
/// a status bar's fields) are so many lines. A bar is a part at most three pixels wide (its ink and edges) from
/// the line's top to below its baseline (an "l" or an "I" stops at the baseline), with a
/// space on each side.
fn split_at_bars(lines: Vec<InkLine>) -> Vec<InkLine> {
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        if l.rows >= 2 || l.blobs < 3 || l.core_h < 8 {
            out.push(l);
            continue;
        }
        let mut bottoms: Vec<i32> =
            l.parts.iter().filter(|(r, _)| r.h * 2 >= l.core_h && r.w >= 4).map(|(r, _)| r.bottom()).collect();
        if bottoms.len() < 2 {
            out.push(l);
            continue;
        }
        bottoms.sort_unstable();
        let baseline = bottoms[bottoms.len() / 2];
        let space = (l.core_h as i32 / 4).max(3);
        let mut parts = l.parts.clone();
        parts.sort_by_key(|(r, _)| r.x);
        let is_bar = |k: usize| {
            let r = parts[k].0;
            let (left, right) = (parts[..k].iter().map(|(p, _)| p.right()).max(), parts.get(k + 1).map(|(p, _)| p.x));
            r.w <= 3
                && r.y <= l.bbox.y + 1
                && r.bottom() >= baseline + (l.core_h as i32 / 6).max(2)
                && left.is_some_and(|x| r.x - x >= space)
                && right.is_some_and(|x| x - r.right() >= space)
        };
        let bars: Vec<usize> = (0..parts.len()).filter(|&k| is_bar(k)).collect();
        if bars.is_empty() {
            out.push(l);
            continue;
        }
        let mut start = 0;
        for cut in bars.iter().copied().chain([parts.len()]) {
            let piece = &parts[start..cut];
            if let Some(first) = piece.first() {
                let bbox = piece.iter().fold(first.0, |a, (r, _)| a.union(r));
                let core_h = piece.iter().map(|(r, _)| r.h).max().unwrap_or(bbox.h).min(l.core_h);
                out.push(InkLine {
                    bbox,
                    blobs: piece.len() as u32,
                    core_h,
                    rows: 1,
                    parts: piece.to_vec(),
                    cell: l.cell,
                });
            }
            if cut < parts.len() {
                let bar = parts[cut];
                out.push(InkLine { bbox: bar.0, blobs: 1, core_h: bar.0.h, rows: 1, parts: vec![bar], cell: l.cell });
            }
            start = cut + 1;
        }
    }
    out.sort_by_key(|l| (l.bbox.y, l.bbox.x, l.bbox.w, l.bbox.h));
    out
}

/// A line inside another's box is part of it: the counters of a large glyph drawn on a
/// face of another shade (an "8", a "%"), the dot in a ring. Lines of text never nest, but
/// hairline strokes inside a line of text (bits of its letters the ink mask cut loose; not
/// an i's dot, which later joins its stem) are its own.
fn nest(mut lines: Vec<InkLine>) -> Vec<InkLine> {
    lines.sort_by_key(|l| std::cmp::Reverse(l.bbox.area()));
    let mut out: Vec<InkLine> = Vec::with_capacity(lines.len());
    for l in lines {
        let bits = l.parts.iter().all(|(r, _)| r.w.min(r.h) <= 2) && l.parts.iter().any(|(r, _)| r.w.max(r.h) >= 6);
        let host =
            out.iter_mut().find(|o| o.rows == 1 && (o.blobs <= 3 || bits) && o.bbox.inflate(1).contains(&l.bbox));
        match host {
            Some(o) if l.rows == 1 => {
                o.blobs += l.blobs;
                o.parts.extend(l.parts);
            }
            _ => out.push(l),
        }
    }
    out.sort_by_key(|l| (l.bbox.y, l.bbox.x, l.bbox.w, l.bbox.h));
    out
}

/// A row of icons spaced like words (a toolbar without button faces) is so many icons: a
/// line whose pieces (blobs touching or a hairline apart) are all icon-sized and squarish,
/// set wider apart than letters are, splits into one line per piece. Words never split:
/// their pieces are wider than tall, and the letters of a CJK word touch.
fn split_icon_rows(lines: Vec<InkLine>) -> Vec<InkLine> {
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        if l.rows >= 2 || l.blobs < 2 || l.bbox.h < 12 {
            out.push(l);
            continue;
        }
        // Specks (a face's rounded corners, a dot) go with the nearest piece afterwards;
        // hairline bars (a separator between the icons, a face's edge) stand alone.
        let bar = |r: &Rect| r.w <= 3 && r.h >= 3 * r.w || r.h <= 3 && r.w >= 3 * r.h;
        let (bars, rest): (Vec<Part>, Vec<Part>) = l.parts.iter().partition(|(r, _)| r.w.max(r.h) >= 5 && bar(r));
        let (mut parts, specks): (Vec<Part>, Vec<Part>) = rest.into_iter().partition(|(r, _)| r.w.max(r.h) >= 5);
        parts.sort_by_key(|(r, _)| r.x);
        let mut pieces: Vec<(Rect, Vec<Part>)> = Vec::new();
        for p in parts {
            match pieces.last_mut() {
                Some((r, v)) if p.0.x <= r.right() + 3 => {
                    *r = r.union(&p.0);
                    v.push(p);
                }
                _ => pieces.push((p.0, vec![p])),
            }
        }
        let icon = |r: &Rect| r.h >= 12 && r.h * 10 >= l.bbox.h * 6 && r.w * 10 >= r.h * 6 && r.w * 10 <= r.h * 16;
        // Besides the icons only narrow marks (a grip, a separator), never a word.
        let narrow = |r: &Rect| r.w <= r.h.min(l.bbox.h / 2);
        let icons: Vec<Rect> = pieces.iter().map(|(r, _)| *r).filter(|r| !narrow(r)).collect();
        let apart = icons.windows(2).all(|w| {
            let gap = w[1].x - w[0].right();
            gap >= 6 && gap * 10 >= 3 * l.bbox.h as i32
        });
        if icons.len() < 2 || !apart || !icons.iter().all(icon) {
            out.push(l);
            continue;
        }
        for b in bars {
            out.push(InkLine { bbox: b.0, blobs: 1, core_h: b.0.h, rows: 1, parts: vec![b], cell: l.cell });
        }
        for sp in specks {
            if let Some((r, v)) = pieces.iter_mut().min_by_key(|(r, _)| r.gap_x(&sp.0) + r.gap_y(&sp.0)) {
                *r = r.union(&sp.0);
                v.push(sp);
            }
        }
        for (bbox, parts) in pieces {
            let core_h = parts.iter().map(|(r, _)| r.h).max().unwrap_or(bbox.h);
            out.push(InkLine { bbox, blobs: parts.len() as u32, core_h, rows: 1, parts, cell: l.cell });
        }
    }
    out.sort_by_key(|l| (l.bbox.y, l.bbox.x, l.bbox.w, l.bbox.h));
    out
}

/// Merge lines stacked below one another (within `reach` pixels) while `joins` says so.
/// Lines must be sorted by top edge.
fn stack(mut lines: Vec<InkLine>, reach: i32, joins: impl Fn(&InkLine, &InkLine) -> bool) -> Vec<InkLine> {
    let mut i = 0;
    while i < lines.len() {
        let mut merged = false;
        let mut j = i + 1;
        while j < lines.len() && lines[j].bbox.y <= lines[i].bbox.bottom() + reach {
            if joins(&lines[i], &lines[j]) {
                let b = lines.remove(j);
                let a = &mut lines[i];
                a.bbox = a.bbox.union(&b.bbox);
                a.blobs += b.blobs;
                a.core_h = a.core_h.max(b.core_h);
                a.parts.extend(b.parts);
                merged = true;
                continue;
            }
            j += 1;
        }
        if !merged {
            i += 1;
        }
    }
    lines
}

fn x_overlap(a: &Rect, b: &Rect) -> f32 {
    (a.right().min(b.right()) - a.x.max(b.x)).max(0) as f32
}

/// Parts of one symbol stacked with a hairline gap (a microphone over its stand, an 'i'
/// over its dot) are one icon. Words never merge this way: lines of text are apart by
/// more than a hairline and are wider than tall.
fn stack_parts(lines: Vec<InkLine>) -> Vec<InkLine> {
    stack(lines, 2, |a, b| {
        let joint = a.bbox.union(&b.bbox);
        !a.is_word()
            && !b.is_word()
            && a.bbox.gap_y(&b.bbox) <= 2
            && x_overlap(&a.bbox, &b.bbox) >= 0.6 * a.bbox.w.min(b.bbox.w) as f32
            && joint.h <= 48
            && joint.w <= 48
    })
}

/// Thin bars stacked with hairline gaps (a hamburger icon, a grip) are one icon. The
/// `core_h` of a stack is its thickest bar.
fn stack_bars(lines: Vec<InkLine>) -> Vec<InkLine> {
    stack(lines, 4, |a, b| {
        let (ra, rb) = (&a.bbox, &b.bbox);
        let thin = a.core_h <= 4 && rb.h <= 4;
        let aligned = x_overlap(ra, rb) >= 0.8 * ra.w.min(rb.w) as f32 && ra.w.max(rb.w) <= 2 * ra.w.min(rb.w);
        thin && aligned && ra.gap_y(rb) <= 4
    })
}

/// Merge lines of running text into paragraphs: left-aligned rows of similar height set
/// close together. List rows and menu items are spaced wider and stay apart.
///
/// Spacing is judged on the whole left-aligned column: its usual pitch (median distance
/// between line tops) against its type size (the tallest line, ascender to descender), so
/// letters without ascenders or descenders do not make one pair look loosely set. Text
/// set solid (an editor, a text view: pitch ≤ 1.45 em) is one block; a looser pitch
/// (≤ 1.9 em) only for long lines that fill their width as wrapped text does (list rows
/// are short and ragged).
pub fn paragraphs(mut lines: Vec<InkLine>) -> Vec<InkLine> {
    lines.sort_by_key(|l| (l.bbox.y, l.bbox.x));
    // Lines that start an item of a list (a bullet just left of them, or as their first
    // glyph) are never the continuation of the line above.
    let bullets: Vec<Rect> = lines.iter().filter(|l| is_bullet(l)).map(|l| l.bbox).collect();
    let itemised: Vec<bool> = lines
        .iter()
        .map(|l| {
            let h = l.core_h.max(1) as i32;
            let (_, cy) = l.bbox.center();
            let beside = |b: &Rect| {
                b.right() <= l.bbox.x
                    && l.bbox.x - b.right() <= 2 * h
                    && b.center().1 >= l.bbox.y as f64
                    && b.center().1 <= l.bbox.bottom() as f64
            };
            bullets.iter().any(beside) || leading_bullet(l, cy)
        })
        .collect();
    // The next left-aligned word line below `k` that could continue it, if any.
    let below = |k: usize, x: i32, used: &[bool]| -> Option<usize> {
        let prev = &lines[k];
        let h = prev.core_h.max(1) as i32;
        (k + 1..lines.len()).find(|&j| {
            let l = &lines[j];
            !used[j]
                && !itemised[j]
                && l.is_word()
                && (l.bbox.x - x).abs() <= 3
                && l.bbox.y > prev.bbox.y
                && (l.core_h as i32 - h).abs() <= h / 3 + 2
                && l.bbox.gap_y(&prev.bbox) <= h
        })
    };
    let mut out: Vec<InkLine> = Vec::with_capacity(lines.len());
    let mut used = vec![false; lines.len()];
    for i in 0..lines.len() {
        if used[i] {
            continue;
        }
        let mut para = lines[i].clone();
        if !para.is_word() {
            out.push(para);
            continue;
        }
        // The column below this line: its type size (tallest line) and its usual line
        // pitch (median distance between tops; single lines vary with their letters).
        let mut chain = vec![i];
        while let Some(j) = below(*chain.last().unwrap_or(&i), para.bbox.x, &used) {
            chain.push(j);
        }
        // Most lines led by an icon: a list of items (a side bar's entries), not prose.
        let iconic = chain.iter().filter(|&&k| leading_icon(&lines[k])).count();
        if chain.len() >= 3 && iconic * 2 >= chain.len() {
            for &k in &chain {
                used[k] = true;
                out.push(lines[k].clone());
            }
            continue;
        }
        let em = chain.iter().map(|&k| lines[k].bbox.h).max().unwrap_or(1).max(1) as f32;
        let mut pitches: Vec<i32> = chain.windows(2).map(|w| lines[w[1]].bbox.y - lines[w[0]].bbox.y).collect();
        pitches.sort_unstable();
        let usual = pitches.get(pitches.len() / 2).copied().unwrap_or(0) as f32;
        let solid = usual > 0.0 && usual <= 1.45 * em;
        let mut last = i;
        for &j in &chain[1..] {
            let (prev, l) = (&lines[last], &lines[j]);
            let pitch = (l.bbox.y - prev.bbox.y) as f32;
            let filled =
                prev.bbox.w as f32 >= 0.55 * prev.bbox.w.max(l.bbox.w) as f32 && prev.bbox.w as f32 >= 15.0 * em;
            if !(solid && pitch <= 1.35 * usual || filled && pitch <= 1.9 * em) {
                break;
            }
            used[j] = true;
            para.bbox = para.bbox.union(&l.bbox);
            para.blobs += l.blobs;
            para.rows += 1;
            para.parts.extend(l.parts.iter().copied());
            last = j;
        }
        out.push(para);
    }
    out.sort_by_key(|l| (l.bbox.y, l.bbox.x, l.bbox.w, l.bbox.h));
    out
}

/// Whether a line starts with an icon: its first few blobs (up to the first space) make a
/// squarish shape about as tall as the line's letters or taller, set apart from the words
/// after it by more than they are from each other (as much, for an icon taller than them).
fn leading_icon(l: &InkLine) -> bool {
    let mut parts: Vec<&Rect> = l.parts.iter().map(|(r, _)| r).collect();
    parts.sort_by_key(|r| r.x);
    let space = (l.core_h as i32 / 4).max(3);
    let Some(&first) = parts.first() else { return false };
    let mut head = *first;
    let mut k = 1;
    while k < parts.len() && parts[k].x - head.right() < space {
        head = head.union(parts[k]);
        k += 1;
    }
    if parts.len() < k + 2 {
        return false;
    }
    let (w, h) = (head.w as f32, head.h as f32);
    // Set apart wider than the words after it are ("1. Labels" is prose numbered).
    let gap = parts[k].x - head.right();
    // The widest space between the words after it (from the furthest right ink so far).
    let mut widest = 0;
    let mut end = parts[k].x;
    for r in &parts[k..] {
        widest = widest.max(r.x - end);
        end = end.max(r.right());
    }
    // The letters' height (an icon taller than them would count in the line's own).
    let text_h = parts[k..].iter().map(|r| r.h).max().unwrap_or(0) as f32;
    let apart = gap > widest || gap == widest && h >= 1.25 * text_h;
    apart && gap as f32 >= 0.4 * text_h && (0.7..=1.4).contains(&(w / h.max(1.0))) && h >= 0.7 * text_h
}

/// A lone small dot or square: a list's bullet.
fn is_bullet(l: &InkLine) -> bool {
    let (w, h) = (l.bbox.w, l.bbox.h);
    l.blobs == 1 && (2..=8).contains(&w) && (2..=8).contains(&h) && w * 2 >= h && h * 2 >= w
}

/// Whether the first glyph of a line is a bullet: small, squarish, about the middle of the
/// line's height, set apart from the rest.
fn leading_bullet(l: &InkLine, cy: f64) -> bool {
    let mut parts: Vec<&Rect> = l.parts.iter().map(|(r, _)| r).collect();
    parts.sort_by_key(|r| r.x);
    let (Some(first), Some(next)) = (parts.first(), parts.get(1)) else { return false };
    let small = first.w * 2 <= l.core_h && first.h * 2 <= l.core_h && first.w * 2 >= first.h && first.h * 2 >= first.w;
    small
        && (first.center().1 - cy).abs() <= l.core_h as f64 * 0.3
        && next.x - first.right() >= (l.core_h as i32 / 3).max(2)
}

fn max_gap(l: &InkLine, g: Grouping) -> i32 {
    ((l.core_h as f32 * g.gap_per_height).round() as i32).max(g.min_gap)
}

/// A dot, comma or accent: much smaller than the line and within its band.
fn is_punctuation(l: &InkLine, b: &Rect) -> bool {
    (b.h as f32) < 0.45 * l.core_h as f32 && b.w <= l.core_h
}

/// How well blob `b` continues line `l` (None when it does not).
fn fits(l: &InkLine, b: &Rect, g: Grouping) -> Option<f32> {
    let gap = l.bbox.gap_x(b);
    let allowed = max_gap(l, g).max(((b.h as f32 * g.gap_per_height) as i32).min(max_gap(l, g) * 2));
    if gap > allowed {
        return None;
    }
    let ov = l.bbox.overlap_y(b) as f32;
    if is_punctuation(l, b) {
        // Must sit inside the line's band (slightly extended for descenders).
        let band = l.bbox.inflate((l.core_h / 4) as i32);
        return (b.y >= band.y && b.bottom() <= band.bottom()).then_some(0.5 - gap as f32 * 0.01);
    }
    let mut lh = l.core_h.max(1) as f32;
    let bh = b.h.max(1) as f32;
    // A separator bar at the line's start ("| Other versions") is taller than its letters:
    // short ones ("sions") are held to the letters' height.
    if lh > 2.6 * bh {
        let bar = |r: &Rect| r.w <= 3 && r.h >= 4 * r.w;
        let glyphs = l.parts.iter().filter(|(r, _)| !bar(r) && !is_punctuation(l, r)).map(|(r, _)| r.h).max();
        lh = glyphs.map_or(lh, |h| h.max(1) as f32);
    }
    // Icons in a row (a toolbar, an icon grid) stand apart at gaps where letters of large
    // text would still join.
    if lh >= 16.0 && gap as f32 > (0.45 * lh).max(g.min_gap as f32) {
        return None;
    }
    // Heights must be comparable: a tall icon next to small text starts its own line
    // unless the text sits well within it.
    let ratio = lh.max(bh) / lh.min(bh);
    if ratio > 2.6 {
        return None;
    }
    let score = ov / lh.min(bh);
    (score >= 0.55).then_some(score - gap as f32 * 0.01)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glyphs(x0: i32, y: i32, h: u32, n: usize, advance: i32) -> Vec<(Rect, u8)> {
        (0..n).map(|i| (Rect::new(x0 + i as i32 * advance, y, (advance - 2) as u32, h), 0)).collect()
    }

    #[test]
    fn letters_and_words_on_one_baseline_form_one_line() {
        let mut b = glyphs(10, 10, 10, 5, 7); // "hello"
        b.extend(glyphs(10 + 35 + 4, 10, 10, 5, 7)); // " world", 4+2 px space
        let lines = group(b, Grouping::default());
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].blobs, 10);
    }

    #[test]
    fn distant_labels_and_other_rows_stay_apart() {
        let mut b = glyphs(10, 10, 10, 4, 7);
        b.extend(glyphs(120, 10, 10, 4, 7)); // far to the right: a second label
        b.extend(glyphs(10, 40, 10, 4, 7)); // next row
        assert_eq!(group(b, Grouping::default()).len(), 3);
    }

    fn word(x: i32, y: i32, w: u32, h: u32) -> InkLine {
        InkLine { bbox: Rect::new(x, y, w, h), blobs: 6, core_h: h, rows: 1, parts: vec![], cell: false }
    }

    #[test]
    fn list_rows_stay_apart_and_text_set_solid_joins() {
        // A list: short ragged rows 23 px apart, 10-15 px tall.
        let list: Vec<InkLine> = [(40u32, 14u32), (62, 10), (85, 15), (50, 10), (70, 14)]
            .iter()
            .enumerate()
            .map(|(i, &(w, h))| word(28, 100 + 23 * i as i32, w, h))
            .collect();
        assert_eq!(paragraphs(list).len(), 5);
        // A text view: the same kind of lines, 17 px apart (tops wander by a pixel or two).
        let view: Vec<InkLine> = [(0, 40u32, 14u32), (17, 62, 10), (32, 85, 15), (51, 50, 10), (66, 70, 14)]
            .iter()
            .map(|&(dy, w, h)| word(28, 100 + dy, w, h))
            .collect();
        let p = paragraphs(view);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].rows, 5);
    }

    #[test]
    fn lines_led_by_icons_are_a_list_however_close() {
        // A side bar: a 13 px icon, 8 px of space, then two words; rows 17 px apart, as
        // close as a text view's. Numbered prose ("1. Labels and text", the number one word
        // space from the rest) still reads as one block.
        let row = |y: i32, lead: u32, gap: i32| {
            let mut b = vec![(Rect::new(10, y, lead, 13), 0)];
            let x = 10 + lead as i32 + gap;
            b.extend(glyphs(x, y + 1, 12, 5, 7));
            b.extend(glyphs(x + 35 + 4, y + 1, 12, 4, 7));
            b
        };
        let side: Vec<(Rect, u8)> = (0..5).flat_map(|i| row(100 + 17 * i, 13, 8)).collect();
        assert_eq!(paragraphs(group(side, Grouping::default())).len(), 5);
        let prose: Vec<(Rect, u8)> = (0..5).flat_map(|i| row(100 + 17 * i, 11, 4)).collect();
        let p = paragraphs(group(prose, Grouping::default()));
        assert_eq!(p.len(), 1, "{p:?}");
    }

    #[test]
    fn short_letters_after_a_separator_bar_join_its_line() {
        // "| Other ver" then "sions": the bar is 17 px tall, the letters 12 and 6.
        let mut b = vec![(Rect::new(0, 0, 2, 17), 0)];
        b.extend(glyphs(7, 2, 12, 5, 8));
        b.push((Rect::new(48, 8, 23, 6), 0));
        let lines = group(b, Grouping::default());
        assert_eq!(lines.len(), 1, "{lines:?}");
    }

    #[test]
    fn hairline_bits_inside_a_word_are_part_of_it() {
        // Strokes of letters the edge map cut loose: a line of 1-2 px bits in the word's box.
        let mut b = glyphs(10, 10, 10, 8, 7);
        b.extend([(Rect::new(40, 13, 14, 1), ANY_TINT), (Rect::new(44, 15, 14, 2), ANY_TINT)]);
        let lines = group(b, Grouping::default());
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].blobs, 10);
    }

    #[test]
    fn a_dot_joins_its_word() {
        let mut b = glyphs(10, 10, 10, 3, 7);
        b.push((Rect::new(31, 18, 2, 2), ANY_TINT));
        let lines = group(b, Grouping::default());
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].core_h, 10);
    }

    #[test]
    fn a_blob_inside_another_s_box_is_part_of_its_line() {
        // A large "8" whose counters read as blobs of their own, and a word beside it.
        let mut b =
            vec![(Rect::new(262, 722, 37, 49), 0), (Rect::new(275, 730, 11, 11), 0), (Rect::new(274, 750, 13, 13), 0)];
        b.extend(glyphs(400, 722, 12, 4, 9));
        let lines = group(b, Grouping::default());
        assert_eq!(lines.len(), 2, "{lines:?}");
        let eight = lines.iter().find(|l| l.bbox.x == 262).expect("the 8");
        assert_eq!((eight.bbox, eight.blobs), (Rect::new(262, 722, 37, 49), 3));
    }

    #[test]
    fn items_with_bars_between_them_are_lines_of_their_own() {
        // "previous | next | index": words of 11 px on one baseline, bars from the top of
        // the line to below the baseline, a space each side. An "l" (to the baseline) is a letter.
        let b = vec![
            (Rect::new(10, 22, 60, 15), 0),
            (Rect::new(76, 22, 3, 16), 0),
            (Rect::new(86, 23, 32, 11), 0),
            (Rect::new(124, 22, 3, 16), 0),
            (Rect::new(133, 22, 39, 12), 0),
            (Rect::new(178, 22, 3, 12), 0),
            (Rect::new(185, 22, 30, 12), 0),
        ];
        let lines = group(b, Grouping::default());
        let mut words: Vec<Rect> = lines.iter().filter(|l| l.bbox.w > 3).map(|l| l.bbox).collect();
        words.sort_by_key(|r| r.x);
        assert_eq!(
            words,
            vec![Rect::new(10, 22, 60, 15), Rect::new(86, 23, 32, 11), Rect::from_edges(133, 22, 215, 34)],
            "{lines:?}"
        );
    }

    #[test]
    fn a_row_of_toolbar_icons_is_one_line_per_icon() {
        // Three 19 px symbols 14 px apart (a reload arrow in two strokes, a grid of four
        // squares, a picture), a separator and a face's corner speck among them.
        let b = vec![
            (Rect::new(142, 38, 14, 14), 0),
            (Rect::new(147, 33, 14, 14), 0),
            (Rect::new(168, 33, 2, 20), 0),
            (Rect::new(176, 30, 2, 2), ANY_TINT),
            (Rect::new(177, 33, 9, 9), 0),
            (Rect::new(177, 43, 9, 9), 0),
            (Rect::new(187, 33, 9, 9), 0),
            (Rect::new(187, 43, 9, 9), 0),
            (Rect::new(210, 33, 19, 19), 0),
        ];
        let lines = group(b, Grouping::default());
        let mut icons: Vec<Rect> = lines.iter().filter(|l| l.bbox.w > 3).map(|l| l.bbox).collect();
        icons.sort_by_key(|r| r.x);
        assert_eq!(icons, [Rect::new(142, 33, 19, 19), Rect::new(176, 30, 20, 22), Rect::new(210, 33, 19, 19)]);
    }

    #[test]
    fn words_with_wide_spaces_are_not_split_like_icons() {
        // "Save  All" in 14 px letters with a wide gap: the pieces are wider than tall.
        let mut b = glyphs(10, 10, 14, 4, 9);
        b.extend(glyphs(10 + 36 + 8, 10, 14, 3, 9));
        let lines = group(b, Grouping::default());
        assert_eq!(lines.len(), 1, "{lines:?}");
    }
}
