//! The agent's events, as the front end receives them (`agent-event`): typed, flat, and
//! small enough to send every step — the screenshot goes as a data URL the `<img>` shows as is.

use markpilot::action::Action;
use markpilot::agent::Event;
use serde::Serialize;

/// One mark in the live view's element list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UiElement {
    pub id: u32,
    pub kind: String,
    pub text: Option<String>,
    /// Frame pixels: x, y, w, h (the screenshot is scaled; the UI scales these alike).
    pub bbox: [i64; 4],
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UiEvent {
    StepStarted {
        step: u32,
    },
    Perception {
        step: u32,
        width: u32,
        height: u32,
        elements: Vec<UiElement>,
        timings: Vec<(String, f64)>,
        /// When perception finished (ms since the Unix epoch): the window measures how soon
        /// it shows the screenshot after it.
        at_ms: f64,
    },
    Screenshot {
        step: u32,
        data_url: String,
        width: u32,
        height: u32,
    },
    Decision {
        step: u32,
        thought: String,
        action: String,
        /// The marks the action points at (highlighted in the view).
        targets: Vec<u32>,
    },
    AwaitingConfirmation {
        step: u32,
        action: String,
        /// The action as JSON, for Edit-then-approve.
        action_json: String,
        reason: String,
    },
    Question {
        step: u32,
        question: String,
    },
    Action {
        step: u32,
        input: Vec<String>,
        dry_run: bool,
    },
    Outcome {
        step: u32,
        status: String,
        detail: Option<String>,
        screen_changed: Option<bool>,
    },
    Replayed {
        step: u32,
        original_step: u32,
        via: String,
        summary: Vec<String>,
    },
    /// The step's full stage timings (ms; model and settle included) and its tokens.
    StepDone {
        step: u32,
        timings: Vec<(String, f64)>,
        input_tokens: u64,
        output_tokens: u64,
    },
    Finished {
        status: String,
        message: String,
        answer: Option<String>,
        steps: u32,
        input_tokens: u64,
        output_tokens: u64,
        run_dir: Option<String>,
    },
    /// The app's own: the run was paused or resumed.
    Paused {
        paused: bool,
    },
}

/// A step's stages that took time, in the order they happen (ms).
pub fn stage_times(t: &markpilot::record::StepTimings) -> Vec<(String, f64)> {
    [
        ("capture", t.capture),
        ("detect", t.detect),
        ("mark", t.mark),
        ("refind", t.refind),
        ("encode", t.encode),
        ("model", t.model),
        ("act", t.act),
        ("settle", t.settle),
    ]
    .into_iter()
    .filter(|(_, v)| *v > 0.0)
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn action_text(a: &Action) -> String {
    a.to_string()
}

/// Map one agent event; `None` for events the window does not show.
pub fn to_ui(e: &Event) -> Option<UiEvent> {
    Some(match e {
        Event::StepStarted { step } => UiEvent::StepStarted { step: *step },
        Event::Perception { step, width, height, elements, capture_ms, detect_ms, fusion_ms, mark_ms } => {
            UiEvent::Perception {
                step: *step,
                width: *width,
                height: *height,
                elements: elements
                    .iter()
                    .map(|el| UiElement {
                        id: el.id,
                        kind: el.kind.as_str().to_string(),
                        text: el.text.clone(),
                        bbox: [el.bbox.x as i64, el.bbox.y as i64, el.bbox.w as i64, el.bbox.h as i64],
                    })
                    .collect(),
                timings: vec![
                    ("capture".into(), *capture_ms),
                    ("detect".into(), *detect_ms),
                    ("fusion".into(), *fusion_ms),
                    ("mark".into(), *mark_ms),
                ],
                at_ms: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            }
        }
        Event::Screenshot { step, image } => UiEvent::Screenshot {
            step: *step,
            data_url: format!("data:{};base64,{}", image.mime, image.base64),
            width: image.width,
            height: image.height,
        },
        Event::Decision { step, thought, action } => UiEvent::Decision {
            step: *step,
            thought: thought.clone(),
            action: action_text(action),
            targets: action.marks(),
        },
        Event::AwaitingConfirmation { step, action, reason } => UiEvent::AwaitingConfirmation {
            step: *step,
            action: action_text(action),
            action_json: serde_json::to_string(action).unwrap_or_default(),
            reason: reason.clone(),
        },
        Event::Action { step, input, dry_run, .. } => {
            UiEvent::Action { step: *step, input: input.clone(), dry_run: *dry_run }
        }
        Event::Outcome { step, outcome } => UiEvent::Outcome {
            step: *step,
            status: outcome.status.clone(),
            detail: outcome.detail.clone(),
            screen_changed: outcome.screen_changed,
        },
        Event::Replayed { step, original_step, via, targets } => UiEvent::Replayed {
            step: *step,
            original_step: *original_step,
            via: via.clone(),
            summary: markpilot::replay::summarise(targets),
        },
        Event::Finished { status, message, answer, steps, usage, run_dir } => UiEvent::Finished {
            status: status.as_str().to_string(),
            message: message.clone(),
            answer: answer.clone(),
            steps: *steps,
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            run_dir: run_dir.clone(),
        },
        Event::StepRecorded { step, timings_ms, usage } => UiEvent::StepDone {
            step: *step,
            timings: stage_times(timings_ms),
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
        },
        Event::Ready { .. } => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use markpilot::Rect;
    use markpilot::action::{ClickKind, Pointer};
    use markpilot::agent::ElementSummary;
    use markpilot::decide::{EncodedImage, Usage};
    use markpilot::perceive::ElementKind;
    use markpilot::record::{Outcome, RunStatus};

    #[test]
    fn perception_and_screenshots_become_what_the_live_view_draws() {
        let e = Event::Perception {
            step: 2,
            width: 1280,
            height: 800,
            elements: vec![ElementSummary {
                id: 7,
                kind: ElementKind::Button,
                text: Some("OK".into()),
                bbox: Rect::new(10, 20, 80, 30),
                screen: None,
            }],
            capture_ms: 12.0,
            detect_ms: 30.0,
            fusion_ms: 0.1,
            mark_ms: 2.0,
        };
        let Some(UiEvent::Perception { elements, timings, .. }) = to_ui(&e) else { panic!() };
        assert_eq!(
            elements[0],
            UiElement { id: 7, kind: "button".into(), text: Some("OK".into()), bbox: [10, 20, 80, 30] }
        );
        assert_eq!(timings[1], ("detect".to_string(), 30.0));
        let shot = Event::Screenshot {
            step: 2,
            image: EncodedImage { mime: "image/jpeg", base64: "AAAA".into(), width: 640, height: 400, bytes: 3 },
        };
        let json = serde_json::to_value(to_ui(&shot).unwrap()).unwrap();
        assert_eq!(json["type"], "screenshot");
        assert_eq!(json["data_url"], "data:image/jpeg;base64,AAAA");
    }

    #[test]
    fn decisions_confirmations_and_the_end_carry_what_the_person_needs() {
        let click = Action::Pointer { kind: ClickKind::Click, target: Pointer::Mark(4) };
        let Some(UiEvent::Decision { targets, action, .. }) =
            to_ui(&Event::Decision { step: 1, thought: "t".into(), action: click.clone() })
        else {
            panic!()
        };
        assert_eq!((targets, action.as_str()), (vec![4], "click mark 4"));
        let Some(UiEvent::AwaitingConfirmation { action_json, .. }) =
            to_ui(&Event::AwaitingConfirmation { step: 1, action: click.clone(), reason: "r".into() })
        else {
            panic!()
        };
        assert_eq!(serde_json::from_str::<Action>(&action_json).unwrap(), click, "Edit starts from the exact action");
        let end = to_ui(&Event::Finished {
            status: RunStatus::Stopped,
            message: "stopped by the person".into(),
            answer: None,
            steps: 3,
            usage: Usage { input_tokens: 10, output_tokens: 2 },
            run_dir: Some("/r".into()),
        })
        .unwrap();
        let json = serde_json::to_value(end).unwrap();
        assert_eq!(
            (json["type"].as_str(), json["status"].as_str(), json["input_tokens"].as_u64()),
            (Some("finished"), Some("stopped"), Some(10))
        );
        let out = to_ui(&Event::Outcome {
            step: 1,
            outcome: Outcome { status: "performed".into(), detail: None, screen_changed: Some(true), input: vec![] },
        });
        assert!(matches!(out, Some(UiEvent::Outcome { screen_changed: Some(true), .. })));
        let done = to_ui(&Event::StepRecorded {
            step: 1,
            timings_ms: markpilot::record::StepTimings { model: 1000.0, settle: 80.0, ..Default::default() },
            usage: Usage { input_tokens: 900, output_tokens: 30 },
        });
        assert_eq!(
            done,
            Some(UiEvent::StepDone {
                step: 1,
                timings: vec![("model".into(), 1000.0), ("settle".into(), 80.0)],
                input_tokens: 900,
                output_tokens: 30
            }),
            "stages that took no time are left out"
        );
        assert_eq!(to_ui(&Event::Ready { inputs: 1 }), None);
    }
}
