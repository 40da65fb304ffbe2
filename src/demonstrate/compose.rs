//! Turning raw input events (presses, releases, key strokes) into the actions a person meant:
//! a press and release in place is a click, two quick ones a double click, far apart a drag;
//! wheel notches in a row one scroll; consecutive characters one `type`; anything with Ctrl,
//! Alt or Super (or a non-character key) one `key`.

use std::time::{Duration, Instant};

use crate::action::{ClickKind, KeyCombo, Modifier, NamedKey, ScrollDirection};

/// One input event, as the platform reports it. Points are desktop pixels.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Press {
        button: u8,
        x: i32,
        y: i32,
    },
    Release {
        button: u8,
        x: i32,
        y: i32,
    },
    /// `keysyms`: the key's symbol without and with Shift (X11 keysyms).
    Key {
        down: bool,
        keysyms: [u32; 2],
    },
}

/// What a person did, in desktop pixels.
#[derive(Debug, Clone, PartialEq)]
pub enum Gesture {
    Click {
        kind: ClickKind,
        x: i32,
        y: i32,
    },
    Drag {
        from: (i32, i32),
        to: (i32, i32),
    },
    Scroll {
        direction: ScrollDirection,
        amount: u32,
        x: i32,
        y: i32,
    },
    /// Text typed; `\n` for Return.
    Type {
        text: String,
    },
    Key {
        combo: KeyCombo,
    },
}

/// A gesture and the index of its first event (its screenshot is the one before that).
#[derive(Debug, Clone, PartialEq)]
pub struct Composed<T> {
    pub gesture: Gesture,
    pub first: T,
}

const DOUBLE_CLICK: Duration = Duration::from_millis(400);
const DRAG_DISTANCE: i32 = 8;

/// Composes gestures from events. `T` is whatever the caller attaches to an event (the
/// screenshot before it); a gesture carries its first event's.
pub struct Composer<T: Clone> {
    shift: bool,
    ctrl: bool,
    alt: bool,
    super_: bool,
    press: Option<(u8, i32, i32, Instant, T)>,
    pending: Option<(Composed<T>, Instant)>,
    stop_key: Option<KeyCombo>,
    /// The stop combination was pressed.
    pub stopped: bool,
}

impl<T: Clone> Composer<T> {
    pub fn new(stop_key: Option<KeyCombo>) -> Self {
        Self {
            shift: false,
            ctrl: false,
            alt: false,
            super_: false,
            press: None,
            pending: None,
            stop_key,
            stopped: false,
        }
    }

    /// Feed one event; returns the gestures it completed.
    pub fn push(&mut self, input: Input, at: Instant, tag: T) -> Vec<Composed<T>> {
        let mut out = Vec::new();
        match input {
            Input::Press { button, x, y } => match button {
                1 | 3 => {
                    // A second click in place soon after the first: a double click.
                    if button == 1
                        && let Some((
                            Composed {
                                gesture: Gesture::Click { kind: kind @ ClickKind::Click, x: px, y: py }, ..
                            },
                            t,
                        )) = &mut self.pending
                        && at.duration_since(*t) <= DOUBLE_CLICK
                        && (x - *px).abs() <= 4
                        && (y - *py).abs() <= 4
                    {
                        *kind = ClickKind::DoubleClick;
                        self.press = None;
                        return out;
                    }
                    self.flush(&mut out);
                    self.press = Some((button, x, y, at, tag));
                }
                4..=7 => {
                    let direction = match button {
                        4 => ScrollDirection::Up,
                        5 => ScrollDirection::Down,
                        6 => ScrollDirection::Left,
                        _ => ScrollDirection::Right,
                    };
                    if let Some((Composed { gesture: Gesture::Scroll { direction: d, amount, .. }, .. }, t)) =
                        &mut self.pending
                        && *d == direction
                    {
                        *amount += 1;
                        *t = at;
                        return out;
                    }
                    self.flush(&mut out);
                    self.pending =
                        Some((Composed { gesture: Gesture::Scroll { direction, amount: 1, x, y }, first: tag }, at));
                }
                _ => {}
            },
            Input::Release { button, x, y } => {
                if let Some((b, px, py, t, first)) = self.press.take() {
                    if b != button {
                        self.press = Some((b, px, py, t, first));
                        return out;
                    }
                    let moved = (x - px).abs() > DRAG_DISTANCE || (y - py).abs() > DRAG_DISTANCE;
                    let gesture = if moved && b == 1 {
                        Gesture::Drag { from: (px, py), to: (x, y) }
                    } else {
                        let kind = if b == 3 { ClickKind::RightClick } else { ClickKind::Click };
                        Gesture::Click { kind, x: px, y: py }
                    };
                    self.pending = Some((Composed { gesture, first }, t));
                }
            }
            Input::Key { down, keysyms } => self.key(down, keysyms, at, tag, &mut out),
        }
        out
    }

    fn key(&mut self, down: bool, keysyms: [u32; 2], at: Instant, tag: T, out: &mut Vec<Composed<T>>) {
        let base = keysyms[0];
        let flag = match base {
            0xffe1 | 0xffe2 => Some(&mut self.shift),
            0xffe3 | 0xffe4 => Some(&mut self.ctrl),
            0xffe7..=0xffea => Some(&mut self.alt),
            0xffeb | 0xffec => Some(&mut self.super_),
            // Caps Lock, AltGr, Num Lock: not gestures of their own.
            0xffe5 | 0xfe03 | 0xff7f => return,
            _ => None,
        };
        if let Some(f) = flag {
            *f = down;
            return;
        }
        if !down {
            return;
        }
        let shifted = if self.shift { shifted_keysym(keysyms) } else { base };
        let combo_held = self.ctrl || self.alt || self.super_;
        if !combo_held && let Some(c) = keysym_char(shifted) {
            self.typed(|text| text.push(c), at, tag, out);
            return;
        }
        let Some(key) = named(base).or_else(|| keysym_char(base).map(|c| NamedKey::Char(c.to_ascii_lowercase())))
        else {
            return;
        };
        let mut modifiers = Vec::new();
        for (held, m) in [
            (self.ctrl, Modifier::Ctrl),
            (self.alt, Modifier::Alt),
            (self.shift, Modifier::Shift),
            (self.super_, Modifier::Super),
        ] {
            if held {
                modifiers.push(m);
            }
        }
        let combo = KeyCombo { modifiers, key: Some(key) };
        if self.stop_key.as_ref().is_some_and(|s| same_combo(s, &combo)) {
            self.stopped = true;
            return;
        }
        if !combo_held {
            match key {
                NamedKey::Return => {
                    if let Some((Composed { gesture: Gesture::Type { text }, .. }, _)) = &mut self.pending {
                        text.push('\n');
                        self.flush(out);
                        return;
                    }
                }
                NamedKey::BackSpace => {
                    if let Some((Composed { gesture: Gesture::Type { text }, .. }, _)) = &mut self.pending
                        && text.pop().is_some()
                    {
                        if text.is_empty() {
                            self.pending = None;
                        }
                        return;
                    }
                }
                _ => {}
            }
        }
        self.flush(out);
        out.push(Composed { gesture: Gesture::Key { combo }, first: tag });
        let _ = at;
    }

    fn typed(&mut self, edit: impl FnOnce(&mut String), at: Instant, tag: T, out: &mut Vec<Composed<T>>) {
        if let Some((Composed { gesture: Gesture::Type { text }, .. }, t)) = &mut self.pending {
            edit(text);
            *t = at;
            return;
        }
        self.flush(out);
        let mut text = String::new();
        edit(&mut text);
        self.pending = Some((Composed { gesture: Gesture::Type { text }, first: tag }, at));
    }

    fn flush(&mut self, out: &mut Vec<Composed<T>>) {
        if let Some((c, _)) = self.pending.take() {
            out.push(c);
        }
    }

    /// Everything still pending (at the end of the demonstration).
    pub fn finish(&mut self) -> Vec<Composed<T>> {
        let mut out = Vec::new();
        if let Some((b, x, y, _, first)) = self.press.take() {
            let kind = if b == 3 { ClickKind::RightClick } else { ClickKind::Click };
            self.flush(&mut out);
            out.push(Composed { gesture: Gesture::Click { kind, x, y }, first });
        }
        self.flush(&mut out);
        out
    }
}

fn same_combo(a: &KeyCombo, b: &KeyCombo) -> bool {
    let mut ma = a.modifiers.clone();
    let mut mb = b.modifiers.clone();
    ma.sort_by_key(|m| *m as u8);
    mb.sort_by_key(|m| *m as u8);
    ma == mb && a.key == b.key
}

/// The shifted symbol: the key's second level, or the upper case of a letter.
fn shifted_keysym(k: [u32; 2]) -> u32 {
    if k[1] != 0 && k[1] != k[0] {
        return k[1];
    }
    match keysym_char(k[0]) {
        Some(c) if c.is_lowercase() => c.to_uppercase().next().map_or(k[0], |u| u as u32),
        _ => k[0],
    }
}

/// The character a keysym types, if it types one.
pub fn keysym_char(k: u32) -> Option<char> {
    match k {
        0x20..=0x7e | 0xa0..=0xff => char::from_u32(k),
        0x0100_0000..=0x0110_ffff => char::from_u32(k - 0x0100_0000),
        // Keypad digits and operators.
        0xffb0..=0xffb9 => char::from_u32(k - 0xffb0 + '0' as u32),
        0xffaa => Some('*'),
        0xffab => Some('+'),
        0xffad => Some('-'),
        0xffae => Some('.'),
        0xffaf => Some('/'),
        _ => None,
    }
}

fn named(k: u32) -> Option<NamedKey> {
    Some(match k {
        0xff0d | 0xff8d => NamedKey::Return,
        0xff1b => NamedKey::Escape,
        0xff09 | 0xfe20 => NamedKey::Tab,
        0xff08 => NamedKey::BackSpace,
        0xffff => NamedKey::Delete,
        0xff63 => NamedKey::Insert,
        0xff50 => NamedKey::Home,
        0xff57 => NamedKey::End,
        0xff55 => NamedKey::PageUp,
        0xff56 => NamedKey::PageDown,
        0xff52 => NamedKey::Up,
        0xff54 => NamedKey::Down,
        0xff51 => NamedKey::Left,
        0xff53 => NamedKey::Right,
        0x20 => NamedKey::Space,
        0xff67 => NamedKey::Menu,
        0xff61 => NamedKey::PrintScreen,
        0xffbe..=0xffd5 => NamedKey::F((k - 0xffbe + 1) as u8),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIFT: [u32; 2] = [0xffe1, 0];
    const CTRL: [u32; 2] = [0xffe3, 0];

    fn feed(events: &[Input]) -> (Vec<Gesture>, bool) {
        let mut c = Composer::new(Some(KeyCombo::parse("ctrl+alt+q").unwrap()));
        let t0 = Instant::now();
        let mut out = Vec::new();
        for (i, e) in events.iter().enumerate() {
            out.extend(c.push(e.clone(), t0 + Duration::from_millis(50 * i as u64), i));
        }
        out.extend(c.finish());
        (out.into_iter().map(|c| c.gesture).collect(), c.stopped)
    }

    fn key(k: char) -> [Input; 2] {
        let s = [k as u32, 0];
        [Input::Key { down: true, keysyms: s }, Input::Key { down: false, keysyms: s }]
    }

    #[test]
    fn clicks_double_clicks_drags_and_scrolls_are_told_apart() {
        let (g, _) = feed(&[
            Input::Press { button: 1, x: 10, y: 10 },
            Input::Release { button: 1, x: 11, y: 10 },
            Input::Press { button: 1, x: 11, y: 10 },
            Input::Release { button: 1, x: 11, y: 10 },
            Input::Press { button: 1, x: 100, y: 100 },
            Input::Release { button: 1, x: 200, y: 120 },
            Input::Press { button: 5, x: 50, y: 50 },
            Input::Press { button: 5, x: 50, y: 50 },
            Input::Press { button: 3, x: 5, y: 6 },
            Input::Release { button: 3, x: 5, y: 6 },
        ]);
        assert_eq!(
            g,
            vec![
                Gesture::Click { kind: ClickKind::DoubleClick, x: 10, y: 10 },
                Gesture::Drag { from: (100, 100), to: (200, 120) },
                Gesture::Scroll { direction: ScrollDirection::Down, amount: 2, x: 50, y: 50 },
                Gesture::Click { kind: ClickKind::RightClick, x: 5, y: 6 },
            ]
        );
    }

    #[test]
    fn keystrokes_become_typed_text_combos_and_the_stop_key_stops() {
        let mut ev = Vec::new();
        ev.extend(key('h'));
        ev.push(Input::Key { down: true, keysyms: SHIFT });
        ev.extend(key('i'));
        ev.push(Input::Key { down: false, keysyms: SHIFT });
        ev.extend(key('x'));
        ev.extend([Input::Key { down: true, keysyms: [0xff08, 0] }]); // BackSpace removes the x
        ev.extend(key('!'));
        ev.extend([Input::Key { down: true, keysyms: [0xff0d, 0] }]); // Return ends the text
        ev.push(Input::Key { down: true, keysyms: CTRL });
        ev.extend(key('s'));
        ev.push(Input::Key { down: false, keysyms: CTRL });
        ev.extend([Input::Key { down: true, keysyms: [0xff09, 0] }]);
        ev.extend([Input::Key { down: true, keysyms: [0x0100_d55c, 0] }]); // 한
        ev.push(Input::Key { down: true, keysyms: CTRL });
        ev.push(Input::Key { down: true, keysyms: [0xffe9, 0] });
        ev.extend(key('q'));
        let (g, stopped) = feed(&ev);
        assert_eq!(
            g,
            vec![
                Gesture::Type { text: "hI!\n".into() },
                Gesture::Key { combo: KeyCombo::parse("ctrl+s").unwrap() },
                Gesture::Key { combo: KeyCombo::parse("Tab").unwrap() },
                Gesture::Type { text: "한".into() },
            ]
        );
        assert!(stopped);
    }
}
