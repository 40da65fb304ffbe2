//! Where the screen changes, from the X server itself (the DAMAGE extension): every area
//! drawn on the root window or any window on it, as it happens. Settling after an action
//! waits on these instead of comparing captures taken at fixed intervals.
//!
//! One connection of its own, read by a thread that forwards each damaged rectangle; a
//! message to a tiny window of ours ends that thread when the watch is dropped.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::Event;
use x11rb::protocol::damage::{self, ConnectionExt as _, ReportLevel};
use x11rb::protocol::xfixes::ConnectionExt as _;
use x11rb::protocol::xproto::{
    AtomEnum, ClientMessageEvent, ConnectionExt as _, CreateWindowAux, EventMask, Window, WindowClass,
};
use x11rb::rust_connection::RustConnection;

use super::Changes;
use crate::geometry::Rect;

/// Damage on the X screen's root window (see the module documentation).
pub struct Watch {
    conn: std::sync::Arc<RustConnection>,
    damage: damage::Damage,
    wake: Window,
    rx: Receiver<Result<Rect, String>>,
    /// The reader ended (its error, once reported).
    ended: bool,
}

fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

impl Watch {
    /// Connect to `$DISPLAY` and start watching; an X server without DAMAGE says so.
    pub fn open() -> Result<Watch, String> {
        let (conn, screen_num) = x11rb::connect(None).map_err(|e| err("connecting to the X server", e))?;
        for ext in [damage::X11_EXTENSION_NAME, x11rb::protocol::xfixes::X11_EXTENSION_NAME] {
            if conn.extension_information(ext).map_err(|e| err(ext, e))?.is_none() {
                return Err(format!("the X server has no {ext} extension"));
            }
        }
        // Both versions must be agreed on before DAMAGE is used.
        conn.xfixes_query_version(5, 0).map_err(|e| err("XFIXES", e))?.reply().map_err(|e| err("XFIXES", e))?;
        conn.damage_query_version(1, 1).map_err(|e| err("DAMAGE", e))?.reply().map_err(|e| err("DAMAGE", e))?;
        let root = conn.setup().roots.get(screen_num).ok_or("the X server lists no screen")?.root;
        let damage = conn.generate_id().map_err(|e| err("DAMAGE", e))?;
        conn.damage_create(damage, root, ReportLevel::RAW_RECTANGLES)
            .map_err(|e| err("DAMAGE", e))?
            .check()
            .map_err(|e| err("DAMAGE Create", e))?;
        let wake = conn.generate_id().map_err(|e| err("X", e))?;
        conn.create_window(0, wake, root, -1, -1, 1, 1, 0, WindowClass::INPUT_ONLY, 0, &CreateWindowAux::new())
            .map_err(|e| err("X", e))?
            .check()
            .map_err(|e| err("creating the watch's window", e))?;
        let conn = std::sync::Arc::new(conn);
        let (tx, rx) = mpsc::channel();
        let reader = conn.clone();
        std::thread::Builder::new()
            .name("markpilot-damage".into())
            .spawn(move || {
                loop {
                    let sent = match reader.wait_for_event() {
                        Ok(Event::DamageNotify(n)) => tx.send(Ok(Rect::new(
                            n.geometry.x as i32 + n.area.x as i32,
                            n.geometry.y as i32 + n.area.y as i32,
                            n.area.width as u32,
                            n.area.height as u32,
                        ))),
                        Ok(Event::ClientMessage(m)) if m.window == wake => break,
                        Ok(_) => Ok(()),
                        Err(e) => {
                            let _ = tx.send(Err(err("the X connection watching the screen failed", e)));
                            break;
                        }
                    };
                    if sent.is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| err("starting the damage reader", e))?;
        Ok(Watch { conn, damage, wake, rx, ended: false })
    }
}

impl Changes for Watch {
    fn take(&mut self) -> Vec<Rect> {
        let mut out = Vec::new();
        while let Ok(r) = self.rx.try_recv() {
            match r {
                Ok(r) => out.push(r),
                Err(_) => self.ended = true,
            }
        }
        out
    }

    fn next(&mut self, timeout: Duration) -> Result<Option<Rect>, String> {
        if self.ended {
            return Err("the X connection watching the screen has ended".into());
        }
        match self.rx.recv_timeout(timeout) {
            Ok(Ok(r)) => Ok(Some(r)),
            Ok(Err(e)) => {
                self.ended = true;
                Err(e)
            }
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => {
                self.ended = true;
                Err("the X connection watching the screen has ended".into())
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.conn.damage_destroy(self.damage);
        // With no event mask the message goes to the window's creator: our reader.
        let msg = ClientMessageEvent::new(32, self.wake, AtomEnum::WM_NAME, [0u32; 5]);
        let _ = self.conn.send_event(false, self.wake, EventMask::NO_EVENT, msg);
        let _ = self.conn.destroy_window(self.wake);
        let _ = self.conn.flush();
    }
}
