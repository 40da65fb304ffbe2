//! Watching a person's input on X11 through the RECORD extension (x11rb): every key and
//! button event of every client, without grabbing anything (the person's input still goes
//! where it always goes).

use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::Instant;

use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::record::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;
use x11rb::x11_utils::TryParse;

use super::DemoError;
use super::compose::Input;

/// A running RECORD context; [`Listener::stop`] ends it.
pub struct Listener {
    ctrl: Arc<RustConnection>,
    context: u32,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Start watching; each event goes to `tx` with the time it arrived and what `tag` says
    /// at that moment (called on the watching thread, so it sees the screen of that moment).
    pub fn start<T: Send + 'static>(
        tx: Sender<(Input, Instant, T)>,
        tag: impl Fn(Instant) -> T + Send + 'static,
    ) -> Result<Self, DemoError> {
        let connect = || x11rb::connect(None).map(|(c, _)| c).map_err(|e| DemoError::NoDisplay(e.to_string()));
        let ctrl = Arc::new(connect()?);
        let data = connect()?;
        let x = |e: &dyn std::fmt::Display| DemoError::Record(e.to_string());
        if ctrl.extension_information(record::X11_EXTENSION_NAME).map_err(|e| x(&e))?.is_none() {
            return Err(DemoError::Record(
                "the X server has no RECORD extension (on Xorg enable it with Load \"record\"; Xvfb has it)".into(),
            ));
        }
        ctrl.record_query_version(1, 13).map_err(|e| x(&e))?.reply().map_err(|e| x(&e))?;
        let context = ctrl.generate_id().map_err(|e| x(&e))?;
        let empty = record::Range8 { first: 0, last: 0 };
        let empty_ext = record::ExtRange { major: empty, minor: record::Range16 { first: 0, last: 0 } };
        let range = record::Range {
            core_requests: empty,
            core_replies: empty,
            ext_requests: empty_ext,
            ext_replies: empty_ext,
            delivered_events: empty,
            device_events: record::Range8 { first: xproto::KEY_PRESS_EVENT, last: xproto::BUTTON_RELEASE_EVENT },
            errors: empty,
            client_started: false,
            client_died: false,
        };
        ctrl.record_create_context(context, 0, &[record::CS::ALL_CLIENTS.into()], &[range])
            .map_err(|e| x(&e))?
            .check()
            .map_err(|e| x(&e))?;
        let keymap = Arc::clone(&ctrl);
        let thread = std::thread::Builder::new()
            .name("markpilot-record-input".into())
            .spawn(move || {
                let Ok(replies) = data.record_enable_context(context) else { return };
                for reply in replies {
                    let Ok(reply) = reply else { break };
                    // Category 0: data from the server (the events); 5: the context was disabled.
                    if reply.category == 5 {
                        break;
                    }
                    if reply.category != 0 || reply.client_swapped {
                        continue;
                    }
                    let at = Instant::now();
                    for raw in reply.data.chunks_exact(32) {
                        if let Some(input) = parse(raw, &keymap)
                            && tx.send((input, at, tag(at))).is_err()
                        {
                            return;
                        }
                    }
                }
            })
            .map_err(|e| DemoError::Record(e.to_string()))?;
        Ok(Self { ctrl, context, thread: Some(thread) })
    }

    /// Stop watching and wait for the last events.
    pub fn stop(mut self) {
        self.disable();
    }

    fn disable(&mut self) {
        let _ = self.ctrl.record_disable_context(self.context);
        let _ = self.ctrl.sync();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = self.ctrl.record_free_context(self.context);
        let _ = self.ctrl.flush();
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.disable();
        }
    }
}

fn parse(raw: &[u8], conn: &RustConnection) -> Option<Input> {
    match raw[0] & 0x7f {
        xproto::KEY_PRESS_EVENT | xproto::KEY_RELEASE_EVENT => {
            let (e, _) = xproto::KeyPressEvent::try_parse(raw).ok()?;
            let down = raw[0] & 0x7f == xproto::KEY_PRESS_EVENT;
            // Asked per key: typing tools remap spare keycodes on the fly.
            let map = conn.get_keyboard_mapping(e.detail, 1).ok()?.reply().ok()?;
            let level = |i: usize| {
                if i < map.keysyms_per_keycode as usize { map.keysyms.get(i).copied().unwrap_or(0) } else { 0 }
            };
            Some(Input::Key { down, keysyms: [level(0), level(1)] })
        }
        xproto::BUTTON_PRESS_EVENT => {
            let (e, _) = xproto::ButtonPressEvent::try_parse(raw).ok()?;
            Some(Input::Press { button: e.detail, x: e.root_x as i32, y: e.root_y as i32 })
        }
        xproto::BUTTON_RELEASE_EVENT => {
            let (e, _) = xproto::ButtonReleaseEvent::try_parse(raw).ok()?;
            Some(Input::Release { button: e.detail, x: e.root_x as i32, y: e.root_y as i32 })
        }
        _ => None,
    }
}
