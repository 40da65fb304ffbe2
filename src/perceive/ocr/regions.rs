//! Where text can be: blocks of the image holding ink, separated by flat space.
//!
//! The screen is cut into 16×16 cells; a cell holds ink when two neighbouring pixels in it
//! differ clearly. Blocks come from a recursive XY-cut: a block is split at every run of
//! empty cell rows, then of empty cell columns, until it cannot be split or is small enough
//! to read in one go. Text detection then runs per block, so empty space costs nothing and a
//! block whose pixels did not change since the last frame can reuse its result. The cut
//! depends only on the frame, so a reused result equals what a cold run would compute.

use image::RgbaImage;

use crate::geometry::Rect;
use crate::perceive::builtin::edges;

pub const CELL: u32 = 16;

/// Neighbouring pixels differing by more than this (per channel) are an edge.
const INK_CONTRAST: u8 = 24;

/// Straight edge runs at least this long are lines (borders), not ink.
const LINE_H: u32 = 28;
const LINE_V: u32 = 22;

/// Blocks up to this many pixels are not cut further (one detection run each).
const SMALL_BLOCK: u64 = 320 * 320;

/// Blocks are forced apart beyond this side (keeps one detection input bounded).
const MAX_SIDE: u32 = 1536;

/// The ink grid of an image: `cols × rows` cells, row-major.
pub struct InkGrid {
    pub cols: u32,
    pub rows: u32,
    pub ink: Vec<bool>,
    width: u32,
    height: u32,
}

impl InkGrid {
    pub fn of(image: &RgbaImage) -> InkGrid {
        let (w, h) = image.dimensions();
        let (cols, rows) = (w.div_ceil(CELL), h.div_ceil(CELL));
        let mut ink = vec![false; (cols * rows) as usize];
        // Borders and separators (long straight edges) are not text: a window's frame would
        // otherwise join everything inside it into one block.
        let table = edges::thresholds(INK_CONTRAST, 0.1, u8::MAX);
        let mask = edges::classify(image.as_raw(), w, h, &table, LINE_H, LINE_V);
        for (y, row) in mask.chunks_exact(w.max(1) as usize).enumerate() {
            let cy = y as u32 / CELL;
            for (x, &m) in row.iter().enumerate() {
                if m == edges::INK {
                    ink[(cy * cols + x as u32 / CELL) as usize] = true;
                }
            }
        }
        InkGrid { cols, rows, ink, width: w, height: h }
    }

    fn at(&self, c: u32, r: u32) -> bool {
        self.ink[(r * self.cols + c) as usize]
    }

    fn row_has_ink(&self, r: u32, c0: u32, c1: u32) -> bool {
        (c0..c1).any(|c| self.at(c, r))
    }

    fn col_has_ink(&self, c: u32, r0: u32, r1: u32) -> bool {
        (r0..r1).any(|r| self.at(c, r))
    }

    fn pixel_rect(&self, c0: u32, r0: u32, c1: u32, r1: u32) -> Rect {
        Rect::from_edges(
            (c0 * CELL) as i32,
            (r0 * CELL) as i32,
            (c1 * CELL).min(self.width) as i32,
            (r1 * CELL).min(self.height) as i32,
        )
    }

    /// The content blocks, in pixels, top to bottom.
    pub fn blocks(&self) -> Vec<Rect> {
        let mut out = Vec::new();
        self.cut(0, 0, self.cols, self.rows, &mut out);
        out
    }

    /// Cells `c0..c1` × `r0..r1`.
    fn cut(&self, c0: u32, r0: u32, c1: u32, r1: u32, out: &mut Vec<Rect>) {
        // Trim empty borders.
        let (mut c0, mut r0, mut c1, mut r1) = (c0, r0, c1, r1);
        while r0 < r1 && !self.row_has_ink(r0, c0, c1) {
            r0 += 1;
        }
        while r1 > r0 && !self.row_has_ink(r1 - 1, c0, c1) {
            r1 -= 1;
        }
        while c0 < c1 && !self.col_has_ink(c0, r0, r1) {
            c0 += 1;
        }
        while c1 > c0 && !self.col_has_ink(c1 - 1, r0, r1) {
            c1 -= 1;
        }
        if c0 >= c1 || r0 >= r1 {
            return;
        }
        let rect = self.pixel_rect(c0, r0, c1, r1);
        let too_big = rect.w > MAX_SIDE || rect.h > MAX_SIDE;
        if rect.area() <= SMALL_BLOCK && !too_big {
            out.push(rect);
            return;
        }
        // Split at empty rows, else at empty columns.
        if let Some(r) = (r0 + 1..r1).find(|&r| !self.row_has_ink(r, c0, c1)) {
            self.cut(c0, r0, c1, r, out);
            self.cut(c0, r + 1, c1, r1, out);
            return;
        }
        if let Some(c) = (c0 + 1..c1).find(|&c| !self.col_has_ink(c, r0, r1)) {
            self.cut(c0, r0, c, r1, out);
            self.cut(c + 1, r0, c1, r1, out);
            return;
        }
        if !too_big {
            out.push(rect);
            return;
        }
        // Dense and too large: force a cut along the sparsest line in the middle half of the
        // longer side (text seldom crosses it).
        if rect.h >= rect.w {
            let count = |r: u32| (c0..c1).filter(|&c| self.at(c, r)).count();
            let r = (r0 + (r1 - r0) / 4..r1 - (r1 - r0) / 4).min_by_key(|&r| count(r)).unwrap_or((r0 + r1) / 2);
            self.cut(c0, r0, c1, r, out);
            self.cut(c0, r, c1, r1, out);
        } else {
            let count = |c: u32| (r0..r1).filter(|&r| self.at(c, r)).count();
            let c = (c0 + (c1 - c0) / 4..c1 - (c1 - c0) / 4).min_by_key(|&c| count(c)).unwrap_or((c0 + c1) / 2);
            self.cut(c0, r0, c, r1, out);
            self.cut(c, r0, c1, r1, out);
        }
    }
}

/// The colour most common on the border of `r` (its background).
pub(crate) fn background(image: &RgbaImage, r: Rect) -> [u8; 3] {
    let px = |x: i32, y: i32| {
        let p = image.get_pixel(x as u32, y as u32);
        [p[0], p[1], p[2]]
    };
    let mut border: Vec<[u8; 3]> = Vec::with_capacity(2 * (r.w + r.h) as usize);
    for x in r.x..r.right() {
        border.push(px(x, r.y));
        border.push(px(x, r.bottom() - 1));
    }
    for y in r.y..r.bottom() {
        border.push(px(r.x, y));
        border.push(px(r.right() - 1, y));
    }
    border.sort_unstable();
    let mut background = border[0];
    let (mut best, mut run) = (0, 0);
    for i in 0..border.len() {
        run = if i > 0 && border[i] == border[i - 1] { run + 1 } else { 1 };
        if run > best {
            (best, background) = (run, border[i]);
        }
    }
    background
}

fn differs(p: &image::Rgba<u8>, background: [u8; 3]) -> bool {
    p.0[..3].iter().zip(background).any(|(&a, b)| a.abs_diff(b) > 48)
}

/// Which columns of `line` hold ink against the background of `around` (a box around it).
pub fn inked_columns(image: &RgbaImage, around: Rect, line: Rect) -> Vec<bool> {
    let around = around.clamp_to(image.width(), image.height());
    let line = line.clamp_to(image.width(), image.height());
    if around.is_empty() || line.is_empty() {
        return Vec::new();
    }
    let bg = background(image, around);
    (line.x..line.right())
        .map(|x| (line.y..line.bottom()).any(|y| differs(image.get_pixel(x as u32, y as u32), bg)))
        .collect()
}

/// The bounds of the ink in `r` against the background of `around` (a box around it).
pub fn ink_box(image: &RgbaImage, around: Rect, r: Rect) -> Option<Rect> {
    let around = around.clamp_to(image.width(), image.height());
    let r = r.clamp_to(image.width(), image.height());
    if around.is_empty() || r.is_empty() {
        return None;
    }
    let bg = background(image, around);
    let (mut x0, mut y0, mut x1, mut y1) = (i32::MAX, i32::MAX, i32::MIN, i32::MIN);
    for y in r.y..r.bottom() {
        for x in r.x..r.right() {
            if differs(image.get_pixel(x as u32, y as u32), bg) {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
            }
        }
    }
    (x0 < x1).then(|| Rect::from_edges(x0, y0, x1, y1))
}

/// The bounds of the text line inside `r`: pixels clearly different from the colour most
/// common on the box's border (its background). `None` when the box holds no ink.
pub fn ink_bounds(image: &RgbaImage, r: Rect) -> Option<Rect> {
    let r = r.clamp_to(image.width(), image.height());
    if r.is_empty() {
        return None;
    }
    let background = background(image, r);
    let (w, h) = (r.w as usize, r.h as usize);
    let mut mask: Vec<bool> = Vec::with_capacity(w * h);
    for y in r.y..r.bottom() {
        for x in r.x..r.right() {
            mask.push(differs(image.get_pixel(x as u32, y as u32), background));
        }
    }
    // Glyphs do not reach the sides of a detection box (it is grown around them); thin lines
    // that do are borders and separators the text sits on or beside.
    for y in 0..h {
        for x in [0, w - 1] {
            if mask[y * w + x] {
                erase_if_thin(&mut mask, w, h, x, y);
            }
        }
    }
    let ink_at = |x: i32, y: i32| mask[(y - r.y) as usize * w + (x - r.x) as usize];
    // The text line is the run of inked rows around the box's middle (a one-row gap, as
    // under an i's dot, does not end it); rows beyond belong to the lines above and below.
    let rows: Vec<bool> = (r.y..r.bottom()).map(|y| (r.x..r.right()).any(|x| ink_at(x, y))).collect();
    let mid = rows.len() / 2;
    let start = (0..rows.len()).filter(|&i| rows[i]).min_by_key(|&i| i.abs_diff(mid))?;
    let (mut top, mut bottom) = (start, start);
    while top >= 1 && (rows[top - 1] || (top >= 2 && rows[top - 2])) {
        top -= if rows[top - 1] { 1 } else { 2 };
    }
    while bottom + 1 < rows.len() && (rows[bottom + 1] || (bottom + 2 < rows.len() && rows[bottom + 2])) {
        bottom += if rows[bottom + 1] { 1 } else { 2 };
    }
    let (y0, y1) = (r.y + top as i32, r.y + bottom as i32 + 1);
    let cols: Vec<i32> = (r.x..r.right()).filter(|&x| (y0..y1).any(|y| ink_at(x, y))).collect();
    let (x0, x1) = (*cols.first()?, *cols.last()? + 1);
    Some(Rect::from_edges(x0, y0, x1, y1))
}

/// Clear the 4-connected ink component at (x, y) if it is a thin line (at most 3 pixels
/// high or wide).
fn erase_if_thin(mask: &mut [bool], w: usize, h: usize, x: usize, y: usize) {
    let mut seen = vec![(x, y)];
    let mut stack = vec![(x, y)];
    let mut visited = vec![false; w * h];
    visited[y * w + x] = true;
    let (mut x0, mut y0, mut x1, mut y1) = (x, y, x, y);
    while let Some((cx, cy)) = stack.pop() {
        (x0, y0, x1, y1) = (x0.min(cx), y0.min(cy), x1.max(cx), y1.max(cy));
        let mut visit = |nx: usize, ny: usize| {
            if mask[ny * w + nx] && !visited[ny * w + nx] {
                visited[ny * w + nx] = true;
                stack.push((nx, ny));
                seen.push((nx, ny));
            }
        };
        if cx > 0 {
            visit(cx - 1, cy);
        }
        if cx + 1 < w {
            visit(cx + 1, cy);
        }
        if cy > 0 {
            visit(cx, cy - 1);
        }
        if cy + 1 < h {
            visit(cx, cy + 1);
        }
    }
    if y1 - y0 < 3 || x1 - x0 < 3 {
        for (sx, sy) in seen {
            mask[sy * w + sx] = false;
        }
    }
}

/// A fast content hash of an image region (for reusing results between frames).
pub fn region_hash(image: &RgbaImage, r: Rect) -> u64 {
    let w = image.width() as usize;
    let raw = image.as_raw();
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15 ^ ((r.w as u64) << 32 | r.h as u64);
    for y in r.y.max(0) as usize..(r.bottom().max(0) as usize).min(image.height() as usize) {
        let start = (y * w + r.x.max(0) as usize) * 4;
        let end = (y * w + (r.right().max(0) as usize).min(w)) * 4;
        let row = &raw[start..end];
        let mut chunks = row.chunks_exact(8);
        for c in &mut chunks {
            let v = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            h = (h.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
        for &b in chunks.remainder() {
            h = (h.rotate_left(5) ^ b as u64).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;

    fn canvas(w: u32, h: u32) -> RgbaImage {
        RgbaImage::from_pixel(w, h, Rgba([240, 240, 240, 255]))
    }

    /// Glyph-like ink: 3×5 blots one pixel apart, filling `r`.
    fn ink(img: &mut RgbaImage, r: Rect) {
        for y in r.y..r.bottom() {
            for x in r.x..r.right() {
                if (x - r.x) % 4 < 3 && ((y - r.y) % 6 < 5 || r.h < 6) {
                    img.put_pixel(x as u32, y as u32, Rgba([20, 20, 20, 255]));
                }
            }
        }
    }

    #[test]
    fn a_flat_image_has_no_blocks_and_a_gradient_counts_as_flat() {
        let mut img = canvas(300, 200);
        for (x, _, p) in img.enumerate_pixels_mut() {
            *p = Rgba([(x / 2) as u8, 100, 100, 255]);
        }
        assert!(InkGrid::of(&img).blocks().is_empty());
        assert!(InkGrid::of(&canvas(1, 1)).blocks().is_empty());
    }

    #[test]
    fn blocks_separated_by_empty_space_are_cut_apart_when_large() {
        let mut img = canvas(1600, 900);
        ink(&mut img, Rect::new(20, 20, 700, 300));
        ink(&mut img, Rect::new(900, 20, 600, 300));
        ink(&mut img, Rect::new(20, 600, 1500, 200));
        let blocks = InkGrid::of(&img).blocks();
        assert_eq!(blocks.len(), 3, "{blocks:?}");
        for b in &blocks {
            assert!(b.w <= MAX_SIDE && b.h <= MAX_SIDE);
        }
        assert!(blocks.iter().any(|b| b.contains(&Rect::new(20, 20, 700, 300))));
    }

    #[test]
    fn a_dense_huge_image_is_forced_into_bounded_blocks_that_cover_it() {
        let mut img = canvas(4000, 300);
        ink(&mut img, Rect::new(0, 0, 4000, 300));
        let blocks = InkGrid::of(&img).blocks();
        assert!(blocks.len() >= 3);
        let covered: u64 = blocks.iter().map(|b| b.area()).sum();
        assert_eq!(covered, 4000 * 300);
        assert!(blocks.iter().all(|b| b.w <= MAX_SIDE));
    }

    #[test]
    fn ink_bounds_keep_the_middle_line_and_its_dots_but_not_the_neighbouring_lines() {
        let mut img = canvas(100, 60);
        ink(&mut img, Rect::new(10, 2, 60, 3)); // the line above, cut by the box
        ink(&mut img, Rect::new(20, 24, 2, 1)); // an i's dot, one row above the line
        ink(&mut img, Rect::new(12, 26, 50, 9)); // the line
        ink(&mut img, Rect::new(10, 50, 70, 4)); // the line below
        assert_eq!(ink_bounds(&img, Rect::new(5, 3, 90, 50)), Some(Rect::from_edges(12, 24, 62, 35)));
        assert_eq!(ink_bounds(&canvas(30, 30), Rect::new(0, 0, 30, 30)), None);
    }

    #[test]
    fn a_border_line_the_text_sits_on_is_not_part_of_it() {
        let mut img = canvas(120, 40);
        for x in (0..36).chain(74..120) {
            img.put_pixel(x, 20, Rgba([20, 20, 20, 255])); // ───  Inset  ───
        }
        ink(&mut img, Rect::new(40, 14, 30, 12));
        assert_eq!(ink_bounds(&img, Rect::new(30, 8, 50, 24)), Some(Rect::new(40, 14, 30, 11)));
    }

    #[test]
    fn the_region_hash_sees_one_changed_pixel_and_only_inside_the_region() {
        let mut img = canvas(100, 100);
        let r = Rect::new(10, 10, 30, 30);
        let before = region_hash(&img, r);
        img.put_pixel(60, 60, Rgba([0, 0, 0, 255]));
        assert_eq!(region_hash(&img, r), before);
        img.put_pixel(20, 20, Rgba([239, 240, 240, 255]));
        assert_ne!(region_hash(&img, r), before);
    }
}
