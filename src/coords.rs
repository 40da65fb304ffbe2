//! Every coordinate conversion in markpilot lives here.
//!
//! Three spaces matter:
//! - **frame pixels**: pixels of a captured [`Frame`](crate::capture::Frame) (physical pixels
//!   of one monitor, or of a region or window on it);
//! - **input points**: what the mouse/keyboard backend moves in. On X11 (enigo over XTest)
//!   these are physical root-window pixels; on macOS and scaled Windows they are logical
//!   points. [`InputSpace`] says which;
//! - **sent-image pixels**: the frame downscaled for a vision-language model ([`Resize`]).
//!
//! A monitor's logical geometry (what xcap reports) is its physical geometry divided by its
//! scale factor. We map with the measured ratio physical/logical size rather than the
//! advertised scale factor, so rounding in either one cannot drift a click.

use serde::{Deserialize, Serialize};

/// The unit the input device (mouse/keyboard backend) expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputSpace {
    /// Physical pixels of the virtual desktop (X11 / XTest).
    Physical,
    /// Logical points (macOS, Windows without DPI awareness).
    Logical,
}

impl InputSpace {
    /// The input space of this platform's input backend.
    pub fn native() -> Self {
        if cfg!(target_os = "macos") { InputSpace::Logical } else { InputSpace::Physical }
    }
}

/// One monitor, as plain data (safe to send across threads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorInfo {
    /// Position in the list `markpilot monitors` prints (0-based).
    pub index: usize,
    /// The platform's monitor id.
    pub id: u32,
    pub name: String,
    /// Logical origin on the virtual desktop (may be negative).
    pub x: i32,
    pub y: i32,
    /// Logical size.
    pub width: u32,
    pub height: u32,
    /// Physical origin on the virtual desktop (may be negative).
    pub physical_x: i32,
    pub physical_y: i32,
    /// Physical size: the size of a full capture of this monitor.
    pub physical_width: u32,
    pub physical_height: u32,
    pub scale_factor: f64,
    pub primary: bool,
}

impl MonitorInfo {
    /// Physical pixels per logical point, horizontally and vertically.
    ///
    /// The advertised scale factor when it explains the two sizes (the logical size is the
    /// physical one divided by it, rounded either way); otherwise the measured ratio.
    pub fn ratio(&self) -> (f64, f64) {
        let axis = |logical: u32, physical: u32| {
            let s = self.scale_factor;
            if logical == 0 || s <= 0.0 {
                return if s > 0.0 { s } else { 1.0 };
            }
            let exact = physical as f64 / s;
            if (exact - logical as f64).abs() < 1.0 { s } else { physical as f64 / logical as f64 }
        };
        (axis(self.width, self.physical_width), axis(self.height, self.physical_height))
    }
}

/// A point in input-device space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputPoint {
    pub x: i32,
    pub y: i32,
}

/// Maps pixels of one frame to input points and back.
///
/// `offset` is where the frame's pixel (0, 0) lies inside its monitor, in the monitor's
/// physical pixels (non-zero for region and window captures).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameMapping {
    pub monitor: MonitorInfo,
    pub offset_x: i32,
    pub offset_y: i32,
    pub input: InputSpace,
}

impl FrameMapping {
    pub fn new(monitor: MonitorInfo, offset_x: i32, offset_y: i32, input: InputSpace) -> Self {
        Self { monitor, offset_x, offset_y, input }
    }

    /// The input point for a frame position (continuous frame coordinates; the centre of
    /// pixel (i, j) is (i + 0.5, j + 0.5)).
    pub fn frame_to_input(&self, fx: f64, fy: f64) -> InputPoint {
        let m = &self.monitor;
        let px = self.offset_x as f64 + fx;
        let py = self.offset_y as f64 + fy;
        match self.input {
            InputSpace::Physical => {
                InputPoint { x: m.physical_x + px.floor() as i32, y: m.physical_y + py.floor() as i32 }
            }
            InputSpace::Logical => {
                let (rx, ry) = m.ratio();
                InputPoint { x: m.x + (px / rx).floor() as i32, y: m.y + (py / ry).floor() as i32 }
            }
        }
    }

    /// The frame position (continuous, at the centre of the covered area) of an input
    /// point. The result may lie outside the frame when the point is not on it.
    pub fn input_to_frame(&self, p: InputPoint) -> (f64, f64) {
        let m = &self.monitor;
        match self.input {
            InputSpace::Physical => {
                ((p.x - m.physical_x - self.offset_x) as f64 + 0.5, (p.y - m.physical_y - self.offset_y) as f64 + 0.5)
            }
            InputSpace::Logical => {
                let (rx, ry) = m.ratio();
                (
                    ((p.x - m.x) as f64 + 0.5) * rx - self.offset_x as f64,
                    ((p.y - m.y) as f64 + 0.5) * ry - self.offset_y as f64,
                )
            }
        }
    }
}

/// A resize of a frame (for example, down to what a VLM accepts) and its inverse.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Resize {
    pub from_width: u32,
    pub from_height: u32,
    pub to_width: u32,
    pub to_height: u32,
}

impl Resize {
    /// The largest size that keeps the aspect ratio, is no larger than the original, and
    /// has at most `max_side` pixels on its longer side and `max_pixels` pixels in all
    /// (either limit may be 0 for "none").
    pub fn fit(width: u32, height: u32, max_side: u32, max_pixels: u64) -> Self {
        let mut s: f64 = 1.0;
        let long = width.max(height).max(1) as f64;
        if max_side > 0 && long > max_side as f64 {
            s = s.min(max_side as f64 / long);
        }
        let px = width as f64 * height as f64;
        if max_pixels > 0 && px > max_pixels as f64 {
            s = s.min((max_pixels as f64 / px).sqrt());
        }
        let to_width = ((width as f64 * s).floor() as u32).max(1).min(width.max(1));
        let to_height = ((height as f64 * s).floor() as u32).max(1).min(height.max(1));
        Self { from_width: width, from_height: height, to_width, to_height }
    }

    /// A position in the resized image, mapped back to the original frame.
    pub fn to_frame(&self, x: f64, y: f64) -> (f64, f64) {
        (
            x * self.from_width as f64 / self.to_width.max(1) as f64,
            y * self.from_height as f64 / self.to_height.max(1) as f64,
        )
    }

    /// A frame position, mapped into the resized image.
    pub fn from_frame(&self, x: f64, y: f64) -> (f64, f64) {
        (
            x * self.to_width as f64 / self.from_width.max(1) as f64,
            y * self.to_height as f64 / self.from_height.max(1) as f64,
        )
    }

    /// Resized pixels per original pixel (≤ 1 for a downscale).
    pub fn factor(&self) -> f64 {
        self.to_width as f64 / self.from_width.max(1) as f64
    }
}

/// Why a box of a sent image cannot be zoomed into.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ZoomBoxError {
    /// Not a box inside the image (a value not finite, no area, or reaching outside it).
    Outside,
    /// Inside, but under [`crate::action::MIN_ZOOM_SIDE`] frame pixels on a side (its size there).
    TooSmall { w: u32, h: u32 },
}

/// The frame pixels a box `[x, y, w, h]` of the image sent through `resize` covers, checked
/// for a zoom: inside the image, and at least [`crate::action::MIN_ZOOM_SIDE`] frame pixels
/// (or the whole frame) on each side.
pub fn zoom_box(resize: &Resize, [x, y, w, h]: [f64; 4]) -> Result<crate::geometry::Rect, ZoomBoxError> {
    let (iw, ih) = (resize.to_width as f64, resize.to_height as f64);
    let inside = [x, y, w, h].iter().all(|v| v.is_finite())
        && x >= 0.0
        && y >= 0.0
        && w > 0.0
        && h > 0.0
        && x + w <= iw
        && y + h <= ih;
    if !inside {
        return Err(ZoomBoxError::Outside);
    }
    let (x0, y0) = resize.to_frame(x, y);
    let (x1, y1) = resize.to_frame(x + w, y + h);
    let (left, top) = (x0.floor() as i32, y0.floor() as i32);
    let r = crate::geometry::Rect::new(
        left,
        top,
        (x1.ceil() as i32 - left).max(0) as u32,
        (y1.ceil() as i32 - top).max(0) as u32,
    )
    .clamp_to(resize.from_width, resize.from_height);
    let min = crate::action::MIN_ZOOM_SIDE;
    if r.w < min.min(resize.from_width) || r.h < min.min(resize.from_height) {
        return Err(ZoomBoxError::TooSmall { w: r.w, h: r.h });
    }
    Ok(r)
}

/// The part of a `fw`×`fh` frame a zoom around the box `b` shows (frame pixels): the box with
/// room around it, at least a quarter of the frame on each side, inside the frame.
pub fn zoom_around(b: &crate::geometry::Rect, fw: u32, fh: u32) -> crate::geometry::Rect {
    let side = |len: u32, full: u32| (len + 64).max(full / 4).min(full);
    let (w, h) = (side(b.w, fw), side(b.h, fh));
    let start = |c: i32, len: u32, full: u32| (c - len as i32 / 2).clamp(0, (full - len) as i32);
    let (cx, cy) = (b.x + b.w as i32 / 2, b.y + b.h as i32 / 2);
    crate::geometry::Rect::new(start(cx, w, fw), start(cy, h, fh), w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A monitor whose logical geometry is its physical geometry over `scale`, as xcap
    /// reports it on X11.
    fn monitor(index: usize, px: i32, py: i32, pw: u32, ph: u32, scale: f64) -> MonitorInfo {
        MonitorInfo {
            index,
            id: 100 + index as u32,
            name: format!("M{index}"),
            x: (px as f64 / scale) as i32,
            y: (py as f64 / scale) as i32,
            width: (pw as f64 / scale) as u32,
            height: (ph as f64 / scale) as u32,
            physical_x: px,
            physical_y: py,
            physical_width: pw,
            physical_height: ph,
            scale_factor: scale,
            primary: index == 0,
        }
    }

    #[test]
    fn physical_space_adds_the_monitor_origin_at_every_scale() {
        for scale in [1.0, 1.25, 1.5, 2.0] {
            let m = monitor(0, 0, 0, 2880, 1800, scale);
            let map = FrameMapping::new(m, 0, 0, InputSpace::Physical);
            assert_eq!(map.frame_to_input(10.5, 20.5), InputPoint { x: 10, y: 20 }, "scale {scale}");
            assert_eq!(map.frame_to_input(2879.9, 1799.9), InputPoint { x: 2879, y: 1799 });
            assert_eq!(map.input_to_frame(InputPoint { x: 10, y: 20 }), (10.5, 20.5));
        }
    }

    #[test]
    fn logical_space_divides_by_the_measured_ratio() {
        for (scale, fx, expect) in [(1.0, 300.0, 300), (1.25, 300.0, 240), (1.5, 300.0, 200), (2.0, 300.0, 150)] {
            let m = monitor(0, 0, 0, 3000, 2000, scale);
            let map = FrameMapping::new(m, 0, 0, InputSpace::Logical);
            let p = map.frame_to_input(fx, fx);
            assert_eq!(p, InputPoint { x: expect, y: expect }, "scale {scale}");
            let (bx, by) = map.input_to_frame(p);
            // Back to within one logical point's worth of physical pixels.
            assert!((bx - fx).abs() <= scale && (by - fx).abs() <= scale, "scale {scale}: {bx},{by}");
        }
    }

    #[test]
    fn second_monitor_at_a_negative_origin_maps_left_of_zero() {
        // Monitor 1 sits left of and above the primary one.
        let m = monitor(1, -1920, -200, 1920, 1080, 1.0);
        let map = FrameMapping::new(m.clone(), 0, 0, InputSpace::Physical);
        assert_eq!(map.frame_to_input(0.5, 0.5), InputPoint { x: -1920, y: -200 });
        assert_eq!(map.frame_to_input(1919.5, 1079.5), InputPoint { x: -1, y: 879 });
        assert_eq!(map.input_to_frame(InputPoint { x: -1, y: 879 }), (1919.5, 1079.5));

        let hidpi = monitor(1, -2880, -400, 2880, 1800, 1.5);
        let logical = FrameMapping::new(hidpi, 0, 0, InputSpace::Logical);
        assert_eq!(logical.frame_to_input(0.0, 0.0), InputPoint { x: -1920, y: -266 });
        assert_eq!(logical.frame_to_input(1500.0, 900.0), InputPoint { x: -1920 + 1000, y: -266 + 600 });
    }

    #[test]
    fn second_monitor_at_a_positive_origin() {
        let m = monitor(1, 1920, 0, 3840, 2160, 2.0);
        let phys = FrameMapping::new(m.clone(), 0, 0, InputSpace::Physical);
        assert_eq!(phys.frame_to_input(100.0, 50.0), InputPoint { x: 2020, y: 50 });
        let logical = FrameMapping::new(m, 0, 0, InputSpace::Logical);
        assert_eq!(logical.frame_to_input(100.0, 50.0), InputPoint { x: 960 + 50, y: 25 });
    }

    #[test]
    fn region_frames_carry_their_offset_inside_the_monitor() {
        let m = monitor(1, -1280, 0, 1280, 1024, 1.25);
        let phys = FrameMapping::new(m.clone(), 100, 40, InputSpace::Physical);
        assert_eq!(phys.frame_to_input(0.0, 0.0), InputPoint { x: -1180, y: 40 });
        assert_eq!(phys.input_to_frame(InputPoint { x: -1180, y: 40 }), (0.5, 0.5));
        let logical = FrameMapping::new(m, 100, 40, InputSpace::Logical);
        // (100 + 25) / 1.25 = 100 logical points right of the monitor's logical origin -1024.
        assert_eq!(logical.frame_to_input(25.0, 10.0), InputPoint { x: -1024 + 100, y: 40 });
    }

    #[test]
    fn every_pixel_round_trips_on_a_fractional_scale() {
        let m = monitor(0, -1000, 300, 1500, 900, 1.5);
        let map = FrameMapping::new(m, 0, 0, InputSpace::Physical);
        for y in (0..900).step_by(37) {
            for x in (0..1500).step_by(41) {
                let p = map.frame_to_input(x as f64 + 0.5, y as f64 + 0.5);
                assert_eq!(map.input_to_frame(p), (x as f64 + 0.5, y as f64 + 0.5));
            }
        }
    }

    #[test]
    fn resize_fits_limits_and_maps_back() {
        let r = Resize::fit(1920, 1080, 1280, 0);
        assert_eq!((r.to_width, r.to_height), (1280, 720));
        assert_eq!(r.to_frame(640.0, 360.0), (960.0, 540.0));
        assert_eq!(r.from_frame(960.0, 540.0), (640.0, 360.0));
        let p = Resize::fit(3840, 2160, 0, 1_000_000);
        assert!(p.to_width as u64 * p.to_height as u64 <= 1_000_000);
        let same = Resize::fit(800, 600, 1280, 0);
        assert_eq!((same.to_width, same.to_height), (800, 600));
    }
}
