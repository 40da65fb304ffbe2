//! guard: what the agent may do without asking — confirmation policy, risky actions,
//! repeated actions that change nothing, and secrets that must never leave the machine.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::action::{Action, KeyCombo, Modifier, NamedKey, Pointer};
use crate::perceive::{ElementKind, Scene};

/// When to ask the person before acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfirmPolicy {
    Never,
    #[default]
    Risky,
    Always,
}

impl FromStr for ConfirmPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "never" => Ok(Self::Never),
            "risky" => Ok(Self::Risky),
            "always" => Ok(Self::Always),
            other => Err(format!("unknown confirmation policy {other:?} (expected never, risky or always)")),
        }
    }
}

/// Words that make a target risky to press: closing, deleting, sending, paying, installing.
const RISKY_WORDS: &[&str] = &[
    "delete",
    "remove",
    "erase",
    "wipe",
    "format",
    "discard",
    "destroy",
    "uninstall",
    "install",
    "send",
    "submit",
    "pay",
    "purchase",
    "buy",
    "order",
    "checkout",
    "transfer",
    "confirm",
    "close",
    "quit",
    "exit",
    "shut down",
    "shutdown",
    "restart",
    "reboot",
    "log out",
    "sign out",
    "overwrite",
    "replace",
    "reset",
    "publish",
    "post",
    "삭제",
    "제거",
    "지우기",
    "보내기",
    "전송",
    "결제",
    "구매",
    "주문",
    "설치",
    "닫기",
    "종료",
    "송금",
];

const PASSWORD_WORDS: &[&str] = &["password", "passwd", "passcode", "pin", "비밀번호", "암호"];

fn has_word(text: &str, words: &[&str]) -> Option<String> {
    let lower = text.to_lowercase();
    words
        .iter()
        .find(|w| {
            if w.is_ascii() {
                // Whole words only: "pinned" is not "pin", "postcard" is not "post".
                lower
                    .split(|c: char| !c.is_alphanumeric())
                    .collect::<Vec<_>>()
                    .windows(w.split(' ').count())
                    .any(|win| win.join(" ") == **w)
            } else {
                lower.contains(*w)
            }
        })
        .map(|w| w.to_string())
}

/// Key combinations that close, quit or delete.
fn risky_combo(c: &KeyCombo) -> bool {
    let m = |x| c.modifiers.contains(&x);
    let key = c.key.map(|k| match k {
        NamedKey::Char(ch) => NamedKey::Char(ch.to_ascii_lowercase()),
        other => other,
    });
    match key {
        Some(NamedKey::F(4)) if m(Modifier::Alt) || m(Modifier::Ctrl) => true,
        Some(NamedKey::Delete) => true,
        Some(NamedKey::Char('w' | 'q')) if m(Modifier::Ctrl) => true,
        Some(NamedKey::BackSpace) if m(Modifier::Ctrl) && m(Modifier::Alt) => true,
        Some(NamedKey::Char('d')) if m(Modifier::Ctrl) && m(Modifier::Shift) => true,
        _ => false,
    }
}

/// The text that describes an element: its own, and the nearest label just left of it and
/// just above it (a field's label sits on either side). Other fields are not labels: what
/// they hold is content.
fn describing_text(scene: &Scene, id: u32) -> Vec<String> {
    let Some(e) = scene.element(id) else { return Vec::new() };
    let mut out: Vec<String> = e.text.iter().cloned().collect();
    let labels = || {
        scene
            .elements
            .iter()
            .filter(|o| o.id != id && o.text.is_some())
            .filter(|o| !matches!(o.kind, ElementKind::TextField | ElementKind::ComboBox))
    };
    let distance = |o: &&crate::perceive::Element| o.bbox.gap_x(&e.bbox).max(0) + o.bbox.gap_y(&e.bbox).max(0);
    let left = labels()
        .filter(|o| o.bbox.right() <= e.bbox.x + 4 && e.bbox.x - o.bbox.right() < 250 && o.bbox.overlap_y(&e.bbox) > 0)
        .min_by_key(distance);
    let above = labels()
        .filter(|o| o.bbox.bottom() <= e.bbox.y + 4 && e.bbox.y - o.bbox.bottom() < 40 && o.bbox.gap_x(&e.bbox) <= 0)
        .min_by_key(distance);
    for o in [left, above].into_iter().flatten() {
        out.extend(o.text.clone());
    }
    out
}

/// Is mark `id` a password field: one its application says is (a "password text"), a text
/// field showing only bullets, or one labelled with a password word?
pub fn is_password_field(scene: &Scene, id: u32) -> bool {
    let Some(e) = scene.element(id) else { return false };
    if e.has(crate::perceive::State::Password) {
        return true;
    }
    if e.kind != ElementKind::TextField {
        return false;
    }
    let bullets = e.text.as_deref().is_some_and(|t| {
        let t = t.trim();
        t.chars().count() >= 2 && t.chars().all(|c| matches!(c, '•' | '●' | '*' | '∙' | '·' | '⏺'))
    });
    bullets || describing_text(scene, id).iter().any(|t| has_word(t, PASSWORD_WORDS).is_some())
}

/// Does the action press Return (a key, or a line break in typed text): what activates a
/// form's default button?
fn presses_return(action: &Action) -> bool {
    match action {
        Action::Key { combo } => combo.key == Some(NamedKey::Return),
        Action::Type { text, .. } => text.contains(['\n', '\r']),
        _ => false,
    }
}

/// Words of a button that Return would press to do something that cannot be taken back
/// (closing a window is not among them: Return in a dialog whose button says Close is not
/// a risk).
fn submitting_button(scene: &Scene) -> Option<(u32, String, String)> {
    scene.elements.iter().filter(|e| e.kind == ElementKind::Button).find_map(|e| {
        let text = e.text.as_deref()?;
        let w = has_word(text, RISKY_WORDS)
            .filter(|w| !matches!(w.as_str(), "close" | "quit" | "exit" | "닫기" | "종료"))?;
        Some((e.id, text.to_string(), w))
    })
}

/// Why an action is risky, if it is.
pub fn risk(action: &Action, scene: &Scene) -> Option<String> {
    match action {
        Action::Key { combo } if risky_combo(combo) => Some(format!("the key combination {combo} closes or deletes")),
        // Whatever it is typed into: a secret leaves the task for the screen (a prompt
        // injection on screen would ask for "{{secret:PW}} in the comment box").
        Action::Type { text, .. } if text.contains("{{secret:") => Some("typing a secret".into()),
        // Return does what the form's button does: judged as a click on "Send" would be.
        a if presses_return(a)
            && let Some((id, text, w)) = submitting_button(scene) =>
        {
            let how = if matches!(a, Action::Key { .. }) { "pressing Return" } else { "typing a line break" };
            Some(format!("{how} submits the form, and mark {id} says {text:?} ({w})"))
        }
        // Ctrl+A, Delete to whatever has the focus (a file manager: every file).
        Action::Type { target: None, clear: true, .. } => {
            Some("clearing whatever has the keyboard focus (no field named)".into())
        }
        Action::Pointer { kind, target } if !matches!(kind, crate::action::ClickKind::Hover) => {
            let id = element_under(scene, target)?;
            let text = scene.element(id)?.text.as_deref()?;
            let what = match target {
                Pointer::Mark(_) => format!("mark {id}"),
                Pointer::Point(..) => format!("the {target} is on mark {id}, which"),
            };
            has_word(text, RISKY_WORDS).map(|w| format!("{what} says {text:?} ({w})"))
        }
        Action::Type { target: Some(target), .. } => {
            let id = element_under(scene, target)?;
            let texts = describing_text(scene, id);
            let is_field = scene.element(id).is_some_and(|e| e.kind == ElementKind::TextField);
            texts
                .iter()
                .find_map(|t| has_word(t, PASSWORD_WORDS))
                .filter(|_| is_field || !texts.is_empty())
                .map(|w| format!("typing into a {w} field"))
        }
        Action::Drag { .. } => None,
        _ => None,
    }
}

/// The mark a pointer lands on: the mark itself, or the smallest mark holding the point (a
/// model answering with coordinates is judged as if it had named that mark).
pub fn element_under(scene: &Scene, p: &Pointer) -> Option<u32> {
    match *p {
        Pointer::Mark(id) => Some(id),
        Pointer::Point(x, y) => {
            scene.elements.iter().filter(|e| e.bbox.contains_point(x, y)).min_by_key(|e| e.bbox.area()).map(|e| e.id)
        }
    }
}

/// Does this action need the person's yes under this policy? Returns the reason.
pub fn needs_confirmation(policy: ConfirmPolicy, action: &Action, scene: &Scene) -> Option<String> {
    match policy {
        ConfirmPolicy::Never => None,
        _ if !action.touches_desktop() => None,
        ConfirmPolicy::Always => Some(risk(action, scene).unwrap_or_else(|| "every action is confirmed".into())),
        ConfirmPolicy::Risky => risk(action, scene),
    }
}

pub use crate::secrets::Secrets;

/// Spots the model repeating an action that changes nothing.
#[derive(Debug, Default, Clone)]
pub struct RepeatTracker {
    last: Option<Action>,
    unchanged_repeats: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepeatVerdict {
    Fine,
    /// Tell the model in the next prompt.
    Warn(String),
    /// Stop the run.
    Stop(String),
}

impl RepeatTracker {
    pub fn observe(&mut self, action: &Action, screen_changed: bool) -> RepeatVerdict {
        let same = self.last.as_ref() == Some(action);
        self.last = Some(action.clone());
        if screen_changed || !same {
            self.unchanged_repeats = 0;
            return RepeatVerdict::Fine;
        }
        self.unchanged_repeats += 1;
        let what = action.to_string();
        if self.unchanged_repeats >= 2 {
            RepeatVerdict::Stop(format!("the model repeated \"{what}\" three times and the screen did not change"))
        } else {
            RepeatVerdict::Warn(format!(
                "Note: \"{what}\" was done twice and the screen did not change. Do something different, or answer fail."
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rect;
    use crate::action::ClickKind;
    use crate::perceive::Element;

    fn el(id: u32, kind: ElementKind, text: Option<&str>, bbox: Rect) -> Element {
        Element::simple(id, kind, text, bbox, "t")
    }

    fn scene() -> Scene {
        Scene {
            width: 800,
            height: 600,
            elements: vec![
                el(1, ElementKind::Button, Some("Delete file"), Rect::new(10, 10, 80, 20)),
                el(2, ElementKind::Button, Some("Open"), Rect::new(100, 10, 80, 20)),
                el(3, ElementKind::Text, Some("Password:"), Rect::new(10, 50, 70, 16)),
                el(4, ElementKind::TextField, None, Rect::new(90, 48, 200, 22)),
                el(5, ElementKind::Button, Some("Pinned items"), Rect::new(10, 90, 80, 20)),
                el(6, ElementKind::Button, Some("보내기"), Rect::new(100, 90, 80, 20)),
            ],
        }
    }

    fn click(id: u32) -> Action {
        Action::Pointer { kind: ClickKind::Click, target: Pointer::Mark(id) }
    }

    #[test]
    fn points_secrets_and_blind_clears_are_judged_by_what_they_do() {
        let s = scene();
        let click_at = |x, y| Action::Pointer { kind: ClickKind::Click, target: Pointer::Point(x, y) };
        // A point on "Delete file" is as risky as its mark; a point on "Open" or on nothing is not.
        let r = risk(&click_at(50.0, 20.0), &s).expect("a point on Delete file");
        assert!(r.contains("mark 1") && r.contains("Delete file"), "{r}");
        assert_eq!(risk(&click_at(140.0, 20.0), &s), None);
        assert_eq!(risk(&click_at(700.0, 500.0), &s), None);
        // Typing at a point inside the password field asks, as typing into its mark does.
        let typed_at = Action::Type { text: "x".into(), target: Some(Pointer::Point(150.0, 58.0)), clear: false };
        assert!(risk(&typed_at, &s).unwrap().contains("password"));
        // A secret asks wherever it goes: into an ordinary field ("Open" is a button, mark 2).
        for target in [Some(Pointer::Mark(2)), Some(Pointer::Point(140.0, 20.0)), None] {
            let a = Action::Type { text: "{{secret:PW}}".into(), target, clear: false };
            assert_eq!(risk(&a, &s).as_deref(), Some("typing a secret"), "{a:?}");
        }
        // Clearing with no field named would select and delete whatever has the focus.
        let blind = Action::Type { text: "new".into(), target: None, clear: true };
        assert!(risk(&blind, &s).unwrap().contains("keyboard focus"));
        let named = Action::Type { text: "new".into(), target: Some(Pointer::Mark(2)), clear: true };
        assert_eq!(risk(&named, &s), None);
    }

    #[test]
    fn return_is_judged_by_the_button_it_would_press() {
        let enter = Action::Key { combo: KeyCombo::parse("Return").unwrap() };
        let ctrl_enter = Action::Key { combo: KeyCombo::parse("ctrl+Return").unwrap() };
        let line = Action::Type { text: "hello\n".into(), target: Some(Pointer::Mark(4)), clear: false };
        // The form's buttons say "Delete file" and "보내기" (send): Return asks, as a click on them does.
        for a in [&enter, &ctrl_enter, &line] {
            let r = risk(a, &scene()).unwrap_or_else(|| panic!("{a:?} is not risky"));
            assert!(r.contains("submits the form") && r.contains("Delete file"), "{r}");
        }
        // A form whose buttons only open or close: Return is an ordinary key.
        let mut calm = scene();
        calm.elements.retain(|e| ![1, 6].contains(&e.id));
        calm.elements.push(el(7, ElementKind::Button, Some("Close"), Rect::new(200, 90, 80, 20)));
        for a in [&enter, &ctrl_enter] {
            assert_eq!(risk(a, &calm), None, "{a:?}");
        }
        let plain = Action::Type { text: "hello\n".into(), target: Some(Pointer::Mark(2)), clear: false };
        assert_eq!(risk(&plain, &calm), None);
        // "Delete" as text, not a button, is no reason.
        calm.elements.push(el(8, ElementKind::Text, Some("Delete old files"), Rect::new(10, 200, 80, 20)));
        assert_eq!(risk(&enter, &calm), None);
    }

    #[test]
    fn risky_actions_are_recognised() {
        let s = scene();
        assert!(risk(&click(1), &s).unwrap().contains("Delete file"));
        assert!(risk(&click(2), &s).is_none());
        assert!(risk(&click(5), &s).is_none(), "whole words only");
        assert!(risk(&click(6), &s).is_some(), "Korean words too");
        let typing = Action::Type { text: "x".into(), target: Some(Pointer::Mark(4)), clear: false };
        assert!(risk(&typing, &s).unwrap().contains("password"));
        for k in ["alt+F4", "ctrl+w", "Delete", "ctrl+Q"] {
            assert!(risk(&Action::Key { combo: KeyCombo::parse(k).unwrap() }, &s).is_some(), "{k}");
        }
        assert!(risk(&Action::Key { combo: KeyCombo::parse("ctrl+s").unwrap() }, &s).is_none());
    }

    #[test]
    fn the_policy_decides_what_is_asked() {
        let s = scene();
        assert!(needs_confirmation(ConfirmPolicy::Never, &click(1), &s).is_none());
        assert!(needs_confirmation(ConfirmPolicy::Risky, &click(1), &s).is_some());
        assert!(needs_confirmation(ConfirmPolicy::Risky, &click(2), &s).is_none());
        assert!(needs_confirmation(ConfirmPolicy::Always, &click(2), &s).is_some());
        assert!(needs_confirmation(ConfirmPolicy::Always, &Action::Done { answer: None }, &s).is_none());
    }

    #[test]
    fn repeating_an_action_that_changes_nothing_warns_then_stops() {
        let mut r = RepeatTracker::default();
        assert_eq!(r.observe(&click(2), false), RepeatVerdict::Fine);
        assert!(matches!(r.observe(&click(2), false), RepeatVerdict::Warn(_)));
        assert!(matches!(r.observe(&click(2), false), RepeatVerdict::Stop(_)));
        let mut r = RepeatTracker::default();
        r.observe(&click(2), false);
        assert_eq!(r.observe(&click(2), true), RepeatVerdict::Fine, "a change resets");
        assert_eq!(r.observe(&click(3), false), RepeatVerdict::Fine);
    }

    #[test]
    fn a_password_field_is_known_by_its_label_even_below_a_filled_field() {
        let s = Scene {
            width: 400,
            height: 200,
            elements: vec![
                el(1, ElementKind::Text, Some("City"), Rect::new(10, 20, 40, 14)),
                el(2, ElementKind::TextField, Some("Seoul"), Rect::new(80, 12, 160, 30)),
                el(3, ElementKind::Text, Some("Password"), Rect::new(10, 60, 70, 14)),
                el(4, ElementKind::TextField, None, Rect::new(80, 50, 160, 30)),
                el(5, ElementKind::TextField, Some("●●●●"), Rect::new(80, 100, 160, 30)),
            ],
        };
        assert!(!is_password_field(&s, 2));
        assert!(is_password_field(&s, 4), "the label on its left, not the field above it");
        assert!(is_password_field(&s, 5), "bullets");
        assert!(!is_password_field(&s, 3), "a label is not a field");
        let mut s = s;
        s.elements[1].states = vec![crate::perceive::State::Password];
        assert!(is_password_field(&s, 2), "the application says so, whatever its label");
    }
}
