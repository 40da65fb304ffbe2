//! capture: monitor / region / window → [`Frame`].
//!
//! Frames are physical pixels and carry a [`FrameMapping`], so every frame pixel maps to
//! exactly one input-device point (see [`crate::coords`]). The hardware sits behind the
//! [`Capturer`] trait; [`create_capturer`] returns the platform's one.

#[cfg(all(unix, not(target_os = "macos")))]
mod damage;
#[cfg(all(unix, not(target_os = "macos")))]
mod x11;
mod xcap_backend;

use image::RgbaImage;
use serde::Serialize;
use thiserror::Error;

use crate::coords::{FrameMapping, MonitorInfo};
use crate::geometry::Rect;

pub use xcap_backend::XcapCapturer;

/// A captured image and where it came from.
#[derive(Debug, Clone)]
pub struct Frame {
    pub image: RgbaImage,
    /// Maps frame pixels to input points. `None` for images read from a file.
    pub mapping: Option<FrameMapping>,
    /// The window captured, when the frame is a window capture.
    pub window: Option<WindowInfo>,
}

impl Frame {
    /// A frame that is just an image (from a file): no monitor, no mapping.
    pub fn from_image(image: RgbaImage) -> Self {
        Self { image, mapping: None, window: None }
    }

    pub fn monitor(&self) -> Option<&MonitorInfo> {
        self.mapping.as_ref().map(|m| &m.monitor)
    }
}

/// A top-level window, as plain data. [`Capturer::windows`] lists them topmost first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowInfo {
    pub id: u32,
    pub title: String,
    pub app_name: String,
    /// The process that owns it (0 when it does not say).
    pub pid: u32,
    /// Physical position and size on the virtual desktop (client area).
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    pub focused: bool,
    pub minimized: bool,
}

/// A top-level window as it lies on a frame, in frame pixels (what replay and reports use).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct WindowBox {
    pub title: String,
    pub app: String,
    pub rect: Rect,
}

/// The windows that show on a frame (not minimised, overlapping it), in frame pixels.
pub fn windows_on_frame(windows: &[WindowInfo], mapping: &FrameMapping, width: u32, height: u32) -> Vec<WindowBox> {
    let frame = Rect::new(0, 0, width, height);
    let m = &mapping.monitor;
    windows
        .iter()
        .filter(|w| !w.minimized && w.width > 0 && w.height > 0)
        .map(|w| WindowBox {
            title: w.title.clone(),
            app: w.app_name.clone(),
            rect: Rect::new(
                w.x - m.physical_x - mapping.offset_x,
                w.y - m.physical_y - mapping.offset_y,
                w.width,
                w.height,
            ),
        })
        .filter(|w| w.rect.intersects(&frame))
        .collect()
}

/// The windows on a captured frame, when they can be listed (else none).
pub fn windows_of(capturer: &dyn Capturer, mapping: Option<&FrameMapping>, width: u32, height: u32) -> Vec<WindowBox> {
    match (mapping, capturer.windows()) {
        (Some(m), Ok(ws)) => windows_on_frame(&ws, m, width, height),
        _ => Vec::new(),
    }
}

/// What to capture.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A whole monitor by index (as `markpilot monitors` lists them); `None` picks the
    /// primary monitor, or the first one when none is marked primary.
    Monitor(Option<usize>),
    /// A rectangle in a monitor's physical pixels, relative to its top-left corner.
    Region { monitor: Option<usize>, rect: Rect },
    /// A window whose title matches (exactly, else case-insensitively contained).
    Window(String),
}

#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("no display: {detail}; set DISPLAY (or WAYLAND_DISPLAY) or run under Xvfb, e.g. `xvfb-run -a markpilot …`")]
    NoDisplay { detail: String },
    #[error("screen capture is not permitted: {detail}")]
    PermissionDenied { detail: String },
    #[error("no monitor {requested}: there {}", plural_monitors(*available))]
    MonitorNotFound { requested: usize, available: usize },
    #[error("no window matches {title:?}; open windows: {}", list_titles(available))]
    WindowNotFound { title: String, available: Vec<String> },
    #[error(
        "window listing needs a window manager ({detail}); start one (e.g. openbox) or capture a monitor or region instead"
    )]
    NoWindowManager { detail: String },
    #[error("region {region} is outside monitor {monitor} ({width}x{height} pixels)")]
    RegionOutside { region: Rect, monitor: usize, width: u32, height: u32 },
    #[error("region {0} is empty: width and height must be at least 1")]
    EmptyRegion(Rect),
    #[error("the captured image is empty ({width}x{height})")]
    EmptyImage { width: u32, height: u32 },
    #[error("screen capture failed after {attempts} attempts: {detail}")]
    Backend { detail: String, attempts: u32 },
}

impl CaptureError {
    /// Whether trying again may succeed (a transient X error, not a bad request).
    pub fn is_retryable(&self) -> bool {
        matches!(self, CaptureError::Backend { .. })
    }
}

fn plural_monitors(n: usize) -> String {
    match n {
        0 => "are no monitors".into(),
        1 => "is 1 monitor (index 0)".into(),
        n => format!("are {n} monitors (indices 0..{})", n - 1),
    }
}

fn list_titles(titles: &[String]) -> String {
    if titles.is_empty() {
        return "none are listed (on X11 window listing needs an EWMH window manager such as openbox)".into();
    }
    let shown: Vec<String> = titles.iter().take(12).map(|t| format!("{t:?}")).collect();
    let more = titles.len().saturating_sub(12);
    if more > 0 { format!("{}, and {more} more", shown.join(", ")) } else { shown.join(", ") }
}

/// Screen capture, behind a trait so the loop can run against any backend.
pub trait Capturer: Send + Sync {
    fn monitors(&self) -> Result<Vec<MonitorInfo>, CaptureError>;
    /// The top-level windows, topmost first.
    fn windows(&self) -> Result<Vec<WindowInfo>, CaptureError>;
    fn capture(&self, target: &Target) -> Result<Frame, CaptureError>;
    /// Reports of where the screen changes, from the display server, when it gives them
    /// (X11's DAMAGE); `None`: settling compares captures instead.
    fn watch(&self) -> Option<Box<dyn Changes>> {
        None
    }
}

/// Where the screen changed, as the display server reports it (screen physical pixels).
pub trait Changes: Send {
    /// The areas changed since the last call (or since the watch began), forgotten.
    fn take(&mut self) -> Vec<Rect>;
    /// The next changed area, waiting at most `timeout` (`None` when nothing changed); an
    /// error when the reports have stopped coming (the display went away).
    fn next(&mut self, timeout: std::time::Duration) -> Result<Option<Rect>, String>;
}

/// The platform's capturer.
pub fn create_capturer() -> Box<dyn Capturer> {
    Box::new(XcapCapturer::default())
}

/// Pick the monitor for `Monitor(None)`: primary, else the first.
pub fn default_monitor(monitors: &[MonitorInfo]) -> Option<&MonitorInfo> {
    monitors.iter().find(|m| m.primary).or_else(|| monitors.first())
}

/// Choose the window a title refers to: an exact title wins; otherwise the topmost window
/// whose title contains the text, ignoring case. `windows` is in front-to-back order.
pub fn match_window<'a>(windows: &'a [WindowInfo], title: &str) -> Option<&'a WindowInfo> {
    let usable = |w: &&WindowInfo| !w.minimized && w.width > 0 && w.height > 0;
    if let Some(w) = windows.iter().filter(usable).find(|w| w.title == title) {
        return Some(w);
    }
    let needle = title.to_lowercase();
    windows.iter().filter(usable).find(|w| w.title.to_lowercase().contains(&needle))
}

/// The monitor that holds the largest part of a physical rectangle.
pub fn monitor_for_rect<'a>(monitors: &'a [MonitorInfo], rect: &Rect) -> Option<&'a MonitorInfo> {
    monitors
        .iter()
        .map(|m| {
            let mr = Rect::new(m.physical_x, m.physical_y, m.physical_width, m.physical_height);
            (mr.intersection(rect).area(), m)
        })
        .filter(|(a, _)| *a > 0)
        .max_by_key(|(a, m)| (*a, std::cmp::Reverse(m.index)))
        .map(|(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(id: u32, title: &str) -> WindowInfo {
        WindowInfo {
            id,
            title: title.into(),
            app_name: String::new(),
            pid: 0,
            x: 0,
            y: 0,
            width: 10,
            height: 10,
            focused: false,
            minimized: false,
        }
    }

    #[test]
    fn exact_title_beats_a_topmost_substring_match() {
        let ws = vec![win(1, "Open File — Editor"), win(2, "Editor")];
        assert_eq!(match_window(&ws, "Editor").unwrap().id, 2);
        assert_eq!(match_window(&ws, "open file").unwrap().id, 1);
        assert!(match_window(&ws, "Terminal").is_none());
    }

    #[test]
    fn monitor_for_rect_picks_the_largest_overlap() {
        let m = |index, px, w| MonitorInfo {
            index,
            id: index as u32,
            name: String::new(),
            x: px,
            y: 0,
            width: w,
            height: 100,
            physical_x: px,
            physical_y: 0,
            physical_width: w,
            physical_height: 100,
            scale_factor: 1.0,
            primary: false,
        };
        let ms = vec![m(0, 0, 100), m(1, -100, 100)];
        assert_eq!(monitor_for_rect(&ms, &Rect::new(-60, 0, 80, 10)).unwrap().index, 1);
        assert_eq!(monitor_for_rect(&ms, &Rect::new(-20, 0, 80, 10)).unwrap().index, 0);
        assert!(monitor_for_rect(&ms, &Rect::new(500, 0, 8, 8)).is_none());
    }

    #[test]
    fn errors_read_as_one_sentence() {
        let e = CaptureError::MonitorNotFound { requested: 3, available: 1 };
        assert_eq!(e.to_string(), "no monitor 3: there is 1 monitor (index 0)");
        let e = CaptureError::NoDisplay { detail: "DISPLAY is not set".into() };
        assert!(e.to_string().starts_with("no display: DISPLAY is not set; set DISPLAY"));
    }
}
