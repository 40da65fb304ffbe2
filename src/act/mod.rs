//! act: turn an [`Action`] on a [`Scene`] into input events, and send them.
//!
//! [`resolve`] does all the thinking (which point, in which coordinate space, which events);
//! an [`Executor`] only sends events. [`DryRun`] records them instead, for tests and
//! `--dry-run`; [`EnigoExecutor`] moves the real mouse and keyboard.

mod enigo_backend;
mod pointer_sync;
pub mod typing;

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use enigo_backend::EnigoExecutor;

use crate::action::{Action, ClickKind, KeyCombo, Modifier, NamedKey, Pointer, ScrollDirection};
use crate::coords::{FrameMapping, InputPoint};
use crate::perceive::Scene;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MouseButton {
    Left,
    Right,
}

/// One input event (or a short pause between events).
#[derive(Clone, PartialEq)]
pub enum InputOp {
    MoveTo(InputPoint),
    Click {
        button: MouseButton,
        count: u8,
    },
    Down(MouseButton),
    Up(MouseButton),
    /// May hold a secret's value: never printed (see the `Debug` impl).
    Text(String),
    Key(KeyCombo),
    /// Wheel notches; positive is down / right.
    Scroll {
        vertical: i32,
        horizontal: i32,
    },
    PauseMs(u32),
    /// Wait (at most this long) until the window manager has passed the last click on to
    /// its window; see `pointer_sync`. `required`: fail if it has not (typing after an
    /// undelivered click would put the text in the wrong place).
    AwaitClickDelivered {
        max_ms: u32,
        required: bool,
    },
}

impl fmt::Debug for InputOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputOp::MoveTo(p) => write!(f, "move to ({}, {})", p.x, p.y),
            InputOp::Click { button, count } => write!(f, "click {button:?} x{count}"),
            InputOp::Down(b) => write!(f, "press {b:?}"),
            InputOp::Up(b) => write!(f, "release {b:?}"),
            InputOp::Text(t) => write!(f, "type {} characters", t.chars().count()),
            InputOp::Key(k) => write!(f, "key {k}"),
            InputOp::Scroll { vertical, horizontal } => write!(f, "scroll v{vertical} h{horizontal}"),
            InputOp::PauseMs(ms) => write!(f, "pause {ms} ms"),
            InputOp::AwaitClickDelivered { max_ms, .. } => write!(f, "await click delivery (≤ {max_ms} ms)"),
        }
    }
}

#[derive(Debug, Error)]
pub enum ActError {
    #[error("mark {0} is not on this screen")]
    NoSuchMark(u32),
    #[error("the image was not captured from a screen, so there is nowhere to act")]
    NoMapping,
    #[error("point ({x}, {y}) is off the screen")]
    OffScreen { x: i32, y: i32 },
    #[error("cannot open the display for input: {0}")]
    NoInput(String),
    #[error("input failed: {0}")]
    Input(String),
    #[error("{0}")]
    Secret(String),
}

/// Sends input events.
pub trait Executor: Send {
    fn perform(&mut self, op: &InputOp) -> Result<(), ActError>;
    /// `enigo`, `dry-run`.
    fn name(&self) -> &'static str;
    fn is_dry_run(&self) -> bool {
        false
    }
}

/// Records what it would have done.
#[derive(Debug, Default)]
pub struct DryRun {
    pub performed: Vec<InputOp>,
}

impl Executor for DryRun {
    fn perform(&mut self, op: &InputOp) -> Result<(), ActError> {
        self.performed.push(op.clone());
        Ok(())
    }
    fn name(&self) -> &'static str {
        "dry-run"
    }
    fn is_dry_run(&self) -> bool {
        true
    }
}

/// The input point for a pointer target, through the frame's coordinate mapping.
pub fn target_point(target: &Pointer, scene: &Scene, mapping: &FrameMapping) -> Result<InputPoint, ActError> {
    let (fx, fy) = match *target {
        Pointer::Mark(id) => scene.element(id).ok_or(ActError::NoSuchMark(id))?.bbox.center(),
        Pointer::Point(x, y) => (x, y),
    };
    Ok(mapping.frame_to_input(fx, fy))
}

/// The input events for an action. `expand` turns typed text into what is really typed
/// (secret placeholders → values); it runs here, at action time, and nowhere else.
pub fn resolve(
    action: &Action,
    scene: &Scene,
    mapping: Option<&FrameMapping>,
    expand: &dyn Fn(&str) -> Result<String, ActError>,
) -> Result<Vec<InputOp>, ActError> {
    if !action.touches_desktop() {
        return Ok(Vec::new());
    }
    let mapping = mapping.ok_or(ActError::NoMapping)?;
    let point = |t: &Pointer| target_point(t, scene, mapping);
    let mut ops = Vec::new();
    match action {
        Action::Pointer { kind, target } => {
            ops.push(InputOp::MoveTo(point(target)?));
            let click = match kind {
                ClickKind::Click => Some(InputOp::Click { button: MouseButton::Left, count: 1 }),
                ClickKind::DoubleClick => Some(InputOp::Click { button: MouseButton::Left, count: 2 }),
                ClickKind::RightClick => Some(InputOp::Click { button: MouseButton::Right, count: 1 }),
                ClickKind::Hover => None,
            };
            if let Some(c) = click {
                ops.push(c);
                // Short: a click that opens a menu leaves the pointer grabbed by the menu.
                ops.push(InputOp::AwaitClickDelivered { max_ms: 500, required: false });
            }
        }
        Action::Type { text, target, clear } => {
            if let Some(t) = target {
                ops.push(InputOp::MoveTo(point(t)?));
                ops.push(InputOp::Click { button: MouseButton::Left, count: 1 });
                // The click must reach the field before the first key does. A window manager
                // busy with keymap changes (every non-keyboard character typed is one) has
                // been seen to hold a click for over ten seconds.
                ops.push(InputOp::AwaitClickDelivered { max_ms: 30_000, required: true });
                ops.push(InputOp::PauseMs(30));
                if !clear {
                    // The click put the caret where it landed, perhaps mid-text: append instead.
                    ops.push(InputOp::Key(KeyCombo { modifiers: vec![], key: Some(NamedKey::End) }));
                }
            }
            if *clear {
                ops.push(InputOp::Key(KeyCombo { modifiers: vec![Modifier::Ctrl], key: Some(NamedKey::Char('a')) }));
                ops.push(InputOp::Key(KeyCombo { modifiers: vec![], key: Some(NamedKey::Delete) }));
            }
            ops.push(InputOp::Text(expand(text)?));
        }
        Action::Key { combo } => ops.push(InputOp::Key(combo.clone())),
        Action::Scroll { direction, amount, target } => {
            let at = match target {
                Some(t) => point(t)?,
                None => mapping.frame_to_input(scene.width as f64 / 2.0, scene.height as f64 / 2.0),
            };
            ops.push(InputOp::MoveTo(at));
            let n = *amount as i32;
            ops.push(match direction {
                ScrollDirection::Down => InputOp::Scroll { vertical: n, horizontal: 0 },
                ScrollDirection::Up => InputOp::Scroll { vertical: -n, horizontal: 0 },
                ScrollDirection::Right => InputOp::Scroll { vertical: 0, horizontal: n },
                ScrollDirection::Left => InputOp::Scroll { vertical: 0, horizontal: -n },
            });
        }
        Action::Drag { from, to } => {
            let (a, b) = (point(from)?, point(to)?);
            ops.push(InputOp::MoveTo(a));
            ops.push(InputOp::Down(MouseButton::Left));
            ops.push(InputOp::PauseMs(50));
            // Intermediate moves so toolkits see a drag, not a jump.
            for i in 1..=8 {
                let f = i as f64 / 8.0;
                ops.push(InputOp::MoveTo(InputPoint {
                    x: a.x + ((b.x - a.x) as f64 * f).round() as i32,
                    y: a.y + ((b.y - a.y) as f64 * f).round() as i32,
                }));
                ops.push(InputOp::PauseMs(15));
            }
            ops.push(InputOp::Up(MouseButton::Left));
            ops.push(InputOp::AwaitClickDelivered { max_ms: 500, required: false });
        }
        Action::Wait { .. }
        | Action::Done { .. }
        | Action::Fail { .. }
        | Action::AskUser { .. }
        | Action::Zoom { .. } => {}
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rect;
    use crate::coords::{InputSpace, MonitorInfo};
    use crate::perceive::{Element, ElementKind};

    fn scene() -> Scene {
        let e = Element {
            id: 1,
            bbox: Rect::new(100, 50, 20, 10),
            kind: ElementKind::Button,
            text: None,
            score: 1.0,
            source: "t".into(),
            mask: None,
            states: Vec::new(),
            path: None,
        };
        Scene { width: 400, height: 200, elements: vec![e] }
    }

    fn second_monitor_at_2x() -> FrameMapping {
        let m = MonitorInfo {
            index: 1,
            id: 2,
            name: "B".into(),
            x: -200,
            y: 0,
            width: 200,
            height: 100,
            physical_x: -400,
            physical_y: 0,
            physical_width: 400,
            physical_height: 200,
            scale_factor: 2.0,
            primary: false,
        };
        FrameMapping::new(m, 0, 0, InputSpace::Physical)
    }

    fn no_secrets(s: &str) -> Result<String, ActError> {
        Ok(s.to_string())
    }

    #[test]
    fn a_click_on_a_mark_lands_on_its_centre_through_the_monitor_mapping() {
        let s = scene();
        let a = Action::Pointer { kind: ClickKind::Click, target: Pointer::Mark(1) };
        let ops = resolve(&a, &s, Some(&second_monitor_at_2x()), &no_secrets).unwrap();
        assert_eq!(ops[0], InputOp::MoveTo(InputPoint { x: -400 + 110, y: 55 }));
        assert_eq!(ops[1], InputOp::Click { button: MouseButton::Left, count: 1 });
        let l = FrameMapping { input: InputSpace::Logical, ..second_monitor_at_2x() };
        let ops = resolve(&a, &s, Some(&l), &no_secrets).unwrap();
        assert_eq!(ops[0], InputOp::MoveTo(InputPoint { x: -200 + 55, y: 27 }));
    }

    #[test]
    fn typing_into_a_mark_clicks_it_first_and_expands_secrets_at_action_time() {
        let s = scene();
        let a = Action::Type { text: "{{secret:PW}}".into(), target: Some(Pointer::Mark(1)), clear: true };
        let expand = |t: &str| Ok(t.replace("{{secret:PW}}", "hunter2"));
        let ops = resolve(&a, &s, Some(&second_monitor_at_2x()), &expand).unwrap();
        assert_eq!(ops.last(), Some(&InputOp::Text("hunter2".into())));
        assert!(matches!(ops[1], InputOp::Click { .. }));
        assert_eq!(
            ops[2],
            InputOp::AwaitClickDelivered { max_ms: 30_000, required: true },
            "typing waits for the click"
        );
        let keys: Vec<String> =
            ops.iter().filter_map(|o| if let InputOp::Key(k) = o { Some(k.to_string()) } else { None }).collect();
        assert_eq!(keys, ["ctrl+a", "Delete"], "clear replaces what the field holds");
        let append = Action::Type { text: "x".into(), target: Some(Pointer::Mark(1)), clear: false };
        let ops = resolve(&append, &s, Some(&second_monitor_at_2x()), &expand).unwrap();
        assert!(ops.contains(&InputOp::Key(KeyCombo::parse("End").unwrap())), "typing appends at the end");
        assert_eq!(format!("{:?}", ops.last().unwrap()), "type 1 characters");
    }

    #[test]
    fn a_missing_mark_or_mapping_is_an_error_and_terminal_actions_send_nothing() {
        let s = scene();
        let a = Action::Pointer { kind: ClickKind::Click, target: Pointer::Mark(9) };
        assert!(matches!(resolve(&a, &s, Some(&second_monitor_at_2x()), &no_secrets), Err(ActError::NoSuchMark(9))));
        assert!(matches!(resolve(&a, &s, None, &no_secrets), Err(ActError::NoMapping)));
        assert!(resolve(&Action::Done { answer: None }, &s, None, &no_secrets).unwrap().is_empty());
    }

    #[test]
    fn scroll_and_drag_produce_the_expected_events() {
        let s = scene();
        let m = second_monitor_at_2x();
        let a = Action::Scroll { direction: ScrollDirection::Up, amount: 4, target: None };
        let ops = resolve(&a, &s, Some(&m), &no_secrets).unwrap();
        assert_eq!(ops[1], InputOp::Scroll { vertical: -4, horizontal: 0 });
        let d = Action::Drag { from: Pointer::Mark(1), to: Pointer::Point(300.0, 150.0) };
        let ops = resolve(&d, &s, Some(&m), &no_secrets).unwrap();
        assert_eq!(ops.first(), Some(&InputOp::MoveTo(InputPoint { x: -290, y: 55 })));
        assert!(ops.contains(&InputOp::Up(MouseButton::Left)));
        assert!(ops.contains(&InputOp::MoveTo(InputPoint { x: -100, y: 150 })));
    }
}
