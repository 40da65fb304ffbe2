//! Replay: carry out a recorded run again without asking a model, by re-finding each
//! recorded target on the current screen (see [`refind`]).
//!
//! For every recorded action: wait for the screen to settle, perceive it exactly as the agent
//! does, re-find each target (a mark or a point on the recorded screen), act. A target that
//! cannot be found with confidence is waited for a little (windows open late); then, when a
//! model is allowed, the model picks the action for that step from the recorded intent;
//! otherwise the replay stops and says which step, what it looked for (with a crop of it) and
//! what came closest. Every replay is itself a recorded run pointing at its original.

pub mod refind;

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use image::RgbaImage;
use serde_json::json;

use crate::act::Executor;
use crate::action::{Action, Pointer};
use crate::agent::{self, Confirmed, ElementSummary, Event, Operator, StopSignal, settle};
use crate::annotate::{AnnotateOptions, Annotation, annotate_concealing, encode_png};
use crate::capture::{self, Capturer, Frame, Target, WindowBox};
use crate::decide::{
    self, AnswerContext, Decision, Part, PromptConfig, Role, StepPrompt, Turn, Usage, VlmClient, VlmRequest,
    parse_answer,
};
use crate::files::write_atomically;
use crate::guard::{ConfirmPolicy, Secrets};
use crate::mark::MarkOptions;
use crate::perceive::{Element, Pipeline, ms};
use crate::record::{
    self, Outcome, Recorder, ReplayStep, Run, RunResult, RunStatus, StepRecord, StepTimings, TargetMatch,
};
use refind::{ScreenView, refind};

#[derive(Debug, Clone, PartialEq)]
pub struct ReplayOptions {
    pub target: Target,
    /// Recorded waits last `seconds / speed`.
    pub speed: f64,
    pub confirm: ConfirmPolicy,
    pub marks: MarkOptions,
    pub settle_timeout: Duration,
    pub settle_interval: Duration,
    /// With the display server's change reports: settled after this long with no change.
    pub settle_quiet: Duration,
    /// How long a target that is not (yet) on the screen is waited for.
    pub find_timeout: Duration,
    /// Emit each step's marked screenshot (for the desktop app's live view).
    pub screenshots: bool,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            target: Target::Monitor(None),
            speed: 1.0,
            confirm: ConfirmPolicy::Risky,
            marks: MarkOptions::default(),
            settle_timeout: Duration::from_millis(3000),
            // Shorter than the agent's: a target not found on a screen caught mid-change is
            // looked for again, and a recorded step that changed the screen is waited for.
            settle_interval: Duration::from_millis(40),
            // Shorter than the agent's, for the same reason.
            settle_quiet: Duration::from_millis(40),
            find_timeout: Duration::from_millis(4000),
            screenshots: false,
        }
    }
}

/// The model a replay may fall back on.
pub struct Fallback {
    pub client: VlmClient,
    pub prompt: PromptConfig,
    pub runtime: tokio::runtime::Handle,
}

pub struct Replayer<'a> {
    pub original: Run,
    pub options: ReplayOptions,
    pub capturer: &'a dyn Capturer,
    pub pipeline: Pipeline,
    pub fallback: Option<Fallback>,
    pub executor: Box<dyn Executor + 'a>,
    pub operator: Box<dyn Operator + 'a>,
    pub recorder: Option<Recorder>,
    pub stop: StopSignal,
    pub events: Box<dyn FnMut(&Event) + Send + 'a>,
}

/// The recorded steps a replay carries out: actions that were performed (or dry-run), and
/// the final `done`. Refused, failed and unanswered steps did nothing and are skipped.
pub fn replayable(run: &Run) -> Vec<&StepRecord> {
    run.steps
        .iter()
        .filter(|s| match &s.decision {
            Some(d) if matches!(d.action, Action::Done { .. }) => true,
            Some(d) if d.action.is_terminal() => false,
            Some(_) => matches!(s.outcome.status.as_str(), "performed" | "waited" | "dry_run"),
            None => false,
        })
        .collect()
}

/// The secrets a replay types: those the task names that its replayable steps type (a
/// recording cut before the password step needs no password).
pub fn secrets(run: &Run) -> Secrets {
    let named = Secrets::from_task(&run.info.task);
    let typed: String = replayable(run)
        .iter()
        .filter_map(|s| match &s.decision.as_ref()?.action {
            Action::Type { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ");
    let used = Secrets::from_task(&typed);
    Secrets::named(named.names.intersection(&used.names).cloned())
}

/// What a step ended with.
enum StepEnd {
    Continue,
    Finish(RunResult),
}

/// What carries from step to step.
struct StepState {
    /// The settled frame after the last action: the next step starts from it.
    next_frame: Option<(Frame, f64)>,
    history: Vec<String>,
    /// The recorded screens, decoded ahead (one step ahead) on their own thread.
    recorded: mpsc::Receiver<Result<RgbaImage, String>>,
    /// The display server's change reports, when it gives them.
    changes: Option<Box<dyn crate::capture::Changes>>,
}

/// The targets of one step, found (or not).
struct Located {
    action: Option<Action>,
    matches: Vec<TargetMatch>,
    reason: Option<String>,
    ms: f64,
}

impl Replayer<'_> {
    pub fn run(mut self) -> RunResult {
        let secrets = secrets(&self.original);
        let steps: Vec<StepRecord> = replayable(&self.original).into_iter().cloned().collect();
        let mut result = None;
        if let Err(msg) = secrets.check() {
            result = Some(RunResult::new(RunStatus::Error, msg));
        }
        let mut usage = Usage::default();
        let (tx, rx) = mpsc::sync_channel(1);
        let dir = self.original.dir.clone();
        let screens: Vec<StepRecord> = steps
            .iter()
            .filter(|s| !matches!(s.decision.as_ref().map(|d| &d.action), Some(Action::Done { .. })))
            .cloned()
            .collect();
        std::thread::spawn(move || {
            for s in &screens {
                if tx.send(load_recorded(&dir, s)).is_err() {
                    break;
                }
            }
        });
        let mut state =
            StepState { next_frame: None, history: Vec::new(), recorded: rx, changes: self.capturer.watch() };
        let mut n = 0;
        for orig in &steps {
            if result.is_some() {
                break;
            }
            if self.stop.is_stopped() {
                result = Some(RunResult::new(RunStatus::Stopped, "stopped by the person"));
                break;
            }
            let Some(decision) = &orig.decision else { continue };
            if let Action::Done { answer } = &decision.action {
                result = Some(RunResult {
                    status: RunStatus::Done,
                    message: format!("replayed every recorded step ({n})"),
                    answer: answer.clone(),
                });
                break;
            }
            n += 1;
            let (end, u) = self.step(n, orig, decision, &secrets, &mut state);
            usage += u;
            if let StepEnd::Finish(r) = end {
                result = Some(r);
            }
        }
        let mut result = result.unwrap_or_else(|| {
            RunResult::new(RunStatus::Done, format!("replayed every recorded step ({n}); the original ended there"))
        });
        if self.original.truncated && result.status == RunStatus::Done {
            result.message.push_str(&format!(
                "; the recording was cut short after step {} (its process was killed), so that is where the replay ended",
                self.original.steps.last().map_or(0, |s| s.step)
            ));
        }
        agent::end_run(result, &secrets, self.recorder.as_mut(), n, usage, &mut *self.events)
    }

    fn capture(&self) -> Result<(Frame, f64), String> {
        let t = Instant::now();
        let frame = self.capturer.capture(&self.options.target).map_err(|e| e.to_string())?;
        Ok((frame, ms(t)))
    }

    fn settle(&self, before: Option<&RgbaImage>) -> Result<(Frame, f64, bool), String> {
        settle::until_still(
            || self.capture(),
            &self.stop,
            self.options.settle_interval,
            self.options.settle_timeout,
            before,
        )
    }

    /// Wait until `deadline` for the screen to differ from `before` (what was perceived),
    /// settled: on the display server's change reports when it gives them (a report on the
    /// frame, then quiet), else by comparing captures. Small areas that changed without making a
    /// difference (a caret, a spinner) are not waited on again.
    fn wait_for_change(
        &self,
        changes: Option<&mut (dyn crate::capture::Changes + 'static)>,
        area: Option<crate::geometry::Rect>,
        before: &RgbaImage,
        deadline: Instant,
    ) -> Result<Option<(Frame, f64)>, String> {
        if let (Some(changes), Some(area)) = (changes, area) {
            let mut idle: Vec<crate::geometry::Rect> = Vec::new();
            let mut reporting = true;
            while reporting && Instant::now() < deadline && !self.stop.is_stopped() {
                let left = deadline.saturating_duration_since(Instant::now());
                let r = match changes.next(left.min(Duration::from_millis(50))) {
                    Ok(Some(r)) => r.intersection(&area),
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::debug!(error = %e, "the change reports stopped; waiting by comparing captures");
                        reporting = false;
                        continue;
                    }
                };
                // A caret or a spinner seen to change nothing is not looked at again; a larger
                // area is (what is drawn in it next may be the target).
                if r.is_empty() || idle.iter().any(|i| i.contains(&r) && i.w.max(i.h) <= 64) {
                    continue;
                }
                let wait = settle::Quiet {
                    quiet: self.options.settle_quiet,
                    first_change: None,
                    timeout: self.options.settle_timeout.min(deadline.saturating_duration_since(Instant::now())),
                };
                let (frame, ms, changed) =
                    settle::until_quiet(changes, || self.capture(), &self.stop, wait, area, Some(before), &idle)?;
                if changed {
                    return Ok(Some((frame, ms)));
                }
                idle.push(r);
            }
            if reporting {
                return Ok(None);
            }
        }
        while Instant::now() < deadline && !self.stop.is_stopped() {
            self.stop.sleep(Duration::from_millis(250));
            if let (f, ms, true) = self.settle(Some(before))? {
                return Ok(Some((f, ms)));
            }
        }
        Ok(None)
    }

    /// Perceive a frame as the agent does, and list the windows on it (with the time that took).
    /// Secrets come out of the scene and the pixels here, as in the agent.
    fn perceive(
        &mut self,
        frame: Frame,
        capture_ms: f64,
        secrets: &Secrets,
    ) -> Result<(Annotation, Vec<WindowBox>, f64), String> {
        let opts = AnnotateOptions { marks: self.options.marks, scale: None };
        let ann = annotate_concealing(frame, Some(capture_ms), &mut self.pipeline, &opts, secrets)
            .map_err(|e| e.to_string())?;
        let t = Instant::now();
        let windows = capture::windows_of(self.capturer, ann.frame.mapping.as_ref(), ann.scene.width, ann.scene.height);
        Ok((ann, windows, ms(t)))
    }

    fn step(
        &mut self,
        n: u32,
        orig: &StepRecord,
        decision: &Decision,
        secrets: &Secrets,
        state: &mut StepState,
    ) -> (StepEnd, Usage) {
        let started_at = record::now_rfc3339();
        (self.events)(&Event::StepStarted { step: n });
        let mut timings = StepTimings::default();
        let mut usage = Usage::default();
        let fail = |m: String| StepEnd::Finish(RunResult::new(RunStatus::Error, m));

        // Settle, perceive, find; a target not found yet is waited for while the screen changes.
        let first = match state.next_frame.take() {
            Some(f) => Ok(f),
            None => self.settle(None).map(|(f, ms, _)| (f, ms)),
        };
        let (mut frame, mut capture_ms) = match first {
            Ok(f) => f,
            Err(e) => return (fail(format!("capture failed: {e}")), usage),
        };
        // Re-finding costs the wait for the recorded screen (decoded ahead), the window list and
        // the search itself.
        let t = Instant::now();
        let recorded_image = match state.recorded.recv() {
            Ok(Ok(i)) => i,
            Ok(Err(e)) => return (fail(e), usage),
            Err(_) => return (fail(format!("the recorded screen of step {} could not be read", orig.step)), usage),
        };
        let waited_ms = ms(t);
        let deadline = Instant::now() + self.options.find_timeout;
        let (ann, windows, located) = loop {
            timings.capture = capture_ms;
            let (ann, windows, windows_ms) = match self.perceive(frame, capture_ms, secrets) {
                Ok(x) => x,
                Err(e) => return (fail(format!("perception failed: {e}")), usage),
            };
            timings.detect = ann.timings.detect;
            timings.fusion = ann.timings.fusion;
            timings.mark = ann.timings.mark;
            let located = locate(&decision.action, orig, &recorded_image, &ann, &windows);
            timings.refind = waited_ms + windows_ms + located.ms;
            if located.action.is_some() || !decision.action.touches_desktop() {
                break (ann, windows, located);
            }
            // Not found: wait for the screen to change, then look again.
            let area = settle::screen_area(&ann.frame);
            let changed = match self.wait_for_change(state.changes.as_deref_mut(), area, ann.screen(), deadline) {
                Ok(c) => c,
                Err(e) => return (fail(format!("capture failed: {e}")), usage),
            };
            match changed {
                Some((f, ms)) => (frame, capture_ms) = (f, ms),
                None => break (ann, windows, located),
            }
        };
        if self.stop.is_stopped() {
            return (StepEnd::Finish(RunResult::new(RunStatus::Stopped, "stopped by the person")), usage);
        }
        let mapping = ann.frame.mapping.clone();
        (self.events)(&Event::Perception {
            step: n,
            width: ann.scene.width,
            height: ann.scene.height,
            elements: ann.scene.elements.iter().map(|e| ElementSummary::new(e, mapping.as_ref())).collect(),
            capture_ms: timings.capture,
            detect_ms: timings.detect,
            fusion_ms: timings.fusion,
            mark_ms: timings.mark,
        });
        if self.options.screenshots {
            let profile = decide::ProviderProfile::default();
            let resize = decide::sent_size(ann.scene.width, ann.scene.height, &profile);
            if let Ok(image) = decide::encode_image(&ann.marked, &resize, &profile) {
                (self.events)(&Event::Screenshot { step: n, image });
            }
        }
        let via = if !decision.action.touches_desktop() || decision.action.pointers().is_empty() {
            "as_recorded"
        } else if located.action.is_some() {
            "refind"
        } else if self.fallback.is_some() {
            "vlm"
        } else {
            "not_found"
        };
        let mut rec = StepRecord::on_screen(n, started_at, &ann.scene, mapping.clone(), windows);
        rec.replay = Some(ReplayStep { original_step: orig.step, via: via.into(), targets: located.matches.clone() });
        (self.events)(&Event::Replayed {
            step: n,
            original_step: orig.step,
            via: via.into(),
            targets: located.matches.clone(),
        });

        let action = match located.action {
            Some(a) => {
                rec.decision = Some(Decision {
                    thought: format!("replaying step {}: {}", orig.step, decision.thought),
                    action: a.clone(),
                });
                a
            }
            None => {
                let reason = located.reason.unwrap_or_else(|| "not found".into());
                let what = describe_targets(&located.matches);
                if self.fallback.is_none() {
                    let crop = self.save_target_crop(n, &recorded_image, &located.matches);
                    let msg = format!(
                        "step {n} (recorded step {}): cannot find {what}: {reason}{}",
                        orig.step,
                        crop.map(|c| format!(" (what was recorded: {c})")).unwrap_or_default()
                    );
                    rec.outcome = Outcome {
                        status: "not_found".into(),
                        detail: Some(msg.clone()),
                        screen_changed: None,
                        input: vec![],
                    };
                    (self.events)(&Event::Outcome { step: n, outcome: rec.outcome.clone() });
                    self.write_step(rec, timings, &ann);
                    return (StepEnd::Finish(RunResult::new(RunStatus::Fail, msg)), usage);
                }
                // What the recorded step did, from its action and the marks it named; not the
                // recorded model's thought, which is model output that screen text may have
                // shaped and must not come back as if the person had said it.
                let note = format!(
                    "You are replaying a recorded run of this task. Its step {} did: {}. \
                     That target cannot be found on this screen with confidence ({reason}). Give the one action that \
                     does what that step did, on the current screen.",
                    orig.step,
                    crate::agent::describe(
                        &decision.action,
                        &crate::perceive::Scene {
                            width: orig.width,
                            height: orig.height,
                            elements: orig.elements.clone()
                        }
                    ),
                );
                let t = Instant::now();
                let asked = self.ask(n, &note, &state.history, &ann, &mut rec, secrets);
                timings.model = ms(t);
                usage += rec.usage;
                match asked {
                    Ok(d) if !d.action.is_terminal() => {
                        rec.decision = Some(d.clone());
                        d.action
                    }
                    Ok(d) => {
                        let msg = format!(
                            "step {n} (recorded step {}): cannot find {what}, and the model answered {}",
                            orig.step, d.action
                        );
                        rec.decision = Some(d);
                        rec.outcome = Outcome {
                            status: "not_found".into(),
                            detail: Some(msg.clone()),
                            screen_changed: None,
                            input: vec![],
                        };
                        self.write_step(rec, timings, &ann);
                        return (StepEnd::Finish(RunResult::new(RunStatus::Fail, msg)), usage);
                    }
                    Err(e) => {
                        rec.outcome = Outcome {
                            status: "error".into(),
                            detail: Some(e.clone()),
                            screen_changed: None,
                            input: vec![],
                        };
                        self.write_step(rec, timings, &ann);
                        let status = if self.stop.is_stopped() { RunStatus::Stopped } else { RunStatus::Error };
                        return (StepEnd::Finish(RunResult::new(status, e)), usage);
                    }
                }
            }
        };
        if let Some(d) = &rec.decision {
            (self.events)(&Event::Decision { step: n, thought: d.thought.clone(), action: d.action.clone() });
        }

        // guard
        let (confirmed, _) = agent::confirm(
            self.options.confirm,
            n,
            action,
            &ann.scene,
            self.operator.as_mut(),
            &self.stop,
            &mut *self.events,
            &mut rec,
        );
        let action = match confirmed {
            Confirmed::Go(a) => a,
            Confirmed::Refused { reason, outcome } => {
                let status = if outcome.status == "stopped" { RunStatus::Stopped } else { RunStatus::Fail };
                rec.outcome = outcome;
                (self.events)(&Event::Outcome { step: n, outcome: rec.outcome.clone() });
                self.write_step(rec, timings, &ann);
                // A replay cannot go on without the step it was refused.
                return (
                    StepEnd::Finish(RunResult::new(status, format!("step {n} was not confirmed: {reason}"))),
                    usage,
                );
            }
        };

        // act
        let t = Instant::now();
        let idle = state.changes.as_mut().map(|c| c.take()).unwrap_or_default();
        let done = agent::perform(&action, &ann.scene, mapping.as_ref(), secrets, self.executor.as_mut());
        timings.act_latency = done.latency_ms;
        timings.act = ms(t);
        let (described, act_error) = (done.input, done.error);
        (self.events)(&Event::Action {
            step: n,
            action: action.clone(),
            input: described.clone(),
            dry_run: self.executor.is_dry_run(),
        });
        if let Some(e) = act_error {
            rec.outcome =
                Outcome { status: "error".into(), detail: Some(e.clone()), screen_changed: None, input: described };
            (self.events)(&Event::Outcome { step: n, outcome: rec.outcome.clone() });
            self.write_step(rec, timings, &ann);
            return (
                StepEnd::Finish(RunResult::new(RunStatus::Error, format!("step {n}: {action} failed: {e}"))),
                usage,
            );
        }

        // settle
        let t = Instant::now();
        if let Action::Wait { seconds } = action {
            let s = seconds.min(crate::action::MAX_WAIT_SECONDS) / self.options.speed.max(0.01);
            self.stop.sleep(crate::action::seconds(s));
        }
        let expect_change = orig.outcome.screen_changed == Some(true)
            && !matches!(action, Action::Wait { .. })
            && !self.executor.is_dry_run();
        let area = settle::screen_area(&ann.frame);
        let settled = if let (Some(changes), Some(area)) = (state.changes.as_deref_mut(), area) {
            // The recorded step changed the screen: its change is waited for as long as it takes.
            let wait = settle::Quiet {
                quiet: self.options.settle_quiet,
                first_change: expect_change.then_some(self.options.settle_timeout),
                timeout: self.options.settle_timeout,
            };
            settle::until_quiet(changes, || self.capture(), &self.stop, wait, area, Some(ann.screen()), &idle)
        } else if expect_change {
            settle::until_changed_then_still(
                || self.capture(),
                &self.stop,
                self.options.settle_interval,
                self.options.settle_timeout,
                ann.screen(),
            )
        } else {
            self.settle(Some(ann.screen()))
        };
        let (changed, end) = match settled {
            Ok((f, ms, changed)) => {
                state.next_frame = Some((f, ms));
                (changed, StepEnd::Continue)
            }
            Err(e) => {
                (false, StepEnd::Finish(RunResult::new(RunStatus::Error, format!("capture failed after acting: {e}"))))
            }
        };
        timings.settle = ms(t);
        let status = agent::acted_status(&action, self.executor.is_dry_run());
        // The recorded step changed the screen and this one did not: worth saying.
        let detail = (orig.outcome.screen_changed == Some(true) && !changed && status == "performed")
            .then(|| "the recorded step changed the screen; this time nothing visible changed".to_string());
        rec.outcome = Outcome { status: status.into(), detail, screen_changed: Some(changed), input: described };
        (self.events)(&Event::Outcome { step: n, outcome: rec.outcome.clone() });
        state.history.push(format!(
            "{n}. {} → {}",
            crate::agent::describe(&action, &ann.scene),
            if changed { "the screen changed" } else { "no visible change" }
        ));
        self.write_step(rec, timings, &ann);
        (end, usage)
    }

    /// Ask the fallback model for this step's action.
    fn ask(
        &mut self,
        n: u32,
        note: &str,
        history: &[String],
        ann: &Annotation,
        rec: &mut StepRecord,
        secrets: &Secrets,
    ) -> Result<Decision, String> {
        let Some(fb) = &self.fallback else { return Err("no model to ask".into()) };
        let profile = &fb.client.profile;
        let resize = decide::sent_size(ann.scene.width, ann.scene.height, profile);
        let marked = decide::encode_image(&ann.marked, &resize, profile).map_err(|e| e.to_string())?;
        let total = self.original.steps.len() as u32;
        let notes = [note.to_string()];
        let user = fb.prompt.user(&StepPrompt {
            task: &self.original.info.task,
            step: n,
            max_steps: total.max(n),
            history,
            notes: &notes,
            scene: &ann.scene,
            image_width: resize.to_width,
            image_height: resize.to_height,
        });
        rec.request_text = user.clone();
        let mut request = VlmRequest {
            system: fb.prompt.system(profile.coordinates),
            turns: vec![Turn { role: Role::User, parts: vec![Part::Text(user), Part::Image(marked)] }],
        };
        let ctx = AnswerContext { scene: &ann.scene, resize, coordinates: profile.coordinates };
        for attempt in 0..2 {
            let stop = self.stop.clone();
            let client = &fb.client;
            let reply = fb.runtime.block_on(async {
                tokio::select! {
                    r = client.complete(&request) => r.map_err(|e| e.to_string()),
                    _ = stop.stopped() => Err("stopped by the person".to_string()),
                }
            })?;
            rec.usage += reply.usage;
            rec.answers.push(secrets.redact(&reply.text));
            match parse_answer(&reply.text, &ctx) {
                Ok(d) => {
                    return Ok(Decision {
                        thought: secrets.redact(&d.thought),
                        action: secrets.redact_action(&d.action),
                    });
                }
                Err(invalid) => {
                    rec.invalid.push(secrets.redact(&invalid.0));
                    if attempt == 1 {
                        return Err(format!("step {n}: the model's answer was invalid twice: {}", invalid.0));
                    }
                    request.turns.push(Turn::text(Role::Assistant, reply.text));
                    request.turns.push(Turn::text(
                        Role::User,
                        format!(
                            "Your answer could not be used: {}. Answer again with exactly one JSON object.",
                            invalid.0
                        ),
                    ));
                }
            }
        }
        Err("no decision".into())
    }

    /// Write the recorded target's crop beside the replay; returns its path.
    fn save_target_crop(&self, n: u32, image: &RgbaImage, matches: &[TargetMatch]) -> Option<String> {
        let rec = self.recorder.as_ref()?;
        let m = matches.iter().find(|m| m.refound.found.is_none())?;
        let r = m.recorded.bbox.inflate(16).clamp_to(image.width(), image.height());
        if r.is_empty() {
            return None;
        }
        let crop = image::imageops::crop_imm(image, r.x as u32, r.y as u32, r.w, r.h).to_image();
        let path = rec.dir().join(format!("step-{n:03}-target.png"));
        let png = encode_png(&crop).ok()?;
        write_atomically(&path, &png).ok()?;
        Some(path.display().to_string())
    }

    fn write_step(&mut self, mut rec: StepRecord, mut timings: StepTimings, ann: &Annotation) {
        timings.overhead = timings.capture
            + timings.detect
            + timings.fusion
            + timings.mark
            + timings.refind
            + timings.encode
            + timings.request
            + timings.parse
            + timings.act_latency
            + timings.act;
        rec.timings_ms = timings.clone();
        (self.events)(&Event::StepRecorded { step: rec.step, timings_ms: timings, usage: rec.usage });
        if let Some(r) = self.recorder.as_mut()
            && let Err(e) = r.step(rec, ann.frame.image.clone(), ann.marked.clone())
        {
            tracing::error!("{e}");
        }
    }
}

fn load_recorded(dir: &Path, step: &StepRecord) -> Result<RgbaImage, String> {
    let path = dir.join(&step.screen);
    image::open(&path)
        .map(|i| i.to_rgba8())
        .map_err(|e| format!("cannot read the recorded screen {}: {e}", path.display()))
}

/// `button "OK"`, or `the point (120, 40)`.
fn describe_targets(matches: &[TargetMatch]) -> String {
    let missing: Vec<String> = matches
        .iter()
        .filter(|m| m.refound.found.is_none())
        .map(|m| {
            let e = &m.recorded;
            match e.text.as_deref().filter(|t| !t.is_empty()) {
                Some(t) => format!("{} {}", e.kind, crate::action::short_quote(t, 40)),
                None => format!("the {} at {},{} ({}x{})", e.kind, e.bbox.x, e.bbox.y, e.bbox.w, e.bbox.h),
            }
        })
        .collect();
    if missing.is_empty() { "the recorded target".into() } else { missing.join(" and ") }
}

/// Re-find every target of a recorded action on the current screen and point the action at
/// what was found. `action` is `None` when some target was not found.
fn locate(recorded: &Action, step: &StepRecord, image: &RgbaImage, ann: &Annotation, windows: &[WindowBox]) -> Located {
    let t = Instant::now();
    let scale_of = |m: Option<&crate::coords::FrameMapping>| m.map_or(1.0, |m| m.monitor.scale_factor);
    let rec_view =
        ScreenView { elements: &step.elements, image, windows: &step.windows, scale: scale_of(step.mapping.as_ref()) };
    let cur_view = ScreenView {
        elements: &ann.scene.elements,
        image: &ann.frame.image,
        windows,
        scale: scale_of(ann.frame.mapping.as_ref()),
    };
    let mut action = recorded.clone();
    let mut matches = Vec::new();
    let mut reason = None;
    for p in action.pointers_mut() {
        let started = Instant::now();
        let Some((target, at)) = anchor(p, &step.elements) else {
            reason = Some(format!("the recorded {p} is on no element of the recording"));
            continue;
        };
        let refound = refind(target, &rec_view, &cur_view);
        if let Some(c) = &refound.found {
            *p = match at {
                Anchor::Mark => Pointer::Mark(c.id),
                Anchor::Inside(fx, fy) => {
                    Pointer::Point(c.bbox.x as f64 + fx * c.bbox.w as f64, c.bbox.y as f64 + fy * c.bbox.h as f64)
                }
                Anchor::Beside(dx, dy) => {
                    let r = cur_view.scale / rec_view.scale;
                    let (cx, cy) = c.bbox.center();
                    Pointer::Point(cx + dx * r, cy + dy * r)
                }
            };
        } else if reason.is_none() {
            reason = refound.reason.clone();
        }
        matches.push(TargetMatch { recorded: target.clone(), refound, ms: ms(started) });
    }
    let all_found = reason.is_none() && matches.iter().all(|m| m.refound.found.is_some());
    Located { action: all_found.then_some(action), matches, reason, ms: ms(t) }
}

enum Anchor {
    Mark,
    /// A point inside the element, as fractions of its size.
    Inside(f64, f64),
    /// A point outside it, as an offset from its centre.
    Beside(f64, f64),
}

/// The recorded element a pointer refers to: its mark, or for a point, the smallest element
/// holding it (else the nearest within 120 px).
fn anchor<'a>(p: &Pointer, elements: &'a [Element]) -> Option<(&'a Element, Anchor)> {
    match *p {
        Pointer::Mark(id) => elements.iter().find(|e| e.id == id).map(|e| (e, Anchor::Mark)),
        Pointer::Point(x, y) => {
            if let Some(e) = elements.iter().filter(|e| e.bbox.contains_point(x, y)).min_by_key(|e| e.bbox.area()) {
                let b = e.bbox;
                return Some((
                    e,
                    Anchor::Inside((x - b.x as f64) / b.w.max(1) as f64, (y - b.y as f64) / b.h.max(1) as f64),
                ));
            }
            let dist = |e: &Element| {
                let (cx, cy) = e.bbox.center();
                (cx - x).hypot(cy - y)
            };
            let e = elements.iter().min_by(|a, b| dist(a).total_cmp(&dist(b))).filter(|e| dist(e) <= 120.0)?;
            let (cx, cy) = e.bbox.center();
            Some((e, Anchor::Beside(x - cx, y - cy)))
        }
    }
}

/// `run.json`'s options for a replay: the original it replays, and how.
pub fn options_json(original: &Run, o: &ReplayOptions, model: Option<&VlmClient>, executor: &str) -> serde_json::Value {
    json!({
        "original": {
            "dir": original.dir.display().to_string(),
            "id": original.info.id,
            "source": original.info.source,
            "steps": original.steps.len(),
            "truncated": original.truncated,
        },
        "target": format!("{:?}", o.target),
        "speed": o.speed,
        "confirm": o.confirm,
        "allow_vlm": model.is_some(),
        "model": model.map(|c| c.profile.model.clone()),
        "executor": executor,
        "min_confidence": refind::MIN_CONFIDENCE,
        "min_margin": refind::MIN_MARGIN,
    })
}

/// A summary of what replay found for a step, for people.
pub fn summarise(matches: &[TargetMatch]) -> Vec<String> {
    matches
        .iter()
        .map(|m| {
            let best: Vec<String> = m
                .refound
                .best
                .iter()
                .take(3)
                .map(|c| {
                    format!(
                        "[{}] {}{} {:.2}",
                        c.id,
                        c.kind,
                        c.text
                            .as_deref()
                            .map(|t| format!(" {}", crate::action::short_quote(t, 30)))
                            .unwrap_or_default(),
                        c.confidence
                    )
                })
                .collect();
            let e = &m.recorded;
            format!(
                "recorded {}{} at {},{} {}x{}: {}; best: {}",
                e.kind,
                e.text.as_deref().map(|t| format!(" {}", crate::action::short_quote(t, 30))).unwrap_or_default(),
                e.bbox.x,
                e.bbox.y,
                e.bbox.w,
                e.bbox.h,
                match (&m.refound.found, &m.refound.reason) {
                    (Some(c), _) => format!("found mark {} ({:.2})", c.id, c.confidence),
                    (None, Some(r)) => r.clone(),
                    (None, None) => "not found".into(),
                },
                if best.is_empty() { "none".into() } else { best.join(", ") }
            )
        })
        .collect()
}
