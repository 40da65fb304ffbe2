//! Comparing screens: has the screen settled after an action, and did the action change it?
//!
//! Screens are rarely perfectly still: spinners turn, progress bars pulse, carets blink. Two
//! captures in a row count as settled when at most a sliver of the screen differs, and the
//! cells that differed between them are "animated": a change there is not evidence that the
//! action did anything.

use std::time::{Duration, Instant};

use image::RgbaImage;

use crate::capture::Frame;

use super::StopSignal;

/// At most this share of the screen may differ between two captures of a still screen.
const STILL: f64 = 0.001;

/// Capture (after a first pause of `interval`) until two captures in a row are still, or
/// `timeout`, or a stop. Returns the last frame, its capture time in ms, and whether it
/// differs from `before` outside what was animating (true when there is no `before`).
pub fn until_still(
    mut capture: impl FnMut() -> Result<(Frame, f64), String>,
    stop: &StopSignal,
    interval: Duration,
    timeout: Duration,
    before: Option<&RgbaImage>,
) -> Result<(Frame, f64, bool), String> {
    let deadline = Instant::now() + timeout;
    // Give the application a moment to react before the first look.
    stop.sleep(interval);
    let (mut prev, mut ms) = capture()?;
    let mut animated: Option<Diff> = None;
    while Instant::now() < deadline && !stop.is_stopped() {
        stop.sleep(interval);
        let (cur, cur_ms) = capture()?;
        let d = Diff::between(&prev.image, &cur.image);
        prev = cur;
        ms = cur_ms;
        if let Some(d) = d
            && d.is_still(STILL)
        {
            animated = Some(d);
            break;
        }
    }
    let changed = match before.map(|b| Diff::between(b, &prev.image)) {
        Some(Some(d)) => d.changed_outside(animated.as_ref()),
        _ => true,
    };
    Ok((prev, ms, changed))
}

/// Cells of this many pixels square.
pub const CELL: u32 = 16;

/// For an action known to change the screen (replay knows what the recorded step did):
/// capture until the screen differs from `before` (polling every `interval` / 2), then until
/// two captures `interval` apart are still, or `timeout`. Quicker than [`until_still`] when
/// the change comes at once, and never mistakes the unchanged screen for the settled one.
pub fn until_changed_then_still(
    mut capture: impl FnMut() -> Result<(Frame, f64), String>,
    stop: &StopSignal,
    interval: Duration,
    timeout: Duration,
    before: &RgbaImage,
) -> Result<(Frame, f64, bool), String> {
    let deadline = Instant::now() + timeout;
    let (mut prev, mut ms) = capture()?;
    while Diff::between(before, &prev.image).is_some_and(|d| d.pixels == 0) {
        if Instant::now() >= deadline || stop.is_stopped() {
            return Ok((prev, ms, false));
        }
        stop.sleep(interval / 2);
        (prev, ms) = capture()?;
    }
    while Instant::now() < deadline && !stop.is_stopped() {
        stop.sleep(interval);
        let (cur, cur_ms) = capture()?;
        let still = Diff::between(&prev.image, &cur.image).is_some_and(|d| d.is_still(STILL));
        (prev, ms) = (cur, cur_ms);
        if still {
            break;
        }
    }
    Ok((prev, ms, true))
}

/// Pixel differences between two same-sized frames, counted per cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    pub pixels: u64,
    pub grid_w: u32,
    pub grid_h: u32,
    /// Cells with at least one differing pixel, row-major.
    pub cells: Vec<bool>,
}

impl Diff {
    pub fn between(a: &RgbaImage, b: &RgbaImage) -> Option<Diff> {
        if a.dimensions() != b.dimensions() {
            return None;
        }
        let (w, h) = a.dimensions();
        let (grid_w, grid_h) = (w.div_ceil(CELL), h.div_ceil(CELL));
        let mut cells = vec![false; (grid_w * grid_h) as usize];
        let mut pixels = 0u64;
        let (ra, rb) = (a.as_raw(), b.as_raw());
        let row = w as usize * 4;
        for y in 0..h as usize {
            let (la, lb) = (&ra[y * row..(y + 1) * row], &rb[y * row..(y + 1) * row]);
            if la == lb {
                continue;
            }
            let cy = y as u32 / CELL;
            for (x, (pa, pb)) in la.chunks_exact(4).zip(lb.chunks_exact(4)).enumerate() {
                if pa[..3] != pb[..3] {
                    pixels += 1;
                    cells[(cy * grid_w + x as u32 / CELL) as usize] = true;
                }
            }
        }
        Some(Diff { pixels, grid_w, grid_h, cells })
    }

    /// At most this share of the screen differs (animations, a blinking caret).
    pub fn is_still(&self, max_share: f64) -> bool {
        let total = (self.grid_w as u64 * CELL as u64) * (self.grid_h as u64 * CELL as u64);
        (self.pixels as f64) <= max_share * total as f64
    }

    /// Any differing cell that is not in `animated` (a same-sized diff)?
    pub fn changed_outside(&self, animated: Option<&Diff>) -> bool {
        match animated {
            Some(an) if an.cells.len() == self.cells.len() => {
                self.cells.iter().zip(&an.cells).any(|(changed, moving)| *changed && !*moving)
            }
            _ => self.pixels > 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;

    fn blank() -> RgbaImage {
        RgbaImage::from_pixel(200, 100, Rgba([240, 240, 240, 255]))
    }

    fn paint(img: &mut RgbaImage, x0: u32, y0: u32, w: u32, h: u32, v: u8) {
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                img.put_pixel(x, y, Rgba([v, v, v, 255]));
            }
        }
    }

    #[test]
    fn identical_frames_do_not_differ_and_a_size_change_is_not_comparable() {
        let d = Diff::between(&blank(), &blank()).unwrap();
        assert_eq!(d.pixels, 0);
        assert!(!d.changed_outside(None));
        assert!(Diff::between(&blank(), &RgbaImage::new(10, 10)).is_none());
    }

    #[test]
    fn a_spinner_is_still_enough_and_does_not_count_as_a_change() {
        let (mut a, mut b) = (blank(), blank());
        paint(&mut a, 180, 80, 8, 8, 0);
        paint(&mut b, 184, 84, 8, 8, 0);
        let spin = Diff::between(&a, &b).unwrap();
        assert!(spin.is_still(0.01));
        assert!(!spin.is_still(0.0001));
        // A before/after pair where only the spinner moved: no change.
        assert!(!spin.changed_outside(Some(&spin)));
        // A tick in a check box elsewhere: a change.
        let mut c = b.clone();
        paint(&mut c, 10, 10, 6, 6, 20);
        let action = Diff::between(&a, &c).unwrap();
        assert!(action.changed_outside(Some(&spin)));
    }
}
