//! Waiting for a click to reach its window.
//!
//! Click-to-focus window managers (openbox, xfwm, mutter…) grab the mouse button on client
//! windows synchronously: a click is held until the window manager has looked at it and
//! replays it. Keyboard events are not held. Typing right after a click can therefore reach
//! the field *before* the click does; the late click then moves the caret, and the rest of
//! the text lands in the middle (seen under openbox while it was busy with keymap changes).
//!
//! The X server tells us when nobody holds the pointer: a pointer grab of our own succeeds
//! (and is released at once). Until then it answers "already grabbed" or "frozen".

use std::time::Duration;

#[cfg(all(unix, not(target_os = "macos")))]
mod imp {
    use super::*;
    use std::time::Instant;
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{ConnectionExt, EventMask, GrabMode, GrabStatus, Window};
    use x11rb::rust_connection::RustConnection;
    use x11rb::{CURRENT_TIME, NONE};

    pub struct PointerSync {
        conn: Option<(RustConnection, Window)>,
    }

    impl PointerSync {
        pub fn connect() -> Self {
            let conn = x11rb::connect(None).ok().map(|(c, screen)| {
                let root = c.setup().roots[screen].root;
                (c, root)
            });
            Self { conn }
        }

        /// Wait until no client holds the pointer, at most `limit`. Returns whether it is free.
        pub fn wait_free(&self, limit: Duration) -> bool {
            let Some((conn, root)) = &self.conn else { return true };
            let end = Instant::now() + limit;
            loop {
                let status = conn
                    .grab_pointer(
                        false,
                        *root,
                        EventMask::NO_EVENT,
                        GrabMode::ASYNC,
                        GrabMode::ASYNC,
                        NONE,
                        NONE,
                        CURRENT_TIME,
                    )
                    .ok()
                    .and_then(|c| c.reply().ok())
                    .map(|r| r.status);
                match status {
                    Some(GrabStatus::SUCCESS) => {
                        let _ = conn.ungrab_pointer(CURRENT_TIME);
                        let _ = conn.flush();
                        return true;
                    }
                    // No answer: nothing to wait for.
                    None => return true,
                    Some(_) => {}
                }
                if Instant::now() >= end {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
mod imp {
    use super::*;

    pub struct PointerSync;

    impl PointerSync {
        pub fn connect() -> Self {
            PointerSync
        }
        pub fn wait_free(&self, _limit: Duration) -> bool {
            true
        }
    }
}

pub use imp::PointerSync;
