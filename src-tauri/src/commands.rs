//! The commands the window calls: each is a few lines over the library. Errors are one
//! readable line for the window to show.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use markpilot::action::Action;
use markpilot::agent::{Agent, Event, Verdict};
use markpilot::capture::{self, Target};
use markpilot::config::Config;
use markpilot::coords::MonitorInfo;
use markpilot::decide::{Part, Role, Turn, VlmClient, VlmRequest};
use markpilot::guard::ConfirmPolicy;
use markpilot::mark::MarkStyle;
use markpilot::record;
use markpilot::replay::{Fallback, Replayer};
use markpilot::run::{self, Recording, RunSummary};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Emitter, State};

use crate::events::{UiEvent, to_ui};
use crate::session::{HidingCapturer, Reply, Session, WindowControl, WindowOperator};
use crate::settings::{Keys, ProfileView, Settings};
use crate::{AppState, TauriWindow};

type CmdResult<T> = Result<T, String>;

fn emit(app: &AppHandle, e: UiEvent) {
    if let Err(err) = app.emit("agent-event", e) {
        tracing::warn!("cannot send an event to the window: {err}");
    }
}

#[tauri::command]
pub async fn monitors() -> CmdResult<Vec<MonitorInfo>> {
    capture::create_capturer().monitors().map_err(|e| e.to_string())
}

#[derive(Serialize)]
pub struct SettingsPayload {
    pub profiles: Vec<ProfileView>,
    pub detectors: String,
    pub mark_style: String,
    pub record_dir: String,
    /// Where runs go when `record_dir` is empty.
    pub default_record_dir: String,
}

#[tauri::command]
pub async fn settings_get(state: State<'_, AppState>) -> CmdResult<SettingsPayload> {
    let s = Settings::load(&state.config_dir)?;
    let config = config()?;
    Ok(SettingsPayload {
        profiles: s
            .profiles_with(&config)
            .into_iter()
            .map(|(p, from_config)| ProfileView {
                has_key: Keys::get(&p.name).ok().flatten().is_some(),
                profile: p,
                from_config,
            })
            .collect(),
        detectors: s.detectors,
        mark_style: s.mark_style,
        record_dir: s.record_dir,
        default_record_dir: run::runs_dir(&config).display().to_string(),
    })
}

#[tauri::command]
pub async fn settings_save(state: State<'_, AppState>, settings: Settings) -> CmdResult<()> {
    settings.without_config_copies(&config()?).save(&state.config_dir)
}

/// config.toml, the CLI's config, which the app's settings overlay.
fn config() -> CmdResult<Config> {
    Config::load(None).map_err(|e| e.to_string())
}

/// Store a profile's key in the OS keyring. The key is never sent back to the window.
#[tauri::command]
pub async fn key_set(profile: String, key: String) -> CmdResult<()> {
    Keys::set(&profile, &key)
}

#[tauri::command]
pub async fn key_clear(profile: String) -> CmdResult<()> {
    Keys::clear(&profile)
}

fn client_for(state: &AppState, config: &Config, profile: &str) -> CmdResult<VlmClient> {
    let settings = Settings::load(&state.config_dir)?;
    let p = settings.provider(config, profile)?;
    let key = Keys::get(&p.name).unwrap_or(None);
    VlmClient::with_key(p, key).map_err(|e| e.to_string())
}

/// Ask the profile's server for a one-word answer: reachable, key accepted, model known.
#[tauri::command]
pub async fn test_connection(state: State<'_, AppState>, profile: String) -> CmdResult<String> {
    let client = client_for(&state, &config()?, &profile)?;
    let req = VlmRequest {
        system: "You are a connection test.".into(),
        turns: vec![Turn { role: Role::User, parts: vec![Part::Text("Answer with the single word OK.".into())] }],
    };
    let started = std::time::Instant::now();
    let reply = client.complete(&req).await.map_err(|e| e.to_string())?;
    let text: String = reply.text.chars().take(80).collect();
    Ok(format!(
        "{} answered {:?} in {:.0} ms",
        client.profile.model,
        text.trim(),
        started.elapsed().as_secs_f64() * 1000.0
    ))
}

#[derive(Debug, Clone, Deserialize)]
pub struct RunRequest {
    pub task: String,
    pub profile: String,
    pub monitor: Option<usize>,
    /// `never`, `risky` or `always`.
    pub confirm: String,
    pub max_steps: u32,
    #[serde(default)]
    pub dry_run: bool,
}

/// The app's runs folder, else config.toml's, else the default.
fn runs_dir(settings: &Settings, config: &Config) -> PathBuf {
    if settings.record_dir.trim().is_empty() {
        run::runs_dir(config)
    } else {
        PathBuf::from(settings.record_dir.trim())
    }
}

/// The app's detector list, when it has one (else config.toml's applies).
fn detectors(settings: &Settings) -> Option<String> {
    Some(settings.detectors.trim().to_string()).filter(|d| !d.is_empty())
}

/// Refuse to start while a run is going, before anything is created for the new one.
fn ensure_idle(state: &AppState) -> CmdResult<()> {
    let slot = state.session.lock().map_err(|_| "the app's state is broken; restart it".to_string())?;
    if slot.as_ref().is_some_and(Session::is_running) {
        return Err("a run is going; stop it first".into());
    }
    Ok(())
}

/// Start a session thread, unless one is running.
fn start_session(
    app: &AppHandle,
    state: &AppState,
    run_dir: String,
    work: impl FnOnce(mpsc::Receiver<Reply>, Arc<Mutex<Option<String>>>, markpilot::agent::StopSignal) + Send + 'static,
) -> CmdResult<()> {
    let mut slot = state.session.lock().map_err(|_| "the app's state is broken; restart it".to_string())?;
    if slot.as_ref().is_some_and(Session::is_running) {
        return Err("a run is going; stop it first".into());
    }
    let (tx, rx) = mpsc::channel();
    let stop = markpilot::agent::StopSignal::new();
    let waiting = Arc::new(Mutex::new(None));
    let (s, w) = (stop.clone(), waiting.clone());
    let app2 = app.clone();
    let thread = std::thread::Builder::new()
        .name("markpilot-run".into())
        .spawn(move || {
            work(rx, w, s);
            // Whatever happened, the window comes back.
            TauriWindow(app2).show();
        })
        .map_err(|e| format!("cannot start the run: {e}"))?;
    *slot = Some(Session { stop, replies: tx, thread: Some(thread), run_dir, waiting });
    Ok(())
}

fn confirm_policy(s: &str) -> CmdResult<ConfirmPolicy> {
    s.parse().map_err(|e: String| e)
}

/// Start the agent on a task. Returns the run folder.
#[tauri::command]
pub async fn run_start(app: AppHandle, state: State<'_, AppState>, request: RunRequest) -> CmdResult<String> {
    if request.task.trim().is_empty() {
        return Err("the task is empty: say what to do".into());
    }
    markpilot::guard::Secrets::from_task(&request.task).check()?;
    ensure_idle(&state)?;
    let settings = Settings::load(&state.config_dir)?;
    let config = config()?;
    let client = client_for(&state, &config, &request.profile)?;
    // The window's choices over config.toml's [agent], [prompt] and [perception].
    let dir = runs_dir(&settings, &config).join(record::run_id(&request.task));
    let run_request = run::RunRequest {
        task: request.task.clone(),
        monitor: request.monitor,
        max_steps: Some(request.max_steps),
        confirm: Some(confirm_policy(&request.confirm)?),
        mark_style: settings.mark_style.parse::<MarkStyle>().ok(),
        detectors: detectors(&settings),
        dry_run: request.dry_run,
        record: Recording::Into(dir.clone()),
        shell: "desktop app".into(),
        ..Default::default()
    };
    let prepared = run::prepare_agent(&config, client, &run_request).map_err(|e| e.to_string())?;
    for s in &prepared.perception.skipped {
        tracing::warn!("skipping detector {}: {}", s.detector, s.reason);
    }
    let options = prepared.options;
    let (pipeline, client, executor, recorder) =
        (prepared.perception.pipeline, prepared.client, prepared.executor, prepared.recorder);
    let dir_text = dir.display().to_string();
    let app2 = app.clone();
    start_session(&app, &state, dir_text.clone(), move |replies, waiting, stop| {
        let Some(kit) = Kit::new(&app2, options.target.clone(), replies, waiting) else { return };
        let agent = Agent {
            options,
            capturer: &kit.capturer,
            pipeline,
            client,
            executor,
            operator: kit.operator,
            recorder,
            stop,
            events: kit.events,
            runtime: kit.runtime.handle().clone(),
        };
        agent.run();
        kit.runtime.shutdown_timeout(Duration::from_millis(100));
    })?;
    Ok(dir_text)
}

/// What a run thread works with: its async runtime, a capturer that keeps the window out of
/// the picture, the window as the person, and the events to the window.
struct Kit {
    runtime: tokio::runtime::Runtime,
    capturer: HidingCapturer,
    operator: Box<WindowOperator>,
    events: Box<dyn FnMut(&Event) + Send>,
}

impl Kit {
    /// `None` (and the window told why) when the runtime cannot start.
    fn new(
        app: &AppHandle,
        target: Target,
        replies: mpsc::Receiver<Reply>,
        waiting: Arc<Mutex<Option<String>>>,
    ) -> Option<Kit> {
        let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(r) => r,
            Err(e) => {
                emit(app, finished_error(format!("cannot start the async runtime: {e}")));
                return None;
            }
        };
        let window: Arc<dyn WindowControl> = Arc::new(TauriWindow(app.clone()));
        let (ask_app, events_app) = (app.clone(), app.clone());
        Some(Kit {
            runtime,
            capturer: HidingCapturer { inner: capture::create_capturer(), window: window.clone() },
            operator: Box::new(WindowOperator {
                replies,
                window,
                target,
                waiting,
                ask: Box::new(move |step, q| emit(&ask_app, UiEvent::Question { step, question: q.to_string() })),
            }),
            events: Box::new(move |e: &Event| {
                if let Some(u) = to_ui(e) {
                    emit(&events_app, u);
                }
            }),
        })
    }
}

fn finished_error(message: String) -> UiEvent {
    UiEvent::Finished {
        status: "error".into(),
        message,
        answer: None,
        steps: 0,
        input_tokens: 0,
        output_tokens: 0,
        run_dir: None,
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReplayRequest {
    pub dir: String,
    pub monitor: Option<usize>,
    pub speed: f64,
    /// Ask this profile's model when a target cannot be re-found.
    pub vlm_profile: Option<String>,
    pub confirm: String,
}

/// Replay a recorded run (see `markpilot replay`). Returns the replay's run folder.
#[tauri::command]
pub async fn run_replay(app: AppHandle, state: State<'_, AppState>, request: ReplayRequest) -> CmdResult<String> {
    ensure_idle(&state)?;
    let settings = Settings::load(&state.config_dir)?;
    let config = config()?;
    let client = match &request.vlm_profile {
        Some(p) => Some(client_for(&state, &config, p)?),
        None => None,
    };
    let replay_request = run::ReplayRequest {
        monitor: request.monitor,
        speed: request.speed,
        confirm: Some(confirm_policy(&request.confirm)?),
        screenshots: true,
        record: Recording::Under(runs_dir(&settings, &config)),
        shell: "desktop app".into(),
        ..Default::default()
    };
    let prepared = run::prepare_replay(&config, Path::new(&request.dir), &replay_request, client.as_ref())
        .map_err(|e| e.to_string())?;
    let (original, options, executor, recorder) =
        (prepared.original, prepared.options, prepared.executor, prepared.recorder);
    let pipeline = prepared.perception.pipeline;
    let prompt = config.prompt.clone();
    let out = prepared.run_dir.unwrap_or_default();
    let out_text = out.display().to_string();
    let app2 = app.clone();
    start_session(&app, &state, out_text.clone(), move |replies, waiting, stop| {
        let Some(kit) = Kit::new(&app2, options.target.clone(), replies, waiting) else { return };
        let fallback = client.map(|client| Fallback { client, prompt, runtime: kit.runtime.handle().clone() });
        let replayer = Replayer {
            original,
            options,
            capturer: &kit.capturer,
            pipeline,
            fallback,
            executor,
            operator: kit.operator,
            recorder,
            stop,
            events: kit.events,
        };
        replayer.run();
        kit.runtime.shutdown_timeout(Duration::from_millis(100));
    })?;
    Ok(out_text)
}

fn reply(state: &AppState, r: Reply) -> CmdResult<()> {
    let slot = state.session.lock().map_err(|_| "the app's state is broken; restart it".to_string())?;
    let s = slot.as_ref().filter(|s| s.is_running()).ok_or("no run is going")?;
    if s.waiting.lock().map(|w| w.is_none()).unwrap_or(true) {
        return Err("the run is not waiting for you".into());
    }
    s.replies.send(r).map_err(|_| "the run has ended".to_string())
}

/// Approve, skip, or edit-then-approve the action awaiting confirmation.
#[tauri::command]
pub fn run_confirm(state: State<'_, AppState>, verdict: String, action: Option<String>, step: u32) -> CmdResult<()> {
    let v = parse_verdict(&verdict, action.as_deref())?;
    reply(&state, Reply::Verdict { step, verdict: v })
}

/// `approve`, `skip`, or `edit` with the edited action's JSON (checked here, before the
/// agent sees it).
pub fn parse_verdict(verdict: &str, action: Option<&str>) -> CmdResult<Verdict> {
    match verdict {
        "approve" => Ok(Verdict::Approve),
        "skip" => Ok(Verdict::Refuse),
        "edit" => {
            let text = action.ok_or("edit needs the edited action")?;
            let a: Action = serde_json::from_str(text).map_err(|e| format!("the edited action is not valid: {e}"))?;
            let a = a.bounded().map_err(|e| format!("the edited action is not valid: {e}"))?;
            if a.is_terminal() || matches!(a, Action::Zoom { .. }) {
                return Err("an edited action must act on the screen (not done, fail, ask_user or zoom)".into());
            }
            Ok(Verdict::Edit(a))
        }
        other => Err(format!("unknown verdict {other:?} (approve, skip or edit)")),
    }
}

#[tauri::command]
pub fn run_answer(state: State<'_, AppState>, answer: Option<String>, step: u32) -> CmdResult<()> {
    reply(&state, Reply::Answer { step, answer: answer.filter(|a| !a.trim().is_empty()) })
}

fn with_session<T>(state: &AppState, f: impl FnOnce(&Session) -> T) -> CmdResult<T> {
    let slot = state.session.lock().map_err(|_| "the app's state is broken; restart it".to_string())?;
    slot.as_ref().filter(|s| s.is_running()).map(f).ok_or_else(|| "no run is going".to_string())
}

/// Pause before the next step. The window comes back once the step in progress is done (not
/// before: the agent may still be clicking where it would appear).
#[tauri::command]
pub fn run_pause(app: AppHandle, state: State<'_, AppState>) -> CmdResult<()> {
    let stop = with_session(&state, |s| {
        s.stop.pause();
        s.stop.clone()
    })?;
    emit(&app, UiEvent::Paused { paused: true });
    std::thread::spawn(move || {
        crate::session::wait_for(Duration::from_secs(600), || {
            stop.is_holding() || stop.is_stopped() || !stop.is_paused()
        });
        if stop.is_holding() {
            TauriWindow(app).show();
        }
    });
    Ok(())
}

#[tauri::command]
pub fn run_resume(app: AppHandle, state: State<'_, AppState>) -> CmdResult<()> {
    with_session(&state, |s| s.stop.resume())?;
    emit(&app, UiEvent::Paused { paused: false });
    Ok(())
}

/// Stop now: the run ends within the step in progress (a wait for the model or a person is
/// cut short).
#[tauri::command]
pub fn run_stop(state: State<'_, AppState>) -> CmdResult<()> {
    if state.stop() { Ok(()) } else { Err("no run is going".into()) }
}

#[derive(Serialize)]
pub struct RunStatusView {
    pub running: bool,
    pub paused: bool,
    pub waiting: Option<String>,
    pub run_dir: Option<String>,
}

#[tauri::command]
pub fn run_status(state: State<'_, AppState>) -> CmdResult<RunStatusView> {
    let slot = state.session.lock().map_err(|_| "the app's state is broken; restart it".to_string())?;
    Ok(match slot.as_ref() {
        Some(s) => RunStatusView {
            running: s.is_running(),
            paused: s.stop.is_paused(),
            waiting: s.waiting.lock().ok().and_then(|w| w.clone()),
            run_dir: Some(s.run_dir.clone()),
        },
        None => RunStatusView { running: false, paused: false, waiting: None, run_dir: None },
    })
}

/// Recorded runs, newest first.
#[tauri::command]
pub async fn runs_list(state: State<'_, AppState>) -> CmdResult<Vec<RunSummary>> {
    let settings = Settings::load(&state.config_dir)?;
    Ok(list_runs(&runs_dir(&settings, &config()?)))
}

pub fn list_runs(root: &Path) -> Vec<RunSummary> {
    run::list_runs(root).0
}

#[derive(Debug, Serialize)]
pub struct StepView {
    pub step: u32,
    pub thought: Option<String>,
    pub action: Option<String>,
    pub status: String,
    pub detail: Option<String>,
    pub timings: Vec<(String, f64)>,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Serialize)]
pub struct RunDetail {
    pub summary: RunSummary,
    pub truncated: bool,
    pub steps: Vec<StepView>,
}

#[tauri::command]
pub async fn run_open(dir: String) -> CmdResult<RunDetail> {
    open_run(Path::new(&dir))
}

pub fn open_run(dir: &Path) -> CmdResult<RunDetail> {
    let run = record::read_run(dir).map_err(|e| e.to_string())?;
    let i = &run.info;
    let steps = run
        .steps
        .iter()
        .map(|s| StepView {
            step: s.step,
            thought: s.decision.as_ref().map(|d| d.thought.clone()),
            action: s.decision.as_ref().map(|d| d.action.to_string()),
            status: s.outcome.status.clone(),
            detail: s.outcome.detail.clone(),
            timings: crate::events::stage_times(&s.timings_ms),
            input_tokens: s.usage.input_tokens,
            output_tokens: s.usage.output_tokens,
        })
        .collect();
    Ok(RunDetail {
        summary: RunSummary {
            dir: run.dir.display().to_string(),
            id: i.id.clone(),
            task: i.task.clone(),
            source: i.source.clone(),
            started_at: i.started_at.clone(),
            steps: i.steps,
            status: i.result.status.as_str().into(),
            message: i.result.message.clone(),
        },
        truncated: run.truncated,
        steps,
    })
}

/// A recorded step's marked screenshot, as a data URL.
#[tauri::command]
pub async fn run_step_image(dir: String, step: u32) -> CmdResult<String> {
    let run = record::read_run(Path::new(&dir)).map_err(|e| e.to_string())?;
    let s = run.steps.iter().find(|s| s.step == step).ok_or_else(|| format!("the run has no step {step}"))?;
    let bytes = std::fs::read(run.dir.join(&s.marked)).map_err(|e| format!("cannot read the step's image: {e}"))?;
    Ok(format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes)))
}

/// Write the run's HTML report into its folder; returns the file's path.
#[tauri::command]
pub async fn run_export(dir: String) -> CmdResult<String> {
    let run = record::read_run(Path::new(&dir)).map_err(|e| e.to_string())?;
    let html = markpilot::report::render(&run)?;
    let out = run.dir.join("report.html");
    markpilot::files::write_atomically(&out, html.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(out.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use markpilot::action::{ClickKind, Pointer};
    use markpilot::record::{Recorder, RunInfo};

    #[test]
    fn verdicts_from_the_window_are_checked_before_the_agent_sees_them() {
        assert_eq!(parse_verdict("approve", None), Ok(Verdict::Approve));
        assert_eq!(parse_verdict("skip", None), Ok(Verdict::Refuse));
        let edited = r#"{"type":"pointer","kind":"double_click","target":{"mark":3}}"#;
        assert_eq!(
            parse_verdict("edit", Some(edited)),
            Ok(Verdict::Edit(Action::Pointer { kind: ClickKind::DoubleClick, target: Pointer::Mark(3) }))
        );
        assert!(parse_verdict("edit", None).unwrap_err().contains("needs"));
        assert!(parse_verdict("edit", Some("{")).unwrap_err().contains("not valid"));
        assert!(
            parse_verdict("edit", Some(r#"{"type":"done","answer":null}"#)).unwrap_err().contains("act on the screen")
        );
        // A zoom only looks: the step being confirmed acts.
        let zoom = r#"{"type":"zoom","target":{"mark":2}}"#;
        assert!(parse_verdict("edit", Some(zoom)).unwrap_err().contains("act on the screen"));
        assert!(parse_verdict("maybe", None).is_err());
        // An edit is bounded like every action from outside.
        let e = parse_verdict("edit", Some(r#"{"type":"wait","seconds":-5}"#)).unwrap_err();
        assert!(e.contains("not a number of seconds"), "{e}");
        let huge = r#"{"type":"scroll","direction":"down","amount":4000000000,"target":null}"#;
        assert!(matches!(parse_verdict("edit", Some(huge)), Ok(Verdict::Edit(Action::Scroll { amount: 50, .. }))));
    }

    #[test]
    fn recorded_runs_are_listed_newest_first_and_open_with_their_steps() {
        let root = std::env::temp_dir().join(format!("markpilot-app-runs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (name, started) in [("older", "2026-01-01T00:00:00.000Z"), ("newer", "2026-02-01T00:00:00.000Z")] {
            let dir = root.join(name);
            let mut info = RunInfo::start(&dir, "agent", name, None, serde_json::Value::Null);
            info.started_at = started.into();
            let mut rec = Recorder::create(&dir, info).unwrap();
            rec.finish(record::RunResult::new(record::RunStatus::Done, "ok")).unwrap();
        }
        std::fs::create_dir_all(root.join("not-a-run")).unwrap();
        let list = list_runs(&root);
        assert_eq!(list.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["newer", "older"]);
        let d = open_run(&root.join("newer")).unwrap();
        assert_eq!((d.summary.status.as_str(), d.steps.len(), d.truncated), ("done", 0, false));
        assert!(open_run(&root.join("not-a-run")).unwrap_err().contains("run.json"));
        let _ = std::fs::remove_dir_all(&root);
    }
}
