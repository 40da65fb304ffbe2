//! Reading the model's answer: one JSON object, found inside prose or code fences, tolerant
//! of the variants models write, validated against the scene it was shown.

use serde_json::{Map, Value};

use crate::action::{Action, ClickKind, KeyCombo, MIN_ZOOM_SIDE, Pointer, ScrollDirection, ZoomTarget};
use crate::coords::{Resize, ZoomBoxError};
use crate::perceive::Scene;

/// The model's choice for one step.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    pub thought: String,
    pub action: Action,
}

/// What the answer is checked against.
#[derive(Debug, Clone, Copy)]
pub struct AnswerContext<'a> {
    pub scene: &'a Scene,
    /// Frame → the image the model was shown.
    pub resize: Resize,
    /// Whether the model may answer with a point instead of a mark.
    pub coordinates: bool,
}

/// Why an answer was not accepted; the message is what the repair turn tells the model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidAnswer(pub String);

fn invalid(msg: impl Into<String>) -> InvalidAnswer {
    InvalidAnswer(msg.into())
}

/// Parse and validate an answer.
pub fn parse_answer(text: &str, ctx: &AnswerContext) -> Result<Decision, InvalidAnswer> {
    let obj = find_answer_object(text).ok_or_else(|| {
        invalid(
            "no JSON object found in your answer; answer with exactly one JSON object like \
             {\"thought\": \"...\", \"action\": {\"type\": \"click\", \"mark\": 3}}",
        )
    })?;
    let (action_obj, thought) = match obj.get("action") {
        Some(Value::Object(a)) => (a.clone(), text_field(&obj, &["thought", "reasoning", "thinking", "explanation"])),
        Some(Value::String(name)) => {
            // {"action": "click", "mark": 3}: the action's fields sit beside its name.
            let mut a = obj.clone();
            a.insert("type".into(), Value::String(name.clone()));
            (a, text_field(&obj, &["thought", "reasoning", "thinking", "explanation"]))
        }
        Some(_) => return Err(invalid("\"action\" must be an object such as {\"type\": \"click\", \"mark\": 3}")),
        None if obj.contains_key("type") => (obj.clone(), text_field(&obj, &["thought", "reasoning"])),
        None => return Err(invalid("the JSON object has no \"action\"")),
    };
    let thought = thought.unwrap_or_else(|| prose_outside_json(text));
    let action = parse_action(&action_obj, ctx)?.bounded().map_err(|e| invalid(e.0))?;
    Ok(Decision { thought, action })
}

fn parse_action(a: &Map<String, Value>, ctx: &AnswerContext) -> Result<Action, InvalidAnswer> {
    let ty = match a.get("type").or_else(|| a.get("name")).or_else(|| a.get("action_type")) {
        Some(Value::String(s)) => s.trim().to_ascii_lowercase().replace(['-', ' '], "_"),
        _ => return Err(invalid("the action has no \"type\"")),
    };
    let pointer_kind = match ty.as_str() {
        "click" | "left_click" | "tap" | "single_click" => Some(ClickKind::Click),
        "double_click" | "doubleclick" | "dblclick" | "left_double" => Some(ClickKind::DoubleClick),
        "right_click" | "rightclick" | "context_click" | "right_single" => Some(ClickKind::RightClick),
        "hover" | "move" | "mouse_move" | "move_to" | "mouse_over" => Some(ClickKind::Hover),
        _ => None,
    };
    if let Some(kind) = pointer_kind {
        let target = pointer(a, &["mark", "id", "element", "element_id", "target", "index", "box"], ctx)?
            .ok_or_else(|| invalid(format!("{} needs a \"mark\"{}", kind.as_str(), point_hint(ctx))))?;
        return Ok(Action::Pointer { kind, target });
    }
    let action = match ty.as_str() {
        "type" | "type_text" | "input" | "input_text" | "write" | "enter_text" | "typing" => {
            let text = text_field(a, &["text", "content", "value", "string"])
                .filter(|t| !t.is_empty())
                .ok_or_else(|| invalid("type needs a non-empty \"text\""))?;
            let target = pointer(a, &["mark", "id", "element", "element_id", "target", "index", "into"], ctx)?;
            let clear = ["clear", "replace", "overwrite"].iter().any(|k| a.get(*k).is_some_and(truthy));
            Action::Type { text, target, clear }
        }
        "key" | "keys" | "hotkey" | "press" | "key_press" | "keypress" | "shortcut" | "key_combo" => {
            let keys = match ["keys", "key", "combo", "hotkey", "text", "value"].iter().find_map(|k| a.get(*k)) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(parts)) => parts.iter().filter_map(|p| p.as_str()).collect::<Vec<_>>().join("+"),
                _ => return Err(invalid("key needs \"keys\", e.g. \"ctrl+s\" or \"Return\"")),
            };
            let combo = KeyCombo::parse(&keys).map_err(|e| invalid(format!("key: {e}")))?;
            Action::Key { combo }
        }
        "scroll" | "scroll_up" | "scroll_down" | "scroll_left" | "scroll_right" => {
            let direction = match ty.strip_prefix("scroll_") {
                Some(d) => ScrollDirection::parse(d),
                None => text_field(a, &["direction", "dir"]).and_then(|d| ScrollDirection::parse(&d)),
            }
            .ok_or_else(|| invalid("scroll needs \"direction\": up, down, left or right"))?;
            let amount = number(a, &["amount", "clicks", "steps", "times"]).unwrap_or(3.0).round().clamp(1.0, 50.0);
            let target = pointer(a, &["mark", "id", "element", "element_id", "target", "index"], ctx)?;
            Action::Scroll { direction, amount: amount as u32, target }
        }
        "drag" | "drag_and_drop" | "drag_drop" => {
            let from = pointer(a, &["from", "from_mark", "start", "source"], ctx)?;
            let to = pointer(a, &["to", "to_mark", "end", "target", "destination"], ctx)?;
            match (from, to) {
                (Some(from), Some(to)) => Action::Drag { from, to },
                _ => return Err(invalid("drag needs \"from\" and \"to\" marks")),
            }
        }
        "wait" | "sleep" | "pause" => {
            let seconds = number(a, &["seconds", "duration", "time", "secs"]).unwrap_or(1.0);
            Action::Wait { seconds: if seconds.is_finite() { seconds.clamp(0.0, 60.0) } else { 1.0 } }
        }
        "done" | "finish" | "finished" | "complete" | "completed" | "answer" | "success" | "stop" => {
            Action::Done { answer: text_field(a, &["answer", "text", "result", "message", "content"]) }
        }
        "fail" | "failed" | "failure" | "error" | "abort" | "give_up" => Action::Fail {
            reason: text_field(a, &["reason", "message", "text", "error"]).unwrap_or_else(|| "no reason given".into()),
        },
        "ask_user" | "ask" | "question" | "ask_human" | "call_user" => Action::AskUser {
            question: text_field(a, &["question", "text", "message", "content"])
                .filter(|q| !q.is_empty())
                .ok_or_else(|| invalid("ask_user needs a \"question\""))?,
        },
        "zoom" | "zoom_in" | "magnify" | "enlarge" | "inspect" => Action::Zoom { target: zoom_target(a, ctx)? },
        other => {
            return Err(invalid(format!(
                "unknown action type {other:?}; use click, double_click, right_click, hover, type, key, scroll, drag, wait, zoom, done, fail or ask_user"
            )));
        }
    };
    Ok(action)
}

/// A zoom's target: a mark, or a "region" [x, y, width, height] in the screenshot's pixels
/// (mapped to frame pixels), inside the screenshot and at least [`MIN_ZOOM_SIDE`] frame pixels
/// on each side.
fn zoom_target(a: &Map<String, Value>, ctx: &AnswerContext) -> Result<ZoomTarget, InvalidAnswer> {
    let usage = "zoom needs a \"mark\" or a \"region\": [x, y, width, height] in screenshot pixels";
    if let Some(v) = ["region", "box", "bbox", "area", "rect"].iter().find_map(|k| a.get(*k).filter(|v| !v.is_null())) {
        let n: Vec<f64> = v.as_array().map(|xs| xs.iter().filter_map(as_f64).collect()).unwrap_or_default();
        let [x, y, w, h] = n[..] else { return Err(invalid(usage)) };
        let (iw, ih) = (ctx.resize.to_width as f64, ctx.resize.to_height as f64);
        return match crate::coords::zoom_box(&ctx.resize, [x, y, w, h]) {
            Ok(r) => Ok(ZoomTarget::Region { x: r.x as f64, y: r.y as f64, w: r.w as f64, h: r.h as f64 }),
            Err(ZoomBoxError::Outside) => Err(invalid(format!(
                "zoom region [{x}, {y}, {w}, {h}] is not a box inside the screenshot, which is {iw}x{ih} pixels"
            ))),
            Err(ZoomBoxError::TooSmall { .. }) => Err(invalid(format!(
                "zoom region [{x}, {y}, {w}, {h}] is too small: give a box at least {} screenshot pixels on each side",
                (MIN_ZOOM_SIDE as f64 * iw / ctx.resize.from_width.max(1) as f64).ceil()
            ))),
        };
    }
    match pointer(a, &["mark", "id", "element", "element_id", "target", "index"], ctx)? {
        Some(Pointer::Mark(m)) => Ok(ZoomTarget::Mark(m)),
        Some(Pointer::Point(..)) | None => Err(invalid(usage)),
    }
}

fn point_hint(ctx: &AnswerContext) -> &'static str {
    if ctx.coordinates { " or a \"point\": [x, y]" } else { "" }
}

/// A mark (under any of `mark_keys`) or, for models allowed to, a point; validated.
fn pointer(a: &Map<String, Value>, mark_keys: &[&str], ctx: &AnswerContext) -> Result<Option<Pointer>, InvalidAnswer> {
    for key in mark_keys {
        let Some(v) = a.get(*key) else { continue };
        if v.is_null() {
            continue;
        }
        // A nested point ({"from": {"point": [x, y]}}) or a point given under a mark key.
        if let Some(p) = point_value(v)
            && !matches!(v, Value::Number(_))
            && !is_mark_string(v)
        {
            return point_target(p, ctx).map(Some);
        }
        let mark = mark_value(v).ok_or_else(|| invalid(format!("\"{key}\" must be a mark number, not {v}")))?;
        return check_mark(mark, ctx).map(Some);
    }
    for key in ["point", "coordinate", "coordinates", "position", "xy", "start_box"] {
        if let Some(v) = a.get(key)
            && !v.is_null()
        {
            let p = point_value(v).ok_or_else(|| invalid(format!("\"{key}\" must be [x, y] in screenshot pixels")))?;
            return point_target(p, ctx).map(Some);
        }
    }
    if let (Some(x), Some(y)) = (number(a, &["x"]), number(a, &["y"])) {
        return point_target((x, y), ctx).map(Some);
    }
    Ok(None)
}

fn check_mark(mark: u32, ctx: &AnswerContext) -> Result<Pointer, InvalidAnswer> {
    if ctx.scene.element(mark).is_some() {
        return Ok(Pointer::Mark(mark));
    }
    let n = ctx.scene.elements.len();
    Err(invalid(if n == 0 {
        format!("mark {mark} does not exist: this screenshot has no marks{}", point_hint(ctx))
    } else {
        format!("mark {mark} does not exist; the marks on this screenshot are 1 to {n}")
    }))
}

fn point_target((x, y): (f64, f64), ctx: &AnswerContext) -> Result<Pointer, InvalidAnswer> {
    if !ctx.coordinates {
        return Err(invalid("answer with a \"mark\" number from the table, not with coordinates"));
    }
    let (w, h) = (ctx.resize.to_width as f64, ctx.resize.to_height as f64);
    if !(x.is_finite() && y.is_finite() && (0.0..w).contains(&x) && (0.0..h).contains(&y)) {
        return Err(invalid(format!("point [{x}, {y}] is outside the screenshot, which is {w}x{h} pixels")));
    }
    // A pixel index in the sent image: map its centre back to the frame.
    let (fx, fy) = ctx.resize.to_frame(x.floor() + 0.5, y.floor() + 0.5);
    Ok(Pointer::Point(fx, fy))
}

fn is_mark_string(v: &Value) -> bool {
    v.as_str().is_some_and(|s| mark_from_str(s).is_some())
}

/// 7, 7.0, "7", "[7]", "~7", "#7", "mark 7", {"mark": 7}.
fn mark_value(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => {
            let f = n.as_f64()?;
            (f.fract() == 0.0 && f >= 0.0 && f <= u32::MAX as f64).then_some(f as u32)
        }
        Value::String(s) => mark_from_str(s),
        Value::Array(a) if a.len() == 1 => mark_value(&a[0]),
        Value::Object(o) => o.get("mark").or_else(|| o.get("id")).and_then(mark_value),
        _ => None,
    }
}

fn mark_from_str(s: &str) -> Option<u32> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.trim_start_matches("mark").trim_start_matches("element").trim_start_matches("id");
    let t = t.trim_matches(|c: char| c.is_whitespace() || "[]()#~<>:'\"".contains(c));
    t.parse().ok()
}

/// [x, y], "(x, y)", "x,y", {"x": .., "y": ..}, [[x, y]] or a box [x0, y0, x1, y1] (its centre).
fn point_value(v: &Value) -> Option<(f64, f64)> {
    match v {
        Value::Array(a) => {
            let nums: Vec<f64> = a.iter().filter_map(as_f64).collect();
            match (a.len(), nums.len()) {
                (2, 2) => Some((nums[0], nums[1])),
                (4, 4) => Some(((nums[0] + nums[2]) / 2.0, (nums[1] + nums[3]) / 2.0)),
                (1, 0) => point_value(&a[0]),
                _ => None,
            }
        }
        Value::String(s) => {
            let nums: Vec<f64> = s
                .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                .filter(|p| !p.is_empty())
                .filter_map(|p| p.parse().ok())
                .collect();
            match nums.len() {
                2 => Some((nums[0], nums[1])),
                4 => Some(((nums[0] + nums[2]) / 2.0, (nums[1] + nums[3]) / 2.0)),
                _ => None,
            }
        }
        Value::Object(o) => match (o.get("x").and_then(as_f64), o.get("y").and_then(as_f64)) {
            (Some(x), Some(y)) => Some((x, y)),
            _ => o.get("point").and_then(point_value),
        },
        _ => None,
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "yes" | "1"),
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn number(a: &Map<String, Value>, keys: &[&str]) -> Option<f64> {
    keys.iter().find_map(|k| a.get(*k).and_then(as_f64))
}

fn text_field(a: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match a.get(*k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The first JSON object in `text` that looks like an answer (has `action` or `type`).
/// Objects are found by brace matching that respects strings, so prose, code fences and
/// several objects are fine; trailing commas are forgiven.
pub fn find_answer_object(text: &str) -> Option<Map<String, Value>> {
    // Answers are short; a huge one is cut so a hostile answer costs bounded time.
    let mut end = text.len().min(MAX_ANSWER_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = &text[..end];
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut fallback = None;
    let mut tries = 0;
    while let Some(off) = text[start..].find('{') {
        tries += 1;
        if tries > 200 {
            break;
        }
        let open = start + off;
        match matching_brace(bytes, open) {
            Some(close) => {
                let slice = &text[open..=close];
                if let Some(Value::Object(o)) = parse_lenient(slice) {
                    if o.contains_key("action") || o.contains_key("type") {
                        return Some(o);
                    }
                    fallback.get_or_insert(o);
                    start = close + 1;
                } else {
                    start = open + 1;
                }
            }
            None => start = open + 1,
        }
    }
    fallback
}

fn matching_brace(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn parse_lenient(s: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str(s) {
        return Some(v);
    }
    // Trailing commas and typographic quotes, the two slips models make most.
    let mut fixed = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().map(|c| if c == '“' || c == '”' { '"' } else { c }).collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == ',' {
            let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
            if matches!(next, Some('}') | Some(']')) {
                continue;
            }
        }
        fixed.push(c);
    }
    serde_json::from_str(&fixed).ok()
}

/// Prose around the JSON, used as the thought when the object has none.
fn prose_outside_json(text: &str) -> String {
    let cut = text.find('{').map_or(text, |i| &text[..i]);
    cut.replace("```json", "").replace("```", "").trim().chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rect;
    use crate::perceive::{Element, ElementKind};

    fn scene(n: u32) -> Scene {
        let elements = (1..=n)
            .map(|id| Element {
                id,
                bbox: Rect::new(10 * id as i32, 10, 8, 8),
                kind: ElementKind::Button,
                text: None,
                score: 1.0,
                source: "test".into(),
                mask: None,
                states: Vec::new(),
                path: None,
            })
            .collect();
        Scene { width: 2000, height: 1000, elements }
    }

    fn ctx(scene: &Scene, coordinates: bool) -> AnswerContext<'_> {
        AnswerContext { scene, resize: Resize::fit(2000, 1000, 1000, 0), coordinates }
    }

    fn parse(text: &str) -> Result<Action, InvalidAnswer> {
        let s = scene(9);
        parse_answer(text, &ctx(&s, true)).map(|d| d.action)
    }

    #[test]
    fn the_answer_is_found_inside_prose_and_code_fences() {
        let text = "I will press OK.\n```json\n{\"thought\": \"OK {closes} it\", \"action\": {\"type\": \"click\", \"mark\": 7}}\n```";
        let s = scene(9);
        let d = parse_answer(text, &ctx(&s, false)).unwrap();
        assert_eq!(d.action, Action::Pointer { kind: ClickKind::Click, target: Pointer::Mark(7) });
        assert_eq!(d.thought, "OK {closes} it");
    }

    #[test]
    fn mark_variants_models_write_are_accepted() {
        for m in ["7", "\"7\"", "\"[7]\"", "\"~7\"", "\"#7\"", "\"mark 7\"", "7.0", "[7]"] {
            let text = format!("{{\"action\": {{\"type\": \"click\", \"mark\": {m}}}}}");
            assert_eq!(
                parse(&text).unwrap(),
                Action::Pointer { kind: ClickKind::Click, target: Pointer::Mark(7) },
                "{m}"
            );
        }
        // Flat objects and action-name-as-string.
        assert_eq!(parse(r#"{"type": "double_click", "id": 2}"#).unwrap().name(), "double_click");
        assert_eq!(parse(r#"{"action": "right_click", "mark": 2}"#).unwrap().name(), "right_click");
    }

    #[test]
    fn every_action_type_parses() {
        assert_eq!(
            parse(r#"{"action": {"type": "type", "text": "Kim 김민수", "mark": 3}}"#).unwrap(),
            Action::Type { text: "Kim 김민수".into(), target: Some(Pointer::Mark(3)), clear: false }
        );
        assert_eq!(
            parse(r#"{"action": {"type": "hotkey", "keys": ["ctrl", "shift", "t"]}}"#).unwrap().to_string(),
            "key ctrl+shift+t"
        );
        assert_eq!(
            parse(r#"{"action": {"type": "scroll", "direction": "DOWN", "amount": 5, "mark": 1}}"#).unwrap(),
            Action::Scroll { direction: ScrollDirection::Down, amount: 5, target: Some(Pointer::Mark(1)) }
        );
        assert_eq!(
            parse(r#"{"action": {"type": "drag", "from": 1, "to": 2}}"#).unwrap(),
            Action::Drag { from: Pointer::Mark(1), to: Pointer::Mark(2) }
        );
        assert_eq!(parse(r#"{"action": {"type": "wait", "seconds": 1e9}}"#).unwrap(), Action::Wait { seconds: 60.0 });
        assert_eq!(
            parse(r#"{"action": {"type": "done", "answer": "42"}}"#).unwrap(),
            Action::Done { answer: Some("42".into()) }
        );
        assert_eq!(parse(r#"{"action": {"type": "fail"}}"#).unwrap().name(), "fail");
        assert_eq!(parse(r#"{"action": {"type": "ask_user", "question": "Which file?"}}"#).unwrap().name(), "ask_user");
        // Trailing comma and smart quotes.
        assert_eq!(parse("{“action”: {“type”: “click”, “mark”: 4,},}").unwrap().marks(), vec![4]);
    }

    #[test]
    fn points_are_mapped_from_the_sent_image_back_to_the_frame() {
        // The frame is 2000x1000, sent at 1000x500: the sent pixel (100, 50) covers frame (200..202, 100..102).
        let a = parse(r#"{"action": {"type": "click", "point": [100, 50]}}"#).unwrap();
        assert_eq!(a, Action::Pointer { kind: ClickKind::Click, target: Pointer::Point(201.0, 101.0) });
        let a = parse(r#"{"action": {"type": "click", "coordinate": "(100, 50)"}}"#).unwrap();
        assert_eq!(a.to_string(), "click point (201, 101)");
        let a = parse(r#"{"action": {"type": "hover", "x": 100, "y": 50}}"#).unwrap();
        assert_eq!(a.to_string(), "hover point (201, 101)");
    }

    #[test]
    fn a_zoom_names_a_mark_or_a_box_of_the_screenshot_mapped_to_the_frame() {
        assert_eq!(
            parse(r#"{"action": {"type": "zoom", "mark": 4}}"#).unwrap(),
            Action::Zoom { target: ZoomTarget::Mark(4) }
        );
        // Sent at half size: the box doubles in the frame.
        assert_eq!(
            parse(r#"{"action": {"type": "zoom", "region": [100, 50, 200, 120]}}"#).unwrap(),
            Action::Zoom { target: ZoomTarget::Region { x: 200.0, y: 100.0, w: 400.0, h: 240.0 } }
        );
        let err = |t: &str| parse(t).unwrap_err().0;
        assert!(err(r#"{"action": {"type": "zoom"}}"#).contains("zoom needs a \"mark\" or a \"region\""));
        assert!(err(r#"{"action": {"type": "zoom", "mark": 99}}"#).contains("mark 99 does not exist"));
        assert!(
            err(r#"{"action": {"type": "zoom", "region": [900, 400, 200, 200]}}"#)
                .contains("not a box inside the screenshot, which is 1000x500 pixels")
        );
        assert!(err(r#"{"action": {"type": "zoom", "region": [10, 10, 0, 50]}}"#).contains("not a box inside"));
        assert!(err(r#"{"action": {"type": "zoom", "region": [10, 10, 4, 4]}}"#).contains("too small"));
        assert!(err(r#"{"action": {"type": "zoom", "region": [10, 10, 40]}}"#).contains("zoom needs"));
        assert!(err(r#"{"action": {"type": "zoom", "region": "everything"}}"#).contains("zoom needs"));
    }

    #[test]
    fn invalid_answers_say_exactly_what_is_wrong() {
        let err = |t: &str| parse(t).unwrap_err().0;
        assert!(err("I think I should click OK").contains("no JSON object"));
        assert!(
            err(r#"{"action": {"type": "click", "mark": 99}}"#)
                .contains("mark 99 does not exist; the marks on this screenshot are 1 to 9")
        );
        assert!(
            err(r#"{"action": {"type": "click", "point": [1000, 20]}}"#)
                .contains("outside the screenshot, which is 1000x500")
        );
        assert!(err(r#"{"action": {"type": "type", "text": ""}}"#).contains("non-empty \"text\""));
        assert!(err(r#"{"action": {"type": "key", "keys": "ctrl+banana"}}"#).contains("unknown key name"));
        assert!(err(r#"{"action": {"type": "launch_rockets"}}"#).contains("unknown action type"));
        assert!(err(r#"{"action": {"type": "click"}}"#).contains("needs a \"mark\""));
        assert!(err(r#"{"thought": "hmm"}"#).contains("no \"action\""));
        let s = scene(3);
        let no_coords = parse_answer(r#"{"action": {"type": "click", "point": [1, 2]}}"#, &ctx(&s, false));
        assert!(no_coords.unwrap_err().0.contains("not with coordinates"));
    }

    #[test]
    fn hostile_answers_never_panic() {
        let s = scene(3);
        let c = ctx(&s, true);
        for t in [
            "{",
            "}",
            "{{{{",
            "\"{\"",
            "{\"action\": {\"type\": \"click\", \"mark\": -1}}",
            "{\"action\": {\"type\": \"click\", \"mark\": 1e400}}",
            "{\"action\": {\"type\": \"click\", \"point\": [1e308, -1e308]}}",
            "{\"action\": {\"type\": \"scroll\", \"direction\": \"down\", \"amount\": \"NaN\"}}",
            "{\"action\": [1,2,3]}",
            "{\"action\": {\"type\": 5}}",
            "\u{0}{\"a\":\"\\u0000\"}",
        ] {
            let _ = parse_answer(t, &c);
        }
        let deep = "{\"a\":".repeat(5000) + &"}".repeat(5000);
        let _ = parse_answer(&deep, &c);
    }
}
