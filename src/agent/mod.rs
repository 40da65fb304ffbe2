//! The agent loop: capture → perceive → mark → decide → guard → act → record, one step at a
//! time, until the model says done or fail, a limit is reached, or someone pulls the stop.
//!
//! Perception is exactly `annotate`'s (same pipeline, same numbering), so what `markpilot
//! annotate` shows on a screen is what the model saw on it.

mod events;
mod operator;
pub mod settle;
mod stop;
mod zoom;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use image::RgbaImage;
use serde_json::json;

pub use events::{ElementSummary, Event};
pub use operator::{Operator, TerminalOperator, Unattended, Verdict};
pub use stop::StopSignal;

use crate::act::{self, Executor};
use crate::action::{Action, Pointer};
use crate::annotate::{AnnotateOptions, annotate_concealing};
use crate::capture::{self, Capturer, Frame, Target};
use crate::decide::{
    self, AnswerContext, Decision, EncodedImage, Part, PromptConfig, Role, StepPrompt, Turn, Usage, VlmClient,
    VlmError, VlmRequest, parse_answer, prompt,
};
use crate::guard::{self, ConfirmPolicy, RepeatTracker, RepeatVerdict, Secrets};
use crate::mark::MarkOptions;
use crate::perceive::{Pipeline, Scene, ms};
use crate::record::{self, Confirmation, Outcome, Recorder, RunResult, RunStatus, SentImage, StepRecord, StepTimings};
use zoom::{Zooming, zoom_into};

/// How the agent runs.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentOptions {
    pub task: String,
    pub target: Target,
    pub max_steps: u32,
    /// Wall-clock limit for the whole run.
    pub max_seconds: f64,
    pub confirm: ConfirmPolicy,
    pub prompt: PromptConfig,
    pub marks: MarkOptions,
    /// Earlier marked screenshots sent along with the current one.
    pub history_images: usize,
    /// Longest wait for the screen to stop changing after an action.
    pub settle_timeout: Duration,
    /// Time between the captures compared while settling (where the display server does not
    /// report changes).
    pub settle_interval: Duration,
    /// With the display server's change reports: settled after this long with no change.
    pub settle_quiet: Duration,
    /// With the change reports: how long an action that should change the screen is given
    /// to show its first change.
    pub settle_first_change: Duration,
}

impl AgentOptions {
    pub fn new(task: impl Into<String>) -> Self {
        Self {
            task: task.into(),
            target: Target::Monitor(None),
            max_steps: 30,
            max_seconds: 900.0,
            confirm: ConfirmPolicy::Risky,
            prompt: PromptConfig::default(),
            marks: MarkOptions::default(),
            history_images: 0,
            settle_timeout: Duration::from_millis(3000),
            settle_interval: Duration::from_millis(120),
            settle_quiet: SETTLE_QUIET,
            settle_first_change: SETTLE_FIRST_CHANGE,
        }
    }
}

/// Settled after this long with no change reported by the display server: longer than the
/// gap between two frames of an animation (16–40 ms) or between a click and its repaint.
pub const SETTLE_QUIET: Duration = Duration::from_millis(80);
/// How long a click, a key or typed text is given to show its first change.
pub const SETTLE_FIRST_CHANGE: Duration = Duration::from_millis(700);

/// Everything the loop works with.
pub struct Agent<'a> {
    pub options: AgentOptions,
    pub capturer: &'a dyn Capturer,
    pub pipeline: Pipeline,
    pub client: VlmClient,
    pub executor: Box<dyn Executor + 'a>,
    pub operator: Box<dyn Operator + 'a>,
    pub recorder: Option<Recorder>,
    pub stop: StopSignal,
    pub events: Box<dyn FnMut(&Event) + Send + 'a>,
    pub runtime: tokio::runtime::Handle,
}

/// What a step ended with.
enum StepEnd {
    Continue,
    Finish(RunResult),
}

struct StepState {
    history: Vec<String>,
    notes: Vec<String>,
    images: VecDeque<(u32, EncodedImage)>,
    repeat: RepeatTracker,
    /// The settled frame after the last action: the next step starts from it.
    next_frame: Option<(Frame, f64)>,
    /// The display server's change reports, when it gives them.
    changes: Option<Box<dyn crate::capture::Changes>>,
    /// What the model zoomed into: the next step looks there, at full resolution.
    zoom: Option<Zooming>,
}

fn finish(status: RunStatus, message: impl Into<String>) -> StepEnd {
    StepEnd::Finish(RunResult::new(status, message))
}

impl Agent<'_> {
    /// Run the task. Never panics on outside input: every failure ends the run with a status
    /// and a message, recorded.
    pub fn run(mut self) -> RunResult {
        let secrets = Secrets::from_task(&self.options.task);
        let started = Instant::now();
        let mut state = StepState {
            history: Vec::new(),
            notes: Vec::new(),
            images: VecDeque::new(),
            repeat: Default::default(),
            next_frame: None,
            changes: self.capturer.watch(),
            zoom: None,
        };
        let mut usage = Usage::default();
        let mut result = None;
        let mut steps = 0;
        if let Err(msg) = secrets.check() {
            result = Some(RunResult::new(RunStatus::Error, msg));
        }
        while result.is_none() {
            self.stop.wait_while_paused();
            if self.stop.is_stopped() {
                result = Some(RunResult::new(RunStatus::Stopped, self.stop.reason()));
                break;
            }
            if steps >= self.options.max_steps {
                result = Some(RunResult::new(
                    RunStatus::Limit,
                    format!("reached the step limit ({})", self.options.max_steps),
                ));
                break;
            }
            if started.elapsed().as_secs_f64() >= self.options.max_seconds {
                result = Some(RunResult::new(
                    RunStatus::Limit,
                    format!("reached the time limit ({} s)", self.options.max_seconds),
                ));
                break;
            }
            steps += 1;
            let (end, step_usage) = self.step(steps, &mut state, &secrets);
            usage += step_usage;
            if let StepEnd::Finish(r) = end {
                result = Some(r);
            }
        }
        let result = result.unwrap_or_else(|| RunResult::new(RunStatus::Error, "no result"));
        end_run(result, &secrets, self.recorder.as_mut(), steps, usage, &mut *self.events)
    }

    fn emit(&mut self, e: Event) {
        (self.events)(&e);
    }

    fn capture(&self) -> Result<(Frame, f64), String> {
        let t = Instant::now();
        let frame = self.capturer.capture(&self.options.target).map_err(|e| e.to_string())?;
        Ok((frame, ms(t)))
    }

    /// One step. Returns how it ended and the tokens it used.
    fn step(&mut self, n: u32, st: &mut StepState, secrets: &Secrets) -> (StepEnd, Usage) {
        let started_at = record::now_rfc3339();
        self.emit(Event::StepStarted { step: n });
        let mut timings = StepTimings::default();
        let mut usage = Usage::default();

        // capture (the part the model zoomed into, for one step)
        let zoom = st.zoom.take();
        let captured = match &zoom {
            Some(z) => {
                let t = Instant::now();
                self.capturer.capture(&z.target).map(|f| (f, ms(t))).map_err(|e| e.to_string())
            }
            None => st.next_frame.take().map(Ok).unwrap_or_else(|| self.capture()),
        };
        let (frame, capture_ms) = match captured {
            Ok(f) => f,
            Err(e) => return (finish(RunStatus::Error, format!("capture failed: {e}")), usage),
        };
        timings.capture = capture_ms;

        // perceive + mark, with badges sized for the image the model will see
        let resize = decide::sent_size(frame.image.width(), frame.image.height(), &self.client.profile);
        let opts = AnnotateOptions {
            marks: MarkOptions { reference_width: resize.to_width.max(1), ..self.options.marks },
            scale: None,
        };
        // Secrets come out of the scene and the pixels here, before anyone sees them.
        let ann = match annotate_concealing(frame, Some(capture_ms), &mut self.pipeline, &opts, secrets) {
            Ok(a) => a,
            Err(e) => return (finish(RunStatus::Error, format!("perception failed: {e}")), usage),
        };
        timings.detect = ann.timings.detect;
        timings.fusion = ann.timings.fusion;
        timings.mark = ann.timings.mark;
        let mapping = ann.frame.mapping.clone();
        self.emit(Event::Perception {
            step: n,
            width: ann.scene.width,
            height: ann.scene.height,
            elements: ann.scene.elements.iter().map(|e| ElementSummary::new(e, mapping.as_ref())).collect(),
            capture_ms,
            detect_ms: timings.detect,
            fusion_ms: timings.fusion,
            mark_ms: timings.mark,
        });

        // encode
        let t = Instant::now();
        let profile = self.client.profile.clone();
        let encoded = decide::encode_image(&ann.marked, &resize, &profile).and_then(|marked| {
            let clean = if profile.send_clean_screenshot {
                Some(decide::encode_image(&ann.frame.image, &resize, &profile)?)
            } else {
                None
            };
            Ok((marked, clean))
        });
        let (marked_img, clean_img) = match encoded {
            Ok(x) => x,
            Err(e) => return (finish(RunStatus::Error, e.to_string()), usage),
        };
        timings.encode = ms(t);
        self.emit(Event::Screenshot { step: n, image: marked_img.clone() });

        // request
        let t = Instant::now();
        let language = self.options.prompt.language;
        if let Some(z) = &zoom {
            st.notes.push(prompt::zoomed_note(language, &z.region, z.depth < crate::action::MAX_ZOOM_DEPTH));
        } else if prompt::is_dense(&ann.scene, resize.factor()) {
            st.notes.push(prompt::zoom_offer(language).to_string());
        }
        let user_text = self.options.prompt.user(&StepPrompt {
            task: &self.options.task,
            step: n,
            max_steps: self.options.max_steps,
            history: &st.history,
            notes: &st.notes,
            scene: &ann.scene,
            image_width: resize.to_width,
            image_height: resize.to_height,
        });
        let mut parts = vec![Part::Text(user_text.clone())];
        for (k, img) in &st.images {
            parts.push(Part::Text(format!("Earlier screenshot (step {k}):")));
            parts.push(Part::Image(img.clone()));
        }
        if !st.images.is_empty() || clean_img.is_some() {
            parts.push(Part::Text("Current screenshot with marks:".into()));
        }
        parts.push(Part::Image(marked_img.clone()));
        if let Some(c) = &clean_img {
            parts.push(Part::Text("The same screenshot without marks:".into()));
            parts.push(Part::Image(c.clone()));
        }
        let mut request = VlmRequest {
            system: self.options.prompt.system(profile.coordinates),
            turns: vec![Turn { role: Role::User, parts }],
        };
        timings.request = ms(t);
        st.notes.clear();
        if self.options.history_images > 0 {
            st.images.push_back((n, marked_img.clone()));
            while st.images.len() > self.options.history_images {
                st.images.pop_front();
            }
        }

        // Replay finds targets relative to their windows.
        let windows = capture::windows_of(self.capturer, mapping.as_ref(), ann.scene.width, ann.scene.height);
        let mut rec = StepRecord::on_screen(n, started_at, &ann.scene, mapping.clone(), windows);
        rec.sent = Some(SentImage {
            width: marked_img.width,
            height: marked_img.height,
            mime: marked_img.mime.into(),
            bytes: marked_img.bytes,
        });
        rec.request_text = user_text;

        // decide, with one repair turn
        let ctx = AnswerContext { scene: &ann.scene, resize, coordinates: profile.coordinates };
        let mut decision: Option<Decision> = None;
        let mut failure: Option<StepEnd> = None;
        for attempt in 0..2 {
            let t = Instant::now();
            let reply = self.ask_model(&request);
            timings.model += ms(t);
            let reply = match reply {
                Ok(r) => r,
                Err(AskError::Stopped) => {
                    failure = Some(finish(RunStatus::Stopped, self.stop.reason()));
                    rec.outcome.status = "stopped".into();
                    break;
                }
                Err(AskError::Vlm(e)) => {
                    rec.outcome.detail = Some(e.to_string());
                    failure = Some(finish(RunStatus::Error, e.to_string()));
                    break;
                }
            };
            usage += reply.usage;
            rec.answers.push(secrets.redact(&reply.text));
            let t = Instant::now();
            let parsed = parse_answer(&reply.text, &ctx);
            timings.parse += ms(t);
            match parsed {
                Ok(d) => {
                    // What the model says goes into the record, the events and the history.
                    decision = Some(Decision {
                        thought: secrets.redact(&d.thought),
                        action: secrets.redact_action(&d.action),
                    });
                    break;
                }
                Err(invalid) => {
                    rec.invalid.push(secrets.redact(&invalid.0));
                    if attempt == 0 {
                        request.turns.push(Turn::text(Role::Assistant, reply.text));
                        request.turns.push(Turn::text(
                            Role::User,
                            format!(
                                "Your answer could not be used: {}. Answer again with exactly one JSON object: {{\"thought\": \"...\", \"action\": {{...}}}}.",
                                invalid.0
                            ),
                        ));
                    } else {
                        let msg = format!("the model's answer was invalid twice: {}", invalid.0);
                        rec.outcome = Outcome {
                            status: "invalid".into(),
                            detail: Some(msg.clone()),
                            screen_changed: None,
                            input: Vec::new(),
                        };
                        failure = Some(finish(RunStatus::Error, msg));
                    }
                }
            }
        }
        let Some(decision) = decision else {
            let end = failure.unwrap_or_else(|| finish(RunStatus::Error, "no decision"));
            self.write_step(rec, timings, usage, &ann.frame.image, &ann.marked);
            return (end, usage);
        };
        self.emit(Event::Decision { step: n, thought: decision.thought.clone(), action: decision.action.clone() });
        rec.decision = Some(decision.clone());
        let action = decision.action.clone();

        // terminal actions
        let end = match &action {
            Action::Done { answer } => Some(StepEnd::Finish(RunResult {
                status: RunStatus::Done,
                message: "the model says the task is done".into(),
                answer: answer.clone(),
            })),
            Action::Fail { reason } => Some(finish(RunStatus::Fail, format!("the model gave up: {reason}"))),
            Action::AskUser { question } => {
                let q = question.clone();
                match self.operator.ask(n, &q, &self.stop) {
                    Some(answer) => {
                        let answer = secrets.redact(&answer);
                        st.history.push(format!("{n}. asked the person {:?}; the answer: {:?}", q, answer));
                        rec.outcome = Outcome {
                            status: "answered".into(),
                            detail: Some(answer),
                            screen_changed: None,
                            input: vec![],
                        };
                        self.emit(Event::Outcome { step: n, outcome: rec.outcome.clone() });
                        self.write_step(rec, timings, usage, &ann.frame.image, &ann.marked);
                        return (StepEnd::Continue, usage);
                    }
                    None if self.stop.is_stopped() => Some(finish(RunStatus::Stopped, self.stop.reason())),
                    None => Some(finish(RunStatus::AskUser, format!("the model asks: {q}"))),
                }
            }
            _ => None,
        };
        if let Some(end) = end {
            rec.outcome = Outcome { status: "finished".into(), detail: None, screen_changed: None, input: vec![] };
            self.emit(Event::Outcome { step: n, outcome: rec.outcome.clone() });
            self.write_step(rec, timings, usage, &ann.frame.image, &ann.marked);
            return (end, usage);
        }

        // zoom: no input; the next step looks there
        if let Action::Zoom { target } = &action {
            let depth = zoom.as_ref().map_or(0, |z| z.depth);
            let (outcome, line) = match zoom_into(target, depth, &ann) {
                Ok(z) => {
                    let r = z.region;
                    let line = format!(
                        "{n}. {action} → the next screenshot shows the screen's {}x{} pixels at ({}, {}) at full resolution",
                        r.w, r.h, r.x, r.y
                    );
                    st.zoom = Some(z);
                    (Outcome { status: "zoomed".into(), detail: None, screen_changed: None, input: vec![] }, line)
                }
                Err(why) => {
                    // What it was looking at stays in view.
                    st.zoom = zoom.clone();
                    (
                        Outcome {
                            status: "refused".into(),
                            detail: Some(why.clone()),
                            screen_changed: None,
                            input: vec![],
                        },
                        format!("{n}. {action} → not done: {why}"),
                    )
                }
            };
            rec.outcome = outcome;
            st.history.push(line);
            self.emit(Event::Outcome { step: n, outcome: rec.outcome.clone() });
            self.write_step(rec, timings, usage, &ann.frame.image, &ann.marked);
            return (StepEnd::Continue, usage);
        }

        // guard
        let t = Instant::now();
        let described_action = describe(&action, &ann.scene);
        let (confirmed, waited_ms) = confirm(
            self.options.confirm,
            n,
            action,
            &ann.scene,
            self.operator.as_mut(),
            &self.stop,
            &mut *self.events,
            &mut rec,
        );
        let guard_ms = ms(t) - waited_ms;
        let action = match confirmed {
            Confirmed::Go(a) => a,
            Confirmed::Refused { reason, outcome } => {
                let stopped = outcome.status == "stopped";
                rec.outcome = outcome;
                st.history.push(format!(
                    "{n}. {described_action} — the person refused this action ({reason}); do not repeat it"
                ));
                self.emit(Event::Outcome { step: n, outcome: rec.outcome.clone() });
                self.write_step(rec, timings, usage, &ann.frame.image, &ann.marked);
                let end = if stopped { finish(RunStatus::Stopped, self.stop.reason()) } else { StepEnd::Continue };
                return (end, usage);
            }
        };

        // act
        if self.stop.is_stopped() {
            rec.outcome.status = "stopped".into();
            self.write_step(rec, timings, usage, &ann.frame.image, &ann.marked);
            return (finish(RunStatus::Stopped, self.stop.reason()), usage);
        }
        // Latency from the decision to the first input event, not counting a person's
        // thinking time: the guard's own checks, resolving, and the executor's first call.
        let t = Instant::now();
        // What changed while the model was asked (carets, spinners) animates.
        let idle = st.changes.as_mut().map(|c| c.take()).unwrap_or_default();
        let done = perform(&action, &ann.scene, mapping.as_ref(), secrets, self.executor.as_mut());
        timings.act_latency = guard_ms + done.latency_ms;
        timings.act = ms(t);
        let described = done.input;
        self.emit(Event::Action {
            step: n,
            action: action.clone(),
            input: described.clone(),
            dry_run: self.executor.is_dry_run(),
        });
        if let Some(e) = done.error {
            rec.outcome =
                Outcome { status: "error".into(), detail: Some(e.clone()), screen_changed: None, input: described };
            self.emit(Event::Outcome { step: n, outcome: rec.outcome.clone() });
            self.write_step(rec, timings, usage, &ann.frame.image, &ann.marked);
            return (finish(RunStatus::Error, format!("step {n}: {} failed: {e}", action)), usage);
        }

        // settle
        let t = Instant::now();
        if let Action::Wait { seconds } = action {
            self.stop.sleep(crate::action::seconds(seconds.min(crate::action::MAX_WAIT_SECONDS)));
        }
        // Settling captures the whole target again; on a zoom, its area is the whole monitor.
        let area = match (&zoom, mapping.as_ref()) {
            (Some(_), Some(m)) => Some(crate::geometry::Rect::new(
                m.monitor.physical_x,
                m.monitor.physical_y,
                m.monitor.physical_width,
                m.monitor.physical_height,
            )),
            _ => settle::screen_area(&ann.frame),
        };
        let settled = self.settle(ann.screen(), area, &action, st.changes.as_deref_mut(), &idle);
        timings.settle = ms(t);
        let (changed, end) = match settled {
            Ok((frame, capture_ms, changed)) => {
                // On a zoom, what changed is judged on the part it showed.
                let changed = match &zoom {
                    Some(z) if frame.monitor().map(|m| m.index) == mapping.as_ref().map(|m| m.monitor.index) => {
                        settle::changed_within(ann.screen(), &frame, &z.region)
                    }
                    _ => changed,
                };
                st.next_frame = Some((frame, capture_ms));
                (changed, StepEnd::Continue)
            }
            Err(e) => (false, finish(RunStatus::Error, format!("capture failed after acting: {e}"))),
        };
        let status = acted_status(&action, self.executor.is_dry_run());
        rec.outcome = Outcome { status: status.into(), detail: None, screen_changed: Some(changed), input: described };
        self.emit(Event::Outcome { step: n, outcome: rec.outcome.clone() });
        st.history.push(format!(
            "{n}. {} → {}",
            describe(&action, &ann.scene),
            if changed { "the screen changed" } else { "no visible change" }
        ));
        let end = match (end, st.repeat.observe(&action, changed)) {
            (StepEnd::Continue, RepeatVerdict::Warn(note)) => {
                st.notes.push(note);
                StepEnd::Continue
            }
            (StepEnd::Continue, RepeatVerdict::Stop(msg)) => finish(RunStatus::Limit, msg),
            (end, _) => end,
        };
        self.write_step(rec, timings, usage, &ann.frame.image, &ann.marked);
        (end, usage)
    }

    fn write_step(
        &mut self,
        mut rec: StepRecord,
        mut timings: StepTimings,
        usage: Usage,
        screen: &RgbaImage,
        marked: &RgbaImage,
    ) {
        timings.overhead = timings.capture
            + timings.detect
            + timings.fusion
            + timings.mark
            + timings.encode
            + timings.request
            + timings.parse
            + timings.act_latency
            + timings.act;
        rec.timings_ms = timings.clone();
        rec.usage = usage;
        self.emit(Event::StepRecorded { step: rec.step, timings_ms: timings, usage });
        if let Some(r) = self.recorder.as_mut()
            && let Err(e) = r.step(rec, screen.clone(), marked.clone())
        {
            tracing::error!("{e}");
        }
    }

    fn ask_model(&self, request: &VlmRequest) -> Result<decide::VlmReply, AskError> {
        let stop = self.stop.clone();
        let client = &self.client;
        self.runtime.block_on(async move {
            tokio::select! {
                r = client.complete(request) => r.map_err(AskError::Vlm),
                _ = stop.stopped() => Err(AskError::Stopped),
            }
        })
    }

    /// Wait for the screen to settle after `action`: on the display server's change reports
    /// when it gives them, else capture until two captures in a row are still (at most a
    /// sliver differs: spinners, carets), or the timeout. Returns the last frame, its capture
    /// time, and whether it differs from `before` outside what was animating.
    fn settle(
        &self,
        before: &RgbaImage,
        area: Option<crate::geometry::Rect>,
        action: &Action,
        changes: Option<&mut (dyn crate::capture::Changes + 'static)>,
        idle: &[crate::geometry::Rect],
    ) -> Result<(Frame, f64, bool), String> {
        if let (Some(changes), Some(area)) = (changes, area) {
            let o = &self.options;
            let wait = settle::Quiet {
                quiet: o.settle_quiet,
                // A dry run sends no input: no change is coming.
                first_change: (action.expects_change() && !self.executor.is_dry_run()).then_some(o.settle_first_change),
                timeout: o.settle_timeout,
            };
            return settle::until_quiet(changes, || self.capture(), &self.stop, wait, area, Some(before), idle);
        }
        settle::until_still(
            || self.capture(),
            &self.stop,
            self.options.settle_interval,
            self.options.settle_timeout,
            Some(before),
        )
    }
}

enum AskError {
    Stopped,
    Vlm(VlmError),
}

/// Close a run (the agent's or a replay's): secrets out of the message, the result into
/// `run.json` (a recording that cannot be finished turns a success into an error, said
/// beside it), and the `finished` event.
pub fn end_run(
    mut result: RunResult,
    secrets: &Secrets,
    recorder: Option<&mut Recorder>,
    steps: u32,
    usage: Usage,
    events: &mut dyn FnMut(&Event),
) -> RunResult {
    result.message = secrets.redact(&result.message);
    let run_dir = recorder.as_ref().map(|r| r.dir().display().to_string());
    if let Some(rec) = recorder
        && let Err(e) = rec.finish(result.clone())
    {
        tracing::error!("{e}");
        if result.status == RunStatus::Done {
            result = RunResult {
                status: RunStatus::Error,
                message: format!("the run finished but {e}"),
                answer: result.answer,
            };
        }
    }
    events(&Event::Finished {
        status: result.status,
        message: result.message.clone(),
        answer: result.answer.clone(),
        steps,
        usage,
        run_dir,
    });
    result
}

/// The person's say on an action, when the policy asks for it.
pub enum Confirmed {
    /// Perform this (the action, or the person's edit of it).
    Go(Action),
    /// Refused (or the run was stopped while asking): the outcome to record.
    Refused { reason: String, outcome: Outcome },
}

/// Ask the operator when `policy` wants confirmation for `action` (the agent and replay share
/// this). Records the confirmation in `record`; returns how long the person took, in ms.
#[allow(clippy::too_many_arguments)]
pub fn confirm(
    policy: ConfirmPolicy,
    step: u32,
    action: Action,
    scene: &Scene,
    operator: &mut dyn Operator,
    stop: &StopSignal,
    events: &mut dyn FnMut(&Event),
    record: &mut StepRecord,
) -> (Confirmed, f64) {
    let Some(reason) = guard::needs_confirmation(policy, &action, scene) else { return (Confirmed::Go(action), 0.0) };
    events(&Event::AwaitingConfirmation { step, action: action.clone(), reason: reason.clone() });
    let waited = Instant::now();
    let verdict = operator.confirm(step, &action, &reason, stop);
    let waited = ms(waited);
    record.confirmation = Some(Confirmation { reason: reason.clone(), approved: !matches!(verdict, Verdict::Refuse) });
    let confirmed = match verdict {
        Verdict::Approve => Confirmed::Go(action),
        Verdict::Edit(a) => Confirmed::Go(a),
        Verdict::Refuse => Confirmed::Refused {
            outcome: Outcome {
                status: if stop.is_stopped() { "stopped" } else { "refused" }.into(),
                detail: Some(format!("not confirmed: {reason}")),
                screen_changed: Some(false),
                input: vec![],
            },
            reason,
        },
    };
    (confirmed, waited)
}

/// The outcome of an action that went through: `dry_run`, `waited` or `performed`.
pub fn acted_status(action: &Action, dry_run: bool) -> &'static str {
    if dry_run {
        "dry_run"
    } else if matches!(action, Action::Wait { .. }) {
        "waited"
    } else {
        "performed"
    }
}

/// What sending an action's input events did.
pub struct Performed {
    /// The events sent, described (typed text only by its length).
    pub input: Vec<String>,
    /// From the call to the first event, in ms (0 when none was sent).
    pub latency_ms: f64,
    pub error: Option<String>,
}

/// Resolve an action on its scene and send its input events, secrets expanded at this moment
/// (the agent and replay share this).
pub fn perform(
    action: &Action,
    scene: &Scene,
    mapping: Option<&crate::coords::FrameMapping>,
    secrets: &Secrets,
    executor: &mut dyn Executor,
) -> Performed {
    let t = Instant::now();
    let expand = |s: &str| secrets.expand(s);
    let mut done = Performed { input: Vec::new(), latency_ms: 0.0, error: None };
    // Whatever the action came from (a model, a recording, an edit, an MCP client), nothing
    // unbounded is performed.
    let action = match action.clone().bounded() {
        Ok(a) => a,
        Err(e) => {
            done.error = Some(e.0);
            return done;
        }
    };
    match act::resolve(&action, scene, mapping, &expand) {
        Ok(ops) => {
            for (i, op) in ops.iter().enumerate() {
                if i == 0 {
                    done.latency_ms = ms(t);
                }
                done.input.push(format!("{op:?}"));
                if let Err(e) = executor.perform(op) {
                    done.error = Some(e.to_string());
                    break;
                }
            }
        }
        Err(e) => done.error = Some(e.to_string()),
    }
    if done.error.is_none() {
        secrets.note_typed(&action, scene);
    }
    done
}

/// `click mark 7 (button "OK")`: the action, with what its marks are.
pub fn describe(action: &Action, scene: &Scene) -> String {
    if let Action::Pointer { target: Pointer::Point(..), .. } = action {
        // Points are in frame pixels here; the history is read against the sent image, so
        // say where without numbers that would mislead.
        return format!("{} at a point", action.name());
    }
    let mut s = action.to_string();
    let marks = action.marks();
    let labels: Vec<String> = marks
        .iter()
        .filter_map(|m| scene.element(*m))
        .map(|e| match e.text.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => format!("{} {}", e.kind, crate::action::short_quote(t, 40)),
            None => e.kind.to_string(),
        })
        .collect();
    if !labels.is_empty() {
        s.push_str(&format!(" ({})", labels.join(", ")));
    }
    s
}

/// The options a run was made with, for `run.json` (never a key).
pub fn options_json(o: &AgentOptions, client: &VlmClient, executor: &str) -> serde_json::Value {
    let p = &client.profile;
    json!({
        "target": format!("{:?}", o.target),
        "max_steps": o.max_steps,
        "max_seconds": o.max_seconds,
        "confirm": o.confirm,
        "language": o.prompt.language,
        "custom_prompts": o.prompt.system.is_some() || o.prompt.user.is_some(),
        "system_prompt": o.prompt.system(p.coordinates),
        "mark_style": o.marks.style,
        "history_images": o.history_images,
        "settle_timeout_ms": o.settle_timeout.as_millis() as u64,
        "executor": executor,
        "profile": {
            "name": p.name,
            "max_side": p.max_side,
            "max_pixels": p.max_pixels,
            "size_multiple": p.size_multiple,
            "image_format": p.image_format,
            "temperature": p.temperature,
            "max_tokens": p.max_tokens,
            "timeout": p.timeout,
            "retries": p.retries,
            "coordinates": p.coordinates,
            "api_key_env": p.api_key_env,
        },
    })
}
