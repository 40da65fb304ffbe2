//! record: every run leaves a folder a person (or `replay`, or `report`) can read later.
//!
//! ```text
//! RUN_DIR/
//!   run.json          task, provider, model, options, versions, start/end, result, usage
//!   steps.jsonl       one line per step, appended and flushed when the step ends
//!   step-001-screen.png
//!   step-001-marked.png
//! ```
//!
//! Images are written (atomically) before their step's line, and the line is flushed to disk
//! before the next step begins, so a crash or kill loses at most the step in progress.
//! API keys are never written; secret text stays a `{{secret:NAME}}` placeholder.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use image::RgbaImage;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::annotate::encode_png;
use crate::capture::WindowBox;
use crate::coords::FrameMapping;
use crate::decide::{Decision, Usage};
use crate::files::write_atomically;
use crate::geometry::Rect;
use crate::perceive::{Element, ElementKind};
use crate::secrets::Secrets;

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Error)]
pub enum RecordError {
    #[error("cannot create the run folder {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("the run folder {0} already holds a run; choose another --record folder")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read {path}: {detail}")]
    Read { path: PathBuf, detail: String },
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still running, or the process died.
    Running,
    Done,
    Fail,
    /// A step, time or repetition limit.
    Limit,
    /// The model asked a question nobody answered.
    AskUser,
    Stopped,
    Error,
}

impl RunStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Done => "done",
            RunStatus::Fail => "fail",
            RunStatus::Limit => "limit",
            RunStatus::AskUser => "ask_user",
            RunStatus::Stopped => "stopped",
            RunStatus::Error => "error",
        }
    }

    /// The process exit code for `markpilot run`: 0 done, 1 the model said fail or a limit
    /// was reached, 2 error, 130 stopped.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunStatus::Done => 0,
            RunStatus::Fail | RunStatus::Limit | RunStatus::AskUser => 1,
            RunStatus::Running | RunStatus::Error => 2,
            RunStatus::Stopped => 130,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub status: RunStatus,
    /// Why it ended, in one line.
    pub message: String,
    /// The model's answer (`done`) when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

impl RunResult {
    pub fn new(status: RunStatus, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), answer: None }
    }
}

/// `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub format: u32,
    pub id: String,
    /// `agent`, `human` or `replay`.
    pub source: String,
    /// As given, with secret placeholders (never their values).
    pub task: String,
    pub provider: String,
    pub protocol: String,
    pub base_url: String,
    pub model: String,
    /// The options the run was made with (no keys).
    pub options: Value,
    pub markpilot_version: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub result: RunResult,
    pub steps: u32,
    pub usage: Usage,
}

impl RunInfo {
    /// A run starting now, in the folder `dir` (its name is the id), with the model it uses
    /// (if any) and the options it runs with (never a key).
    pub fn start(
        dir: &Path,
        source: &str,
        task: &str,
        client: Option<&crate::decide::VlmClient>,
        options: Value,
    ) -> Self {
        let p = client.map(|c| &c.profile);
        Self {
            format: FORMAT_VERSION,
            id: dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            source: source.into(),
            task: task.into(),
            provider: p.map(|p| p.name.clone()).unwrap_or_default(),
            protocol: p.map(|p| format!("{:?}", p.protocol).to_lowercase()).unwrap_or_default(),
            base_url: p.map(|p| p.base_url.clone()).unwrap_or_default(),
            model: p.map(|p| p.model.clone()).unwrap_or_default(),
            options,
            markpilot_version: env!("CARGO_PKG_VERSION").into(),
            started_at: now_rfc3339(),
            ended_at: None,
            result: RunResult::new(RunStatus::Running, "running"),
            steps: 0,
            usage: Usage::default(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepTimings {
    pub capture: f64,
    pub detect: f64,
    pub fusion: f64,
    pub mark: f64,
    /// Resize + encode of the images sent.
    pub encode: f64,
    /// Building the request (prompt, body).
    pub request: f64,
    /// Waiting for the model (all attempts, repair included).
    pub model: f64,
    pub parse: f64,
    /// Replay: finding the recorded targets on the screen (beyond perception).
    #[serde(default)]
    pub refind: f64,
    /// From the decision to the first input event.
    pub act_latency: f64,
    /// Sending the input events.
    pub act: f64,
    /// Waiting for the screen to settle after acting.
    pub settle: f64,
    /// Everything but the model and the settle wait: the agent's own cost.
    pub overhead: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentImage {
    pub width: u32,
    pub height: u32,
    pub mime: String,
    pub bytes: usize,
}

/// What happened to the step's action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// `performed`, `dry_run`, `refused`, `finished` (done/fail/ask_user), `waited`,
    /// `invalid` (the model's answers could not be used), `error`, `stopped`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen_changed: Option<bool>,
    /// The input events sent, described (typed text shows only its length).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input: Vec<String>,
}

/// One line of `steps.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: u32,
    pub started_at: String,
    pub screen: String,
    pub marked: String,
    pub width: u32,
    pub height: u32,
    pub mapping: Option<FrameMapping>,
    pub sent: Option<SentImage>,
    pub elements: Vec<Element>,
    /// The text part of the step's first request (the system prompt is in the options).
    pub request_text: String,
    /// Raw answers: the first and, after an invalid one, the repair.
    pub answers: Vec<String>,
    /// Why answers were rejected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<String>,
    pub decision: Option<Decision>,
    /// Why the action needed confirmation, and whether it got it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<Confirmation>,
    pub outcome: Outcome,
    pub timings_ms: StepTimings,
    pub usage: Usage,
    /// The windows on the screen (frame pixels), when they could be listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<WindowBox>,
    /// For a replayed step: which recorded step it replays and how its targets were found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayStep>,
}

impl StepRecord {
    /// A step on a perceived screen, before anything was decided: its images' names, the
    /// marks (masks left out: the marked image shows them), the windows. The rest is filled
    /// in as the step goes.
    pub fn on_screen(
        step: u32,
        started_at: String,
        scene: &crate::perceive::Scene,
        mapping: Option<FrameMapping>,
        windows: Vec<WindowBox>,
    ) -> Self {
        Self {
            step,
            started_at,
            screen: format!("step-{step:03}-screen.png"),
            marked: format!("step-{step:03}-marked.png"),
            width: scene.width,
            height: scene.height,
            mapping,
            sent: None,
            elements: scene.elements.iter().map(|e| Element { mask: None, ..e.clone() }).collect(),
            request_text: String::new(),
            answers: Vec::new(),
            invalid: Vec::new(),
            decision: None,
            confirmation: None,
            outcome: Outcome { status: "error".into(), detail: None, screen_changed: None, input: Vec::new() },
            timings_ms: StepTimings::default(),
            usage: Usage::default(),
            windows,
            replay: None,
        }
    }
}

/// How a replayed step found its targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayStep {
    pub original_step: u32,
    /// `refind` (every target re-found), `vlm` (the model chose), `not_found`, `as_recorded`
    /// (the action has no target).
    pub via: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetMatch>,
}

/// How one candidate scored, per clue (`None`: the clue says nothing for this target).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The mark on the current screen.
    pub id: u32,
    pub kind: ElementKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub bbox: Rect,
    pub confidence: f64,
    pub scores: Scores,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub text: f64,
    pub kind: f64,
    pub size: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbours: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<f64>,
    pub place: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appearance: Option<f64>,
    /// Where both sit in their application's accessibility tree, when both runs read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<f64>,
    /// The candidate reads a different label than the target did: not the same control,
    /// however well the rest fits ("Accept" where "OK" was).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub conflict: bool,
}

/// The result of replay looking for one recorded element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refound {
    /// The accepted candidate, if any.
    pub found: Option<Candidate>,
    /// The best candidates, best first (at most five), the accepted one included.
    pub best: Vec<Candidate>,
    /// Why nothing was accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One recorded target and what replay found for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetMatch {
    /// The recorded element (its id is the mark on the recorded screen).
    pub recorded: Element,
    pub refound: Refound,
    /// Milliseconds spent searching.
    pub ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confirmation {
    pub reason: String,
    pub approved: bool,
}

enum Job {
    Step { record: Box<StepRecord>, screen: RgbaImage, marked: RgbaImage },
}

/// Writes one run folder.
pub struct Recorder {
    dir: PathBuf,
    pub info: RunInfo,
    secrets: Secrets,
    tx: Option<mpsc::SyncSender<Job>>,
    worker: Option<JoinHandle<Result<(), RecordError>>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Recorder {
    /// Create the run folder and write `run.json` (status `running`).
    pub fn create(dir: &Path, info: RunInfo) -> Result<Self, RecordError> {
        fs::create_dir_all(dir).map_err(|source| RecordError::Create { path: dir.to_path_buf(), source })?;
        if dir.join("run.json").exists() || dir.join("steps.jsonl").exists() {
            return Err(RecordError::Exists(dir.to_path_buf()));
        }
        let steps_path = dir.join("steps.jsonl");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&steps_path)
            .map_err(|source| RecordError::Write { path: steps_path.clone(), source })?;
        // The task names the secrets: no value of theirs is written, whatever field it got into.
        let secrets = Secrets::from_task(&info.task);
        let mut rec = Self { dir: dir.to_path_buf(), info, secrets: secrets.clone(), tx: None, worker: None };
        rec.write_info()?;
        // The folder itself survives a power loss from here on.
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::files::sync_dir(parent).map_err(|source| RecordError::Create { path: dir.to_path_buf(), source })?;
        }
        // A rendezvous: a step is handed over only once the one before is on disk, so a
        // killed process loses at most the step being written and the one in progress.
        let (tx, rx) = mpsc::sync_channel::<Job>(0);
        let dir2 = dir.to_path_buf();
        let worker = std::thread::Builder::new()
            .name("markpilot-record".into())
            .spawn(move || write_steps(dir2, file, rx, &secrets))
            .map_err(|source| RecordError::Create { path: dir.to_path_buf(), source })?;
        rec.tx = Some(tx);
        rec.worker = Some(worker);
        Ok(rec)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn write_info(&self) -> Result<(), RecordError> {
        let path = self.dir.join("run.json");
        let mut info = serde_json::to_value(&self.info)
            .map_err(|e| RecordError::Write { path: path.clone(), source: io::Error::other(e) })?;
        self.secrets.redact_json(&mut info);
        let mut bytes = serde_json::to_vec_pretty(&info)
            .map_err(|e| RecordError::Write { path: path.clone(), source: io::Error::other(e) })?;
        bytes.push(b'\n');
        write_atomically(&path, &bytes).map_err(|source| RecordError::Write { path, source })
    }

    /// Queue a step: its images, then its line. Returns at once; the writer works behind.
    pub fn step(&mut self, record: StepRecord, screen: RgbaImage, marked: RgbaImage) -> Result<(), RecordError> {
        self.info.steps = self.info.steps.max(record.step);
        self.info.usage += record.usage;
        let sent = self.tx.as_ref().map(|tx| tx.send(Job::Step { record: Box::new(record), screen, marked }));
        match sent {
            Some(Ok(())) => Ok(()),
            // The writer stopped: its error says why.
            _ => self.join().and(Err(RecordError::Write {
                path: self.dir.join("steps.jsonl"),
                source: io::Error::other("the recording writer stopped"),
            })),
        }
    }

    fn join(&mut self) -> Result<(), RecordError> {
        self.tx.take();
        match self.worker.take() {
            Some(w) => w.join().unwrap_or_else(|_| {
                Err(RecordError::Write {
                    path: self.dir.join("steps.jsonl"),
                    source: io::Error::other("the recording writer panicked"),
                })
            }),
            None => Ok(()),
        }
    }

    /// Wait for every queued step and write the result into `run.json`.
    pub fn finish(&mut self, result: RunResult) -> Result<(), RecordError> {
        let written = self.join();
        self.info.result = result;
        self.info.ended_at = Some(now_rfc3339());
        self.write_info()?;
        written
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.join();
    }
}

fn write_steps(dir: PathBuf, mut file: File, rx: mpsc::Receiver<Job>, secrets: &Secrets) -> Result<(), RecordError> {
    for job in rx {
        let Job::Step { record, screen, marked } = job;
        for (name, img) in [(&record.screen, &screen), (&record.marked, &marked)] {
            let path = dir.join(name);
            let png = encode_png(img)
                .map_err(|e| RecordError::Write { path: path.clone(), source: io::Error::other(e.to_string()) })?;
            write_atomically(&path, &png).map_err(|source| RecordError::Write { path: path.clone(), source })?;
        }
        let path = dir.join("steps.jsonl");
        // Every field of the line, whatever a stage let through (the one redaction on the
        // way out; the agent and replay already took secrets out of what they saw).
        let mut value = serde_json::to_value(&*record)
            .map_err(|e| RecordError::Write { path: path.clone(), source: io::Error::other(e) })?;
        secrets.redact_json(&mut value);
        let mut line = serde_json::to_vec(&value)
            .map_err(|e| RecordError::Write { path: path.clone(), source: io::Error::other(e) })?;
        line.push(b'\n');
        file.write_all(&line)
            .and_then(|_| file.flush())
            .and_then(|_| file.sync_data())
            .map_err(|source| RecordError::Write { path, source })?;
    }
    Ok(())
}

/// A run folder read back.
#[derive(Debug, Clone)]
pub struct Run {
    pub dir: PathBuf,
    pub info: RunInfo,
    pub steps: Vec<StepRecord>,
    /// A last line cut short (the process was killed while writing it).
    pub truncated: bool,
}

/// Read a run folder. A last line cut short is reported, not an error; a bad line before it,
/// or a missing image, is.
pub fn read_run(dir: &Path) -> Result<Run, RecordError> {
    let info_path = dir.join("run.json");
    let text = fs::read_to_string(&info_path)
        .map_err(|e| RecordError::Read { path: info_path.clone(), detail: e.to_string() })?;
    let info: RunInfo = serde_json::from_str(&text)
        .map_err(|e| RecordError::Read { path: info_path.clone(), detail: format!("not a markpilot run.json: {e}") })?;
    let steps_path = dir.join("steps.jsonl");
    let text = fs::read_to_string(&steps_path)
        .map_err(|e| RecordError::Read { path: steps_path.clone(), detail: e.to_string() })?;
    let ends_with_newline = text.is_empty() || text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut steps = Vec::new();
    let mut truncated = false;
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<StepRecord>(line) {
            Ok(s) => steps.push(s),
            Err(_) if i + 1 == lines.len() && !ends_with_newline => truncated = true,
            Err(e) => {
                return Err(RecordError::Read { path: steps_path.clone(), detail: format!("line {}: {e}", i + 1) });
            }
        }
    }
    let missing = |s: &StepRecord| [&s.screen, &s.marked].into_iter().find(|n| !dir.join(n).is_file()).cloned();
    // The last step's images missing is a step cut short (written by a system that lost
    // power before they reached the disk): that step is dropped, as a line cut short is.
    if let Some(last) = steps.last()
        && missing(last).is_some()
    {
        steps.pop();
        truncated = true;
    }
    for s in &steps {
        if let Some(name) = missing(s) {
            return Err(RecordError::Read {
                path: dir.join(&name),
                detail: format!("step {}'s image is missing", s.step),
            });
        }
    }
    Ok(Run { dir: dir.to_path_buf(), info, steps, truncated })
}

/// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn now_rfc3339() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_millis())
}

pub fn rfc3339(secs: i64, millis: u32) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A folder name for a new run: `20261129-061530-open-the-settings`.
pub fn run_id(task: &str) -> String {
    let stamp = now_rfc3339();
    let compact: String = stamp[..19].chars().filter(|c| c.is_ascii_digit() || *c == 'T').collect();
    let compact = compact.replace('T', "-");
    let mut slug = String::new();
    for c in task.chars() {
        if slug.chars().count() >= 32 {
            break;
        }
        if c.is_alphanumeric() {
            slug.extend(c.to_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() { compact } else { format!("{compact}-{slug}") }
}

/// Where runs go by default: `$XDG_DATA_HOME/markpilot/runs` (`~/.local/share/markpilot/runs`).
pub fn default_runs_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("markpilot").join("runs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_911_330, 42), "2026-11-29T00:15:30.042Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000Z");
    }

    fn info() -> RunInfo {
        RunInfo {
            format: FORMAT_VERSION,
            id: "t".into(),
            source: "agent".into(),
            task: "task {{secret:X}}".into(),
            provider: "p".into(),
            protocol: "openai".into(),
            base_url: "http://127.0.0.1/v1".into(),
            model: "m".into(),
            options: Value::Null,
            markpilot_version: "0".into(),
            started_at: now_rfc3339(),
            ended_at: None,
            result: RunResult { status: RunStatus::Running, message: "running".into(), answer: None },
            steps: 0,
            usage: Usage::default(),
        }
    }

    fn step(n: u32) -> StepRecord {
        StepRecord {
            step: n,
            started_at: now_rfc3339(),
            screen: format!("step-{n:03}-screen.png"),
            marked: format!("step-{n:03}-marked.png"),
            width: 4,
            height: 3,
            mapping: None,
            sent: None,
            elements: vec![],
            request_text: "r".into(),
            answers: vec!["{}".into()],
            invalid: vec![],
            decision: None,
            confirmation: None,
            outcome: Outcome { status: "performed".into(), detail: None, screen_changed: Some(true), input: vec![] },
            timings_ms: StepTimings::default(),
            usage: Usage { input_tokens: 10, output_tokens: 1 },
            windows: vec![],
            replay: None,
        }
    }

    #[test]
    fn a_run_folder_reads_back_and_a_cut_last_step_is_reported_not_fatal() {
        let dir = std::env::temp_dir().join(format!("markpilot-record-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut rec = Recorder::create(&dir, info()).unwrap();
        for n in 1..=2 {
            rec.step(step(n), RgbaImage::new(4, 3), RgbaImage::new(4, 3)).unwrap();
        }
        rec.finish(RunResult { status: RunStatus::Done, message: "ok".into(), answer: None }).unwrap();
        let run = read_run(&dir).unwrap();
        assert_eq!((run.steps.len(), run.truncated, run.info.steps, run.info.usage.input_tokens), (2, false, 2, 20));
        assert!(matches!(Recorder::create(&dir, info()), Err(RecordError::Exists(_))), "never overwrite a run");

        // Killed mid-line: the complete steps are read, the cut is reported.
        let path = dir.join("steps.jsonl");
        let mut text = fs::read_to_string(&path).unwrap();
        text.push_str("{\"step\": 3, \"scre");
        fs::write(&path, &text).unwrap();
        let run = read_run(&dir).unwrap();
        assert_eq!((run.steps.len(), run.truncated), (2, true));

        // A bad line before the end, or a missing image, is an error naming the file.
        fs::write(&path, format!("garbage\n{text}")).unwrap();
        assert!(read_run(&dir).unwrap_err().to_string().contains("line 1"));
        fs::write(&path, text.rsplit_once('{').unwrap().0).unwrap();
        fs::remove_file(dir.join("step-001-marked.png")).unwrap();
        assert!(read_run(&dir).unwrap_err().to_string().contains("step 1's image is missing"));
        // The last step's images missing (a power loss before they reached the disk): that
        // step is dropped and the run reads as cut short.
        fs::write(dir.join("step-001-marked.png"), b"").unwrap();
        fs::remove_file(dir.join("step-002-marked.png")).unwrap();
        let run = read_run(&dir).unwrap();
        assert_eq!((run.steps.len(), run.truncated), (1, true));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn run_ids_are_a_timestamp_and_a_slug() {
        let id = run_id("Type Kim 김민수 into the field!");
        assert!(id.ends_with("-type-kim-김민수-into-the-field"), "{id}");
        assert!(id.chars().next().unwrap().is_ascii_digit());
        assert_eq!(run_id("!!!").len(), 15);
    }
}
