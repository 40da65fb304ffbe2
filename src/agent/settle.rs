//! Comparing screens: has the screen settled after an action, and did the action change it?
//!
//! Screens are rarely perfectly still: spinners turn, progress bars pulse, carets blink. Two
//! captures in a row count as settled when at most a sliver of the screen differs, and the
//! cells that differed between them are "animated": a change there is not evidence that the
//! action did anything.

use std::time::{Duration, Instant};

use image::RgbaImage;

use crate::capture::{Changes, Frame};
use crate::geometry::Rect;

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
    let changed = match before.map(|b| (b, Diff::between(b, &prev.image))) {
        Some((b, Some(d))) => {
            let mask = animated.filter(|a| a.cells.len() == d.cells.len()).unwrap_or_else(|| d.none());
            d.changed_outside(Some(&mask)) && !only_a_caret(b, &prev.image, &d, &mask)
        }
        _ => true,
    };
    Ok((prev, ms, changed))
}

/// Settling on the display server's change reports ([`Changes`]) instead of comparing
/// captures: how long it waits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quiet {
    /// Settled when nothing changed (beyond a sliver) for this long.
    pub quiet: Duration,
    /// Wait this long for the action's first change before counting quiet time (an action
    /// expected to change the screen); `None`: count from the start (a hover, a wait).
    pub first_change: Option<Duration>,
    /// The longest wait in all (an animation that never stops ends here).
    pub timeout: Duration,
}

/// An area that changed while nothing was being done (a caret, a spinner) counts as
/// animating when it is at most this share of the frame.
const IDLE_MAX: f64 = 0.005;

/// An animating area no longer than this on either side (a spinner, a caret's own
/// rectangle) changes as a whole: nothing that differs in it counts as the action's change.
/// A longer one (a toolkit repainting a whole entry around its caret) is not masked.
const COMPACT: u32 = 64;

/// All that differs is a bar this narrow and no taller than a line of text: a caret blinking.
const CARET_W: u32 = 3;
const CARET_H: u32 = 48;

/// The frame's rectangle on the screen (physical pixels), when it came from the screen.
pub fn screen_area(frame: &Frame) -> Option<Rect> {
    let m = frame.mapping.as_ref()?;
    let (w, h) = frame.image.dimensions();
    Some(Rect::new(m.monitor.physical_x + m.offset_x, m.monitor.physical_y + m.offset_y, w, h))
}

/// Cells of a frame-sized grid covered by screen rectangles (clipped to `area`).
#[derive(Clone)]
struct Mask {
    area: Rect,
    grid_w: u32,
    grid_h: u32,
    cells: Vec<bool>,
}

impl Mask {
    fn new(area: Rect) -> Mask {
        let (grid_w, grid_h) = (area.w.div_ceil(CELL), area.h.div_ceil(CELL));
        Mask { area, grid_w, grid_h, cells: vec![false; (grid_w * grid_h) as usize] }
    }

    /// The cell range a screen rectangle covers on the frame (`None`: off the frame).
    fn span(&self, r: &Rect) -> Option<(u32, u32, u32, u32)> {
        let c = r.intersection(&self.area);
        if c.is_empty() {
            return None;
        }
        let (x0, y0) = ((c.x - self.area.x) as u32, (c.y - self.area.y) as u32);
        Some((x0 / CELL, y0 / CELL, (x0 + c.w - 1) / CELL, (y0 + c.h - 1) / CELL))
    }

    fn add(&mut self, r: &Rect) {
        if let Some((x0, y0, x1, y1)) = self.span(r) {
            for cy in y0..=y1 {
                for cx in x0..=x1 {
                    self.cells[(cy * self.grid_w + cx) as usize] = true;
                }
            }
        }
    }

    fn covers(&self, r: &Rect) -> bool {
        self.span(r).is_some_and(|(x0, y0, x1, y1)| {
            (y0..=y1).all(|cy| (x0..=x1).all(|cx| self.cells[(cy * self.grid_w + cx) as usize]))
        })
    }

    fn as_diff(&self) -> Diff {
        Diff { pixels: 0, grid_w: self.grid_w, grid_h: self.grid_h, cells: self.cells.clone() }
    }
}

/// Settle on change reports: (for an action expected to change the screen) wait for its
/// first change, then until the screen has been quiet for `quiet`, or the timeout, or a stop.
/// `area` is the frame's screen rectangle, only changes there count; `idle` are the areas
/// that changed while nothing was being done: a change there does not end the wait for the
/// action's first change, and the small ones (carets, spinners) are no evidence of a change.
/// Applications repaint more than changes (a toolkit redraws a whole panel around a turning
/// spinner), so a stretch with reports in it is judged by its pixels: two captures (`quiet`,
/// then half of it, apart) that differ by at most a sliver are settled. Returns what [`until_still`] returns.
/// Should the reports stop coming, the rest of the wait compares captures.
#[allow(clippy::too_many_arguments)]
pub fn until_quiet(
    changes: &mut dyn Changes,
    mut capture: impl FnMut() -> Result<(Frame, f64), String>,
    stop: &StopSignal,
    wait: Quiet,
    area: Rect,
    before: Option<&RgbaImage>,
    idle: &[Rect],
) -> Result<(Frame, f64, bool), String> {
    let start = Instant::now();
    let deadline = start + wait.timeout;
    // Waits are cut in slices so a stop is seen at once.
    let slice = Duration::from_millis(50);
    let total = area.area() as f64;
    // What to ignore while waiting for quiet: what kept changing while nothing was done.
    let mut animated = Mask::new(area);
    let mut repainting = Mask::new(area);
    // What differs there is still weighed for the action's change but in a spinner's own
    // small square (`unchanged`): a toolkit repainting a whole entry around its caret is no
    // reason to miss the text typed into it.
    let mut unchanged = Mask::new(area);
    for r in idle {
        repainting.add(r);
        let c = r.intersection(&area);
        if c.is_empty() {
            continue;
        }
        if (c.area() as f64) <= IDLE_MAX * total {
            animated.add(&c);
        }
        if (c.area() as f64) <= IDLE_MAX * total && c.w.max(c.h) <= COMPACT {
            unchanged.add(&c);
        }
    }
    let on_frame = |r: &Rect| !r.intersection(&area).is_empty();
    let mut failed = None;

    if let Some(first) = wait.first_change {
        let until = (start + first).min(deadline);
        let (mut seen, mut repainted) = (false, false);
        // A report inside what kept repainting may be the action's change: its pixels say.
        let mut unchecked = false;
        let mut looked: Option<Instant> = None;
        while !seen && failed.is_none() && !stop.is_stopped() {
            let now = Instant::now();
            if now >= until {
                break;
            }
            if unchecked && looked.is_none_or(|t| now >= t + wait.quiet / 2) {
                let (frame, _) = capture()?;
                seen = changed_since(before, &frame, &unchanged);
                (unchecked, looked) = (false, Some(Instant::now()));
                continue;
            }
            match changes.next((until - now).min(slice)) {
                Ok(Some(r)) if on_frame(&r) => {
                    seen = !repainting.covers(&r);
                    unchecked |= !seen;
                    repainted = true;
                }
                Ok(_) => {}
                Err(e) => failed = Some(e),
            }
        }
        // Only what kept repainting was reported: whether it settles is for its pixels to say.
        if !seen && !repainted && failed.is_none() {
            // Nothing came of the action in all that time.
            let (frame, ms) = capture()?;
            let changed = changed_since(before, &frame, &unchanged);
            return Ok((frame, ms, changed));
        }
    }

    let sliver = STILL * total;
    let mut small = 0.0;
    let mut window = Instant::now();
    let mut damaged = false;
    let mut reference: Option<RgbaImage> = None;
    let mut settled: Option<(Frame, f64)> = None;
    while failed.is_none() && !stop.is_stopped() {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        // Once a capture is there to compare with, the next look comes sooner: two looks
        // half the quiet time apart that agree are settled.
        let stretch = if reference.is_some() { wait.quiet / 2 } else { wait.quiet };
        let end = (window + stretch).min(deadline);
        if now < end {
            match changes.next((end - now).min(slice)) {
                Ok(Some(r)) if on_frame(&r) && !animated.covers(&r) => {
                    let c = r.intersection(&area);
                    let a = c.area() as f64;
                    if small + a <= sliver {
                        // A caret blinking: still enough (but the action's own last touch
                        // may be this small too: it is not masked).
                        small += a;
                        animated.add(&c);
                    } else {
                        damaged = true;
                    }
                }
                Ok(_) => {}
                Err(e) => failed = Some(e),
            }
            continue;
        }
        if !damaged {
            break;
        }
        // Reported repaints in this stretch: did the pixels change?
        let (frame, ms) = capture()?;
        let still = reference.as_ref().and_then(|r| Diff::between(r, &frame.image)).filter(|d| d.is_still(STILL));
        if let Some(d) = still {
            for ((cell, masked), moving) in animated.cells.iter_mut().zip(unchanged.cells.iter_mut()).zip(&d.cells) {
                *cell |= *moving;
                *masked |= *moving;
            }
            settled = Some((frame, ms));
            break;
        }
        tracing::trace!("still changing");
        reference = Some(frame.image);
        (window, damaged, small) = (Instant::now(), false, 0.0);
    }
    if let Some(e) = failed {
        tracing::debug!(error = %e, "the change reports stopped; settling by comparing captures");
        let left = deadline.saturating_duration_since(Instant::now());
        return until_still(capture, stop, Duration::from_millis(100), left, before);
    }
    // The capture that showed the screen still is the latest look; else look now.
    let (frame, ms) = match settled {
        Some(l) => l,
        None => capture()?,
    };
    let changed = changed_since(before, &frame, &unchanged);
    Ok((frame, ms, changed))
}

/// Whether the part of `after` at `region` (a monitor's physical pixels; a zoom the model
/// looked at) differs from `before`, what that part showed (true when it cannot be told).
pub fn changed_within(before: &RgbaImage, after: &Frame, region: &Rect) -> bool {
    let Some(m) = after.mapping.as_ref() else { return true };
    let r = Rect::new(region.x - m.offset_x, region.y - m.offset_y, region.w, region.h);
    let (w, h) = after.image.dimensions();
    if r.x < 0 || r.y < 0 || r.right() > w as i32 || r.bottom() > h as i32 {
        return true;
    }
    let part = image::imageops::crop_imm(&after.image, r.x as u32, r.y as u32, r.w, r.h).to_image();
    changed_since(Some(before), &Frame::from_image(part), &Mask::new(Rect::new(0, 0, r.w, r.h)))
}

/// Whether `frame` differs from `before` outside what changes by itself (true with no
/// `before` or a frame of another size): the `unchanged` cells, and a caret blinking: when
/// all else that differs is one bar at most [`CARET_W`] wide and [`CARET_H`] tall. Text typed
/// at a caret (which also moves it) is wider.
fn changed_since(before: Option<&RgbaImage>, frame: &Frame, unchanged: &Mask) -> bool {
    let Some(b) = before else { return true };
    let Some(d) = Diff::between(b, &frame.image) else { return true };
    let mask = unchanged.as_diff();
    d.changed_outside(Some(&mask)) && !only_a_caret(b, &frame.image, &d, &mask)
}

/// Whether the pixels that differ between `a` and `b` in the cells `d` has and `mask` has
/// not form one caret-sized bar.
fn only_a_caret(a: &RgbaImage, b: &RgbaImage, d: &Diff, mask: &Diff) -> bool {
    let (mut lo, mut hi, mut top, mut bottom) = (u32::MAX, 0u32, u32::MAX, 0u32);
    for (i, _) in d.cells.iter().zip(&mask.cells).enumerate().filter(|(_, (c, m))| **c && !**m) {
        let (cx, cy) = (i as u32 % d.grid_w * CELL, i as u32 / d.grid_w * CELL);
        for y in cy..(cy + CELL).min(a.height()) {
            for x in cx..(cx + CELL).min(a.width()) {
                if a.get_pixel(x, y).0[..3] != b.get_pixel(x, y).0[..3] {
                    (lo, hi, top, bottom) = (lo.min(x), hi.max(x), top.min(y), bottom.max(y));
                }
            }
        }
        if lo <= hi && (hi - lo >= CARET_W || bottom - top >= CARET_H) {
            return false;
        }
    }
    lo <= hi
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

    /// A diff of the same grid with no cell set.
    fn none(&self) -> Diff {
        Diff { pixels: 0, grid_w: self.grid_w, grid_h: self.grid_h, cells: vec![false; self.cells.len()] }
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

    /// Change reports at fixed offsets from the start (a script of what the server says).
    struct Script {
        start: std::time::Instant,
        events: std::collections::VecDeque<(u64, Rect)>,
    }

    impl Script {
        fn new(events: &[(u64, Rect)]) -> Script {
            Script { start: std::time::Instant::now(), events: events.iter().copied().collect() }
        }
    }

    impl Changes for Script {
        fn take(&mut self) -> Vec<Rect> {
            Vec::new()
        }
        fn next(&mut self, timeout: Duration) -> Result<Option<Rect>, String> {
            let now = self.start.elapsed();
            match self.events.front() {
                Some(&(at, r)) if Duration::from_millis(at) <= now + timeout => {
                    std::thread::sleep(Duration::from_millis(at).saturating_sub(now));
                    self.events.pop_front();
                    Ok(Some(r))
                }
                _ => {
                    std::thread::sleep(timeout);
                    Ok(None)
                }
            }
        }
    }

    /// Settle on scripted reports; each capture shows the same change (a small square), or,
    /// `moving`, a large area in a new shade every time.
    fn settle_on(events: &[(u64, Rect)], wait: Quiet, idle: &[Rect], moving: bool) -> (Duration, bool) {
        let before = blank();
        let mut after = blank();
        paint(&mut after, 10, 10, 6, 6, 20);
        let mut script = Script::new(events);
        let t = std::time::Instant::now();
        let mut shade = 0u8;
        let capture = || {
            let mut f = after.clone();
            if moving {
                shade = shade.wrapping_add(7);
                paint(&mut f, 0, 0, 100, 100, shade);
            }
            Ok((Frame::from_image(f), 0.0))
        };
        let area = Rect::new(0, 0, 200, 100);
        let (_, _, changed) =
            until_quiet(&mut script, capture, &StopSignal::new(), wait, area, Some(&before), idle).unwrap();
        (t.elapsed(), changed)
    }

    const WAIT: Quiet = Quiet {
        quiet: Duration::from_millis(80),
        first_change: Some(Duration::from_millis(700)),
        timeout: Duration::from_millis(2000),
    };

    #[test]
    fn settling_on_reports_waits_for_a_late_first_change_then_for_quiet() {
        // The change comes 300 ms after the action, then one more 40 ms later.
        let r = Rect::new(0, 0, 100, 100);
        let (took, changed) = settle_on(&[(300, r), (340, r)], WAIT, &[], false);
        assert!(took >= Duration::from_millis(420), "{took:?}");
        assert!(changed);
    }

    #[test]
    fn settling_on_reports_ends_at_the_cap_when_the_screen_never_stops() {
        let r = Rect::new(0, 0, 100, 100);
        let events: Vec<(u64, Rect)> = (0..200).map(|i| (i * 20, r)).collect();
        let (took, _) = settle_on(&events, WAIT, &[], true);
        assert!(took >= Duration::from_millis(2000), "{took:?}");
        // The same reports over pixels that stay the same (a toolkit repainting what did not
        // change): settled well before the cap.
        let (took, changed) = settle_on(&events, WAIT, &[], false);
        assert!(took < Duration::from_millis(2000), "{took:?}");
        assert!(changed);
    }

    #[test]
    fn a_blinking_caret_neither_delays_settling_nor_counts_as_a_change() {
        // A 2x12 caret that blinked while the model thought blinks on after the action: its
        // cell is animated, so nothing counts as the action's change; with no first change
        // awaited (a hover) the wait is the quiet time alone.
        let caret = Rect::new(10, 10, 2, 12);
        let hover = Quiet { first_change: None, ..WAIT };
        let (took, changed) = settle_on(&[(10, caret), (50, caret)], hover, &[caret], false);
        assert!(took < Duration::from_millis(2000), "{took:?}");
        assert!(!changed, "the caret's cell was the only difference");
        // The same difference with no caret seen before: a change.
        let (_, changed) = settle_on(&[], hover, &[], false);
        assert!(changed);
    }

    /// Settle on scripted reports over a 1000x500 screen that shows `after` on every look.
    fn settle_over(after: &RgbaImage, events: &[(u64, Rect)], wait: Quiet, idle: &[Rect]) -> (Duration, bool) {
        let before = RgbaImage::from_pixel(1000, 500, Rgba([240, 240, 240, 255]));
        let mut script = Script::new(events);
        let t = std::time::Instant::now();
        let capture = || Ok((Frame::from_image(after.clone()), 0.0));
        let area = Rect::new(0, 0, 1000, 500);
        let (_, _, changed) =
            until_quiet(&mut script, capture, &StopSignal::new(), wait, area, Some(&before), idle).unwrap();
        (t.elapsed(), changed)
    }

    #[test]
    fn text_typed_into_an_entry_that_repaints_around_its_caret_is_a_change_and_the_caret_is_not() {
        // The toolkit repaints the whole 240x10 entry when its caret blinks: a small share of
        // the screen, but no spinner. The caret blinking on (a 2 px bar) is no change …
        let entry = Rect::new(300, 200, 240, 10);
        let mut caret = RgbaImage::from_pixel(1000, 500, Rgba([240, 240, 240, 255]));
        paint(&mut caret, 302, 200, 2, 10, 0);
        let hover = Quiet { first_change: None, ..WAIT };
        let (_, changed) = settle_over(&caret, &[], hover, &[entry]);
        assert!(!changed, "a caret blinking in the entry is not the action's change");
        // … the text typed there (and the caret moved past it) is, and it is seen at its
        // first repaint, not after the whole wait for a first change.
        let mut typed = caret.clone();
        paint(&mut typed, 302, 200, 20, 10, 30);
        let (took, changed) = settle_over(&typed, &[(30, entry), (60, entry)], WAIT, &[entry]);
        assert!(changed, "the typed text is a change");
        assert!(took < Duration::from_millis(500), "seen by its pixels at the first repaint: {took:?}");
    }

    #[test]
    fn a_small_square_that_kept_changing_is_masked_whole() {
        // A 32x32 spinner turned while nothing was done: what differs in it is no change.
        let spinner = Rect::new(900, 400, 32, 32);
        let mut turned = RgbaImage::from_pixel(1000, 500, Rgba([240, 240, 240, 255]));
        paint(&mut turned, 905, 405, 20, 20, 0);
        let hover = Quiet { first_change: None, ..WAIT };
        let (_, changed) = settle_over(&turned, &[], hover, &[spinner]);
        assert!(!changed);
    }
}
