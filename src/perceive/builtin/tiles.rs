//! Lists of tiles: items of several lines each (a heading, a date, a line or two of text)
//! set between horizontal rules. Each item is one row, whether or not the rules close it
//! into a region of its own (a flush list's rules stop short of the page's edge).

use super::edges::LINE;
use super::text::InkLine;
use crate::geometry::Rect;

/// A horizontal rule: row `y`, from `x0` to `x1`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rule {
    y: i32,
    x0: i32,
    x1: i32,
}

/// Runs of line pixels at least `min_len` long; a rule's two edge rows (and a rule two
/// pixels thick) are one rule.
fn rules(mask: &[u8], width: u32, min_len: i32) -> Vec<Rule> {
    let w = width as usize;
    let h = mask.len() / w.max(1);
    let mut out: Vec<Rule> = Vec::new();
    for y in 0..h {
        let row = &mask[y * w..(y + 1) * w];
        let mut x = 0;
        while x < w {
            if row[x] != LINE {
                x += 1;
                continue;
            }
            let s = x;
            while x < w && row[x] == LINE {
                x += 1;
            }
            if (x - s) as i32 >= min_len {
                let r = Rule { y: y as i32, x0: s as i32, x1: x as i32 };
                let twin = out
                    .iter()
                    .rev()
                    .take(8)
                    .any(|q| r.y - q.y <= 3 && (q.x0 - r.x0).abs() <= 3 && (q.x1 - r.x1).abs() <= 3);
                if !twin {
                    out.push(r);
                }
            }
        }
    }
    out
}

/// The rows of lists of tiles: the band between two rules of one list holding two or more
/// lines, some set one above another or a paragraph among them (no more than four side by
/// side, none a link, no control among them), no taller than a dozen lines, in a stack of
/// two or more such bands of like heights. Returns each row's box and the lines it takes.
pub(super) fn tile_rows(
    mask: &[u8],
    width: u32,
    lines: &[InkLine],
    used: &[bool],
    controls: &[Rect],
) -> Vec<(Rect, Vec<usize>)> {
    let rules = rules(mask, width, 120);
    if rules.len() < 3 {
        return Vec::new();
    }
    // Bands between successive rules of the same extent (a rounded frame's straight edge
    // stops a little short of its separators).
    let same = |a: &Rule, b: &Rule| (a.x0 - b.x0).abs() <= 10 && (a.x1 - b.x1).abs() <= 10;
    let mut bands: Vec<(Rect, Vec<usize>)> = Vec::new();
    for (i, a) in rules.iter().enumerate() {
        let Some(b) = rules[i + 1..].iter().find(|b| b.y > a.y + 8 && same(a, b)) else { continue };
        // Another rule across the band in between: not one band.
        if rules[i + 1..].iter().take_while(|r| r.y < b.y).any(|r| r.y > a.y + 3 && r.x0 < a.x1 && r.x1 > a.x0) {
            continue;
        }
        let band = Rect::from_edges(a.x0.max(b.x0), a.y + 2, a.x1.min(b.x1), b.y);
        if let Some(taken) = band_lines(&band, lines, used, controls) {
            bands.push((band, taken));
        }
    }
    // Rows come in stacks: a band with a neighbour of like height across a shared rule.
    let like = |a: &Rect, b: &Rect| {
        (a.x - b.x).abs() <= 10 && (a.right() - b.right()).abs() <= 10 && a.h <= 2 * b.h && b.h <= 2 * a.h
    };
    let stacked: Vec<bool> =
        bands.iter().map(|(a, _)| bands.iter().any(|(b, _)| b != a && like(a, b) && (a.gap_y(b) <= 4))).collect();
    bands.into_iter().zip(stacked).filter(|(_, s)| *s).map(|(b, _)| b).collect()
}

/// The lines a band takes when it is a tile, or None.
fn band_lines(band: &Rect, lines: &[InkLine], used: &[bool], controls: &[Rect]) -> Option<Vec<usize>> {
    if band.w < 2 * band.h || controls.iter().any(|c| band.intersection(c).area() * 2 > c.area()) {
        return None;
    }
    let mut taken = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let inter = band.intersection(&l.bbox).area();
        if inter == 0 || l.is_speck() {
            continue;
        }
        // A line across the band's edge: the rules do not part items.
        if inter * 10 < l.bbox.area() * 9 || used[i] || l.is_tinted() && l.is_word() {
            return None;
        }
        taken.push(i);
    }
    let line_h = taken.iter().filter(|&&i| lines[i].is_word()).map(|&i| lines[i].core_h).max().unwrap_or(0);
    if taken.len() < 2 || line_h == 0 || band.h > 12 * line_h {
        return None;
    }
    let boxes: Vec<Rect> = taken.iter().map(|&i| lines[i].bbox).collect();
    let stacked =
        boxes.iter().any(|a| boxes.iter().any(|b| a.gap_y(b) > 0)) || taken.iter().any(|&i| lines[i].is_paragraph());
    let side_by_side = boxes.iter().map(|a| boxes.iter().filter(|b| a.overlap_y(b) > 0).count()).max().unwrap_or(0);
    (stacked && side_by_side <= 4).then_some(taken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perceive::builtin::text::{Grouping, group};

    /// Lines of glyph-sized blobs: (x, y, glyphs) each, glyphs 6x9 two pixels apart.
    fn lines_at(rows: &[(i32, i32, i32)]) -> Vec<InkLine> {
        let blobs: Vec<(Rect, u8)> =
            rows.iter().flat_map(|&(x, y, n)| (0..n).map(move |k| (Rect::new(x + 8 * k, y, 6, 9), 0))).collect();
        group(blobs, Grouping::default())
    }

    fn mask_with_rules(width: u32, height: u32, rules: &[(i32, i32, i32)]) -> Vec<u8> {
        let mut mask = vec![0u8; (width * height) as usize];
        for &(y, x0, x1) in rules {
            for dy in 0..2 {
                for x in x0..x1 {
                    mask[((y + dy) as u32 * width + x as u32) as usize] = LINE;
                }
            }
        }
        mask
    }

    #[test]
    fn items_of_a_heading_and_a_text_between_rules_are_one_row_each() {
        // Three tiles 60 px tall at x 20..420: a heading (and a date at the right) over a
        // line of text.
        let mask = mask_with_rules(480, 260, &[(20, 20, 420), (80, 20, 420), (140, 20, 420), (200, 20, 420)]);
        let mut spec = Vec::new();
        for k in 0..3 {
            let y = 30 + 60 * k;
            spec.extend([(30, y, 12), (380, y, 3), (30, y + 22, 30)]);
        }
        let lines = lines_at(&spec);
        let rows = tile_rows(&mask, 480, &lines, &vec![false; lines.len()], &[]);
        assert_eq!(rows.len(), 3, "{rows:?}");
        for (r, taken) in &rows {
            assert_eq!(taken.len(), 3, "{r}");
            assert_eq!((r.x, r.w), (20, 400));
        }
    }

    #[test]
    fn a_band_with_a_control_or_one_line_per_band_is_no_tile() {
        let mask = mask_with_rules(480, 260, &[(20, 20, 420), (80, 20, 420), (140, 20, 420)]);
        // One line in each band: rows of a ruled table are found as a table.
        let single = lines_at(&[(30, 40, 12), (30, 100, 12)]);
        assert!(tile_rows(&mask, 480, &single, &vec![false; single.len()], &[]).is_empty());
        // A button in the band keeps the lines apart.
        let two = lines_at(&[(30, 30, 12), (30, 52, 30), (30, 90, 12), (30, 112, 30)]);
        let button = [Rect::new(300, 30, 80, 24), Rect::new(300, 90, 80, 24)];
        assert!(tile_rows(&mask, 480, &two, &vec![false; two.len()], &button).is_empty());
    }
}
