//! The xcap capturer (X11; Wayland, macOS and Windows through xcap where it supports them).
//!
//! xcap handles are not `Send`; everything here enumerates inside the call and returns
//! plain data. On X11 xcap reports monitor geometry in logical units (divided by the
//! Xft.dpi scale) but captures physical pixels; the physical geometry is recovered here.

#[cfg(all(unix, not(target_os = "macos")))]
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(all(unix, not(target_os = "macos")))]
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::Duration;

use image::RgbaImage;
use tracing::debug;

use super::{CaptureError, Capturer, Frame, Target, WindowInfo, default_monitor, match_window, monitor_for_rect};
use crate::coords::{FrameMapping, InputSpace, MonitorInfo};
use crate::geometry::Rect;

/// Captures with xcap, retrying transient failures; on X11 monitors and regions come through
/// MIT-SHM when the server offers it ([`super::x11`]), with the same frames and metadata.
#[derive(Debug, Clone)]
pub struct XcapCapturer {
    /// Attempts per capture before giving up (transient X errors happen under Xvfb).
    pub attempts: u32,
    /// The shared-memory path, opened at the first capture (`None` inside: not available,
    /// or turned off by `MARKPILOT_CAPTURE=xcap`, or failed once).
    #[cfg(all(unix, not(target_os = "macos")))]
    fast: Arc<FastSlot>,
}

#[cfg(all(unix, not(target_os = "macos")))]
#[derive(Debug, Default)]
struct FastSlot {
    open: OnceLock<Option<super::x11::Fast>>,
    failed: AtomicBool,
}

impl Default for XcapCapturer {
    fn default() -> Self {
        Self {
            attempts: 3,
            #[cfg(all(unix, not(target_os = "macos")))]
            fast: Arc::default(),
        }
    }
}

/// Why the shared-memory path did not give a frame: a real answer for the caller (no such
/// monitor, a region outside it), or a reason to use xcap instead.
#[cfg(all(unix, not(target_os = "macos")))]
enum FastMiss {
    Answer(CaptureError),
    Unavailable(String),
}

fn check_display() -> Result<(), CaptureError> {
    if cfg!(target_os = "linux") {
        let set = |v: &str| std::env::var_os(v).is_some_and(|s| !s.is_empty());
        if !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
            return Err(CaptureError::NoDisplay { detail: "neither DISPLAY nor WAYLAND_DISPLAY is set".into() });
        }
    }
    Ok(())
}

/// Turn an xcap error into ours: connection failures mean no display.
fn classify(err: xcap::XCapError) -> CaptureError {
    let text = err.to_string();
    let lower = text.to_lowercase();
    if lower.contains("connect") && !lower.contains("i/o error") || lower.contains("can't open display") {
        let display = std::env::var("DISPLAY").unwrap_or_default();
        return CaptureError::NoDisplay { detail: format!("cannot connect to display {display:?} ({text})") };
    }
    if lower.contains("permission") || lower.contains("not allowed") || lower.contains("denied") {
        return CaptureError::PermissionDenied { detail: text };
    }
    if lower.contains("_net_client_list") {
        return CaptureError::NoWindowManager { detail: text };
    }
    CaptureError::Backend { detail: text, attempts: 1 }
}

impl XcapCapturer {
    fn retry<T>(&self, what: &str, mut f: impl FnMut() -> Result<T, CaptureError>) -> Result<T, CaptureError> {
        let attempts = self.attempts.max(1);
        let mut last = None;
        for attempt in 1..=attempts {
            match f() {
                Ok(v) => return Ok(v),
                Err(e) if e.is_retryable() && attempt < attempts => {
                    debug!(attempt, error = %e, "{what} failed; retrying");
                    thread::sleep(Duration::from_millis(40 * attempt as u64));
                    last = Some(e);
                }
                Err(CaptureError::Backend { detail, .. }) => {
                    // Still no connection after retrying: the display is not there.
                    if detail.to_lowercase().contains("connection") {
                        let display = std::env::var("DISPLAY").unwrap_or_default();
                        debug!(%detail, "giving up on the display");
                        return Err(CaptureError::NoDisplay {
                            detail: format!("cannot connect to display {display:?} ({detail})"),
                        });
                    }
                    return Err(CaptureError::Backend { detail, attempts: attempt });
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(CaptureError::Backend { detail: format!("{what} failed"), attempts }))
    }

    fn xcap_monitors() -> Result<Vec<(xcap::Monitor, MonitorInfo)>, CaptureError> {
        let monitors = xcap::Monitor::all().map_err(classify)?;
        let mut out = Vec::with_capacity(monitors.len());
        for (index, m) in monitors.into_iter().enumerate() {
            let info = monitor_info(index, &m).map_err(classify)?;
            out.push((m, info));
        }
        Ok(out)
    }

    /// The shared-memory capturer, when the X server offers it and it has not failed.
    #[cfg(all(unix, not(target_os = "macos")))]
    fn fast(&self) -> Option<&super::x11::Fast> {
        if self.fast.failed.load(Ordering::Relaxed) {
            return None;
        }
        self.fast
            .open
            .get_or_init(|| {
                let wayland = std::env::var_os("WAYLAND_DISPLAY").is_some_and(|v| !v.is_empty());
                if wayland || std::env::var("MARKPILOT_CAPTURE").is_ok_and(|v| v == "xcap") {
                    return None;
                }
                match super::x11::Fast::open() {
                    Ok(f) => {
                        debug!("capturing through MIT-SHM");
                        Some(f)
                    }
                    Err(e) => {
                        debug!(reason = %e, "capturing through xcap: MIT-SHM capture is not available");
                        None
                    }
                }
            })
            .as_ref()
    }

    /// A monitor (or a region of it, in the monitor's physical pixels) through shared memory.
    #[cfg(all(unix, not(target_os = "macos")))]
    fn capture_fast(
        &self,
        index: Option<usize>,
        region: Option<&Rect>,
    ) -> Option<Result<(RgbaImage, MonitorInfo), CaptureError>> {
        let fast = self.fast()?;
        let got = (|| -> Result<(RgbaImage, MonitorInfo), FastMiss> {
            let monitors = fast
                .monitors(|| Ok(Self::xcap_monitors()?.into_iter().map(|(_, i)| i).collect()))
                .map_err(FastMiss::Unavailable)?
                .map_err(FastMiss::Answer)?;
            let infos: Vec<MonitorInfo> = monitors.iter().map(|(i, _)| i.clone()).collect();
            let wanted = match index {
                Some(i) => i,
                None => default_monitor(&infos)
                    .map(|m| m.index)
                    .ok_or(FastMiss::Answer(CaptureError::MonitorNotFound { requested: 0, available: 0 }))?,
            };
            let (mut info, raw) = monitors
                .into_iter()
                .find(|(info, _)| info.index == wanted)
                .ok_or(FastMiss::Answer(CaptureError::MonitorNotFound { requested: wanted, available: infos.len() }))?;
            // As xcap's: the capture's size is the monitor's true physical size.
            info.physical_width = raw.w;
            info.physical_height = raw.h;
            let rect = match region {
                None => raw,
                Some(r) => {
                    if !Rect::new(0, 0, raw.w, raw.h).contains(r) {
                        return Err(FastMiss::Answer(CaptureError::RegionOutside {
                            region: *r,
                            monitor: info.index,
                            width: raw.w,
                            height: raw.h,
                        }));
                    }
                    Rect::new(raw.x + r.x, raw.y + r.y, r.w, r.h)
                }
            };
            let image = fast.grab(&rect).map_err(FastMiss::Unavailable)?;
            Ok((image, info))
        })();
        match got {
            Ok(v) => Some(Ok(v)),
            Err(FastMiss::Answer(e)) => Some(Err(e)),
            Err(FastMiss::Unavailable(reason)) => {
                debug!(%reason, "MIT-SHM capture failed; capturing through xcap from now on");
                self.fast.failed.store(true, Ordering::Relaxed);
                None
            }
        }
    }

    #[cfg(not(all(unix, not(target_os = "macos"))))]
    fn capture_fast(
        &self,
        _index: Option<usize>,
        _region: Option<&Rect>,
    ) -> Option<Result<(RgbaImage, MonitorInfo), CaptureError>> {
        None
    }

    fn capture_monitor(&self, index: Option<usize>) -> Result<(RgbaImage, MonitorInfo), CaptureError> {
        if let Some(got) = self.capture_fast(index, None) {
            return got;
        }
        self.retry("monitor capture", || {
            let monitors = Self::xcap_monitors()?;
            let infos: Vec<MonitorInfo> = monitors.iter().map(|(_, i)| i.clone()).collect();
            let wanted = match index {
                Some(i) => i,
                None => default_monitor(&infos)
                    .map(|m| m.index)
                    .ok_or(CaptureError::MonitorNotFound { requested: 0, available: 0 })?,
            };
            let (monitor, mut info) = monitors
                .into_iter()
                .find(|(_, info)| info.index == wanted)
                .ok_or(CaptureError::MonitorNotFound { requested: wanted, available: infos.len() })?;
            let image = monitor.capture_image().map_err(classify)?;
            if image.width() == 0 || image.height() == 0 {
                return Err(CaptureError::EmptyImage { width: image.width(), height: image.height() });
            }
            // The capture's size is the monitor's true physical size.
            info.physical_width = image.width();
            info.physical_height = image.height();
            Ok((image, info))
        })
    }
}

fn monitor_info(index: usize, m: &xcap::Monitor) -> Result<MonitorInfo, xcap::XCapError> {
    let scale = m.scale_factor()? as f64;
    let scale = if scale.is_finite() && scale > 0.0 { scale } else { 1.0 };
    let (x, y, width, height) = (m.x()?, m.y()?, m.width()?, m.height()?);
    let phys = |v: f64| (v * scale).round();
    Ok(MonitorInfo {
        index,
        id: m.id()?,
        name: m.name().unwrap_or_default(),
        x,
        y,
        width,
        height,
        physical_x: phys(x as f64) as i32,
        physical_y: phys(y as f64) as i32,
        physical_width: phys(width as f64) as u32,
        physical_height: phys(height as f64) as u32,
        scale_factor: scale,
        primary: m.is_primary().unwrap_or(false),
    })
}

fn crop(image: &RgbaImage, r: &Rect) -> RgbaImage {
    image::imageops::crop_imm(image, r.x as u32, r.y as u32, r.w, r.h).to_image()
}

impl Capturer for XcapCapturer {
    #[cfg(all(unix, not(target_os = "macos")))]
    fn watch(&self) -> Option<Box<dyn super::Changes>> {
        let wayland = std::env::var_os("WAYLAND_DISPLAY").is_some_and(|v| !v.is_empty());
        if wayland || std::env::var("MARKPILOT_SETTLE").is_ok_and(|v| v == "poll") || check_display().is_err() {
            return None;
        }
        match super::damage::Watch::open() {
            Ok(w) => Some(Box::new(w)),
            Err(e) => {
                debug!(reason = %e, "settling by comparing captures: the X server's change reports are not available");
                None
            }
        }
    }

    fn monitors(&self) -> Result<Vec<MonitorInfo>, CaptureError> {
        check_display()?;
        self.retry("monitor listing", || Ok(Self::xcap_monitors()?.into_iter().map(|(_, i)| i).collect()))
    }

    fn windows(&self) -> Result<Vec<WindowInfo>, CaptureError> {
        check_display()?;
        self.retry("window listing", || {
            let windows = xcap::Window::all().map_err(classify)?;
            let mut out = Vec::with_capacity(windows.len());
            for w in windows {
                let info = (|| -> Result<WindowInfo, xcap::XCapError> {
                    Ok(WindowInfo {
                        id: w.id()?,
                        title: w.title().unwrap_or_default(),
                        app_name: w.app_name().unwrap_or_default(),
                        pid: w.pid().unwrap_or(0),
                        x: w.x()?,
                        y: w.y()?,
                        width: w.width()?,
                        height: w.height()?,
                        focused: w.is_focused().unwrap_or(false),
                        minimized: w.is_minimized().unwrap_or(false),
                    })
                })();
                match info {
                    Ok(i) => out.push(i),
                    Err(e) => {
                        debug!(error = %e, "skipping a window that vanished or hides its geometry")
                    }
                }
            }
            Ok(out)
        })
    }

    fn capture(&self, target: &Target) -> Result<Frame, CaptureError> {
        check_display()?;
        let input = InputSpace::native();
        match target {
            Target::Monitor(index) => {
                let (image, info) = self.capture_monitor(*index)?;
                Ok(Frame { image, mapping: Some(FrameMapping::new(info, 0, 0, input)), window: None })
            }
            Target::Region { monitor, rect } => {
                if rect.is_empty() {
                    return Err(CaptureError::EmptyRegion(*rect));
                }
                if let Some(got) = self.capture_fast(*monitor, Some(rect)) {
                    let (image, info) = got?;
                    return Ok(Frame {
                        image,
                        mapping: Some(FrameMapping::new(info, rect.x, rect.y, input)),
                        window: None,
                    });
                }
                let (image, info) = self.capture_monitor(*monitor)?;
                let bounds = Rect::new(0, 0, image.width(), image.height());
                if !bounds.contains(rect) {
                    return Err(CaptureError::RegionOutside {
                        region: *rect,
                        monitor: info.index,
                        width: image.width(),
                        height: image.height(),
                    });
                }
                let image = crop(&image, rect);
                Ok(Frame { image, mapping: Some(FrameMapping::new(info, rect.x, rect.y, input)), window: None })
            }
            Target::Window(title) => {
                let windows = self.windows()?;
                let window = match_window(&windows, title).cloned().ok_or_else(|| CaptureError::WindowNotFound {
                    title: title.clone(),
                    available: windows.iter().filter(|w| !w.title.is_empty()).map(|w| w.title.clone()).collect(),
                })?;
                let wrect = Rect::new(window.x, window.y, window.width, window.height);
                let monitors = self.monitors()?;
                let monitor =
                    monitor_for_rect(&monitors, &wrect).cloned().ok_or_else(|| CaptureError::RegionOutside {
                        region: wrect,
                        monitor: 0,
                        width: monitors.first().map_or(0, |m| m.physical_width),
                        height: monitors.first().map_or(0, |m| m.physical_height),
                    })?;
                // Capture the monitor and cut the window out: what is on screen, including
                // anything covering it, and no X error for windows partly off screen.
                let (image, info) = self.capture_monitor(Some(monitor.index))?;
                let local =
                    Rect::new(window.x - info.physical_x, window.y - info.physical_y, window.width, window.height)
                        .clamp_to(image.width(), image.height());
                if local.is_empty() {
                    return Err(CaptureError::EmptyImage { width: 0, height: 0 });
                }
                let image = crop(&image, &local);
                Ok(Frame {
                    image,
                    mapping: Some(FrameMapping::new(info, local.x, local.y, input)),
                    window: Some(window),
                })
            }
        }
    }
}
