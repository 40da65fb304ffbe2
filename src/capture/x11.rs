//! Fast capture on X11: one connection kept open, pixels copied through MIT-SHM.
//!
//! xcap opens a new X connection for every monitor property it reports and sends a frame
//! through the socket, then converts it pixel by pixel: ~25 ms for a 1080p monitor. Here the
//! server writes the frame into a shared-memory segment markpilot keeps attached
//! (`ShmGetImage`), and the monitor list xcap made is reused for as long as the X server's
//! RandR monitors and its resources (`Xft.dpi`, which sets the scale) say the same: the
//! frame and its metadata are exactly what xcap gives, in a few milliseconds.
//!
//! Anything the server does not offer (no MIT-SHM, a segment it cannot attach: another IPC
//! namespace, a full `/dev/shm`, a depth other than 24/32 bits in 32-bit pixels) makes
//! [`Fast::open`] or a grab fail with a reason, and the caller falls back to xcap.
//!
//! `unsafe` here: the System V shared-memory calls (`shmget`, `shmat`, `shmdt`).
#![allow(unsafe_code)]

use std::sync::Mutex;

use image::RgbaImage;
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::randr::ConnectionExt as _;
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _, ImageFormat, ImageOrder, Window};
use x11rb::rust_connection::RustConnection;

use crate::coords::MonitorInfo;
use crate::geometry::Rect;

/// The X server's own monitor description: what decides whether xcap's list still holds.
#[derive(Debug, Clone, PartialEq)]
struct RawMonitor {
    x: i16,
    y: i16,
    width: u16,
    height: u16,
    primary: bool,
    outputs: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq)]
struct ScreenKey {
    monitors: Vec<RawMonitor>,
    /// The root window's RESOURCE_MANAGER (where `Xft.dpi` lives), as xcap reads it.
    resources: Vec<u8>,
}

/// A System V segment attached by us and by the X server.
struct Segment {
    seg: shm::Seg,
    addr: *mut u8,
    size: usize,
}

// SAFETY: the segment's memory is only read under the `Fast` mutex, after the server's reply
// to the request that wrote it; the pointer is not tied to the thread that mapped it.
unsafe impl Send for Segment {}

struct Inner {
    conn: RustConnection,
    root: Window,
    segment: Option<Segment>,
    cached: Option<(ScreenKey, Vec<MonitorInfo>)>,
}

/// An open X connection with MIT-SHM (see the module documentation).
pub struct Fast {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Fast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fast(X11 MIT-SHM)")
    }
}

fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

impl Fast {
    /// Connect to `$DISPLAY` and check that the server can hand frames over in shared
    /// memory in a pixel layout this module converts (32-bit BGRX, least significant byte
    /// first).
    pub fn open() -> Result<Fast, String> {
        let (conn, screen_num) = x11rb::connect(None).map_err(|e| err("connecting to the X server", e))?;
        if conn.extension_information(shm::X11_EXTENSION_NAME).map_err(|e| err("MIT-SHM", e))?.is_none() {
            return Err("the X server has no MIT-SHM extension".into());
        }
        conn.shm_query_version().map_err(|e| err("MIT-SHM", e))?.reply().map_err(|e| err("MIT-SHM", e))?;
        let setup = conn.setup();
        let screen = setup.roots.get(screen_num).ok_or("the X server lists no screen")?;
        let depth = screen.root_depth;
        let bpp = setup.pixmap_formats.iter().find(|f| f.depth == depth).map(|f| f.bits_per_pixel);
        if !matches!(depth, 24 | 32) || bpp != Some(32) || setup.image_byte_order != ImageOrder::LSB_FIRST {
            return Err(format!(
                "the root window's pixels are not 32-bit BGRX (depth {depth}, {bpp:?} bits per pixel, {:?} first)",
                setup.image_byte_order
            ));
        }
        let root = screen.root;
        Ok(Fast { inner: Mutex::new(Inner { conn, root, segment: None, cached: None }) })
    }

    /// The monitors as xcap listed them (`list` is asked only when the server's monitors or
    /// resources changed since the last call), each with the rectangle of the root window it
    /// covers (RandR's own, in physical pixels), in `list`'s order.
    pub fn monitors(
        &self,
        list: impl FnOnce() -> Result<Vec<MonitorInfo>, crate::capture::CaptureError>,
    ) -> Result<Result<Vec<(MonitorInfo, Rect)>, crate::capture::CaptureError>, String> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let key = inner.key()?;
        let infos = match &inner.cached {
            Some((k, infos)) if *k == key => infos.clone(),
            _ => match list() {
                Ok(infos) => {
                    inner.cached = Some((key.clone(), infos.clone()));
                    infos
                }
                Err(e) => return Ok(Err(e)),
            },
        };
        let mut out = Vec::with_capacity(infos.len());
        for info in infos {
            // xcap's monitor is the first RandR monitor holding its output.
            let raw = key.monitors.iter().find(|m| m.outputs.contains(&info.id));
            let Some(m) = raw else {
                // The list no longer matches the server: ask again next time.
                inner.cached = None;
                return Err(format!(
                    "monitor {} (output {}) is not among the X server's monitors",
                    info.index, info.id
                ));
            };
            out.push((info, Rect::new(m.x as i32, m.y as i32, m.width as u32, m.height as u32)));
        }
        Ok(Ok(out))
    }

    /// The root window's pixels in `rect` (physical pixels of the X screen), as RGBA.
    pub fn grab(&self, rect: &Rect) -> Result<RgbaImage, String> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.grab(rect)
    }
}

impl Inner {
    fn key(&self) -> Result<ScreenKey, String> {
        let monitors = self
            .conn
            .randr_get_monitors(self.root, true)
            .map_err(|e| err("RandR", e))?
            .reply()
            .map_err(|e| err("RandR", e))?
            .monitors
            .into_iter()
            .map(|m| RawMonitor {
                x: m.x,
                y: m.y,
                width: m.width,
                height: m.height,
                primary: m.primary,
                outputs: m.outputs,
            })
            .collect();
        // xcap reads the first 60 words of the resources.
        let resources = self
            .conn
            .get_property(false, self.root, AtomEnum::RESOURCE_MANAGER, AtomEnum::STRING, 0, 60)
            .map_err(|e| err("reading the X resources", e))?
            .reply()
            .map_err(|e| err("reading the X resources", e))?
            .value;
        Ok(ScreenKey { monitors, resources })
    }

    fn grab(&mut self, rect: &Rect) -> Result<RgbaImage, String> {
        if rect.is_empty() || rect.w > u16::MAX as u32 || rect.h > u16::MAX as u32 {
            return Err(format!("cannot grab {rect}"));
        }
        let size = rect.w as usize * rect.h as usize * 4;
        if self.segment.as_ref().is_none_or(|s| s.size < size) {
            if let Some(old) = self.segment.take() {
                self.release(old);
            }
            self.segment = Some(self.attach(size)?);
        }
        let seg = self.segment.as_ref().map(|s| s.seg).ok_or("no segment")?;
        let reply = self
            .conn
            .shm_get_image(
                self.root,
                rect.x as i16,
                rect.y as i16,
                rect.w as u16,
                rect.h as u16,
                u32::MAX,
                ImageFormat::Z_PIXMAP.into(),
                seg,
                0,
            )
            .map_err(|e| err("MIT-SHM GetImage", e))?
            .reply()
            .map_err(|e| err("MIT-SHM GetImage", e))?;
        if (reply.size as usize) < size {
            return Err(format!("MIT-SHM GetImage wrote {} bytes of {size}", reply.size));
        }
        let s = self.segment.as_ref().ok_or("no segment")?;
        // SAFETY: the segment is `s.size` ≥ `size` bytes, mapped for as long as `s` lives,
        // and the server finished writing it before its reply.
        let bgrx = unsafe { std::slice::from_raw_parts(s.addr, size) };
        let mut rgba = vec![0u8; size];
        for (out, px) in rgba.chunks_exact_mut(4).zip(bgrx.chunks_exact(4)) {
            out.copy_from_slice(&[px[2], px[1], px[0], 255]);
        }
        RgbaImage::from_raw(rect.w, rect.h, rgba).ok_or_else(|| "the grabbed frame has the wrong size".into())
    }

    fn attach(&self, size: usize) -> Result<Segment, String> {
        // SAFETY: plain System V calls; every result is checked before use and the segment
        // is marked for removal as soon as both sides hold it, so it never outlives them.
        unsafe {
            let id = libc::shmget(libc::IPC_PRIVATE, size, libc::IPC_CREAT | 0o600);
            if id < 0 {
                return Err(err("shmget", std::io::Error::last_os_error()));
            }
            let addr = libc::shmat(id, std::ptr::null(), 0);
            if addr as isize == -1 {
                let e = std::io::Error::last_os_error();
                libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
                return Err(err("shmat", e));
            }
            let attached = (|| -> Result<shm::Seg, String> {
                let seg = self.conn.generate_id().map_err(|e| err("MIT-SHM", e))?;
                self.conn
                    .shm_attach(seg, id as u32, false)
                    .map_err(|e| err("MIT-SHM Attach", e))?
                    .check()
                    .map_err(|e| err("the X server cannot attach markpilot's shared memory", e))?;
                Ok(seg)
            })();
            libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
            match attached {
                Ok(seg) => Ok(Segment { seg, addr: addr as *mut u8, size }),
                Err(e) => {
                    libc::shmdt(addr);
                    Err(e)
                }
            }
        }
    }

    fn release(&self, s: Segment) {
        let _ = self.conn.shm_detach(s.seg).map(|c| c.ignore_error());
        let _ = self.conn.flush();
        // SAFETY: `s.addr` came from shmat and nothing refers to it after this.
        unsafe {
            libc::shmdt(s.addr as *const libc::c_void);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(s) = self.segment.take() {
            self.release(s);
        }
    }
}
