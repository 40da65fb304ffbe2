//! Whole runs through MCP: `run_task` (markpilot's agent on a task), `replay` (a recorded
//! run, no model) and `list_runs`, each assembled by the run layer and run on the desk, held
//! for its length.

use std::sync::{Arc, Mutex};

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ProgressNotificationParam};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, schemars, tool, tool_router};
use serde::Deserialize;
use serde_json::json;

use super::McpServer;
use crate::action::Action;
use crate::agent::{Agent, Event, Operator, StopSignal, Verdict};
use crate::config::Config;
use crate::decide::{ProviderProfile, VlmClient};
use crate::desk::Asker;
use crate::guard::ConfirmPolicy;
use crate::run::{self, Recording, RunRequest};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct RunTaskArgs {
    /// What to do, in plain words ("open the settings and turn on dark mode").
    pub task: String,
    /// At most this many steps (1 to 500; default: the server's config, else 30).
    pub max_steps: Option<u32>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ReplayArgs {
    /// The run: an id as list_runs gives it, or a run folder.
    pub run: String,
    /// Recorded waits last seconds / speed (0.1 to 100, default 1).
    pub speed: Option<f64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ListRunsArgs {
    /// At most this many runs (default 20).
    pub limit: Option<u32>,
}

/// What `run_task`, `replay` and `list_runs` run with: the config and the model the server was started with.
pub struct Tasks {
    pub config: Config,
    /// The model profile, or why there is none (told to the client that asks for a task).
    pub profile: Result<ProviderProfile, String>,
    pub confirm: ConfirmPolicy,
    /// The detectors the server perceives with (the run uses the same).
    pub detectors: String,
    pub dry_run: bool,
    /// Record each task as a run of its own in the runs folder.
    pub record: bool,
}

/// How a `run_task` ended, as its events told it.
#[derive(Default)]
struct TaskEnd {
    steps: u32,
    run_dir: Option<String>,
}

#[tool_router(router = task_router, vis = "pub(super)")]
impl McpServer {
    #[tool(description = "Hand a whole task to markpilot's own agent and its model (the one the server was started \
        with): it observes, decides and acts step by step until the task is done, fails or hits max_steps. \
        Progress comes as progress notifications (one per step); cancelling the call stops the run after the \
        current step. Risky steps are put to the person through elicitation (refused where the client cannot \
        be asked) unless the server allows them. The run is recorded and can be replayed. Marks from earlier \
        observations are invalid afterwards.")]
    async fn run_task(
        &self,
        Parameters(a): Parameters<RunTaskArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let fail = |m: String| Ok(CallToolResult::error(vec![ContentBlock::text(m)]));
        let Some(tasks) = self.tasks.clone() else {
            return fail("run_task is not offered by this server".into());
        };
        let profile = match &tasks.profile {
            Ok(p) => p.clone(),
            Err(e) => return fail(format!("run_task needs a model: {e}")),
        };
        if a.max_steps == Some(0) || a.max_steps.is_some_and(|n| n > 500) {
            return fail(format!("max_steps {} is out of range (1 to 500)", a.max_steps.unwrap_or(0)));
        }
        let client = match VlmClient::new(profile) {
            Ok(c) => c,
            Err(e) => return fail(format!("run_task needs a model: {e}")),
        };
        let request = RunRequest {
            task: a.task.clone(),
            max_steps: a.max_steps,
            confirm: Some(tasks.confirm),
            detectors: Some(tasks.detectors.clone()),
            dry_run: tasks.dry_run,
            record: if tasks.record { Recording::InRunsDir } else { Recording::Off },
            shell: "mcp".into(),
            ..Default::default()
        };
        let prepared = match run::prepare_agent(&tasks.config, client, &request) {
            Ok(p) => p,
            Err(e) => return fail(format!("cannot start the task: {e}")),
        };

        let total = prepared.options.max_steps;
        // The run's risky steps are put to the client's person, as the desk's own are.
        let ask = super::asker(ctx.peer.clone());
        let ran = self
            .run_on_desk(ctx, total, false, move |capturer, stop, events, runtime| {
                Agent {
                    options: prepared.options,
                    capturer,
                    pipeline: prepared.perception.pipeline,
                    client: prepared.client,
                    executor: prepared.executor,
                    operator: Box::new(Eliciting(ask)),
                    recorder: prepared.recorder,
                    stop,
                    events,
                    runtime,
                }
                .run()
            })
            .await;
        Ok(ended(ran))
    }

    #[tool(
        description = "Replay a recorded run (a `list_runs` id or a run folder) with no model at all: each recorded \
        action's target is found again on the screen as it is now, even where windows moved. Progress comes as \
        progress notifications; cancelling stops after the current step. Stops, saying why, where a target \
        cannot be found. Risky steps are put to the person through elicitation (refused where the client \
        cannot be asked) unless the server allows them. Marks from earlier observations are invalid \
        afterwards."
    )]
    async fn replay(
        &self,
        Parameters(a): Parameters<ReplayArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let fail = |m: String| Ok(CallToolResult::error(vec![ContentBlock::text(m)]));
        let Some(tasks) = self.tasks.clone() else {
            return fail("replay is not offered by this server".into());
        };
        if a.run.trim().is_empty() {
            return fail("name the run to replay (an id from list_runs, or its folder)".into());
        }
        let dir = match run::find_run(std::path::Path::new(a.run.trim()), &tasks.config) {
            Ok(d) => d,
            Err(e) => return fail(format!("{e}; list_runs lists the recorded runs")),
        };
        let request = run::ReplayRequest {
            speed: a.speed.unwrap_or(1.0),
            confirm: Some(tasks.confirm),
            dry_run: tasks.dry_run,
            record: if tasks.record { Recording::InRunsDir } else { Recording::Off },
            shell: "mcp".into(),
            ..Default::default()
        };
        let prepared = match run::prepare_replay(&tasks.config, &dir, &request, None) {
            Ok(p) => p,
            Err(e) => return fail(format!("cannot replay {}: {e}", dir.display())),
        };
        // The steps that act (the recorded `done` only ends the replay).
        let total = crate::replay::replayable(&prepared.original)
            .iter()
            .filter(|s| !s.decision.as_ref().is_some_and(|d| d.action.is_terminal()))
            .count() as u32;
        // The run's risky steps are put to the client's person, as the desk's own are.
        let ask = super::asker(ctx.peer.clone());
        let ran = self
            .run_on_desk(ctx, total, true, move |capturer, stop, events, _| {
                crate::replay::Replayer {
                    original: prepared.original,
                    options: prepared.options,
                    capturer,
                    pipeline: prepared.perception.pipeline,
                    fallback: None,
                    executor: prepared.executor,
                    operator: Box::new(Eliciting(ask)),
                    recorder: prepared.recorder,
                    stop,
                    events,
                }
                .run()
            })
            .await;
        Ok(ended(ran))
    }

    #[tool(description = "List the recorded runs, newest first: id (what replay takes), task, source (agent, human, \
        replay, mcp), steps and how each ended.")]
    async fn list_runs(&self, Parameters(a): Parameters<ListRunsArgs>) -> Result<CallToolResult, ErrorData> {
        let Some(tasks) = self.tasks.clone() else {
            return Ok(CallToolResult::error(vec![ContentBlock::text("list_runs is not offered by this server")]));
        };
        let root = run::runs_dir(&tasks.config);
        let (mut runs, _) = run::list_runs(&root);
        runs.truncate(a.limit.unwrap_or(20).clamp(1, 200) as usize);
        let mut text = if runs.is_empty() {
            format!("no recorded runs in {}", root.display())
        } else {
            format!("{} run(s) in {}, newest first:\n", runs.len(), root.display())
        };
        for r in &runs {
            let task: String = r.task.chars().take(80).collect();
            text.push_str(&format!("{}  {}  {} step(s)  {}  {:?}\n", r.id, r.source, r.steps, r.status, task));
        }
        let mut out = CallToolResult::success(vec![ContentBlock::text(text)]);
        out.structured_content = Some(json!({ "runs": runs }));
        Ok(out)
    }
}

impl McpServer {
    /// Run a whole run (the agent, a replay) on the desk, held for its length: one progress
    /// notification per step when the client asked for progress, and a stop after the
    /// current step when the call is cancelled or the client goes away. A replay's progress
    /// is its replayed steps (the model's decisions are the agent's).
    async fn run_on_desk(
        &self,
        ctx: RequestContext<RoleServer>,
        total: u32,
        replaying: bool,
        work: impl FnOnce(
            &dyn crate::capture::Capturer,
            StopSignal,
            Box<dyn FnMut(&Event) + Send>,
            tokio::runtime::Handle,
        ) -> crate::record::RunResult
        + Send
        + 'static,
    ) -> Result<(crate::record::RunResult, TaskEnd), String> {
        let stop = StopSignal::new();
        let watcher = {
            let (ct, stop) = (ctx.ct.clone(), stop.clone());
            tokio::spawn(async move {
                ct.cancelled().await;
                stop.stop_because("stopped by the MCP client (cancelled, or it went away)");
            })
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u32, String)>();
        let notifier = {
            let (token, peer) = (ctx.meta.get_progress_token(), ctx.peer.clone());
            tokio::spawn(async move {
                while let Some((step, message)) = rx.recv().await {
                    if let Some(t) = &token {
                        let p = ProgressNotificationParam::new(t.clone(), f64::from(step))
                            .with_total(f64::from(total.max(step)))
                            .with_message(message);
                        let _ = peer.notify_progress(p).await;
                    }
                }
            })
        };
        let end = Arc::new(Mutex::new(TaskEnd::default()));
        let events: Box<dyn FnMut(&Event) + Send> = {
            let end = end.clone();
            Box::new(move |e: &Event| match e {
                Event::Decision { step, action, .. } if !replaying => {
                    let _ = tx.send((*step, format!("step {step}: {action}")));
                }
                Event::Replayed { step, original_step, via, .. } => {
                    let _ = tx.send((*step, format!("step {step}: replays recorded step {original_step} ({via})")));
                }
                Event::Finished { steps, run_dir, .. } => {
                    let mut end = end.lock().unwrap_or_else(|p| p.into_inner());
                    (end.steps, end.run_dir) = (*steps, run_dir.clone());
                }
                _ => {}
            })
        };
        let runtime = tokio::runtime::Handle::current();
        let desk = self.desk.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut d = desk.lock().unwrap_or_else(|p| p.into_inner());
            d.lend_capturer(|capturer| work(capturer, stop, events, runtime))
        })
        .await;
        watcher.abort();
        let _ = notifier.await;
        let r = result.map_err(|e| format!("the run stopped unexpectedly: {e}"))?;
        let end = std::mem::take(&mut *end.lock().unwrap_or_else(|p| p.into_inner()));
        Ok((r, end))
    }
}

/// How a whole run ended, as a tool result: an error unless it is done.
fn ended(ran: Result<(crate::record::RunResult, TaskEnd), String>) -> CallToolResult {
    let (r, end) = match ran {
        Ok(x) => x,
        Err(e) => return CallToolResult::error(vec![ContentBlock::text(e)]),
    };
    let mut text = format!("{}: {} after {} step(s)", r.status.as_str(), r.message, end.steps);
    if let Some(a) = &r.answer {
        text.push_str(&format!("\nanswer: {a}"));
    }
    if let Some(d) = &end.run_dir {
        text.push_str(&format!("\nrecorded in {d}"));
    }
    text.push_str("\nObserve before acting: earlier marks are no longer valid.");
    let mut out = if r.status == crate::record::RunStatus::Done {
        CallToolResult::success(vec![ContentBlock::text(text)])
    } else {
        CallToolResult::error(vec![ContentBlock::text(text)])
    };
    out.structured_content = Some(json!({
        "status": r.status.as_str(),
        "message": r.message,
        "answer": r.answer,
        "steps": end.steps,
        "run_dir": end.run_dir,
    }));
    out
}

/// The person behind an MCP client, asked through elicitation about a whole run's risky
/// steps; a client that cannot be asked refuses them, as before. The model's questions to
/// the person are not elicited: the run ends with them, for the client to answer.
struct Eliciting(Asker);

impl Operator for Eliciting {
    fn confirm(&mut self, step: u32, action: &Action, reason: &str, stop: &StopSignal) -> Verdict {
        if stop.is_stopped() {
            return Verdict::Refuse;
        }
        match (self.0)(&format!("markpilot's step {step} is about to {action}: {reason}. Allow it?")) {
            Ok(true) => Verdict::Approve,
            Ok(false) => Verdict::Refuse,
            Err(why) => {
                tracing::info!("step {step}: {reason}; not confirmed: {why}");
                Verdict::Refuse
            }
        }
    }

    fn ask(&mut self, _: u32, _: &str, _: &StopSignal) -> Option<String> {
        None
    }
}
