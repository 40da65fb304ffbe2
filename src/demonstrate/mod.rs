//! Recording a person's demonstration: watch their clicks, scrolls and keystrokes, keep the
//! screen as it was just before each, perceive it, note which element they acted on, and
//! write it all as a run (source `human`) that `replay` carries out like an agent's run.
//!
//! The screen is captured continuously into a short ring; each input event is tagged, on
//! arrival, with the last frame captured before it, so a slow perception never makes a
//! step's screenshot show what the action already changed. Text typed into a password
//! field is never kept: the step types a `{{secret:NAME}}` placeholder instead.

pub mod compose;
mod x11;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::action::{Action, Pointer};
use crate::agent::{ElementSummary, Event, StopSignal, describe};
use crate::annotate::{AnnotateOptions, annotate_frame};
use crate::capture::{self, Capturer, Frame, Target};
use crate::coords::InputPoint;
use crate::decide::{Decision, Usage};
use crate::guard;
use crate::mark::MarkOptions;
use crate::perceive::{Element, Pipeline, Scene, ms};
use crate::record::{self, Outcome, Recorder, RunResult, RunStatus, StepRecord, StepTimings};
use compose::{Composed, Composer, Gesture, Input};

#[derive(Debug, Error)]
pub enum DemoError {
    #[error("no display: {0}; set DISPLAY or run under Xvfb")]
    NoDisplay(String),
    #[error("cannot watch the input: {0}")]
    Record(String),
    #[error("capture failed: {0}")]
    Capture(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct DemoOptions {
    pub target: Target,
    /// Pressing this ends the demonstration (and is not recorded).
    pub stop_key: Option<crate::action::KeyCombo>,
    /// Time between captures while watching.
    pub interval: Duration,
}

pub struct Demonstration<'a> {
    pub options: DemoOptions,
    pub capturer: &'a dyn Capturer,
    pub pipeline: Pipeline,
    pub recorder: Recorder,
    pub stop: StopSignal,
    pub events: Box<dyn FnMut(&Event) + Send + 'a>,
}

type Shot = Option<Arc<Frame>>;

/// The last few captures, newest last, with when each began.
#[derive(Default)]
struct Ring(Mutex<VecDeque<(Instant, Arc<Frame>)>>);

impl Ring {
    fn push(&self, at: Instant, f: Arc<Frame>) {
        if let Ok(mut q) = self.0.lock() {
            q.push_back((at, f));
            while q.len() > 6 {
                q.pop_front();
            }
        }
    }

    /// The newest frame whose capture began before `at` (else the oldest kept).
    fn before(&self, at: Instant) -> Shot {
        let q = self.0.lock().ok()?;
        let margin = Duration::from_millis(15);
        q.iter().rev().find(|(t, _)| *t + margin <= at).or_else(|| q.front()).map(|(_, f)| Arc::clone(f))
    }
}

impl Demonstration<'_> {
    /// Watch until the stop key, or the stop signal. Returns the run's result (recorded).
    pub fn run(mut self) -> Result<RunResult, DemoError> {
        // The first capture says early (and clearly) when there is no screen to watch.
        let first = self.capturer.capture(&self.options.target).map_err(|e| DemoError::Capture(e.to_string()))?;
        let ring = Arc::new(Ring::default());
        ring.push(Instant::now(), Arc::new(first));
        let inputs = Arc::new(AtomicU64::new(0));
        let last_input = Arc::new(Mutex::new(Instant::now()));
        let done = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<(Input, Instant, Shot)>();
        let (ready_tx, ready_rx) = mpsc::channel::<u64>();

        let listener = {
            let ring = Arc::clone(&ring);
            let inputs = Arc::clone(&inputs);
            let last_input = Arc::clone(&last_input);
            x11::Listener::start(tx, move |at| {
                inputs.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut l) = last_input.lock() {
                    *l = at;
                }
                ring.before(at)
            })?
        };
        let mut composer: Composer<Shot> = Composer::new(self.options.stop_key.clone());
        let mut step = 0u32;
        let mut secrets: Vec<String> = Vec::new();
        // Whether what is typed goes into a password field: known from the click that gave the
        // focus, unknown after a key (Tab) moved it or when a dialog opened focused.
        let mut secret_field: Option<bool> = None;
        let capturer = self.capturer;
        let target = self.options.target.clone();
        let interval = self.options.interval;
        let result = std::thread::scope(|s| {
            // Capture continuously; say "ready" once the screen is still after the last input.
            let capture_thread = {
                let (ring, done, inputs, last_input) =
                    (Arc::clone(&ring), Arc::clone(&done), Arc::clone(&inputs), Arc::clone(&last_input));
                s.spawn(move || {
                    let mut prev: Option<(Instant, Arc<Frame>)> = None;
                    let mut announced = u64::MAX;
                    while !done.load(Ordering::SeqCst) {
                        let began = Instant::now();
                        let seen = inputs.load(Ordering::SeqCst);
                        if let Ok(f) = capturer.capture(&target) {
                            let f = Arc::new(f);
                            // Two captures in a row, both begun after the last input, alike.
                            let last = last_input.lock().map(|l| *l).unwrap_or(began);
                            let still = prev.as_ref().is_some_and(|(t, p)| {
                                *t > last
                                    && crate::agent::settle::Diff::between(&p.image, &f.image)
                                        .is_some_and(|d| d.is_still(0.001))
                            });
                            if still && announced != seen {
                                announced = seen;
                                let _ = ready_tx.send(seen);
                            }
                            ring.push(began, Arc::clone(&f));
                            prev = Some((began, f));
                        }
                        std::thread::sleep(interval.saturating_sub(began.elapsed()));
                    }
                })
            };

            let mut handle = |c: Composed<Shot>, this: &mut Self, step: &mut u32| {
                *step += 1;
                this.step(*step, c, &mut secret_field, &mut secrets, &ring);
            };
            let mut watcher_died = false;
            while !self.stop.is_stopped() && !composer.stopped {
                while let Ok(n) = ready_rx.try_recv() {
                    (self.events)(&Event::Ready { inputs: n });
                }
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok((input, at, shot)) => {
                        for c in composer.push(input, at, shot) {
                            handle(c, &mut self, &mut step);
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        watcher_died = true;
                        break;
                    }
                }
            }
            // The events already sent, then whatever is pending.
            listener.stop();
            while let Ok((input, at, shot)) = rx.try_recv() {
                if composer.stopped {
                    break;
                }
                for c in composer.push(input, at, shot) {
                    handle(c, &mut self, &mut step);
                }
            }
            for c in composer.finish() {
                handle(c, &mut self, &mut step);
            }
            done.store(true, Ordering::SeqCst);
            let _ = capture_thread.join();
            if watcher_died {
                return RunResult::new(
                    RunStatus::Error,
                    format!(
                        "the X server stopped sending input events after {step} step(s); what was seen is recorded"
                    ),
                );
            }
            let how = if composer.stopped { "the stop key" } else { "a stop signal" };
            RunResult::new(RunStatus::Done, format!("the demonstration ended with {how} after {step} step(s)"))
        });
        let mut result = result;
        if !secrets.is_empty() {
            // The task names the secrets, so a replay asks for them from the environment.
            let names: Vec<String> = secrets.iter().map(|n| format!("{{{{secret:{n}}}}}")).collect();
            self.recorder.info.task = format!("{} (typed secrets: {})", self.recorder.info.task, names.join(", "));
        }
        if let Err(e) = self.recorder.finish(result.clone()) {
            result = RunResult::new(RunStatus::Error, format!("the demonstration was watched but {e}"));
        }
        (self.events)(&Event::Finished {
            status: result.status,
            message: result.message.clone(),
            answer: None,
            steps: step,
            usage: Usage::default(),
            run_dir: Some(self.recorder.dir().display().to_string()),
        });
        Ok(result)
    }

    fn step(
        &mut self,
        n: u32,
        c: Composed<Shot>,
        secret_field: &mut Option<bool>,
        secrets: &mut Vec<String>,
        ring: &Ring,
    ) {
        let started_at = record::now_rfc3339();
        let t = Instant::now();
        let frame = match c.first.or_else(|| ring.before(Instant::now())) {
            Some(f) => (*f).clone(),
            None => return,
        };
        let capture_ms = ms(t);
        let opts = AnnotateOptions { marks: MarkOptions::default(), scale: None };
        let ann = match annotate_frame(frame, Some(capture_ms), &mut self.pipeline, &opts) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!("step {n}: perception failed: {e}");
                return;
            }
        };
        let mapping = ann.frame.mapping.clone();
        let to_frame = |x: i32, y: i32| match &mapping {
            Some(m) => m.input_to_frame(InputPoint { x, y }),
            None => (x as f64, y as f64),
        };
        let at = |x: i32, y: i32| {
            let (fx, fy) = to_frame(x, y);
            match element_at(&ann.scene, fx, fy) {
                Some(e) => Pointer::Mark(e.id),
                None => Pointer::Point(fx, fy),
            }
        };
        let action = match c.gesture {
            Gesture::Click { kind, x, y } => {
                let p = at(x, y);
                *secret_field = Some(matches!(p, Pointer::Mark(id) if guard::is_password_field(&ann.scene, id)));
                Action::Pointer { kind, target: p }
            }
            Gesture::Drag { from, to } => Action::Drag { from: at(from.0, from.1), to: at(to.0, to.1) },
            Gesture::Scroll { direction, amount, x, y } => Action::Scroll { direction, amount, target: Some(at(x, y)) },
            Gesture::Type { text } if secret_field.unwrap_or_else(|| typing_into_a_password(&ann.scene)) => {
                let name =
                    if secrets.is_empty() { "PASSWORD".to_string() } else { format!("PASSWORD_{}", secrets.len() + 1) };
                secrets.push(name.clone());
                drop(text);
                Action::Type { text: format!("{{{{secret:{name}}}}}"), target: None, clear: false }
            }
            Gesture::Type { text } => Action::Type { text, target: None, clear: false },
            Gesture::Key { combo } => {
                *secret_field = None;
                Action::Key { combo }
            }
        };
        let thought = format!("the person did: {}", describe(&action, &ann.scene));
        (self.events)(&Event::Perception {
            step: n,
            width: ann.scene.width,
            height: ann.scene.height,
            elements: ann.scene.elements.iter().map(|e| ElementSummary::new(e, mapping.as_ref())).collect(),
            capture_ms,
            detect_ms: ann.timings.detect,
            fusion_ms: ann.timings.fusion,
            mark_ms: ann.timings.mark,
        });
        (self.events)(&Event::Decision { step: n, thought: thought.clone(), action: action.clone() });
        let windows = capture::windows_of(self.capturer, mapping.as_ref(), ann.scene.width, ann.scene.height);
        let mut rec = StepRecord::on_screen(n, started_at, &ann.scene, mapping.clone(), windows);
        rec.decision = Some(Decision { thought, action });
        rec.outcome = Outcome { status: "performed".into(), detail: None, screen_changed: None, input: Vec::new() };
        rec.timings_ms = StepTimings {
            capture: capture_ms,
            detect: ann.timings.detect,
            fusion: ann.timings.fusion,
            mark: ann.timings.mark,
            ..Default::default()
        };
        (self.events)(&Event::Outcome { step: n, outcome: rec.outcome.clone() });
        if let Err(e) = self.recorder.step(rec, ann.frame.image.clone(), ann.marked.clone()) {
            tracing::error!("{e}");
        }
    }
}

/// Where the focus is not known from a click: is the typing going into a password field?
/// The field the application says has the focus decides; where no element says it has the
/// focus (no accessibility tree), any password field on the screen makes the text a secret
/// (a login dialog that opened on its password field, a Tab into one): a name recorded as a
/// secret costs a question at replay, a password recorded in plain text cannot be taken back.
fn typing_into_a_password(scene: &Scene) -> bool {
    match scene.elements.iter().find(|e| e.has(crate::perceive::State::Focused)) {
        Some(focused) => guard::is_password_field(scene, focused.id),
        None => scene.elements.iter().any(|e| guard::is_password_field(scene, e.id)),
    }
}

/// The smallest element holding the point.
fn element_at(scene: &Scene, x: f64, y: f64) -> Option<&Element> {
    scene.elements.iter().filter(|e| e.bbox.contains_point(x, y)).min_by_key(|e| e.bbox.area())
}
