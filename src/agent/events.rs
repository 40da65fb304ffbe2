//! What the loop tells its shell (the CLI's `--json` lines, the desktop app's live view).

use serde::Serialize;

use crate::Rect;
use crate::action::Action;
use crate::coords::FrameMapping;
use crate::decide::{EncodedImage, Usage};
use crate::perceive::{Element, ElementKind};
use crate::record::{Outcome, RunStatus, StepTimings, TargetMatch};

/// One mark, as shells show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ElementSummary {
    pub id: u32,
    pub kind: ElementKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Frame pixels.
    pub bbox: Rect,
    /// Input-device (screen) coordinates, when the frame came from a screen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screen: Option<Rect>,
}

impl ElementSummary {
    pub fn new(e: &Element, mapping: Option<&FrameMapping>) -> Self {
        let screen = mapping.map(|m| {
            let a = m.frame_to_input(e.bbox.x as f64, e.bbox.y as f64);
            let b = m.frame_to_input(e.bbox.right() as f64, e.bbox.bottom() as f64);
            Rect::from_edges(a.x, a.y, b.x, b.y)
        });
        Self { id: e.id, kind: e.kind, text: e.text.clone(), bbox: e.bbox, screen }
    }
}

/// Events, in the order a step produces them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    StepStarted {
        step: u32,
    },
    Perception {
        step: u32,
        width: u32,
        height: u32,
        elements: Vec<ElementSummary>,
        capture_ms: f64,
        detect_ms: f64,
        fusion_ms: f64,
        mark_ms: f64,
    },
    /// The marked screenshot as the model gets it (shells show it; the CLI does not print it).
    Screenshot {
        step: u32,
        #[serde(skip)]
        image: EncodedImage,
    },
    Decision {
        step: u32,
        thought: String,
        action: Action,
    },
    AwaitingConfirmation {
        step: u32,
        action: Action,
        reason: String,
    },
    Action {
        step: u32,
        action: Action,
        input: Vec<String>,
        dry_run: bool,
    },
    Outcome {
        step: u32,
        outcome: Outcome,
    },
    /// A step is done and recorded: its stage timings and tokens.
    StepRecorded {
        step: u32,
        timings_ms: StepTimings,
        usage: Usage,
    },
    /// Recording a demonstration: the screen has settled since the last input (`inputs`
    /// events so far), so the next action's screenshot will show its effects.
    Ready {
        inputs: u64,
    },
    /// Replay: how the recorded step's targets were found on this screen.
    Replayed {
        step: u32,
        original_step: u32,
        /// `refind`, `vlm`, `not_found` or `as_recorded`.
        via: String,
        targets: Vec<TargetMatch>,
    },
    Finished {
        status: RunStatus,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        answer: Option<String>,
        steps: u32,
        usage: Usage,
        #[serde(skip_serializing_if = "Option::is_none")]
        run_dir: Option<String>,
    },
}
