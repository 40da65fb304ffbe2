//! Secrets: `{{secret:NAME}}` placeholders, their values (from the environment, read only
//! when typed), and the one redaction applied to everything a run writes or sends.
//!
//! A value never leaves the machine: not in the element table (text read off a field it was
//! typed into), not in a screenshot (the field is painted over before marking), not in what a
//! recording, an event or a report holds (every string is redacted on the way out).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use image::{Rgba, RgbaImage};
use serde_json::Value;

use crate::act::ActError;
use crate::action::Action;
use crate::geometry::Rect;
use crate::perceive::{ElementKind, Scene, State};

const OPEN: &str = "{{secret:";

/// The shortest value redacted: shorter ones would match ordinary text everywhere.
const MIN_VALUE_CHARS: usize = 3;
/// Strings longer than this are matched exactly only (fuzzy matching is for text read off
/// the screen, which is short).
const FUZZY_MAX_CHARS: usize = 512;

/// `{{secret:NAME}}` placeholders in a task: values come from the environment variable NAME,
/// read when an action types them, never sent to the model, logged or recorded.
///
/// Clones share what they learn: the fields a secret was typed into.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    pub names: BTreeSet<String>,
    held: Arc<Mutex<Vec<Held>>>,
}

impl PartialEq for Secrets {
    fn eq(&self, other: &Self) -> bool {
        self.names == other.names
    }
}

impl Eq for Secrets {}

/// A field that shows a secret typed into it (it does not mask it), in frame pixels of a
/// frame of that size.
#[derive(Debug, Clone, PartialEq)]
struct Held {
    name: String,
    bbox: Rect,
    frame: (u32, u32),
}

fn placeholders(text: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find(OPEN) {
        let start = from + i;
        let Some(j) = text[start..].find("}}") else { break };
        let name = text[start + OPEN.len()..start + j].trim().to_string();
        out.push((start, start + j + 2, name));
        from = start + j + 2;
    }
    out
}

/// The placeholder standing for secret `name`.
pub fn placeholder(name: &str) -> String {
    format!("{OPEN}{name}}}}}")
}

impl Secrets {
    pub fn from_task(task: &str) -> Self {
        Self::named(placeholders(task).into_iter().map(|(_, _, n)| n))
    }

    pub fn named(names: impl IntoIterator<Item = String>) -> Self {
        Self { names: names.into_iter().collect(), held: Default::default() }
    }

    /// The names a text's placeholders use.
    pub fn used_in(text: &str) -> BTreeSet<String> {
        placeholders(text).into_iter().map(|(_, _, n)| n).collect()
    }

    /// Every secret the task names must be set before the run starts.
    pub fn check(&self) -> Result<(), String> {
        let missing: Vec<&str> =
            self.names.iter().filter(|n| std::env::var_os(n.as_str()).is_none()).map(String::as_str).collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the task uses {} but the environment does not set {}",
                missing.iter().map(|n| placeholder(n)).collect::<Vec<_>>().join(", "),
                missing.join(", ")
            ))
        }
    }

    /// Replace placeholders with their values. Only secrets named in the task can be typed:
    /// a model (or text on the screen) cannot ask for some other environment variable.
    pub fn expand(&self, text: &str) -> Result<String, ActError> {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for (start, end, name) in placeholders(text) {
            out.push_str(&text[last..start]);
            if !self.names.contains(&name) {
                return Err(ActError::Secret(format!(
                    "the model asked to type {}, which the task does not name",
                    placeholder(&name)
                )));
            }
            let value = std::env::var(&name)
                .map_err(|_| ActError::Secret(format!("the environment variable {name} is not set")))?;
            out.push_str(&value);
            last = end;
        }
        out.push_str(&text[last..]);
        Ok(out)
    }

    /// The values to look for, longest first (a value inside another is replaced after it).
    fn values(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .names
            .iter()
            .filter_map(|n| std::env::var(n).ok().map(|v| (n.clone(), v)))
            .filter(|(_, v)| v.chars().count() >= MIN_VALUE_CHARS)
            .collect();
        v.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        v
    }

    /// Replace any secret value found in `text` by its placeholder (for anything written
    /// out or sent). Text read off the screen may hold the value with a misread character or
    /// two: values of six characters or more are also found with one edit (twelve or more:
    /// two).
    pub fn redact(&self, text: &str) -> String {
        redact_with(&self.values(), text)
    }

    /// [`Secrets::redact`] of every string in a JSON value (a step line, `run.json`, an
    /// event), keys included.
    pub fn redact_json(&self, value: &mut Value) {
        let values = self.values();
        if !values.is_empty() {
            redact_value(&values, value);
        }
    }

    /// An action with every text it carries redacted (a model that read a value somewhere
    /// repeats it in its answer or its reason).
    pub fn redact_action(&self, action: &Action) -> Action {
        let values = self.values();
        if values.is_empty() {
            return action.clone();
        }
        let r = |s: &String| redact_with(&values, s);
        match action {
            Action::Type { text, target, clear } => Action::Type { text: r(text), target: *target, clear: *clear },
            Action::Done { answer } => Action::Done { answer: answer.as_ref().map(r) },
            Action::Fail { reason } => Action::Fail { reason: r(reason) },
            Action::AskUser { question } => Action::AskUser { question: r(question) },
            other => other.clone(),
        }
    }

    /// A secret was typed into the field with box `bbox` (frame pixels of a `frame`-sized
    /// frame), which shows what it holds: later screens paint that field over.
    pub fn hold(&self, text: &str, bbox: Rect, frame: (u32, u32)) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        for name in Self::used_in(text) {
            let h = Held { name, bbox, frame };
            if !held.contains(&h) {
                held.push(h);
            }
        }
    }

    /// What a performed action typed, and where: a secret typed into a field that shows what
    /// it holds (not a password field) holds that field ([`Secrets::hold`]); a field cleared
    /// and given other text is free again. With no field named, the field the application
    /// says has the focus (when its tree was read) is the one typed into.
    pub fn note_typed(&self, action: &Action, scene: &Scene) {
        let Action::Type { text, target, clear } = action else { return };
        let id = match target {
            Some(t) => crate::guard::element_under(scene, t),
            None => scene.elements.iter().find(|e| e.has(State::Focused)).map(|e| e.id),
        };
        let Some(e) = id.and_then(|id| scene.element(id)) else { return };
        let frame = (scene.width, scene.height);
        if !Self::used_in(text).is_empty() {
            if !crate::guard::is_password_field(scene, e.id) {
                self.hold(text, e.bbox, frame);
            }
        } else if *clear {
            self.release(e.bbox, frame);
        }
    }

    /// The field with box `bbox` was cleared and given text without a secret.
    pub fn release(&self, bbox: Rect, frame: (u32, u32)) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.retain(|h| !(h.frame == frame && strict_iou(&h.bbox, &bbox) >= 0.5));
    }

    /// Take every secret out of a perceived screen before anyone sees it: element text (and
    /// tree paths) holding a value gets the placeholder instead, the fields a secret was typed
    /// into read as the placeholder. Returns the boxes to paint over ([`paint_over`]) in the
    /// frame: none when there is nothing to hide.
    pub fn conceal(&self, scene: &mut Scene) -> Vec<Rect> {
        let values = self.values();
        let held: Vec<Held> = {
            let h = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            h.iter().filter(|h| h.frame == (scene.width, scene.height)).cloned().collect()
        };
        if values.is_empty() && held.is_empty() {
            return Vec::new();
        }
        let mut paint: Vec<Rect> = Vec::new();
        for e in &mut scene.elements {
            if let Some(t) = &e.text {
                let r = redact_with(&values, t);
                if r != *t {
                    e.text = Some(r);
                    paint.push(e.bbox);
                }
            }
            if let Some(p) = &e.path {
                e.path = Some(redact_with(&values, p));
            }
            // The field itself, or what was read inside it; not the dialog around it.
            let area = e.bbox.area().max(1) as f64;
            for h in &held {
                let inside = e.bbox.intersection(&h.bbox).area() as f64 / area;
                if inside >= 0.5 && e.bbox.area() <= h.bbox.area().saturating_mul(4) {
                    let is_text = e.text.is_some() || matches!(e.kind, ElementKind::TextField | ElementKind::ComboBox);
                    if is_text {
                        e.text = Some(placeholder(&h.name));
                    }
                    paint.push(e.bbox);
                    paint.push(h.bbox);
                }
            }
        }
        paint.sort();
        paint.dedup();
        paint
    }
}

fn redact_value(values: &[(String, String)], v: &mut Value) {
    match v {
        Value::String(s) => {
            let r = redact_with(values, s);
            if r != *s {
                *s = r;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| redact_value(values, x)),
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let r = redact_with(values, &k);
                if r != k
                    && let Some(x) = m.remove(&k)
                {
                    m.insert(r.clone(), x);
                }
                if let Some(x) = m.get_mut(&r) {
                    redact_value(values, x);
                }
            }
        }
        _ => {}
    }
}

fn redact_with(values: &[(String, String)], text: &str) -> String {
    let mut out = text.to_string();
    for (name, value) in values {
        if out.contains(value.as_str()) {
            out = replace_outside_placeholders(&out, value, &placeholder(name));
        }
        let chars = value.chars().count();
        let edits = if chars >= 12 {
            2
        } else if chars >= 6 {
            1
        } else {
            0
        };
        if edits > 0 && out.chars().count() <= FUZZY_MAX_CHARS {
            // Each replacement removes a stretch that is not a placeholder: this ends.
            while let Some((a, b)) = near_match(&out, value, edits) {
                out.replace_range(a..b, &placeholder(name));
            }
        }
    }
    out
}

/// `text` with `value` replaced by `with` wherever it is not part of a placeholder (a value
/// that is also in a secret's name is not replaced inside its placeholder: redacting twice
/// changes nothing).
fn replace_outside_placeholders(text: &str, value: &str, with: &str) -> String {
    let protected: Vec<(usize, usize)> = placeholders(text).into_iter().map(|(a, b, _)| (a, b)).collect();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, _) in text.match_indices(value) {
        let end = i + value.len();
        if i < last || protected.iter().any(|&(a, b)| i < b && a < end) {
            continue;
        }
        out.push_str(&text[last..i]);
        out.push_str(with);
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

/// The byte range of the stretch of `text` closest to `value`, if it is within `edits`
/// edits (the fewest edits, then the length nearest the value's, then the earliest), never
/// overlapping a placeholder.
fn near_match(text: &str, value: &str, edits: usize) -> Option<(usize, usize)> {
    let t: Vec<(usize, char)> = text.char_indices().collect();
    let v: Vec<char> = value.chars().collect();
    let n = v.len();
    let protected: Vec<(usize, usize)> = placeholders(text).into_iter().map(|(a, b, _)| (a, b)).collect();
    let end_of = |i: usize| t.get(i).map_or(text.len(), |(b, _)| *b);
    // (edits, length off, start) → byte range
    type Ranked = ((usize, usize, usize), (usize, usize));
    let mut best: Option<Ranked> = None;
    for start in 0..t.len() {
        for len in n.saturating_sub(edits).max(1)..=n + edits {
            if start + len > t.len() {
                break;
            }
            let (a, b) = (t[start].0, end_of(start + len));
            if protected.iter().any(|&(pa, pb)| a < pb && pa < b) {
                continue;
            }
            let window: Vec<char> = t[start..start + len].iter().map(|(_, c)| *c).collect();
            if let Some(d) = distance_within(&window, &v, edits) {
                let key = (d, len.abs_diff(n), start);
                if best.is_none_or(|(k, _)| key < k) {
                    best = Some((key, (a, b)));
                }
            }
        }
    }
    best.map(|(_, r)| r)
}

/// The Levenshtein distance of `a` and `b`, if it is at most `k`.
fn distance_within(a: &[char], b: &[char], k: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > k {
        return None;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        let mut row_best = cur[0];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            row_best = row_best.min(cur[j + 1]);
        }
        if row_best > k {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(prev[b.len()]).filter(|d| *d <= k)
}

fn strict_iou(a: &Rect, b: &Rect) -> f64 {
    let inter = a.intersection(b).area() as f64;
    let union = a.area() as f64 + b.area() as f64 - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Paint boxes over, each with its most common colour (the field's background), keeping a
/// two-pixel edge (the field's border) when the box is big enough to have one.
pub fn paint_over(image: &mut RgbaImage, boxes: &[Rect]) {
    for b in boxes {
        paint_box(image, b);
    }
}

fn paint_box(image: &mut RgbaImage, b: &Rect) {
    let inner = if b.w > 8 && b.h > 8 { b.inflate(-2) } else { *b };
    let r = inner.clamp_to(image.width(), image.height());
    if r.is_empty() {
        return;
    }
    let (x0, y0) = (r.x as u32, r.y as u32);
    let mut counts: std::collections::HashMap<[u8; 3], u32> = Default::default();
    for y in y0..y0 + r.h {
        for x in x0..x0 + r.w {
            let p = image.get_pixel(x, y).0;
            *counts.entry([p[0] & 0xf0, p[1] & 0xf0, p[2] & 0xf0]).or_default() += 1;
        }
    }
    let mode = counts.into_iter().max_by_key(|(k, n)| (*n, *k)).map(|(k, _)| k).unwrap_or([255, 255, 255]);
    // The exact colour of the first pixel in the most common bucket.
    let mut fill = Rgba([mode[0], mode[1], mode[2], 255]);
    'find: for y in y0..y0 + r.h {
        for x in x0..x0 + r.w {
            let p = image.get_pixel(x, y).0;
            if [p[0] & 0xf0, p[1] & 0xf0, p[2] & 0xf0] == mode {
                fill = Rgba([p[0], p[1], p[2], 255]);
                break 'find;
            }
        }
    }
    for y in y0..y0 + r.h {
        for x in x0..x0 + r.w {
            image.put_pixel(x, y, fill);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Pointer;
    use crate::perceive::Element;

    fn set(name: &str, value: &str) {
        // Each test uses names no other test reads.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var(name, value)
        };
    }

    fn el(id: u32, kind: ElementKind, text: Option<&str>, bbox: Rect) -> Element {
        Element::simple(id, kind, text, bbox, "test")
    }

    #[test]
    fn secrets_expand_only_when_the_task_names_them() {
        let name = "MARKPILOT_TEST_SECRET_EXPAND";
        set(name, "hunter2");
        let s = Secrets::from_task(&format!("log in with {{{{secret:{name}}}}}"));
        assert!(s.check().is_ok());
        assert_eq!(s.expand(&format!("pw: {{{{secret:{name}}}}}!")).unwrap(), "pw: hunter2!");
        assert!(s.expand("{{secret:HOME}}").is_err(), "only named secrets");
        assert_eq!(s.redact("I typed hunter2"), format!("I typed {{{{secret:{name}}}}}"));
        let missing = Secrets::from_task("{{secret:MARKPILOT_TEST_SURELY_UNSET}}");
        assert!(missing.check().unwrap_err().contains("MARKPILOT_TEST_SURELY_UNSET"));
    }

    #[test]
    fn a_value_misread_by_a_character_or_two_is_still_redacted() {
        let name = "MARKPILOT_TEST_SECRET_FUZZY";
        set(name, "correct-horse-7");
        let s = Secrets::from_task(&placeholder(name));
        let p = placeholder(name);
        assert_eq!(s.redact("City: correct-horse-7"), format!("City: {p}"));
        assert_eq!(s.redact("City: correcl-horse-7 ok"), format!("City: {p} ok"), "one misread character");
        assert_eq!(s.redact("corect-horse-1"), p, "two edits on a long value");
        assert_eq!(s.redact("an unrelated line"), "an unrelated line");
        assert_eq!(s.redact(&format!("{p} and correct-horse-7")), format!("{p} and {p}"));
    }

    #[test]
    fn redacting_twice_changes_nothing_even_when_the_value_is_in_the_name() {
        let name = "MARKPILOT_TEST_SECRET_KIM";
        set(name, "KIM");
        let s = Secrets::from_task(&placeholder(name));
        let once = s.redact("user KIM logged in");
        assert_eq!(once, format!("user {} logged in", placeholder(name)));
        assert_eq!(s.redact(&once), once);
    }

    #[test]
    fn short_values_are_matched_exactly_and_tiny_ones_not_at_all() {
        let (a, b) = ("MARKPILOT_TEST_SECRET_SHORT", "MARKPILOT_TEST_SECRET_TINY");
        set(a, "4711");
        set(b, "ab");
        let s = Secrets::from_task(&format!("{} {}", placeholder(a), placeholder(b)));
        assert_eq!(s.redact("PIN 4711, not 4712"), format!("PIN {}, not 4712", placeholder(a)));
        assert_eq!(s.redact("about"), "about", "two characters would match everywhere");
    }

    #[test]
    fn every_string_of_a_json_document_is_redacted_keys_included() {
        let name = "MARKPILOT_TEST_SECRET_JSON";
        set(name, "s3cret-value");
        let s = Secrets::from_task(&placeholder(name));
        let mut v = serde_json::json!({"a": ["x s3cret-value y", 3], "s3cret-value": {"b": "s3cret-value"}});
        s.redact_json(&mut v);
        let text = v.to_string();
        assert!(!text.contains("s3cret-value"), "{text}");
        assert_eq!(v["a"][1], 3);
    }

    #[test]
    fn a_field_holding_a_typed_secret_reads_as_its_placeholder_and_is_painted_over() {
        let name = "MARKPILOT_TEST_SECRET_HELD";
        set(name, "zq-unreadable-by-ocr");
        let s = Secrets::from_task(&placeholder(name));
        let field = Rect::new(20, 20, 100, 24);
        let mut scene = Scene {
            width: 200,
            height: 100,
            elements: vec![
                el(1, ElementKind::TextField, Some("garbled ocr"), field),
                el(2, ElementKind::Text, Some("City"), Rect::new(20, 60, 40, 16)),
                el(3, ElementKind::Other, None, Rect::new(0, 0, 200, 100)),
            ],
        };
        let mut image = RgbaImage::from_pixel(200, 100, Rgba([250, 250, 250, 255]));
        for x in 30..60 {
            image.put_pixel(x, 30, Rgba([0, 0, 0, 255]));
        }
        // Nothing is held yet and the value is not on screen: nothing changes.
        let before = scene.clone();
        assert!(s.conceal(&mut scene).is_empty());
        assert_eq!(scene, before);

        s.hold(&placeholder(name), field, (200, 100));
        let clone = s.clone();
        let boxes = clone.conceal(&mut scene);
        assert!(!boxes.is_empty(), "clones share the held fields");
        paint_over(&mut image, &boxes);
        assert_eq!(scene.elements[0].text.as_deref(), Some(placeholder(name).as_str()));
        assert_eq!(scene.elements[1].text.as_deref(), Some("City"), "other elements keep their text");
        assert!(scene.elements[2].text.is_none(), "the dialog around the field is not the field");
        assert_eq!(image.get_pixel(40, 30).0, [250, 250, 250, 255], "the field's text is painted over");

        // Another frame size: the box means nothing there.
        let mut other = Scene { width: 300, ..before.clone() };
        assert!(s.conceal(&mut other).is_empty());

        // Cleared and given other text: the field is free again.
        s.release(field, (200, 100));
        let mut again = before.clone();
        assert!(s.conceal(&mut again).is_empty());
        assert_eq!(again, before);
    }

    fn field(id: u32, states: Vec<State>, y: i32) -> Element {
        Element { states, ..Element::simple(id, ElementKind::TextField, Some("shown"), Rect::new(10, y, 200, 24), "t") }
    }

    #[test]
    fn the_field_a_secret_went_into_is_remembered_named_or_focused() {
        let scene = Scene {
            width: 400,
            height: 200,
            elements: vec![field(1, vec![], 10), field(2, vec![State::Focused], 60), field(3, vec![], 110)],
        };
        let secrets = Secrets::from_task("{{secret:MARKPILOT_TEST_NOTED}}");
        let typed = |target| Action::Type { text: "{{secret:MARKPILOT_TEST_NOTED}}".into(), target, clear: false };
        // No field named: the focused one.
        secrets.note_typed(&typed(None), &scene);
        let mut seen = scene.clone();
        assert_eq!(secrets.conceal(&mut seen), vec![scene.elements[1].bbox]);
        assert_eq!(seen.elements[1].text.as_deref(), Some("{{secret:MARKPILOT_TEST_NOTED}}"));
        // Named by its mark.
        secrets.note_typed(&typed(Some(Pointer::Mark(3))), &scene);
        assert_eq!(secrets.conceal(&mut scene.clone()).len(), 2);
        // Cleared and given other text: free again.
        let cleared = Action::Type { text: "plain".into(), target: Some(Pointer::Mark(3)), clear: true };
        secrets.note_typed(&cleared, &scene);
        assert_eq!(secrets.conceal(&mut scene.clone()), vec![scene.elements[1].bbox]);
    }

    #[test]
    fn text_holding_a_value_is_redacted_and_its_box_painted() {
        let name = "MARKPILOT_TEST_SECRET_SEEN";
        set(name, "hunter2-seen");
        let s = Secrets::from_task(&placeholder(name));
        let mut scene = Scene {
            width: 100,
            height: 50,
            elements: vec![el(1, ElementKind::Text, Some("note: hunter2-seen"), Rect::new(10, 10, 80, 20))],
        };
        let mut image = RgbaImage::from_pixel(100, 50, Rgba([10, 20, 30, 255]));
        image.put_pixel(50, 20, Rgba([255, 255, 255, 255]));
        let boxes = s.conceal(&mut scene);
        assert_eq!(boxes.len(), 1);
        paint_over(&mut image, &boxes);
        assert_eq!(scene.elements[0].text, Some(format!("note: {}", placeholder(name))));
        assert_eq!(image.get_pixel(50, 20).0, [10, 20, 30, 255]);
    }

    #[test]
    fn an_action_carrying_a_value_is_redacted() {
        let name = "MARKPILOT_TEST_SECRET_ACTION";
        set(name, "pa55word-x");
        let s = Secrets::from_task(&placeholder(name));
        let a = s.redact_action(&Action::Done { answer: Some("the password is pa55word-x".into()) });
        assert_eq!(a, Action::Done { answer: Some(format!("the password is {}", placeholder(name))) });
        let t = s.redact_action(&Action::Type { text: "pa55word-x".into(), target: None, clear: false });
        assert_eq!(t, Action::Type { text: placeholder(name), target: None, clear: false }, "still types the value");
    }
}
