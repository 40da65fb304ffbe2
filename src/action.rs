//! Actions: what the model can ask for, in a form every stage shares (decide parses it,
//! guard judges it, act performs it, record writes it, replay reads it back).
//!
//! Pointer targets are a mark id or a point in **frame pixels** (the model's point, given in
//! the sent image's space, is mapped back through [`crate::coords::Resize`] before it gets here).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The longest wait an action may ask for.
pub const MAX_WAIT_SECONDS: f64 = 60.0;
/// The most wheel notches one scroll may turn.
pub const MAX_SCROLL: u32 = 50;
/// The smallest zoom, in screen pixels on either side.
pub const MIN_ZOOM_SIDE: u32 = 16;
/// A zoom of a zoom is the deepest: a third one in a row is refused.
pub const MAX_ZOOM_DEPTH: u8 = 2;
/// The most characters one `type` may send.
pub const MAX_TYPED_CHARS: usize = 10_000;

/// Why an action from outside (a model, a recording, an edit in the app, an MCP client)
/// cannot be performed as it stands.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct OutOfBounds(pub String);

/// Seconds as a duration that never panics: NaN and negatives are zero, huge values a day.
pub fn seconds(s: f64) -> Duration {
    if s.is_finite() && s > 0.0 { Duration::from_secs_f64(s.min(86_400.0)) } else { Duration::ZERO }
}

/// Where a pointer action lands.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pointer {
    Mark(u32),
    /// Frame pixels.
    Point(f64, f64),
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pointer::Mark(m) => write!(f, "mark {m}"),
            Pointer::Point(x, y) => write!(f, "point ({x:.0}, {y:.0})"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClickKind {
    Click,
    DoubleClick,
    RightClick,
    Hover,
}

impl ClickKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ClickKind::Click => "click",
            ClickKind::DoubleClick => "double_click",
            ClickKind::RightClick => "right_click",
            ClickKind::Hover => "hover",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScrollDirection {
    Up,
    Down,
    Left,
    Right,
}

impl ScrollDirection {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "up" => Some(Self::Up),
            "down" => Some(Self::Down),
            "left" => Some(Self::Left),
            "right" => Some(Self::Right),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            ScrollDirection::Up => "up",
            ScrollDirection::Down => "down",
            ScrollDirection::Left => "left",
            ScrollDirection::Right => "right",
        }
    }
}

/// What a zoom looks at: around a mark, or a box in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoomTarget {
    Mark(u32),
    Region { x: f64, y: f64, w: f64, h: f64 },
}

impl fmt::Display for ZoomTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZoomTarget::Mark(m) => write!(f, "mark {m}"),
            ZoomTarget::Region { x, y, w, h } => write!(f, "the {w:.0}x{h:.0} box at ({x:.0}, {y:.0})"),
        }
    }
}

/// One action, validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// click, double_click, right_click or hover.
    Pointer {
        kind: ClickKind,
        target: Pointer,
    },
    /// Type text, clicking `target` first when given (the text then goes to the end of what
    /// the field holds, or replaces it with `clear`). `\n` presses Return.
    Type {
        text: String,
        target: Option<Pointer>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        clear: bool,
    },
    Key {
        combo: KeyCombo,
    },
    Scroll {
        direction: ScrollDirection,
        amount: u32,
        target: Option<Pointer>,
    },
    Drag {
        from: Pointer,
        to: Pointer,
    },
    Wait {
        seconds: f64,
    },
    Done {
        answer: Option<String>,
    },
    Fail {
        reason: String,
    },
    AskUser {
        question: String,
    },
    /// Look at part of the screen at its full resolution, marked afresh: the next step's
    /// screenshot. No input.
    Zoom {
        target: ZoomTarget,
    },
}

impl Action {
    /// The one check of an action from outside, wherever it comes from: a wait is 0 to 60
    /// seconds (longer ones are cut to 60), a scroll 1 to 50 notches, a `type` at most 10,000
    /// characters, a point finite. Performing the result is bounded in time and input.
    pub fn bounded(mut self) -> Result<Self, OutOfBounds> {
        match &mut self {
            Action::Wait { seconds } => {
                if !seconds.is_finite() || *seconds < 0.0 {
                    return Err(OutOfBounds(format!("wait {seconds} is not a number of seconds from 0 to 60")));
                }
                *seconds = seconds.min(MAX_WAIT_SECONDS);
            }
            Action::Scroll { amount, .. } => *amount = (*amount).clamp(1, MAX_SCROLL),
            Action::Type { text, .. } if text.chars().count() > MAX_TYPED_CHARS => {
                return Err(OutOfBounds(format!(
                    "type sends {} characters; at most {MAX_TYPED_CHARS} at a time",
                    text.chars().count()
                )));
            }
            _ => {}
        }
        if let Action::Zoom { target: ZoomTarget::Region { x, y, w, h } } = &self
            && !([x, y, w, h].iter().all(|v| v.is_finite()) && *w > 0.0 && *h > 0.0)
        {
            return Err(OutOfBounds(format!("zoom box [{x}, {y}, {w}, {h}] is not a box on the screen")));
        }
        for p in self.pointers() {
            if let Pointer::Point(x, y) = p
                && !(x.is_finite() && y.is_finite())
            {
                return Err(OutOfBounds(format!("point ({x}, {y}) is not on any screen")));
            }
        }
        Ok(self)
    }

    /// The name the model uses for this action.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Pointer { kind, .. } => kind.as_str(),
            Action::Type { .. } => "type",
            Action::Key { .. } => "key",
            Action::Scroll { .. } => "scroll",
            Action::Drag { .. } => "drag",
            Action::Wait { .. } => "wait",
            Action::Done { .. } => "done",
            Action::Fail { .. } => "fail",
            Action::AskUser { .. } => "ask_user",
            Action::Zoom { .. } => "zoom",
        }
    }

    /// Ends the run (done, fail) or hands over to the person (ask_user): no input event.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Action::Done { .. } | Action::Fail { .. } | Action::AskUser { .. })
    }

    /// Sends input to the desktop.
    /// Whether the action is expected to change the screen (a hover may not; a wait or the
    /// end of a run do not): settling waits for its first change.
    pub fn expects_change(&self) -> bool {
        self.touches_desktop() && !matches!(self, Action::Pointer { kind: ClickKind::Hover, .. })
    }

    pub fn touches_desktop(&self) -> bool {
        !self.is_terminal() && !matches!(self, Action::Wait { .. } | Action::Zoom { .. })
    }

    /// The marks this action refers to.
    pub fn marks(&self) -> Vec<u32> {
        self.pointers().into_iter().filter_map(|p| if let Pointer::Mark(m) = p { Some(m) } else { None }).collect()
    }

    /// Every place the action points at, in order (a drag's start, then its end).
    pub fn pointers(&self) -> Vec<Pointer> {
        let mut copy = self.clone();
        copy.pointers_mut().into_iter().map(|p| *p).collect()
    }

    /// The action's pointer targets, to rewrite (replay points them at re-found elements).
    pub fn pointers_mut(&mut self) -> Vec<&mut Pointer> {
        match self {
            Action::Pointer { target, .. } => vec![target],
            Action::Type { target, .. } | Action::Scroll { target, .. } => target.iter_mut().collect(),
            Action::Drag { from, to } => vec![from, to],
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for Action {
    /// A short line for the history the model reads and for logs. Typed text is shown as
    /// given (secrets stay placeholders: their values never reach an `Action`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Pointer { kind, target } => write!(f, "{} {target}", kind.as_str()),
            Action::Type { text, target, clear } => {
                write!(f, "type {}", short_quote(text, 80))?;
                if let Some(t) = target {
                    write!(f, " into {t}")?;
                }
                if *clear {
                    f.write_str(", replacing its text")?;
                }
                Ok(())
            }
            Action::Key { combo } => write!(f, "key {combo}"),
            Action::Scroll { direction, amount, target } => {
                write!(f, "scroll {} {amount}", direction.as_str())?;
                if let Some(t) = target {
                    write!(f, " on {t}")?;
                }
                Ok(())
            }
            Action::Drag { from, to } => write!(f, "drag {from} to {to}"),
            Action::Wait { seconds } => write!(f, "wait {seconds}s"),
            Action::Done { answer } => match answer {
                Some(a) => write!(f, "done: {}", short_quote(a, 80)),
                None => f.write_str("done"),
            },
            Action::Fail { reason } => write!(f, "fail: {}", short_quote(reason, 80)),
            Action::AskUser { question } => write!(f, "ask_user: {}", short_quote(question, 80)),
            Action::Zoom { target } => write!(f, "zoom into {target}"),
        }
    }
}

/// `"text"`, cut to `max` characters with an ellipsis.
pub fn short_quote(s: &str, max: usize) -> String {
    let cut: String = s.chars().take(max).collect();
    let cut = if cut.chars().count() < s.chars().count() { format!("{cut}…") } else { cut };
    format!("{:?}", cut)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modifier {
    Ctrl,
    Shift,
    Alt,
    Super,
}

/// A key, by xdotool-style name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamedKey {
    Return,
    Escape,
    Tab,
    BackSpace,
    Delete,
    Insert,
    Home,
    End,
    PageUp,
    PageDown,
    Up,
    Down,
    Left,
    Right,
    Space,
    Menu,
    CapsLock,
    PrintScreen,
    F(u8),
    Char(char),
}

/// A key combination: modifiers held while one key is pressed (`ctrl+shift+t`, `Return`,
/// `alt+F4`). Modifiers alone (`super`) are a key too.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyCombo {
    pub modifiers: Vec<Modifier>,
    /// `None` when the combination is modifiers only (`super`, `ctrl+shift`).
    pub key: Option<NamedKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    #[error("empty key combination")]
    Empty,
    #[error(
        "unknown key name {0:?} (use xdotool-style names such as Return, Escape, Tab, BackSpace, Delete, F5, ctrl+s)"
    )]
    Unknown(String),
    #[error("{0:?} has two non-modifier keys; press them as separate key actions")]
    TwoKeys(String),
}

impl KeyCombo {
    /// Parse `ctrl+shift+t`, `Ctrl-S`, `alt F4`, `Return`, `super`, `ctrl+plus`.
    pub fn parse(s: &str) -> Result<Self, KeyParseError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(KeyParseError::Empty);
        }
        let parts = split_combo(s);
        let mut modifiers = Vec::new();
        let mut key = None;
        for part in &parts {
            if let Some(m) = modifier(part) {
                if !modifiers.contains(&m) {
                    modifiers.push(m);
                }
                continue;
            }
            let k = named_key(part).ok_or_else(|| KeyParseError::Unknown(part.to_string()))?;
            if key.is_some() {
                return Err(KeyParseError::TwoKeys(s.to_string()));
            }
            key = Some(k);
        }
        Ok(Self { modifiers, key })
    }
}

/// Split on `+`, `-` or spaces, keeping a literal `+` / `-` key (`ctrl++`, `ctrl+-`).
fn split_combo(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut parts = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let sep = c == '+' || c == '-' || c.is_whitespace();
        if sep && !cur.is_empty() {
            parts.push(std::mem::take(&mut cur));
        } else if sep && (c == '+' || c == '-') && (i + 1 == chars.len() || chars[i + 1] == '+' || chars[i + 1] == '-')
        {
            // A separator followed by nothing (or another separator): the key itself.
            cur.push(c);
            parts.push(std::mem::take(&mut cur));
        } else if !sep {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    parts
}

fn modifier(s: &str) -> Option<Modifier> {
    match s.to_ascii_lowercase().as_str() {
        "ctrl" | "control" | "control_l" | "control_r" | "ctl" | "strg" => Some(Modifier::Ctrl),
        "shift" | "shift_l" | "shift_r" => Some(Modifier::Shift),
        "alt" | "alt_l" | "alt_r" | "option" | "opt" => Some(Modifier::Alt),
        "super" | "super_l" | "super_r" | "meta" | "win" | "windows" | "cmd" | "command" => Some(Modifier::Super),
        _ => None,
    }
}

fn named_key(s: &str) -> Option<NamedKey> {
    let mut chars = s.chars();
    if let (Some(c), None) = (chars.next(), chars.clone().next()) {
        return Some(NamedKey::Char(c));
    }
    let lower = s.to_ascii_lowercase();
    let k = match lower.as_str() {
        "return" | "enter" | "kp_enter" => NamedKey::Return,
        "escape" | "esc" => NamedKey::Escape,
        "tab" => NamedKey::Tab,
        "backspace" | "back_space" => NamedKey::BackSpace,
        "delete" | "del" => NamedKey::Delete,
        "insert" | "ins" => NamedKey::Insert,
        "home" => NamedKey::Home,
        "end" => NamedKey::End,
        "page_up" | "pageup" | "prior" | "pgup" => NamedKey::PageUp,
        "page_down" | "pagedown" | "next" | "pgdn" => NamedKey::PageDown,
        "up" | "arrowup" | "up_arrow" => NamedKey::Up,
        "down" | "arrowdown" | "down_arrow" => NamedKey::Down,
        "left" | "arrowleft" | "left_arrow" => NamedKey::Left,
        "right" | "arrowright" | "right_arrow" => NamedKey::Right,
        "space" => NamedKey::Space,
        "menu" => NamedKey::Menu,
        "caps_lock" | "capslock" => NamedKey::CapsLock,
        "print" | "printscreen" => NamedKey::PrintScreen,
        "plus" => NamedKey::Char('+'),
        "minus" => NamedKey::Char('-'),
        "comma" => NamedKey::Char(','),
        "period" => NamedKey::Char('.'),
        "slash" => NamedKey::Char('/'),
        _ => {
            let n = lower.strip_prefix('f').and_then(|n| n.parse::<u8>().ok()).filter(|n| (1..=24).contains(n))?;
            NamedKey::F(n)
        }
    };
    Some(k)
}

impl fmt::Display for KeyCombo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self
            .modifiers
            .iter()
            .map(|m| match m {
                Modifier::Ctrl => "ctrl",
                Modifier::Shift => "shift",
                Modifier::Alt => "alt",
                Modifier::Super => "super",
            })
            .map(str::to_string)
            .collect();
        if let Some(k) = self.key {
            parts.push(match k {
                NamedKey::Return => "Return".into(),
                NamedKey::Escape => "Escape".into(),
                NamedKey::Tab => "Tab".into(),
                NamedKey::BackSpace => "BackSpace".into(),
                NamedKey::Delete => "Delete".into(),
                NamedKey::Insert => "Insert".into(),
                NamedKey::Home => "Home".into(),
                NamedKey::End => "End".into(),
                NamedKey::PageUp => "Page_Up".into(),
                NamedKey::PageDown => "Page_Down".into(),
                NamedKey::Up => "Up".into(),
                NamedKey::Down => "Down".into(),
                NamedKey::Left => "Left".into(),
                NamedKey::Right => "Right".into(),
                NamedKey::Space => "space".into(),
                NamedKey::Menu => "Menu".into(),
                NamedKey::CapsLock => "Caps_Lock".into(),
                NamedKey::PrintScreen => "Print".into(),
                NamedKey::F(n) => format!("F{n}"),
                NamedKey::Char(c) => c.to_string(),
            });
        }
        f.write_str(&parts.join("+"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_from_outside_are_bounded_or_refused_with_the_reason() {
        let wait = |s: f64| Action::Wait { seconds: s }.bounded();
        assert_eq!(wait(2.5), Ok(Action::Wait { seconds: 2.5 }));
        assert_eq!(wait(1e12), Ok(Action::Wait { seconds: MAX_WAIT_SECONDS }));
        for bad in [f64::NAN, -1.0, f64::INFINITY] {
            assert!(wait(bad).unwrap_err().0.contains("not a number of seconds"), "{bad}");
        }
        let scroll = |n: u32| Action::Scroll { direction: ScrollDirection::Down, amount: n, target: None }.bounded();
        assert_eq!(scroll(4_000_000_000), scroll(MAX_SCROLL));
        assert_eq!(scroll(0), scroll(1));
        let long = Action::Type { text: "x".repeat(MAX_TYPED_CHARS + 1), target: None, clear: false };
        assert!(long.bounded().unwrap_err().0.contains("at most 10000"));
        let nowhere = Action::Pointer { kind: ClickKind::Click, target: Pointer::Point(f64::NAN, 3.0) };
        assert!(nowhere.bounded().is_err());
        let drag = Action::Drag { from: Pointer::Mark(1), to: Pointer::Point(1.0, f64::INFINITY) };
        assert!(drag.bounded().is_err());
        assert_eq!(seconds(f64::NAN), Duration::ZERO);
        assert_eq!(seconds(-3.0), Duration::ZERO);
        assert_eq!(seconds(1e300), Duration::from_secs(86_400));
    }

    fn combo(s: &str) -> String {
        KeyCombo::parse(s).unwrap().to_string()
    }

    #[test]
    fn key_combos_parse_xdotool_and_common_spellings() {
        assert_eq!(combo("ctrl+shift+t"), "ctrl+shift+t");
        assert_eq!(combo("Ctrl-S"), "ctrl+S");
        assert_eq!(combo("alt+F4"), "alt+F4");
        assert_eq!(combo("alt F4"), "alt+F4");
        assert_eq!(combo("Return"), "Return");
        assert_eq!(combo("enter"), "Return");
        assert_eq!(combo("KP_Enter"), "Return");
        assert_eq!(combo("BackSpace"), "BackSpace");
        assert_eq!(combo("Page_Down"), "Page_Down");
        assert_eq!(combo("super"), "super");
        assert_eq!(combo("ctrl++"), "ctrl++");
        assert_eq!(combo("ctrl+-"), "ctrl+-");
        assert_eq!(combo("ctrl+plus"), "ctrl++");
        assert_eq!(combo("F12"), "F12");
    }

    #[test]
    fn bad_key_combos_say_what_is_wrong() {
        assert_eq!(KeyCombo::parse(" "), Err(KeyParseError::Empty));
        assert!(matches!(KeyCombo::parse("ctrl+banana"), Err(KeyParseError::Unknown(k)) if k == "banana"));
        assert!(matches!(KeyCombo::parse("a+b"), Err(KeyParseError::TwoKeys(_))));
        assert!(matches!(KeyCombo::parse("F25"), Err(KeyParseError::Unknown(_))));
    }

    #[test]
    fn actions_serialize_with_their_type_and_round_trip() {
        let a = Action::Type { text: "Kim 김민수".into(), target: Some(Pointer::Mark(3)), clear: false };
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["type"], "type");
        assert_eq!(serde_json::from_value::<Action>(v).unwrap(), a);
        let k = Action::Key { combo: KeyCombo::parse("alt+F4").unwrap() };
        assert_eq!(serde_json::from_value::<Action>(serde_json::to_value(&k).unwrap()).unwrap(), k);
        assert_eq!(a.to_string(), "type \"Kim 김민수\" into mark 3");
    }
}
