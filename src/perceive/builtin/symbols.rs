//! Symbols too small or too plain to be found as faces or words: a bar beside window
//! buttons, a toggle drawn as a filled square or disc.

use image::RgbaImage;

use super::text::InkLine;
use crate::geometry::Rect;
use crate::perceive::ElementKind;

/// A lone short bar that is a symbol (a window's minimise button, a zoom-out "−"): too thin
/// to be more than a speck, but set in a row of symbols, its bottom within the height of a
/// free symbol of icon size beside it, a few of their widths away. Its box takes that
/// symbol's height, so a click lands on the button.
pub(super) fn bar_symbol(l: &InkLine, lines: &[InkLine], used: &[bool]) -> Option<Rect> {
    let b = l.bbox;
    if l.blobs != 1 || b.h > 3 || !(6..=16).contains(&b.w) {
        return None;
    }
    lines
        .iter()
        .enumerate()
        .filter(|&(i, m)| {
            let r = m.bbox;
            !used[i]
                && !m.is_speck()
                && !m.is_word()
                && m.rows == 1
                && (6..=24).contains(&r.w)
                && (6..=24).contains(&r.h)
                && b.bottom() > r.y
                && b.bottom() <= r.bottom() + 1
                && b.y >= r.y
                && r.gap_x(&b) >= 4
                && r.gap_x(&b) <= 4 * r.w.max(b.w) as i32
        })
        .min_by_key(|(_, m)| m.bbox.gap_x(&b))
        .map(|(_, m)| Rect::from_edges(b.x, m.bbox.y.min(b.y), b.right(), b.bottom().max(m.bbox.bottom())))
}

/// A filled toggle: a box of check-box size, square, mostly one saturated colour with a
/// light mark on it (a tick, a dot). A square filled to its corners is a check box; a disc
/// (corners not filled) a radio button.
pub(super) fn filled_toggle(image: &RgbaImage, b: &Rect) -> Option<ElementKind> {
    if !(11..=22).contains(&b.w) || !(11..=22).contains(&b.h) || b.w.abs_diff(b.h) > 2 {
        return None;
    }
    let b = b.clamp_to(image.width(), image.height());
    if b.w < 11 || b.h < 11 {
        return None;
    }
    let px = |x: i32, y: i32| image.get_pixel(x as u32, y as u32).0;
    let chroma = |p: [u8; 4]| p[0].max(p[1]).max(p[2]) - p[0].min(p[1]).min(p[2]);
    // The fill: the colour in the middle of the left side, inside the outline.
    let fill = px(b.x + 2, b.y + b.h as i32 / 2);
    if chroma(fill) < 60 {
        return None;
    }
    let near = |p: [u8; 4]| (0..3).all(|k| p[k].abs_diff(fill[k]) <= 40);
    let (mut coloured, mut light, mut n) = (0u32, 0u32, 0u32);
    for y in b.y..b.bottom() {
        for x in b.x..b.right() {
            let p = px(x, y);
            n += 1;
            if near(p) {
                coloured += 1;
            } else if p[0].min(p[1]).min(p[2]) >= 190 && chroma(p) < 60 {
                light += 1;
            }
        }
    }
    if coloured * 100 < n * 50 || light * 100 < n * 4 || light * 100 > n * 35 {
        return None;
    }
    // Two pixels in from each corner (the box holds a pixel of the outline's shading).
    let corners =
        [(b.x + 2, b.y + 2), (b.right() - 3, b.y + 2), (b.x + 2, b.bottom() - 3), (b.right() - 3, b.bottom() - 3)];
    let filled_corners = corners.iter().filter(|&&(x, y)| near(px(x, y))).count();
    match filled_corners {
        3..=4 => Some(ElementKind::CheckBox),
        0..=1 => Some(ElementKind::RadioButton),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(x: i32, y: i32, w: u32, h: u32, blobs: u32) -> InkLine {
        let bbox = Rect::new(x, y, w, h);
        InkLine { bbox, blobs, core_h: h, rows: 1, parts: vec![(bbox, 0)], cell: false }
    }

    #[test]
    fn a_minimise_bar_beside_window_buttons_is_a_symbol_of_their_height() {
        // A header bar's minimise (8x2), maximise (8x8) and close (8x8) glyphs, 28 px apart.
        let lines = vec![line(1164, 28, 8, 2, 1), line(1200, 22, 8, 8, 1), line(1236, 22, 8, 8, 1)];
        let used = vec![false; 3];
        assert_eq!(bar_symbol(&lines[0], &lines, &used), Some(Rect::from_edges(1164, 22, 1172, 30)));
        // An underline under a word, and a dash alone, stay specks.
        let words = vec![line(100, 30, 8, 2, 1), line(60, 16, 60, 12, 5)];
        assert_eq!(bar_symbol(&words[0], &words, &[false, false]), None);
        let alone = vec![line(500, 30, 8, 2, 1)];
        assert_eq!(bar_symbol(&alone[0], &alone, &[false]), None);
    }
}
