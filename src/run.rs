//! run: the one place a run is assembled. Every shell — the CLI's `run`, `replay`, `record`
//! and `mcp`, the desktop app, the MCP server's `run_task` — says what it wants as a
//! [`RunRequest`] and gets from here, out of the [`Config`] and that request, the perception
//! pipeline, the agent's options, the executor and the recorder, with the detectors written
//! into the run's options once. So the same config gives the same run whichever shell starts
//! it; the shells only parse, call and present.

use std::path::PathBuf;

use thiserror::Error;

use crate::act::{ActError, DryRun, EnigoExecutor, Executor};
use crate::agent::{AgentOptions, options_json};
use crate::capture::Target;
use crate::config::{Config, ConfigError};
use crate::decide::{Language, VlmClient};
use crate::guard::ConfirmPolicy;
use crate::mark::MarkStyle;
use crate::perceive::Pipeline;
use crate::perceive::setup::{PerceptionConfig, Skipped, SpecError};
use crate::record::{self, RecordError, Recorder, RunInfo};

#[derive(Debug, Error)]
pub enum RunError {
    #[error("the task is empty: say what to do")]
    EmptyTask,
    #[error("{0}")]
    Secrets(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Perception(#[from] SpecError),
    #[error(transparent)]
    Input(#[from] ActError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("{0}")]
    NoSuchRun(String),
    #[error("{} has no performed actions to replay", .0.display())]
    NothingToReplay(PathBuf),
    #[error("{0}")]
    BadRequest(String),
}

/// Where a run is recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Recording {
    /// A new folder in the runs folder (the config's `record_dir`, else the data dir's).
    #[default]
    InRunsDir,
    /// A new folder in this folder (the app's own runs folder).
    Under(PathBuf),
    /// This folder.
    Into(PathBuf),
    /// Not at all.
    Off,
}

/// What a shell asks for, over the config. `None` keeps the config's value (or the default).
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub task: String,
    pub monitor: Option<usize>,
    pub max_steps: Option<u32>,
    pub max_seconds: Option<f64>,
    pub confirm: Option<ConfirmPolicy>,
    pub language: Option<Language>,
    pub mark_style: Option<MarkStyle>,
    /// A detector list (`builtin,text`…) instead of the config's.
    pub detectors: Option<String>,
    /// Resolve and describe actions, send no input.
    pub dry_run: bool,
    pub record: Recording,
    /// Which shell started the run (`cli`, `desktop app`, `mcp`), written into its options.
    pub shell: String,
}

/// The runs folder: the config's `record_dir`, else the data dir's `runs/`.
pub fn runs_dir(config: &Config) -> PathBuf {
    config.agent.record_dir.clone().unwrap_or_else(record::default_runs_dir)
}

/// The folder a run of `task` records into, if any.
pub fn run_dir(config: &Config, recording: &Recording, task: &str) -> Option<PathBuf> {
    folder(config, recording, record::run_id(task))
}

/// The folder a recording goes to, a new one being named `name`.
fn folder(config: &Config, recording: &Recording, name: String) -> Option<PathBuf> {
    match recording {
        Recording::InRunsDir => Some(runs_dir(config).join(name)),
        Recording::Under(root) => Some(root.join(name)),
        Recording::Into(d) => Some(d.clone()),
        Recording::Off => None,
    }
}

/// The agent's options for a request: the request's values over the config's `[agent]` and
/// `[prompt]` sections over the defaults, each clamped to what the agent accepts.
pub fn agent_options(config: &Config, r: &RunRequest) -> AgentOptions {
    let mut o = AgentOptions::new(r.task.clone());
    let a = &config.agent;
    o.target = Target::Monitor(r.monitor);
    o.prompt = config.prompt.clone();
    if let Some(l) = r.language {
        o.prompt.language = l;
    }
    o.max_steps = r.max_steps.or(a.max_steps).unwrap_or(o.max_steps).clamp(1, 500);
    // A limit that is not a positive number of seconds (NaN, negative) is no limit to take.
    let valid = |s: &f64| s.is_finite() && *s > 0.0;
    let seconds = r.max_seconds.filter(valid).or(a.max_seconds.filter(valid)).unwrap_or(o.max_seconds);
    o.max_seconds = seconds.min(86_400.0);
    o.confirm = r.confirm.or(a.confirm).unwrap_or(o.confirm);
    o.history_images = a.history_images.unwrap_or(0).min(8);
    if let Some(ms) = a.settle_timeout_ms {
        o.settle_timeout = std::time::Duration::from_millis(ms.min(60_000));
    }
    if let Some(s) = r.mark_style {
        o.marks.style = s;
    }
    o
}

/// The perception settings for a detector list (none: the config's).
pub fn perception_config(config: &Config, detectors: Option<&str>) -> PerceptionConfig {
    let mut p = config.perception.clone();
    if let Some(d) = detectors.map(str::trim).filter(|d| !d.is_empty()) {
        p.detectors = Some(d.to_string());
    }
    p
}

/// A built pipeline, the detector list a replay should use again, and what was skipped.
pub struct Perception {
    pub pipeline: Pipeline,
    /// The list as asked for, else the detectors that were built (`builtin,text`).
    pub detectors: String,
    pub skipped: Vec<Skipped>,
}

/// Build the pipeline for these perception settings.
pub fn perception(p: &PerceptionConfig) -> Result<Perception, RunError> {
    let (pipeline, skipped) = p.build()?;
    let detectors = p.detectors.clone().unwrap_or_else(|| pipeline.detector_names().join(","));
    Ok(Perception { pipeline, detectors, skipped })
}

/// The executor: the real mouse and keyboard, or a dry run.
pub fn executor(dry_run: bool) -> Result<Box<dyn Executor>, RunError> {
    Ok(if dry_run { Box::new(DryRun::default()) } else { Box::new(EnigoExecutor::new()?) })
}

/// Start recording into `dir` with these options, the detector list written into them.
pub fn recorder(
    dir: &std::path::Path,
    source: &str,
    task: &str,
    client: Option<&VlmClient>,
    mut options: serde_json::Value,
    detectors: &str,
) -> Result<Recorder, RunError> {
    if let Some(map) = options.as_object_mut() {
        map.insert("detectors".into(), serde_json::Value::String(detectors.to_string()));
    }
    Ok(Recorder::create(dir, RunInfo::start(dir, source, task, client, options))?)
}

/// An agent run, assembled: what [`crate::agent::Agent`] needs but the shell's own parts
/// (capturer, operator, stop signal, events, runtime).
pub struct PreparedAgent {
    pub options: AgentOptions,
    pub perception: Perception,
    pub client: VlmClient,
    pub executor: Box<dyn Executor>,
    pub recorder: Option<Recorder>,
    pub run_dir: Option<PathBuf>,
}

/// The options an agent run records, for a request and a client (what [`prepare_agent`]
/// writes into `run.json`, detectors aside).
pub fn agent_options_json(
    options: &AgentOptions,
    client: &VlmClient,
    executor: &str,
    shell: &str,
) -> serde_json::Value {
    let mut j = options_json(options, client, executor);
    if !shell.is_empty() {
        j["shell"] = serde_json::Value::String(shell.to_string());
    }
    j
}

/// Assemble an agent run: check the task and its secrets, build the pipeline and the
/// executor, and start the recording.
pub fn prepare_agent(config: &Config, client: VlmClient, r: &RunRequest) -> Result<PreparedAgent, RunError> {
    if r.task.trim().is_empty() {
        return Err(RunError::EmptyTask);
    }
    crate::guard::Secrets::from_task(&r.task).check().map_err(RunError::Secrets)?;
    let options = agent_options(config, r);
    let perception = perception(&perception_config(config, r.detectors.as_deref()))?;
    let executor = executor(r.dry_run)?;
    let run_dir = run_dir(config, &r.record, &r.task);
    let recorder = match &run_dir {
        Some(dir) => {
            let opts = agent_options_json(&options, &client, executor.name(), &r.shell);
            Some(recorder(dir, "agent", &r.task, Some(&client), opts, &perception.detectors)?)
        }
        None => None,
    };
    Ok(PreparedAgent { options, perception, client, executor, recorder, run_dir })
}

/// A recorded run as lists show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunSummary {
    pub dir: String,
    pub id: String,
    pub task: String,
    pub source: String,
    pub started_at: String,
    pub steps: u32,
    pub status: String,
    pub message: String,
}

/// The runs in `root`, newest first, and the folders whose run.json could not be read.
pub fn list_runs(root: &std::path::Path) -> (Vec<RunSummary>, Vec<PathBuf>) {
    let (mut runs, mut unreadable) = (Vec::new(), Vec::new());
    for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let path = e.path();
        let Ok(text) = std::fs::read_to_string(path.join("run.json")) else { continue };
        match serde_json::from_str::<RunInfo>(&text) {
            Ok(i) => runs.push(RunSummary {
                dir: path.display().to_string(),
                id: i.id,
                task: i.task,
                source: i.source,
                started_at: i.started_at,
                steps: i.steps,
                status: i.result.status.as_str().into(),
                message: i.result.message,
            }),
            Err(_) => unreadable.push(path),
        }
    }
    runs.sort_by(|a, b| b.started_at.cmp(&a.started_at));
    (runs, unreadable)
}

/// A run named by its folder, or by its id under the runs folder.
pub fn find_run(run: &std::path::Path, config: &Config) -> Result<PathBuf, RunError> {
    if run.join("run.json").is_file() {
        return Ok(run.to_path_buf());
    }
    // An id is one folder name: never a way out of the runs folder.
    let is_id =
        run.components().count() == 1 && matches!(run.components().next(), Some(std::path::Component::Normal(_)));
    let under = runs_dir(config).join(run);
    if is_id && under.join("run.json").is_file() {
        return Ok(under);
    }
    if run.is_dir() {
        return Err(RunError::NoSuchRun(format!("{} is not a recorded run (it has no run.json)", run.display())));
    }
    Err(RunError::NoSuchRun(format!(
        "no recorded run {} (not a folder, nor an id under {})",
        run.display(),
        runs_dir(config).display()
    )))
}

/// What a shell asks of a replay, over the config.
#[derive(Debug, Clone)]
pub struct ReplayRequest {
    pub monitor: Option<usize>,
    /// Recorded waits last seconds / speed (0.1 to 100).
    pub speed: f64,
    pub confirm: Option<ConfirmPolicy>,
    /// Seconds a target that is not on the screen yet is waited for.
    pub find_timeout: Option<f64>,
    /// Detectors instead of the original run's.
    pub detectors: Option<String>,
    pub dry_run: bool,
    /// Emit each step's marked screenshot (the app's live view).
    pub screenshots: bool,
    pub record: Recording,
    pub shell: String,
}

impl Default for ReplayRequest {
    fn default() -> Self {
        Self {
            monitor: None,
            speed: 1.0,
            confirm: None,
            find_timeout: None,
            detectors: None,
            dry_run: false,
            screenshots: false,
            record: Recording::InRunsDir,
            shell: String::new(),
        }
    }
}

/// A replay, assembled: what [`crate::replay::Replayer`] needs but the shell's own parts.
pub struct PreparedReplay {
    pub original: crate::record::Run,
    pub options: crate::replay::ReplayOptions,
    pub perception: Perception,
    pub executor: Box<dyn Executor>,
    pub recorder: Option<Recorder>,
    pub run_dir: Option<PathBuf>,
}

/// Assemble a replay of the run in `dir`: read it, check it has something to replay and that
/// its secrets are set, build the pipeline (the original run's detectors unless the request
/// names others), the executor and the recording. `model`: the fallback's client, if any.
pub fn prepare_replay(
    config: &Config,
    dir: &std::path::Path,
    r: &ReplayRequest,
    model: Option<&VlmClient>,
) -> Result<PreparedReplay, RunError> {
    if !(r.speed.is_finite() && (0.1..=100.0).contains(&r.speed)) {
        return Err(RunError::BadRequest(format!("speed must be between 0.1 and 100, not {}", r.speed)));
    }
    if let Some(t) = r.find_timeout
        && !(t.is_finite() && (0.0..=600.0).contains(&t))
    {
        return Err(RunError::BadRequest(format!("the find timeout must be 0 to 600 seconds, not {t}")));
    }
    let original = record::read_run(dir)?;
    if crate::replay::replayable(&original).is_empty() {
        return Err(RunError::NothingToReplay(dir.to_path_buf()));
    }
    crate::replay::secrets(&original).check().map_err(RunError::Secrets)?;
    let mut options = crate::replay::ReplayOptions {
        target: Target::Monitor(r.monitor),
        speed: r.speed,
        confirm: r.confirm.or(config.agent.confirm).unwrap_or(ConfirmPolicy::Risky),
        screenshots: r.screenshots,
        ..Default::default()
    };
    if let Some(t) = r.find_timeout {
        options.find_timeout = std::time::Duration::from_secs_f64(t);
    }
    if let Some(ms) = config.agent.settle_timeout_ms {
        options.settle_timeout = std::time::Duration::from_millis(ms.min(60_000));
    }
    let recorded = original.info.options["detectors"].as_str().map(String::from);
    let perception = perception(&perception_config(config, r.detectors.clone().or(recorded).as_deref()))?;
    let executor = executor(r.dry_run)?;
    let run_dir = folder(config, &r.record, format!("{}-replay", record::run_id(&original.info.task)));
    let recorder = match &run_dir {
        Some(out) => {
            let mut opts = crate::replay::options_json(&original, &options, model, executor.name());
            if !r.shell.is_empty() {
                opts["shell"] = serde_json::Value::String(r.shell.clone());
            }
            Some(recorder(out, "replay", &original.info.task, model, opts, &perception.detectors)?)
        }
        None => None,
    };
    Ok(PreparedReplay { original, options, perception, executor, recorder, run_dir })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::ProviderProfile;

    const CONFIG: &str = r#"
        [agent]
        max_steps = 7
        max_seconds = 120
        confirm = "always"
        history_images = 2
        settle_timeout_ms = 900
        [prompt]
        language = "ko"
        [perception]
        detectors = "builtin"
    "#;

    fn client() -> VlmClient {
        VlmClient::with_key(
            ProviderProfile {
                name: "x".into(),
                model: "m".into(),
                base_url: "http://127.0.0.1:9/v1".into(),
                ..Default::default()
            },
            None,
        )
        .unwrap()
    }

    #[test]
    fn every_shell_gets_the_same_run_options_from_the_same_config() {
        let config = Config::parse(CONFIG).unwrap();
        let dir = std::env::temp_dir().join(format!("markpilot-run-layer-{}", std::process::id()));
        let mut recorded = Vec::new();
        for shell in ["cli", "desktop app", "mcp"] {
            let r = RunRequest {
                task: "open the settings".into(),
                dry_run: true,
                record: Recording::Into(dir.join(shell)),
                shell: shell.into(),
                ..Default::default()
            };
            let p = prepare_agent(&config, client(), &r).unwrap();
            let o = &p.options;
            assert_eq!((o.max_steps, o.max_seconds, o.confirm), (7, 120.0, ConfirmPolicy::Always));
            assert_eq!((o.history_images, o.settle_timeout.as_millis()), (2, 900));
            assert_eq!(o.prompt.language, Language::Ko);
            assert_eq!(p.perception.detectors, "builtin");
            drop(p);
            let info: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join(shell).join("run.json")).unwrap()).unwrap();
            let mut options = info["options"].clone();
            assert_eq!(options["shell"], shell);
            assert_eq!(options["detectors"], "builtin");
            options.as_object_mut().unwrap().remove("shell");
            recorded.push(options);
        }
        assert_eq!(recorded[0], recorded[1]);
        assert_eq!(recorded[1], recorded[2]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_request_overrides_the_config_within_the_agents_limits() {
        let config = Config::parse(CONFIG).unwrap();
        let r = RunRequest {
            task: "t".into(),
            max_steps: Some(100_000),
            max_seconds: Some(f64::NAN),
            confirm: Some(ConfirmPolicy::Never),
            language: Some(Language::En),
            detectors: Some(" builtin,a11y ".into()),
            ..Default::default()
        };
        let o = agent_options(&config, &r);
        assert_eq!((o.max_steps, o.max_seconds, o.confirm), (500, 120.0, ConfirmPolicy::Never));
        assert_eq!(o.prompt.language, Language::En);
        assert_eq!(perception_config(&config, r.detectors.as_deref()).detectors.as_deref(), Some("builtin,a11y"));
        assert_eq!(perception_config(&config, Some("  ")).detectors.as_deref(), Some("builtin"));
        let defaults = agent_options(&Config::default(), &RunRequest { task: "t".into(), ..Default::default() });
        assert_eq!((defaults.max_steps, defaults.confirm), (30, ConfirmPolicy::Risky));
    }

    #[test]
    fn a_run_id_never_leads_out_of_the_runs_folder() {
        let root = std::env::temp_dir().join(format!("markpilot-find-run-{}", std::process::id()));
        let outside = root.join("outside");
        std::fs::create_dir_all(root.join("runs/r1")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("runs/r1/run.json"), "{}").unwrap();
        std::fs::write(outside.join("run.json"), "{}").unwrap();
        let config =
            Config::parse(&format!("[agent]\nrecord_dir = {:?}", root.join("runs").to_str().unwrap())).unwrap();
        assert_eq!(find_run(std::path::Path::new("r1"), &config).unwrap(), root.join("runs/r1"));
        // runs/../outside holds a run.json, but an "id" with .. in it is not an id.
        assert!(find_run(std::path::Path::new("../outside"), &config).is_err());
        assert!(
            find_run(std::path::Path::new("nope"), &config).unwrap_err().to_string().contains("no recorded run nope")
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn an_empty_task_or_an_unset_secret_is_refused_before_anything_is_recorded() {
        let dir = std::env::temp_dir().join(format!("markpilot-run-refused-{}", std::process::id()));
        let r =
            RunRequest { task: "  ".into(), dry_run: true, record: Recording::Into(dir.clone()), ..Default::default() };
        assert!(matches!(prepare_agent(&Config::default(), client(), &r), Err(RunError::EmptyTask)));
        let r = RunRequest { task: "type {{secret:MARKPILOT_NO_SUCH_SECRET}}".into(), ..r };
        let e = prepare_agent(&Config::default(), client(), &r).err().unwrap();
        assert!(matches!(e, RunError::Secrets(_)) && e.to_string().contains("MARKPILOT_NO_SUCH_SECRET"), "{e}");
        assert!(!dir.exists());
    }
}
