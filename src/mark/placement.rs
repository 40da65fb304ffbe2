//! Where each number badge goes.
//!
//! For every element, candidate spots are tried in order — outside above-left, outside
//! left, outside right, above-right, below-left, below-right, left and right centred, then
//! the four inner corners (top right first: labels in fields and combo boxes sit on the
//! left) — and the first one that stays inside the image and covers no other element and
//! no badge already placed wins. When none is free, the same is tried with a smaller badge
//! (digits still legible at the size a model sees), and failing that the spot covering the
//! least is used (OmniParser and xa11y do the same, with fewer candidates and one size).

use image::RgbaImage;

use crate::geometry::Rect;

/// How many of [`candidates`] lie outside the element (the rest are its inner corners).
const OUTSIDE: usize = 8;

/// Candidate spots for a `bw`×`bh` badge around `r`, in order of preference.
pub fn candidates(r: &Rect, bw: u32, bh: u32) -> [Rect; 12] {
    let (bw_i, bh_i) = (bw as i32, bh as i32);
    let mid = r.y + (r.h as i32 - bh_i) / 2;
    [
        Rect::new(r.x, r.y - bh_i, bw, bh),                     // outside, above left
        Rect::new(r.x - bw_i, r.y, bw, bh),                     // outside, left
        Rect::new(r.right(), r.y, bw, bh),                      // outside, right
        Rect::new(r.right() - bw_i, r.y - bh_i, bw, bh),        // outside, above right
        Rect::new(r.x, r.bottom(), bw, bh),                     // outside, below left
        Rect::new(r.right() - bw_i, r.bottom(), bw, bh),        // outside, below right
        Rect::new(r.x - bw_i, mid, bw, bh),                     // outside, left, centred
        Rect::new(r.right(), mid, bw, bh),                      // outside, right, centred
        Rect::new(r.right() - bw_i, r.y, bw, bh),               // inside, top right
        Rect::new(r.x, r.y, bw, bh),                            // inside, top left
        Rect::new(r.right() - bw_i, r.bottom() - bh_i, bw, bh), // inside, bottom right
        Rect::new(r.x, r.bottom() - bh_i, bw, bh),              // inside, bottom left
    ]
}

/// A grid of buckets so "what does this spot touch" looks at neighbours only.
struct Grid {
    cell: i32,
    cols: i32,
    rows: i32,
    buckets: Vec<Vec<usize>>,
}

impl Grid {
    fn new(width: u32, height: u32, cell: i32) -> Self {
        let cols = (width as i32 + cell - 1) / cell + 1;
        let rows = (height as i32 + cell - 1) / cell + 1;
        Self { cell, cols, rows, buckets: vec![Vec::new(); (cols * rows) as usize] }
    }

    fn span(&self, r: &Rect) -> (i32, i32, i32, i32) {
        let c = |v: i32, n: i32| (v.div_euclid(self.cell)).clamp(0, n - 1);
        (c(r.x, self.cols), c(r.y, self.rows), c(r.right() - 1, self.cols), c(r.bottom() - 1, self.rows))
    }

    fn insert(&mut self, r: &Rect, id: usize) {
        let (x0, y0, x1, y1) = self.span(r);
        for y in y0..=y1 {
            for x in x0..=x1 {
                self.buckets[(y * self.cols + x) as usize].push(id);
            }
        }
    }

    fn near(&self, r: &Rect, out: &mut Vec<usize>) {
        out.clear();
        let (x0, y0, x1, y1) = self.span(r);
        for y in y0..=y1 {
            for x in x0..=x1 {
                out.extend_from_slice(&self.buckets[(y * self.cols + x) as usize]);
            }
        }
        out.sort_unstable();
        out.dedup();
    }
}

/// How much visible content a spot would hide: pixels that stand out from the spot's
/// background (the median of its corners).
fn content(image: &RgbaImage, spot: &Rect) -> u64 {
    let r = spot.clamp_to(image.width(), image.height());
    if r.is_empty() {
        return 0;
    }
    let corners = [(r.x, r.y), (r.right() - 1, r.y), (r.x, r.bottom() - 1), (r.right() - 1, r.bottom() - 1)];
    let mut bg = [0u8; 3];
    for (k, slot) in bg.iter_mut().enumerate() {
        let mut v: Vec<u8> = corners.iter().map(|&(x, y)| image.get_pixel(x as u32, y as u32).0[k]).collect();
        v.sort_unstable();
        *slot = v[1];
    }
    // Every other pixel of every other row is enough to tell text from empty space; the
    // count is scaled back to the spot's area.
    let (raw, w) = (image.as_raw(), image.width() as usize);
    let mut n = 0;
    for y in (r.y..r.bottom()).step_by(2) {
        let row = &raw[y as usize * w * 4..(y as usize + 1) * w * 4];
        for x in (r.x..r.right()).step_by(2) {
            let p = &row[x as usize * 4..x as usize * 4 + 3];
            if p[0].abs_diff(bg[0]) > 40 || p[1].abs_diff(bg[1]) > 40 || p[2].abs_diff(bg[2]) > 40 {
                n += 4;
            }
        }
    }
    n
}

/// Place one badge per element. `sizes[i]` is badge i's size; returns one spot each.
pub fn place(elements: &[Rect], sizes: &[(u32, u32)], image: &RgbaImage) -> Vec<Rect> {
    place_fitting(elements, &[sizes], image).into_iter().map(|(r, _)| r).collect()
}

/// Place one badge per element, at the first of the sizes (`sizes[k][i]`: badge i at size
/// k, largest first) that finds a free spot; returns each spot and the size it took.
///
/// A spot outside the element is taken at once when it touches no other element and no
/// badge; a spot inside it when it also hides almost none of the element's own content.
/// Where no size finds one, the spot with the least cost over all sizes wins: hidden badges
/// weigh most, then hidden content, then covered (but empty) parts of other elements.
pub fn place_fitting(elements: &[Rect], sizes: &[&[(u32, u32)]], image: &RgbaImage) -> Vec<(Rect, usize)> {
    let (width, height) = image.dimensions();
    let bounds = Rect::new(0, 0, width, height);
    let mut boxes = Grid::new(width, height, 64);
    for (i, r) in elements.iter().enumerate() {
        boxes.insert(r, i);
    }
    let mut badges = Grid::new(width, height, 64);
    let mut placed: Vec<Rect> = Vec::with_capacity(elements.len());
    let mut out = Vec::with_capacity(elements.len());
    let mut near = Vec::new();
    for (i, r) in elements.iter().enumerate() {
        let mut best: Option<(u64, Rect, usize)> = None;
        'sizes: for (size, all) in sizes.iter().enumerate() {
            let (bw, bh) = all[i];
            let fixed = candidates(r, bw, bh);
            // Then, in a long element (a row of a table), empty stretches along its middle:
            // the badge sits in the row without hiding its cells.
            let step = (bw as i32 / 2).max(4);
            let along = (r.w > 3 * bw && r.h >= bh).then(|| {
                let y = r.y + (r.h as i32 - bh as i32) / 2;
                (r.x + 2..=r.right() - bw as i32 - 2).step_by(step as usize).map(move |x| Rect::new(x, y, bw, bh))
            });
            for (k, spot) in fixed.into_iter().chain(along.into_iter().flatten()).enumerate() {
                if !bounds.contains(&spot) {
                    continue;
                }
                let inner = k >= OUTSIDE;
                let mut others = 0u64;
                boxes.near(&spot, &mut near);
                for &j in &near {
                    if j != i {
                        others += spot.intersection(&elements[j]).area();
                    }
                }
                let mut on_badges = 0u64;
                badges.near(&spot, &mut near);
                for &j in &near {
                    on_badges += spot.intersection(&placed[j]).area();
                }
                let hidden = if inner || others > 0 { content(image, &spot) } else { 0 };
                let clear = if k >= fixed.len() { hidden == 0 } else { !inner || hidden * 50 <= spot.area() };
                if on_badges == 0 && others == 0 && clear {
                    best = Some((0, spot, size));
                    break 'sizes;
                }
                let cost = 16 * on_badges + 4 * hidden + others + 1;
                if best.is_none_or(|(c, _, _)| cost < c) {
                    best = Some((cost, spot, size));
                }
            }
            // Then slid along the element's edges, near its start: a neighbour a few pixels
            // too close blocks a corner, not the whole side.
            let free = |spot: &Rect, near: &mut Vec<usize>| {
                if !bounds.contains(spot) {
                    return false;
                }
                boxes.near(spot, near);
                if near.iter().any(|&j| j != i && spot.intersects(&elements[j])) {
                    return false;
                }
                badges.near(spot, near);
                near.iter().all(|&j| !spot.intersects(&placed[j]))
            };
            let (bw_i, bh_i) = (bw as i32, bh as i32);
            let xs = (r.x - bw_i + 2..=(r.right() - 2).min(r.x + 4 * bw_i)).step_by(2);
            let ys = (r.y - bh_i + 2..=(r.bottom() - 2).min(r.y + 4 * bh_i)).step_by(2);
            let slid = xs
                .clone()
                .map(|x| Rect::new(x, r.y - bh_i, bw, bh))
                .chain(ys.clone().map(|y| Rect::new(r.x - bw_i, y, bw, bh)))
                .chain(ys.map(|y| Rect::new(r.right(), y, bw, bh)))
                .chain(xs.map(|x| Rect::new(x, r.bottom(), bw, bh)));
            for spot in slid {
                if free(&spot, &mut near) {
                    best = Some((0, spot, size));
                    break 'sizes;
                }
            }
        }
        // No candidate fits inside the image (a badge bigger than a tiny image): clamp.
        let (spot, size) = best.map(|(_, s, k)| (s, k)).unwrap_or_else(|| {
            let (bw, bh) = sizes[0][i];
            let x = r.x.clamp(0, (width as i32 - bw as i32).max(0));
            let y = r.y.clamp(0, (height as i32 - bh as i32).max(0));
            (Rect::new(x, y, bw, bh), 0)
        });
        badges.insert(&spot, i);
        placed.push(spot);
        out.push((spot, size));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank(w: u32, h: u32) -> RgbaImage {
        RgbaImage::from_pixel(w, h, image::Rgba([250, 250, 250, 255]))
    }

    #[test]
    fn inside_a_crowded_element_the_badge_takes_the_empty_corner() {
        // Elements packed edge to edge leave no outside spot; the middle one has text on
        // its left half, so its badge goes to the empty top-right corner.
        let mut img = blank(300, 100);
        for y in 42..58 {
            for x in 105..150 {
                img.put_pixel(x, y, image::Rgba([20, 20, 20, 255]));
            }
        }
        let els = [
            Rect::new(0, 0, 300, 40),
            Rect::new(100, 40, 100, 30),
            Rect::new(0, 70, 300, 30),
            Rect::new(0, 40, 100, 30),
            Rect::new(200, 40, 100, 30),
        ];
        let spots = place(&els, &[(20, 16); 5], &img);
        assert_eq!(spots[1], Rect::new(180, 40, 20, 16));
    }

    #[test]
    fn a_lone_element_gets_its_badge_above_left() {
        let spots = place(&[Rect::new(100, 100, 80, 30)], &[(20, 16)], &blank(400, 300));
        assert_eq!(spots[0], Rect::new(100, 84, 20, 16));
    }

    #[test]
    fn a_badge_moves_aside_rather_than_cover_a_neighbour() {
        // An element right above the first one blocks the above-left spot.
        let els = [Rect::new(100, 100, 80, 30), Rect::new(90, 80, 100, 18)];
        let spots = place(&els, &[(20, 16), (20, 16)], &blank(400, 300));
        assert_eq!(spots[0], Rect::new(80, 100, 20, 16), "outside left is next");
        for (i, s) in spots.iter().enumerate() {
            for (j, e) in els.iter().enumerate() {
                if i != j {
                    assert!(!s.intersects(e), "badge {i} covers element {j}");
                }
            }
        }
    }

    #[test]
    fn elements_at_the_image_corner_keep_their_badges_inside() {
        let spots = place(&[Rect::new(0, 0, 50, 20)], &[(20, 16)], &blank(200, 100));
        assert!(Rect::new(0, 0, 200, 100).contains(&spots[0]));
    }

    #[test]
    fn where_no_spot_is_free_at_full_size_a_smaller_badge_takes_a_free_one() {
        // Rows 20 px tall, edge to edge, each with text on its left and little room: a
        // 30x22 badge fits nowhere without covering a neighbour, a 16x14 one fits in the row.
        let mut img = blank(200, 100);
        for row in 0..5 {
            for y in row * 20 + 5..row * 20 + 15 {
                for x in 2..150 {
                    img.put_pixel(x, y, image::Rgba([20, 20, 20, 255]));
                }
            }
        }
        let els: Vec<Rect> = (0..5).map(|row| Rect::new(0, row * 20, 200, 20)).collect();
        let big = [(30, 22); 5];
        let small = [(16, 14); 5];
        let spots = place_fitting(&els, &[&big, &small], &img);
        for (i, (s, size)) in spots.iter().enumerate() {
            assert_eq!(*size, 1, "row {i} took the smaller badge: {s:?}");
            assert!(els[i].contains(s), "row {i}'s badge stays in its row: {s:?}");
        }
        // With one size only, the badges must overlap a neighbour.
        let one = place(&els, &big, &img);
        assert!(one.iter().enumerate().any(|(i, s)| els.iter().enumerate().any(|(j, e)| j != i && s.intersects(e))));
    }

    #[test]
    fn badges_do_not_stack_on_each_other_when_there_is_room() {
        let els: Vec<Rect> = (0..5).map(|i| Rect::new(20 + i * 60, 50, 50, 20)).collect();
        let spots = place(&els, &[(20, 16); 5], &blank(400, 200));
        for a in 0..5 {
            for b in a + 1..5 {
                assert!(!spots[a].intersects(&spots[b]), "{a} and {b}");
            }
        }
    }

    #[test]
    fn a_4k_spreadsheet_of_thousands_of_cells_gets_one_badge_each_inside_the_image() {
        // 64x20 cells edge to edge over 3840x2160: no free spot anywhere, the worst case.
        let img = blank(3840, 2160);
        let els: Vec<Rect> =
            (0..108).flat_map(|row| (0..60).map(move |col| Rect::new(col * 64, row * 20, 64, 20))).collect();
        let big = vec![(40, 30); els.len()];
        let small = vec![(30, 22); els.len()];
        let spots = place_fitting(&els, &[&big, &small], &img);
        assert_eq!(spots.len(), 6480);
        assert!(spots.iter().all(|(s, _)| Rect::new(0, 0, 3840, 2160).contains(s)));
    }
}
