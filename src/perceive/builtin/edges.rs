//! The edge map: which pixels differ from their right or lower neighbour, and which of
//! those edges belong to long straight lines (borders, separators) rather than to ink
//! (glyphs, icons).

/// Mask values.
pub const FLAT: u8 = 0;
pub const INK: u8 = 1;
pub const LINE: u8 = 2;

/// How different two pixels must be to form an edge, by the brighter one's brightest
/// channel: `relative × brightness`, kept between `min` and `max`. Dark themes draw borders
/// with small absolute differences (#1b1b1b on #353535) that a fixed threshold tuned for
/// light themes misses; the cap keeps the light side of a sunken bevel (#e6e6e6 beside a
/// white field) an edge.
pub fn thresholds(min: u8, relative: f32, max: u8) -> [u8; 256] {
    let mut t = [0u8; 256];
    for (v, slot) in t.iter_mut().enumerate() {
        *slot = (relative * v as f32).round().min(max as f32).max(min as f32) as u8;
    }
    t
}

#[inline]
fn differs(a: &[u8], b: &[u8], table: &[u8; 256]) -> bool {
    let bright = a[0].max(a[1]).max(a[2]).max(b[0]).max(b[1]).max(b[2]);
    let t = table[bright as usize];
    a[0].abs_diff(b[0]) > t || a[1].abs_diff(b[1]) > t || a[2].abs_diff(b[2]) > t
}

/// Classify every pixel of an RGBA buffer as [`FLAT`], [`INK`] or [`LINE`].
///
/// A pixel is an edge when any colour channel differs from its right or lower neighbour
/// by more than the [`thresholds`] entry for the pair's brightness. Edge runs at least
/// `min_h` long horizontally or `min_v` long vertically are lines.
pub fn classify(rgba: &[u8], width: u32, height: u32, table: &[u8; 256], min_h: u32, min_v: u32) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let mut mask = vec![FLAT; w * h];
    // Pixels as RGB words: most neighbours in a screenshot are identical, and one integer
    // comparison settles those.
    let rgb = |px: &[u8]| u32::from_le_bytes([px[0], px[1], px[2], 0]);
    let mut cur: Vec<u32> = rgba[..w * 4].chunks_exact(4).map(rgb).collect();
    let mut next: Vec<u32> = Vec::with_capacity(w);
    for y in 0..h {
        next.clear();
        if y + 1 < h {
            next.extend(rgba[(y + 1) * w * 4..(y + 2) * w * 4].chunks_exact(4).map(rgb));
        }
        let out = &mut mask[y * w..(y + 1) * w];
        for x in 0..w {
            let p = cur[x];
            let mut e = false;
            if x + 1 < w {
                let q = cur[x + 1];
                e = p != q && differs(&p.to_le_bytes(), &q.to_le_bytes(), table);
            }
            if !e && let Some(&q) = next.get(x) {
                e = p != q && differs(&p.to_le_bytes(), &q.to_le_bytes(), table);
            }
            out[x] = e as u8;
        }
        std::mem::swap(&mut cur, &mut next);
    }
    mark_lines(&mut mask, w, h, min_h as usize, min_v as usize);
    mask
}

/// Relabel long horizontal and vertical edge runs as [`LINE`].
fn mark_lines(mask: &mut [u8], w: usize, h: usize, min_h: usize, min_v: usize) {
    // Horizontal runs, row by row.
    for y in 0..h {
        let row = &mut mask[y * w..(y + 1) * w];
        let mut x = 0;
        while x < w {
            if row[x] == FLAT {
                x += 1;
                continue;
            }
            let start = x;
            while x < w && row[x] != FLAT {
                x += 1;
            }
            if x - start >= min_h {
                row[start..x].fill(LINE);
            }
        }
    }
    // Vertical runs, with one counter per column so memory is read row by row.
    let mut run = vec![0u32; w];
    for y in 0..=h {
        for x in 0..w {
            if y < h && mask[y * w + x] != FLAT {
                run[x] += 1;
                continue;
            }
            let n = run[x] as usize;
            if n > 0 {
                if n >= min_v {
                    for yy in y - n..y {
                        mask[yy * w + x] = LINE;
                    }
                }
                run[x] = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rgba(w: usize, h: usize, f: impl Fn(usize, usize) -> u8) -> Vec<u8> {
        let mut v = Vec::with_capacity(w * h * 4);
        for y in 0..h {
            for x in 0..w {
                let g = f(x, y);
                v.extend_from_slice(&[g, g, g, 255]);
            }
        }
        v
    }

    #[test]
    fn a_long_border_is_a_line_and_a_short_stroke_is_ink() {
        // A 40-pixel dark horizontal line and a 5-pixel dark vertical stroke on white.
        let img = rgba(50, 30, |x, y| if (y == 10 && x < 40) || (x == 45 && (20..25).contains(&y)) { 0 } else { 255 });
        let m = classify(&img, 50, 30, &thresholds(10, 0.1, 24), 28, 22);
        assert_eq!(m[10 * 50 + 5], LINE);
        assert_eq!(m[9 * 50 + 5], LINE, "the pixel above a dark line differs from it too");
        assert_eq!(m[22 * 50 + 44], INK);
        assert_eq!(m[2 * 50 + 2], FLAT);
    }

    #[test]
    fn a_dark_theme_border_is_an_edge_that_a_light_theme_threshold_would_miss() {
        // #1b1b1b border on a #353535 face: 26 apart; anti-aliased corners step by ~13.
        let t = thresholds(10, 0.1, 24);
        assert!(differs(&[0x1b; 3], &[0x35; 3], &t));
        assert!(differs(&[0x22; 3], &[0x2f; 3], &t));
        // The same step on a light theme is shading, not a border.
        assert!(!differs(&[0xe0; 3], &[0xed; 3], &t));
        assert!(differs(&[0xcd, 0xc7, 0xc2], &[0xf6, 0xf5, 0xf4], &t), "Adwaita's light border");
    }

    #[test]
    fn the_light_side_of_a_sunken_white_field_is_an_edge() {
        // Tk's entry: white, with a #e6e6e6 bevel on its right and bottom on #d9d9d9.
        let t = thresholds(10, 0.1, 24);
        assert!(differs(&[0xff; 3], &[0xe6; 3], &t));
        assert!(!differs(&[0xff; 3], &[0xf2; 3], &t), "alternate row shading stays flat");
    }

    #[test]
    fn a_gentle_gradient_has_no_edges() {
        let img = rgba(64, 64, |_, y| 180 + (y / 4) as u8);
        assert!(classify(&img, 64, 64, &thresholds(10, 0.1, 24), 28, 22).iter().all(|&v| v == FLAT));
    }
}
