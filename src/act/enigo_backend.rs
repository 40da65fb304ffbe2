//! The real mouse and keyboard, through enigo (X11: the XTEST extension).

use std::time::Duration;

use enigo::{Axis, Button, Coordinate, Direction, Enigo, Key, Keyboard, Mouse, Settings};

use super::pointer_sync::PointerSync;
use super::typing::{self, Piece, TypingConfig};
use super::{ActError, Executor, InputOp, MouseButton};
use crate::action::{KeyCombo, Modifier, NamedKey};

pub struct EnigoExecutor {
    enigo: Enigo,
    pointer: PointerSync,

    pub typing: TypingConfig,
}

impl std::fmt::Debug for EnigoExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnigoExecutor").field("typing", &self.typing).finish_non_exhaustive()
    }
}

impl EnigoExecutor {
    pub fn new() -> Result<Self, ActError> {
        if cfg!(target_os = "linux")
            && std::env::var_os("DISPLAY").is_none()
            && std::env::var_os("WAYLAND_DISPLAY").is_none()
        {
            return Err(ActError::NoInput("no display: DISPLAY is not set".into()));
        }
        let enigo = Enigo::new(&Settings::default()).map_err(|e| ActError::NoInput(e.to_string()))?;
        Ok(Self { enigo, pointer: PointerSync::connect(), typing: TypingConfig::default() })
    }

    fn key(&mut self, combo: &KeyCombo) -> Result<(), ActError> {
        let mods: Vec<Key> = combo.modifiers.iter().map(|m| modifier_key(*m)).collect();
        let mut pressed = Vec::new();
        let mut result = Ok(());
        for m in &mods {
            if let Err(e) = self.enigo.key(*m, Direction::Press) {
                result = Err(input_error(e));
                break;
            }
            pressed.push(*m);
        }
        // Modifiers alone (`super`): pressing and releasing them is the action.
        if result.is_ok()
            && let Some(k) = combo.key
        {
            result = named_key(k).and_then(|k| self.enigo.key(k, Direction::Click).map_err(input_error));
        }
        // Always release what was pressed, even after an error: a stuck Ctrl ruins the desktop.
        for m in pressed.iter().rev() {
            let _ = self.enigo.key(*m, Direction::Release);
        }
        result
    }

    fn text(&mut self, text: &str) -> Result<(), ActError> {
        for piece in typing::plan(text, &self.typing) {
            match piece {
                Piece::Text(t) => self.enigo.text(&t).map_err(input_error)?,
                Piece::Return => self.enigo.key(Key::Return, Direction::Click).map_err(input_error)?,
                Piece::Tab => self.enigo.key(Key::Tab, Direction::Click).map_err(input_error)?,
                Piece::Pause(ms) => std::thread::sleep(Duration::from_millis(ms as u64)),
            }
        }
        Ok(())
    }
}

fn input_error(e: enigo::InputError) -> ActError {
    ActError::Input(e.to_string())
}

fn button(b: MouseButton) -> Button {
    match b {
        MouseButton::Left => Button::Left,
        MouseButton::Right => Button::Right,
    }
}

fn modifier_key(m: Modifier) -> Key {
    match m {
        Modifier::Ctrl => Key::Control,
        Modifier::Shift => Key::Shift,
        Modifier::Alt => Key::Alt,
        Modifier::Super => Key::Meta,
    }
}

fn named_key(k: NamedKey) -> Result<Key, ActError> {
    Ok(match k {
        NamedKey::Return => Key::Return,
        NamedKey::Escape => Key::Escape,
        NamedKey::Tab => Key::Tab,
        NamedKey::BackSpace => Key::Backspace,
        NamedKey::Delete => Key::Delete,
        NamedKey::Home => Key::Home,
        NamedKey::End => Key::End,
        NamedKey::PageUp => Key::PageUp,
        NamedKey::PageDown => Key::PageDown,
        NamedKey::Up => Key::UpArrow,
        NamedKey::Down => Key::DownArrow,
        NamedKey::Left => Key::LeftArrow,
        NamedKey::Right => Key::RightArrow,
        NamedKey::Space => Key::Space,
        NamedKey::CapsLock => Key::CapsLock,
        NamedKey::F(n) => function_key(n)?,
        // A letter with modifiers is pressed by its lowercase key (ctrl+S is ctrl+s; add
        // shift to mean Shift), as xdotool does.
        NamedKey::Char(c) => Key::Unicode(if c.is_ascii_uppercase() { c.to_ascii_lowercase() } else { c }),
        #[cfg(all(unix, not(target_os = "macos")))]
        NamedKey::Insert => Key::Other(0xff63),
        #[cfg(all(unix, not(target_os = "macos")))]
        NamedKey::Menu => Key::Other(0xff67),
        #[cfg(all(unix, not(target_os = "macos")))]
        NamedKey::PrintScreen => Key::Other(0xff61),
        #[allow(unreachable_patterns)]
        other => return Err(ActError::Input(format!("the key {other:?} is not supported on this platform"))),
    })
}

fn function_key(n: u8) -> Result<Key, ActError> {
    let keys = [
        Key::F1,
        Key::F2,
        Key::F3,
        Key::F4,
        Key::F5,
        Key::F6,
        Key::F7,
        Key::F8,
        Key::F9,
        Key::F10,
        Key::F11,
        Key::F12,
        Key::F13,
        Key::F14,
        Key::F15,
        Key::F16,
        Key::F17,
        Key::F18,
        Key::F19,
        Key::F20,
    ];
    keys.get((n as usize).wrapping_sub(1))
        .copied()
        .ok_or_else(|| ActError::Input(format!("F{n} is not supported (F1 to F20 are)")))
}

impl Executor for EnigoExecutor {
    fn perform(&mut self, op: &InputOp) -> Result<(), ActError> {
        match op {
            InputOp::MoveTo(p) => {
                if p.x < 0 || p.y < 0 || p.x > i16::MAX as i32 || p.y > i16::MAX as i32 {
                    // X11 root coordinates are never negative; such a point is off every screen.
                    if cfg!(all(unix, not(target_os = "macos"))) {
                        return Err(ActError::OffScreen { x: p.x, y: p.y });
                    }
                }
                self.enigo.move_mouse(p.x, p.y, Coordinate::Abs).map_err(input_error)
            }
            InputOp::Click { button: b, count } => {
                for _ in 0..*count {
                    self.enigo.button(button(*b), Direction::Click).map_err(input_error)?;
                }
                Ok(())
            }
            InputOp::Down(b) => self.enigo.button(button(*b), Direction::Press).map_err(input_error),
            InputOp::Up(b) => self.enigo.button(button(*b), Direction::Release).map_err(input_error),
            InputOp::Text(t) => self.text(t),
            InputOp::Key(k) => self.key(k),
            InputOp::Scroll { vertical, horizontal } => {
                if *vertical != 0 {
                    self.enigo.scroll(*vertical, Axis::Vertical).map_err(input_error)?;
                }
                if *horizontal != 0 {
                    self.enigo.scroll(*horizontal, Axis::Horizontal).map_err(input_error)?;
                }
                Ok(())
            }
            InputOp::PauseMs(ms) => {
                std::thread::sleep(Duration::from_millis(*ms as u64));
                Ok(())
            }
            InputOp::AwaitClickDelivered { max_ms, required } => {
                let t = std::time::Instant::now();
                let free = self.pointer.wait_free(Duration::from_millis(*max_ms as u64));
                tracing::debug!("pointer free: {free} after {:.1} ms", t.elapsed().as_secs_f64() * 1000.0);
                if !free && *required {
                    return Err(ActError::Input(format!(
                        "the click did not reach its window within {} s (the window manager holds it); nothing was typed",
                        max_ms / 1000
                    )));
                }
                Ok(())
            }
        }
    }

    fn name(&self) -> &'static str {
        "enigo"
    }
}
