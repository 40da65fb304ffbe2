//! Where an application's windows are: from its toolkit's units to the desktop's pixels.
//!
//! Toolkits disagree on the units of the boxes they publish: GTK 3 and Qt give screen
//! coordinates in logical pixels (half the physical ones at `GDK_SCALE=2`), GTK 4.8 gives
//! them relative to the window whatever was asked, Chromium in physical pixels. Rather than
//! trust any of them, each toplevel object is matched to the X window of the same process
//! whose size it explains at some scale, and the scale and shift that put it there are used
//! for everything inside it.

use crate::capture::WindowInfo;
use crate::geometry::Rect;

/// Toolkit units → desktop physical pixels: `x * scale + dx`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    pub scale: f64,
    pub dx: f64,
    pub dy: f64,
    /// The window it was matched to (an index into the window list, topmost first);
    /// `None` for a popup the window manager does not list (a menu, a combo's list), which
    /// lies above every window.
    pub window: Option<usize>,
}

impl Placement {
    /// A box in toolkit units → desktop pixels.
    pub fn apply(&self, r: &Rect) -> Rect {
        let x0 = (r.x as f64 * self.scale + self.dx).round();
        let y0 = (r.y as f64 * self.scale + self.dy).round();
        let x1 = ((r.x as f64 + r.w as f64) * self.scale + self.dx).round();
        let y1 = ((r.y as f64 + r.h as f64) * self.scale + self.dy).round();
        Rect::new(x0 as i32, y0 as i32, (x1 - x0).max(0.0) as u32, (y1 - y0).max(0.0) as u32)
    }

    /// A box in desktop pixels → toolkit units (the smallest box holding it).
    pub fn invert(&self, r: &Rect) -> Rect {
        let x0 = ((r.x as f64 - self.dx) / self.scale).floor();
        let y0 = ((r.y as f64 - self.dy) / self.scale).floor();
        let x1 = ((r.x as f64 + r.w as f64 - self.dx) / self.scale).ceil();
        let y1 = ((r.y as f64 + r.h as f64 - self.dy) / self.scale).ceil();
        Rect::new(x0 as i32, y0 as i32, (x1 - x0).max(0.0) as u32, (y1 - y0).max(0.0) as u32)
    }
}

/// Scales toolkits are set to, tried in this order.
const SCALES: [f64; 6] = [1.0, 2.0, 1.5, 1.25, 3.0, 1.75];

/// How a toplevel of `extents` fits window `w` at scale `s`: the size error and the shift
/// that puts it there. Either the sizes agree; or the window is larger by the same margin on
/// every side (GTK 4's client-side decorations keep an invisible border for resizing around
/// the frame it publishes); or the toplevel, in screen coordinates, holds the window with a
/// little to spare (GTK 3 gives a dialog's box with the window manager's title bar and
/// borders around it). The first fits best.
fn fit(extents: &Rect, w: &WindowInfo, s: f64) -> Option<(f64, f64, f64)> {
    let dw = w.width as f64 - extents.w as f64 * s;
    let dh = w.height as f64 - extents.h as f64 * s;
    let slack = 2.0 + s;
    let margin = 40.0 * s;
    let shift = |inset_x: f64, inset_y: f64| {
        (w.x as f64 + inset_x - extents.x as f64 * s, w.y as f64 + inset_y - extents.y as f64 * s)
    };
    if dw.abs() <= slack && dh.abs() <= slack {
        let (dx, dy) = shift(0.0, 0.0);
        return Some((dw.abs() + dh.abs(), dx, dy));
    }
    if dw > slack && dh > slack && dw <= 2.0 * margin && (dw - dh).abs() <= slack {
        let (dx, dy) = shift(dw / 2.0, dh / 2.0);
        return Some((100.0 + dw + dh, dx, dy));
    }
    let (x0, y0) = (extents.x as f64 * s, extents.y as f64 * s);
    let (x1, y1) = (x0 + extents.w as f64 * s, y0 + extents.h as f64 * s);
    let sides =
        [w.x as f64 - x0, w.y as f64 - y0, x1 - (w.x as f64 + w.width as f64), y1 - (w.y as f64 + w.height as f64)];
    sides.iter().all(|&m| m >= -slack && m <= margin).then(|| (200.0 + sides.iter().sum::<f64>(), 0.0, 0.0))
}

/// The window of process `pid` (any process when 0) a toplevel of `extents` and `name` is,
/// and how it is placed there.
pub fn place(extents: &Rect, name: &str, pid: u32, windows: &[WindowInfo]) -> Option<Placement> {
    let own = |w: &WindowInfo| pid == 0 || w.pid == 0 || w.pid == pid;
    let mut best: Option<((bool, f64, f64), Placement)> = None;
    for (i, w) in windows.iter().enumerate().filter(|(_, w)| own(w) && !w.minimized) {
        let Some((s, err, (dx, dy))) =
            SCALES.iter().find_map(|&s| fit(extents, w, s).map(|(err, dx, dy)| (s, err, (dx, dy))))
        else {
            continue;
        };
        let p = Placement { scale: s, dx, dy, window: Some(i) };
        // A window of the same title first, then the closest size, then the topmost.
        let key = (!name.is_empty() && w.title == name, -err, -(i as f64));
        if best.as_ref().is_none_or(|(k, _)| key > *k) {
            best = Some((key, p));
        }
    }
    best.map(|(_, p)| p)
}

/// For a toplevel no listed window explains (a popup): the scale its application's placed
/// windows use, when they take the toolkit's coordinates as the screen's (no shift beyond a
/// pixel or two); else `default_scale` where nothing of the application was placed.
pub fn popup(placed: &[Placement], default_scale: f64) -> Option<Placement> {
    match placed.first() {
        None => Some(Placement { scale: default_scale, dx: 0.0, dy: 0.0, window: None }),
        Some(p) if p.dx.abs() <= 2.0 && p.dy.abs() <= 2.0 => {
            Some(Placement { scale: p.scale, dx: 0.0, dy: 0.0, window: None })
        }
        // Window-relative coordinates (GTK 4): a popup's own position is not known.
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(pid: u32, title: &str, x: i32, y: i32, w: u32, h: u32) -> WindowInfo {
        WindowInfo {
            id: 1,
            title: title.into(),
            app_name: String::new(),
            pid,
            x,
            y,
            width: w,
            height: h,
            focused: false,
            minimized: false,
        }
    }

    #[test]
    fn a_toplevel_in_screen_coordinates_is_placed_as_it_says() {
        let ws = [win(7, "Other", 0, 0, 400, 300), win(9, "Editor", 100, 50, 640, 480)];
        let p = place(&Rect::new(100, 50, 640, 480), "Editor", 9, &ws).unwrap();
        assert_eq!((p.scale, p.dx, p.dy, p.window), (1.0, 0.0, 0.0, Some(1)));
        assert_eq!(p.apply(&Rect::new(110, 60, 20, 10)), Rect::new(110, 60, 20, 10));
    }

    #[test]
    fn logical_units_at_twice_the_scale_and_window_relative_boxes_are_both_explained() {
        // GDK_SCALE=2: logical screen coordinates, the window twice as large in pixels.
        let ws = [win(9, "Calc", 200, 100, 800, 600)];
        let p = place(&Rect::new(100, 50, 400, 300), "Calc", 9, &ws).unwrap();
        assert_eq!((p.scale, p.dx, p.dy), (2.0, 0.0, 0.0));
        assert_eq!(p.apply(&Rect::new(110, 60, 20, 10)), Rect::new(220, 120, 40, 20));
        // GTK 4: the frame reads (0, 0) wherever the window is.
        let p = place(&Rect::new(0, 0, 800, 600), "Calc", 9, &ws).unwrap();
        assert_eq!((p.scale, p.dx, p.dy), (1.0, 200.0, 100.0));
        assert_eq!(p.invert(&p.apply(&Rect::new(10, 10, 30, 5))), Rect::new(10, 10, 30, 5));
        // …inside a window 5 pixels larger on every side (its resize border).
        let ws = [win(9, "Calc", 454, 165, 371, 495)];
        let p = place(&Rect::new(0, 0, 361, 485), "Calc", 9, &ws).unwrap();
        assert_eq!((p.scale, p.dx, p.dy), (1.0, 459.0, 170.0));
        // GTK 3 at GDK_SCALE=2: a dialog's box holds the window manager's title bar.
        let ws = [win(9, "Twice", 601, 170, 388, 238)];
        let p = place(&Rect::new(300, 75, 195, 132), "Twice", 9, &ws).unwrap();
        assert_eq!((p.scale, p.dx, p.dy), (2.0, 0.0, 0.0));
    }

    #[test]
    fn a_window_of_another_process_or_size_is_not_its_window() {
        let ws = [win(7, "Calc", 0, 0, 800, 600), win(9, "Calc", 0, 0, 500, 300)];
        assert_eq!(place(&Rect::new(0, 0, 800, 600), "Calc", 9, &ws), None);
        let p = popup(&[], 2.0).unwrap();
        assert_eq!((p.scale, p.window), (2.0, None));
        let relative = Placement { scale: 1.0, dx: 300.0, dy: 40.0, window: Some(0) };
        assert_eq!(popup(&[relative], 1.0), None, "a GTK 4 popup's place is unknown");
    }
}
