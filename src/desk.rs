//! desk: the desktop as an outside agent drives it — observe (capture, perceive, mark, encode
//! for a model) and act on the marks of the latest observation. The MCP server (`crate::mcp`)
//! is a thin shell over this; everything it does to the screen happens here.
//!
//! An observation keeps, server-side, what its marks and image mean on the screen (the scene,
//! the frame's mapping to input points, the resize to the sent image), so an action names a
//! mark or a point in the image it was sent and lands where the caller saw it. Marks are
//! valid only for the observation they came from.

use std::time::{Duration, Instant};

use image::RgbaImage;
use thiserror::Error;

use crate::act::Executor;
use crate::action::{Action, ClickKind, KeyCombo, Pointer, ScrollDirection};
use crate::agent::settle;
use crate::agent::{self, StopSignal};
use crate::annotate::{AnnotateOptions, annotate_concealing};
use crate::capture::{self, Capturer, Frame, Target, WindowBox};
use crate::coords::{FrameMapping, MonitorInfo, Resize, ZoomBoxError};
use crate::decide::{self, EncodedImage, ImageFormat, ProviderProfile};
use crate::geometry::Rect;
use crate::guard::{self, ConfirmPolicy, Secrets};
use crate::mark::MarkOptions;
use crate::perceive::{Pipeline, Scene};
use crate::record::{Outcome, Recorder, RunResult, RunStatus, SentImage, StepRecord};

/// The longest side of an observation's image unless the caller asks otherwise.
pub const DEFAULT_MAX_SIDE: u32 = 1280;
/// The largest image an observation sends, before base64 (which adds a third): MCP clients
/// reject tool results over 1 MB (Claude Desktop).
pub const MAX_IMAGE_BYTES: usize = 700 * 1024;
/// Bounds on what a caller may ask for.
pub const MIN_MAX_SIDE: u32 = 256;
pub const MAX_MAX_SIDE: u32 = 4096;
pub const MAX_WAIT_SECONDS: f64 = 60.0;
pub const MAX_SCROLL: u32 = 50;
pub use crate::action::{MAX_ZOOM_DEPTH, MIN_ZOOM_SIDE};

#[derive(Debug, Error)]
pub enum DeskError {
    #[error("{0}")]
    Capture(String),
    #[error("perception failed: {0}")]
    Perceive(String),
    #[error("nothing observed yet: call observe first, then act on its marks")]
    NoObservation,
    #[error(
        "observation {given} is not the latest (that is {latest}): marks are valid only for the observation they came from; observe again"
    )]
    StaleObservation { given: u64, latest: u64 },
    #[error("mark {mark} is not in observation {observation} (its marks are 1 to {count})")]
    UnknownMark { mark: u32, observation: u64, count: usize },
    #[error("point ({x}, {y}) is outside the observed image ({width}x{height})")]
    PointOutside { x: f64, y: f64, width: u32, height: u32 },
    #[error("bad arguments: {0}")]
    BadArguments(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("{0}")]
    Act(String),
}

/// One observation as the caller receives it.
#[derive(Debug, Clone)]
pub struct Observed {
    pub id: u64,
    /// The marked screenshot as sent (JPEG, at most `max_side` on its longest side).
    pub image: EncodedImage,
    /// `id kind "text" [states]`, one line per mark.
    pub table: String,
    /// Marks with their boxes in the sent image's pixels.
    pub marks: Vec<ObservedMark>,
    pub monitor: Option<MonitorInfo>,
    pub timings_ms: ObserveTimings,
    /// When this observation is a zoom: of which observation, and where.
    pub zoom: Option<Zoomed>,
}

/// What a zoom showed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Zoomed {
    /// The observation it zoomed into.
    pub of: u64,
    /// 1 for a zoom of the screen, 2 for a zoom of a zoom.
    pub depth: u8,
    /// x, y, width, height in the monitor's physical pixels (what `region` takes).
    pub region: [i64; 4],
}

/// Where a zoom looks: around a mark of the latest observation, or at a box of its image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zoom {
    Mark(u32),
    /// x, y, width, height in the observation's image pixels.
    Region([f64; 4]),
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ObservedMark {
    pub id: u32,
    pub kind: String,
    pub text: Option<String>,
    pub states: Vec<String>,
    /// x, y, width, height in the sent image's pixels.
    pub bbox: [f64; 4],
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ObserveTimings {
    pub capture: f64,
    pub perceive: f64,
    pub encode: f64,
}

/// What the latest observation means on the screen.
struct Latest {
    id: u64,
    scene: Scene,
    mapping: Option<FrameMapping>,
    resize: Resize,
    frame: RgbaImage,
    /// What the screen really showed, when secrets were painted over in `frame`: what the
    /// next capture is compared with.
    unconcealed: Option<RgbaImage>,
    marked: RgbaImage,
    sent: SentImage,
    windows: Vec<WindowBox>,
    target: Target,
    max_side: u32,
    /// 0 for an observation of a monitor, window or region the caller named; 1 for a zoom…
    zoom_depth: u8,
}

/// How an action went.
#[derive(Debug, Clone)]
pub struct Acted {
    /// `click mark 7 (button "OK")`.
    pub description: String,
    /// Whether the screen differs after the action (outside what was animating).
    pub screen_changed: bool,
    pub dry_run: bool,
    pub elapsed_ms: f64,
    /// Why the step could not be recorded (the action itself went through).
    pub not_recorded: Option<String>,
}

/// Where an action points, as the caller gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spot {
    Mark(u32),
    /// In the sent image's pixels.
    Point(f64, f64),
}

/// Asks the person behind the client whether a risky action may go ahead: `Ok(true)` yes,
/// `Ok(false)` no, `Err(why)` when nobody can be asked.
pub type Asker = Box<dyn FnMut(&str) -> Result<bool, String> + Send>;

pub struct Desk {
    /// Asks about risky actions for the call in progress (MCP elicitation), if it can.
    asker: Option<Asker>,
    capturer: Box<dyn Capturer>,
    pipeline: Pipeline,
    executor: Box<dyn Executor>,
    confirm: ConfirmPolicy,
    secrets: Secrets,
    latest: Option<Latest>,
    next_id: u64,
    stop: StopSignal,
    /// Every action (performed or refused) becomes a step of this run, replayable later.
    recorder: Option<Recorder>,
    steps: u32,
    /// The display server's change reports (opened at the first observation), when it gives them.
    changes: Option<Box<dyn crate::capture::Changes>>,
    watching: bool,
}

impl Desk {
    /// `secrets`: the names `{{secret:NAME}}` may use in `type` (their values come from the
    /// environment when typed, and are never echoed).
    pub fn new(
        capturer: Box<dyn Capturer>,
        pipeline: Pipeline,
        executor: Box<dyn Executor>,
        confirm: ConfirmPolicy,
        secrets: Secrets,
    ) -> Self {
        Self {
            asker: None,
            capturer,
            pipeline,
            executor,
            confirm,
            secrets,
            latest: None,
            next_id: 1,
            stop: StopSignal::new(),
            recorder: None,
            steps: 0,
            changes: None,
            watching: false,
        }
    }

    /// Record the session's actions as a run in `recorder`'s folder.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Who is asked about risky actions from now on (`None`: nobody; they are refused).
    pub fn set_asker(&mut self, asker: Option<Asker>) {
        self.asker = asker;
    }

    /// Lend the desk's capturer to a whole run (MCP's `run_task`) while the desk is held; the
    /// latest observation is forgotten first, since the run changes the screen under it.
    pub fn lend_capturer<T>(&mut self, f: impl FnOnce(&dyn Capturer) -> T) -> T {
        self.latest = None;
        f(self.capturer.as_ref())
    }

    /// End the session: the recording's result is written (`done`, with how many actions).
    pub fn finish(&mut self) -> Result<(), crate::record::RecordError> {
        let n = self.steps;
        match self.recorder.as_mut() {
            Some(r) => r.finish(RunResult::new(RunStatus::Done, format!("the MCP session ended after {n} actions"))),
            None => Ok(()),
        }
    }

    pub fn monitors(&self) -> Result<Vec<MonitorInfo>, DeskError> {
        self.capturer.monitors().map_err(|e| DeskError::Capture(e.to_string()))
    }

    pub fn windows(&self) -> Result<Vec<crate::capture::WindowInfo>, DeskError> {
        self.capturer.windows().map_err(|e| DeskError::Capture(e.to_string()))
    }

    pub fn latest_id(&self) -> Option<u64> {
        self.latest.as_ref().map(|l| l.id)
    }

    /// Capture `target`, perceive and mark it, and encode it for a model at most `max_side`
    /// pixels on its longest side and under [`MAX_IMAGE_BYTES`]. This becomes the latest
    /// observation: later actions use its marks.
    pub fn observe(&mut self, target: Target, max_side: Option<u32>) -> Result<Observed, DeskError> {
        let max_side = max_side.unwrap_or(DEFAULT_MAX_SIDE);
        if !(MIN_MAX_SIDE..=MAX_MAX_SIDE).contains(&max_side) {
            return Err(DeskError::BadArguments(format!(
                "max_side {max_side} is out of range ({MIN_MAX_SIDE} to {MAX_MAX_SIDE})"
            )));
        }
        self.watch();
        let t = Instant::now();
        let frame = self.capturer.capture(&target).map_err(|e| DeskError::Capture(e.to_string()))?;
        let capture = agent_ms(t);
        let mut profile = ProviderProfile { max_side, image_format: ImageFormat::Jpeg, ..Default::default() };
        let resize = decide::sent_size(frame.image.width(), frame.image.height(), &profile);
        let t = Instant::now();
        let opts = AnnotateOptions {
            marks: MarkOptions { reference_width: resize.to_width.max(1), ..Default::default() },
            scale: None,
        };
        // A client sees the screen with every secret taken out, as a model in a run does.
        let ann = annotate_concealing(frame, None, &mut self.pipeline, &opts, &self.secrets)
            .map_err(|e| DeskError::Perceive(e.to_string()))?;
        let perceive = agent_ms(t);
        let t = Instant::now();
        let (image, resize) = encode_within(&ann.marked, resize, &mut profile)?;
        let encode = agent_ms(t);
        let id = self.next_id;
        self.next_id += 1;
        let windows =
            capture::windows_of(self.capturer.as_ref(), ann.frame.mapping.as_ref(), ann.scene.width, ann.scene.height);
        let f = resize.factor();
        let marks = ann
            .scene
            .elements
            .iter()
            .map(|e| ObservedMark {
                id: e.id,
                kind: e.kind.as_str().to_string(),
                text: e.text.clone(),
                states: e.states.iter().map(|s| s.as_str().to_string()).collect(),
                bbox: [e.bbox.x as f64 * f, e.bbox.y as f64 * f, e.bbox.w as f64 * f, e.bbox.h as f64 * f],
            })
            .collect();
        let observed = Observed {
            id,
            table: crate::decide::prompt::element_table(&ann.scene),
            image,
            marks,
            monitor: ann.frame.monitor().cloned(),
            timings_ms: ObserveTimings { capture, perceive, encode },
            zoom: None,
        };
        let sent = SentImage {
            width: observed.image.width,
            height: observed.image.height,
            mime: observed.image.mime.into(),
            bytes: observed.image.bytes,
        };
        self.latest = Some(Latest {
            id,
            scene: ann.scene,
            mapping: ann.frame.mapping.clone(),
            resize,
            frame: ann.frame.image,
            unconcealed: ann.unconcealed,
            marked: ann.marked,
            sent,
            windows,
            target,
            max_side,
            zoom_depth: 0,
        });
        Ok(observed)
    }

    /// Observe again what the latest observation showed, at the same size (after an action).
    pub fn observe_again(&mut self) -> Result<Observed, DeskError> {
        let latest = self.latest.as_ref().ok_or(DeskError::NoObservation)?;
        let (target, max_side, depth) = (latest.target.clone(), latest.max_side, latest.zoom_depth);
        let observed = self.observe(target, Some(max_side))?;
        if let Some(l) = self.latest.as_mut() {
            l.zoom_depth = depth;
        }
        Ok(observed)
    }

    /// Observe part of the latest observation at the screen's full resolution (not scaled
    /// down to the image the caller was sent): around one of its marks, or a box of its image.
    /// Marked afresh, this becomes the latest observation. A zoom of a zoom is the deepest.
    pub fn zoom(&mut self, observation: Option<u64>, zoom: Zoom, max_side: Option<u32>) -> Result<Observed, DeskError> {
        let latest = self.latest(observation)?;
        if latest.zoom_depth >= MAX_ZOOM_DEPTH {
            return Err(DeskError::BadArguments(format!(
                "observation {} is already a zoom of a zoom; observe the whole screen again to zoom elsewhere",
                latest.id
            )));
        }
        let mapping = latest.mapping.as_ref().ok_or_else(|| {
            DeskError::BadArguments(format!("observation {} is not of the screen: nothing to zoom into", latest.id))
        })?;
        let (fw, fh) = latest.frame.dimensions();
        let rect = match zoom {
            Zoom::Mark(mark) => {
                let e = latest.scene.element(mark).ok_or(DeskError::UnknownMark {
                    mark,
                    observation: latest.id,
                    count: latest.scene.elements.len(),
                })?;
                crate::coords::zoom_around(&e.bbox, fw, fh)
            }
            Zoom::Region([x, y, w, h]) => match crate::coords::zoom_box(&latest.resize, [x, y, w, h]) {
                Ok(r) => r,
                Err(ZoomBoxError::Outside) => {
                    let (iw, ih) = (latest.resize.to_width, latest.resize.to_height);
                    return Err(DeskError::BadArguments(format!(
                        "zoom region [{x}, {y}, {w}, {h}] is not a box inside the observed image ({iw}x{ih})"
                    )));
                }
                Err(ZoomBoxError::TooSmall { w: zw, h: zh }) => {
                    return Err(DeskError::BadArguments(format!(
                        "zoom region [{x}, {y}, {w}, {h}] is {zw}x{zh} screen pixels; a zoom is at least {MIN_ZOOM_SIDE} on each side"
                    )));
                }
            },
        };
        let of = latest.id;
        let depth = latest.zoom_depth + 1;
        let region = Rect::new(mapping.offset_x + rect.x, mapping.offset_y + rect.y, rect.w, rect.h);
        let target = Target::Region { monitor: Some(mapping.monitor.index), rect: region };
        let max_side = max_side.unwrap_or(latest.max_side);
        let mut observed = self.observe(target, Some(max_side))?;
        if let Some(l) = self.latest.as_mut() {
            l.zoom_depth = depth;
        }
        observed.zoom =
            Some(Zoomed { of, depth, region: [region.x as i64, region.y as i64, region.w as i64, region.h as i64] });
        Ok(observed)
    }

    fn latest(&self, observation: Option<u64>) -> Result<&Latest, DeskError> {
        let latest = self.latest.as_ref().ok_or(DeskError::NoObservation)?;
        match observation {
            Some(given) if given != latest.id => Err(DeskError::StaleObservation { given, latest: latest.id }),
            _ => Ok(latest),
        }
    }

    /// A caller's spot as a pointer target in frame pixels, checked against the observation.
    fn pointer(&self, latest: &Latest, spot: Spot) -> Result<Pointer, DeskError> {
        match spot {
            Spot::Mark(mark) => {
                if latest.scene.element(mark).is_none() {
                    return Err(DeskError::UnknownMark {
                        mark,
                        observation: latest.id,
                        count: latest.scene.elements.len(),
                    });
                }
                Ok(Pointer::Mark(mark))
            }
            Spot::Point(x, y) => {
                let (w, h) = (latest.resize.to_width, latest.resize.to_height);
                if !(x.is_finite() && y.is_finite()) || x < 0.0 || y < 0.0 || x >= w as f64 || y >= h as f64 {
                    return Err(DeskError::PointOutside { x, y, width: w, height: h });
                }
                let (fx, fy) = latest.resize.to_frame(x, y);
                Ok(Pointer::Point(fx, fy))
            }
        }
    }

    pub fn pointer_action(
        &mut self,
        observation: Option<u64>,
        kind: ClickKind,
        spot: Spot,
    ) -> Result<Acted, DeskError> {
        let latest = self.latest(observation)?;
        let target = self.pointer(latest, spot)?;
        self.act(Action::Pointer { kind, target })
    }

    pub fn type_text(
        &mut self,
        observation: Option<u64>,
        text: String,
        spot: Option<Spot>,
        clear: bool,
    ) -> Result<Acted, DeskError> {
        if text.is_empty() {
            return Err(DeskError::BadArguments("text is empty".into()));
        }
        let latest = self.latest(observation)?;
        let target = spot.map(|s| self.pointer(latest, s)).transpose()?;
        if clear && target.is_none() {
            return Err(DeskError::BadArguments(
                "clear needs a mark or point to type into (it would select and delete whatever has focus)".into(),
            ));
        }
        self.act(Action::Type { text, target, clear })
    }

    pub fn key(&mut self, keys: &str) -> Result<Acted, DeskError> {
        let combo = KeyCombo::parse(keys).map_err(|e| DeskError::BadArguments(e.to_string()))?;
        self.latest(None)?;
        self.act(Action::Key { combo })
    }

    pub fn scroll(
        &mut self,
        observation: Option<u64>,
        direction: &str,
        amount: u32,
        spot: Option<Spot>,
    ) -> Result<Acted, DeskError> {
        let direction = ScrollDirection::parse(direction).ok_or_else(|| {
            DeskError::BadArguments(format!("direction {direction:?} is not up, down, left or right"))
        })?;
        if amount == 0 || amount > MAX_SCROLL {
            return Err(DeskError::BadArguments(format!("amount {amount} is out of range (1 to {MAX_SCROLL})")));
        }
        let latest = self.latest(observation)?;
        let target = spot.map(|s| self.pointer(latest, s)).transpose()?;
        self.act(Action::Scroll { direction, amount, target })
    }

    pub fn drag(&mut self, observation: Option<u64>, from: Spot, to: Spot) -> Result<Acted, DeskError> {
        let latest = self.latest(observation)?;
        let (from, to) = (self.pointer(latest, from)?, self.pointer(latest, to)?);
        self.act(Action::Drag { from, to })
    }

    pub fn wait(&mut self, seconds: f64) -> Result<Acted, DeskError> {
        if !seconds.is_finite() || !(0.0..=MAX_WAIT_SECONDS).contains(&seconds) {
            return Err(DeskError::BadArguments(format!(
                "seconds {seconds} is out of range (0 to {MAX_WAIT_SECONDS})"
            )));
        }
        let t = Instant::now();
        self.stop.sleep(crate::action::seconds(seconds));
        let description = format!("waited {seconds} s");
        let not_recorded = if self.latest.is_some() {
            let outcome = Outcome { status: "waited".into(), detail: None, screen_changed: None, input: vec![] };
            self.record(Action::Wait { seconds }, outcome)
        } else {
            None
        };
        Ok(Acted { description, screen_changed: false, dry_run: false, elapsed_ms: agent_ms(t), not_recorded })
    }

    /// Write the action as the next step of the run, on the latest observation's screen.
    /// Returns why it could not be recorded, if it could not.
    fn record(&mut self, action: Action, outcome: Outcome) -> Option<String> {
        let latest = self.latest.as_ref()?;
        let recorder = self.recorder.as_mut()?;
        self.steps += 1;
        let mut rec = StepRecord::on_screen(
            self.steps,
            crate::record::now_rfc3339(),
            &latest.scene,
            latest.mapping.clone(),
            latest.windows.clone(),
        );
        rec.sent = Some(latest.sent.clone());
        rec.request_text = format!("observation {} (through MCP)", latest.id);
        rec.decision = Some(crate::decide::Decision { thought: String::new(), action });
        rec.outcome = outcome;
        recorder.step(rec, latest.frame.clone(), latest.marked.clone()).err().map(|e| e.to_string())
    }

    /// Guard, perform, record, and see whether the screen changed.
    fn act(&mut self, action: Action) -> Result<Acted, DeskError> {
        let t = Instant::now();
        let latest = self.latest.as_ref().ok_or(DeskError::NoObservation)?;
        if let Some(reason) = guard::needs_confirmation(self.confirm, &action, &latest.scene) {
            let what = self.secrets.redact(&agent::describe(&action, &latest.scene));
            let asked = match self.asker.as_mut() {
                Some(ask) => ask(&format!("markpilot is about to {what}: {reason}. Allow it?")),
                None => Err("this client cannot be asked".into()),
            };
            let refusal = match asked {
                Ok(true) => None,
                Ok(false) => Some(("declined by the person".to_string(), format!("{reason}; the person declined it"))),
                Err(why) => Some((
                    format!("not confirmed: {reason}"),
                    format!(
                        "{reason}; this server asks before risky actions and {why} \
                         (start it with --confirm never to allow them)"
                    ),
                )),
            };
            if let Some((detail, message)) = refusal {
                let outcome = Outcome {
                    status: "refused".into(),
                    detail: Some(detail),
                    screen_changed: Some(false),
                    input: vec![],
                };
                self.record(action, outcome);
                return Err(DeskError::Refused(message));
            }
        }
        let latest = self.latest.as_ref().ok_or(DeskError::NoObservation)?;
        let description = agent::describe(&action, &latest.scene);
        // What changed since the observation (carets, spinners) animates.
        let idle = self.changes.as_mut().map(|c| c.take()).unwrap_or_default();
        let done =
            agent::perform(&action, &latest.scene, latest.mapping.as_ref(), &self.secrets, self.executor.as_mut());
        if let Some(e) = done.error {
            let outcome =
                Outcome { status: "error".into(), detail: Some(e.clone()), screen_changed: None, input: done.input };
            self.record(action, outcome);
            return Err(DeskError::Act(e));
        }
        let dry_run = self.executor.is_dry_run();
        let screen_changed = if dry_run { false } else { self.changed_since_latest(&action, &idle) };
        let status = agent::acted_status(&action, dry_run);
        let outcome =
            Outcome { status: status.into(), detail: None, screen_changed: Some(screen_changed), input: done.input };
        let not_recorded = self.record(action, outcome);
        Ok(Acted {
            description: self.secrets.redact(&description),
            screen_changed,
            dry_run,
            elapsed_ms: agent_ms(t),
            not_recorded,
        })
    }

    /// Wait for the screen to settle after `action` (on the display server's change reports
    /// when it gives them) and say whether it differs from the latest observation.
    fn changed_since_latest(&mut self, action: &Action, idle: &[Rect]) -> bool {
        let Some(latest) = &self.latest else { return false };
        let capturer = self.capturer.as_ref();
        let capture = || {
            let t = Instant::now();
            let frame: Frame = capturer.capture(&latest.target).map_err(|e| e.to_string())?;
            Ok((frame, agent_ms(t)))
        };
        let before = latest.unconcealed.as_ref().unwrap_or(&latest.frame);
        let timeout = Duration::from_secs(3);
        let area = latest.mapping.as_ref().map(|m| {
            Rect::new(
                m.monitor.physical_x + m.offset_x,
                m.monitor.physical_y + m.offset_y,
                before.width(),
                before.height(),
            )
        });
        let settled = match (self.changes.as_deref_mut(), area) {
            (Some(changes), Some(area)) => {
                let wait = settle::Quiet {
                    quiet: agent::SETTLE_QUIET,
                    first_change: action.expects_change().then_some(agent::SETTLE_FIRST_CHANGE),
                    timeout,
                };
                settle::until_quiet(changes, capture, &self.stop, wait, area, Some(before), idle)
            }
            _ => settle::until_still(capture, &self.stop, Duration::from_millis(120), timeout, Some(before)),
        };
        settled.map(|(_, _, changed)| changed).unwrap_or(true)
    }

    /// Start listening to the display server's change reports (once).
    fn watch(&mut self) {
        if !self.watching {
            self.watching = true;
            self.changes = self.capturer.watch();
        }
    }
}

/// Encode at the given size, stepping the JPEG quality (then the size) down until the image
/// fits [`MAX_IMAGE_BYTES`].
fn encode_within(
    image: &RgbaImage,
    mut resize: Resize,
    profile: &mut ProviderProfile,
) -> Result<(EncodedImage, Resize), DeskError> {
    loop {
        for quality in [85u8, 70, 55, 40] {
            profile.jpeg_quality = quality;
            let enc = decide::encode_image(image, &resize, profile).map_err(|e| DeskError::Perceive(e.to_string()))?;
            if enc.bytes <= MAX_IMAGE_BYTES {
                return Ok((enc, resize));
            }
        }
        let side = (resize.to_width.max(resize.to_height) as f64 * 0.8) as u32;
        if side < MIN_MAX_SIDE {
            return Err(DeskError::Perceive("the screenshot does not fit in 1 MB at any size".into()));
        }
        profile.max_side = side;
        resize = decide::sent_size(image.width(), image.height(), profile);
    }
}

fn agent_ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}
