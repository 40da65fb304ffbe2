//! Links: runs of coloured or underlined words inside a line of text, and link text by its
//! colour.

use image::RgbaImage;

use super::text::InkLine;
use crate::geometry::Rect;

/// Pieces of one link split where a wide space (monospace text) parted the words, joined:
/// same hue (or both underlined), one line, a gap no wider than about a letter's height.
pub(super) fn join_pieces(mut links: Vec<(Rect, u8)>) -> Vec<Rect> {
    links.sort_by_key(|(r, _)| (r.y, r.x));
    let mut merged: Vec<(Rect, u8)> = Vec::with_capacity(links.len());
    for (r, t) in links {
        let h = r.h as f32;
        let joins = |(m, mt): &(Rect, u8)| {
            *mt == t
                && (m.center().1 - r.center().1).abs() as f32 <= 0.35 * h.max(m.h as f32)
                && (m.h.max(r.h) as f32) <= 1.4 * m.h.min(r.h) as f32
                && (m.gap_x(&r) as f32) <= 1.4 * h.max(m.h as f32)
        };
        match merged.iter_mut().rev().take(8).find(|m| joins(m)) {
            Some(m) => m.0 = m.0.union(&r),
            None => merged.push((r, t)),
        }
    }
    merged.into_iter().map(|(r, _)| r).collect()
}

/// The links in a line of text (its parts in reading order, row by row): runs of two or
/// more blobs of one hue with no neutral ink between them (links drawn in a colour), and
/// runs of words with a rule under them (underlined links, dotted or solid). With the hue,
/// or [`UNDERLINED`].
pub(super) fn link_runs(l: &InkLine, mask: &[u8], width: u32) -> Vec<(Rect, u8)> {
    use super::text::ANY_TINT;
    let mut parts = l.parts.clone();
    let half = (l.core_h as f32 * 0.5).max(2.0);
    parts.sort_by(|a, b| a.0.center().1.total_cmp(&b.0.center().1));
    // Rows of the paragraph, then left to right.
    let mut rows: Vec<Vec<(Rect, u8)>> = Vec::new();
    for p in parts {
        match rows.last_mut() {
            Some(row) if (p.0.center().1 - row[0].0.center().1).abs() as f32 <= half => row.push(p),
            _ => rows.push(vec![p]),
        }
    }
    let mut runs = Vec::new();
    for mut row in rows {
        row.sort_by_key(|p| p.0.x);
        let mut cur: Option<(u8, Rect, usize)> = None;
        let mut close = |cur: &mut Option<(u8, Rect, usize)>| {
            if let Some((t, r, n)) = cur.take()
                && n >= 2
            {
                runs.push((r, t));
            }
        };
        for &(r, t) in &row {
            match (&mut cur, t) {
                (Some((c, run, n)), t) if t == *c || t == ANY_TINT => {
                    *run = run.union(&r);
                    if t != ANY_TINT {
                        *n += 1;
                    }
                }
                (_, 0) | (_, ANY_TINT) => close(&mut cur),
                (_, t) => {
                    close(&mut cur);
                    cur = Some((t, r, 1));
                }
            }
        }
        close(&mut cur);
        for (x0, x1) in underlines(&row, l.core_h, mask, width) {
            let under: Vec<&(Rect, u8)> =
                row.iter().filter(|(r, _)| (x0..x1).contains(&(r.center().0.round() as i32))).collect();
            if under.len() >= 2 {
                let r = under.iter().skip(1).fold(under[0].0, |a, (b, _)| a.union(b));
                if !runs.iter().any(|(q, _): &(Rect, u8)| q.overlap(&r) > 0.5) {
                    runs.push((r, UNDERLINED));
                }
            }
        }
    }
    runs
}

/// The "hue" of links found by their underline.
const UNDERLINED: u8 = 7;

/// Horizontal strokes just under the baseline of a row of glyphs that stay within the row
/// (a table's rule runs past its text): the x ranges of underlined words. A solid stroke
/// is unbroken; a dotted one is short dots at a steady spacing (glyph bottoms and
/// descenders are neither).
fn underlines(row: &[(Rect, u8)], core_h: u32, mask: &[u8], width: u32) -> Vec<(i32, i32)> {
    let glyphs: Vec<&Rect> = row.iter().map(|(r, _)| r).filter(|r| r.h * 5 >= core_h * 3).collect();
    if glyphs.len() < 2 {
        return Vec::new();
    }
    let mut bottoms: Vec<i32> = glyphs.iter().map(|r| r.bottom()).collect();
    bottoms.sort_unstable();
    let base = bottoms[bottoms.len() / 2];
    let x0 = row.iter().map(|(r, _)| r.x).min().unwrap_or(0);
    let x1 = row.iter().map(|(r, _)| r.right()).max().unwrap_or(0);
    let (w, h) = (width as i32, (mask.len() / width.max(1) as usize) as i32);
    let min_len = (core_h as i32 * 3 / 2).max(8);
    let mut best: Vec<(i32, i32)> = Vec::new();
    for y in base..=base + 3 {
        if y < 0 || y >= h {
            continue;
        }
        let line = &mask[(y * w) as usize..((y + 1) * w) as usize];
        let on = |x: i32| x >= 0 && x < w && line[x as usize] != super::edges::FLAT;
        // Runs of set pixels in and just around the row.
        let mut runs: Vec<(i32, i32)> = Vec::new();
        let mut x = x0 - 8;
        while x < x1 + 40 {
            if on(x) {
                let s = x;
                while on(x) {
                    x += 1;
                }
                runs.push((s, x));
            } else {
                x += 1;
            }
        }
        let mut segs = Vec::new();
        for &(a, b) in &runs {
            if b - a >= min_len {
                segs.push((a, b)); // solid
            }
        }
        if y > base {
            // Dotted: dots of at most 3 pixels, 1 to 3 pixels apart, at a steady pace.
            let dot = |k: usize| runs[k].1 - runs[k].0 <= 3;
            let mut i = 0;
            while i < runs.len() {
                let mut j = i;
                if dot(i) && i + 1 < runs.len() {
                    let pace = runs[i + 1].0 - runs[i].0;
                    while j + 1 < runs.len()
                        && dot(j + 1)
                        && (1..=3).contains(&(runs[j + 1].0 - runs[j].1))
                        && (runs[j + 1].0 - runs[j].0 - pace).abs() <= 1
                    {
                        j += 1;
                    }
                }
                if j >= i + 4 && runs[j].1 - runs[i].0 >= min_len {
                    segs.push((runs[i].0, runs[j].1));
                }
                i = j + 1;
            }
        }
        segs.retain(|&(a, b)| a >= x0 - 6 && b <= x1 + 6);
        if segs.iter().map(|(a, b)| b - a).sum::<i32>() > best.iter().map(|(a, b)| b - a).sum::<i32>() {
            best = segs;
        }
    }
    best
}

/// Link text: its darkest ink is clearly blue.
pub(super) fn is_link(image: &RgbaImage, r: &Rect) -> bool {
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
