//! mcp: `markpilot mcp`, markpilot as a Model Context Protocol server (the official Rust SDK,
//! `rmcp`) over stdio — the eyes and hands of any agent on this desktop. A thin shell over
//! [`crate::desk::Desk`]: each tool parses its arguments, calls the desk on a blocking thread
//! and presents the answer. A failed action is a tool error (`isError`) saying what to do,
//! never a protocol failure; the server keeps serving.

use std::sync::{Arc, Mutex};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, ProgressNotificationParam, ServerCapabilities, ServerConfig,
};
use rmcp::model::{ElicitRequestParams, ElicitationAction, ElicitationSchema};
use rmcp::service::{Peer, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::json;

use crate::action::ClickKind;
use crate::agent::{Agent, Event, StopSignal, Unattended};
use crate::capture::Target;
use crate::config::Config;
use crate::decide::{ProviderProfile, VlmClient};
use crate::desk::{Acted, Asker, Desk, DeskError, Observed, Spot};
use crate::geometry::Rect;
use crate::guard::ConfirmPolicy;
use crate::run::{self, Recording, RunRequest};

/// A mark, or a point in the latest observation's image.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Where {
    /// The number of a mark in the latest observation.
    pub mark: Option<u32>,
    /// [x, y] in the pixels of the latest observation's image (not the screen).
    pub point: Option<[f64; 2]>,
    /// The observation the mark or point comes from (the `observation` number `observe`
    /// gave); when given and not the latest, the action is refused as stale.
    pub observation: Option<u64>,
    /// Also observe the screen once the action is done (the answer then carries the new
    /// screenshot, table and marks, as observe gives them).
    #[serde(default)]
    pub observe_after: bool,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ObserveArgs {
    /// Monitor index (as list_monitors gives it); default: the primary monitor.
    pub monitor: Option<usize>,
    /// A window title (exact, else contained, case-insensitively) to observe instead.
    pub window: Option<String>,
    /// [x, y, width, height] in the monitor's physical pixels, to observe only that part.
    pub region: Option<[i64; 4]>,
    /// The longest side of the returned image in pixels (256 to 4096, default 1280).
    pub max_side: Option<u32>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct TypeArgs {
    /// The text to type. "\n" presses Return. {{secret:NAME}} types the value of the server's
    /// environment variable NAME (when the server was started allowing it) without it ever
    /// appearing in any answer.
    pub text: String,
    /// Click this mark first (the text goes into it).
    pub mark: Option<u32>,
    /// Or click this point of the latest observation's image first.
    pub point: Option<[f64; 2]>,
    /// Replace what the field holds (needs a mark or point).
    #[serde(default)]
    pub clear: bool,
    pub observation: Option<u64>,
    /// Also observe the screen once the action is done (the answer then carries the new
    /// screenshot, table and marks, as observe gives them).
    #[serde(default)]
    pub observe_after: bool,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct KeyArgs {
    /// A key or combination: "Return", "Escape", "Tab", "ctrl+s", "alt+F4", "shift+Tab".
    pub keys: String,
    /// Also observe the screen once the action is done (the answer then carries the new
    /// screenshot, table and marks, as observe gives them).
    #[serde(default)]
    pub observe_after: bool,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ScrollArgs {
    /// up, down, left or right.
    pub direction: String,
    /// Wheel notches, 1 to 50 (default 3).
    pub amount: Option<u32>,
    /// Scroll over this mark (default: where the pointer is).
    pub mark: Option<u32>,
    pub point: Option<[f64; 2]>,
    pub observation: Option<u64>,
    /// Also observe the screen once the action is done (the answer then carries the new
    /// screenshot, table and marks, as observe gives them).
    #[serde(default)]
    pub observe_after: bool,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct DragArgs {
    pub from: Where,
    pub to: Where,
    /// Also observe the screen once the action is done (the answer then carries the new
    /// screenshot, table and marks, as observe gives them).
    #[serde(default)]
    pub observe_after: bool,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct WaitArgs {
    /// Seconds to wait, 0 to 60.
    pub seconds: f64,
    /// Also observe the screen once the action is done (the answer then carries the new
    /// screenshot, table and marks, as observe gives them).
    #[serde(default)]
    pub observe_after: bool,
}

fn spot(mark: Option<u32>, point: Option<[f64; 2]>) -> Result<Option<Spot>, DeskError> {
    match (mark, point) {
        (Some(_), Some(_)) => Err(DeskError::BadArguments("give a mark or a point, not both".into())),
        (Some(m), None) => Ok(Some(Spot::Mark(m))),
        (None, Some([x, y])) => Ok(Some(Spot::Point(x, y))),
        (None, None) => Ok(None),
    }
}

fn required(mark: Option<u32>, point: Option<[f64; 2]>) -> Result<Spot, DeskError> {
    spot(mark, point)?.ok_or_else(|| DeskError::BadArguments("say where: a mark, or a point [x, y]".into()))
}

fn target(a: &ObserveArgs) -> Result<Target, DeskError> {
    match (&a.window, a.region) {
        (Some(_), Some(_)) => Err(DeskError::BadArguments("give a window or a region, not both".into())),
        (Some(title), None) if title.trim().is_empty() => Err(DeskError::BadArguments("window title is empty".into())),
        (Some(title), None) => Ok(Target::Window(title.clone())),
        (None, Some([x, y, w, h])) => {
            let fits = |v: i64| (0..=1 << 20).contains(&v);
            if !(fits(x) && fits(y) && fits(w) && fits(h)) || w == 0 || h == 0 {
                return Err(DeskError::BadArguments(format!("region {:?} is not a box on a screen", [x, y, w, h])));
            }
            Ok(Target::Region { monitor: a.monitor, rect: Rect::new(x as i32, y as i32, w as u32, h as u32) })
        }
        (None, None) => Ok(Target::Monitor(a.monitor)),
    }
}

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

/// The server: the desk behind a lock (one action at a time, as on a real desk).
#[derive(Clone)]
pub struct McpServer {
    desk: Arc<Mutex<Desk>>,
    tasks: Option<Arc<Tasks>>,
    tool_router: ToolRouter<McpServer>,
}

/// How a `run_task` ended, as its events told it.
#[derive(Default)]
struct TaskEnd {
    steps: u32,
    run_dir: Option<String>,
}

fn acted(a: Acted) -> CallToolResult {
    let text = format!(
        "{}{}; the screen {}. Observe again before using marks.",
        a.description,
        if a.dry_run { " (dry run: nothing was sent)" } else { "" },
        if a.screen_changed { "changed" } else { "did not change" }
    );
    let text = match &a.not_recorded {
        Some(e) => format!("{text} (not recorded: {e})"),
        None => text,
    };
    let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
    r.structured_content = Some(json!({
        "done": a.description,
        "screen_changed": a.screen_changed,
        "dry_run": a.dry_run,
        "elapsed_ms": (a.elapsed_ms * 10.0).round() / 10.0,
    }));
    r
}

/// An observation as tool content: the image, the table, and the marks as structured content.
fn observed(o: Observed) -> (Vec<ContentBlock>, serde_json::Value) {
    let head = format!(
        "observation {}: a {}x{} image, {} marks. Points you give are in this image's pixels.\n",
        o.id,
        o.image.width,
        o.image.height,
        o.marks.len()
    );
    let content = vec![ContentBlock::image(o.image.base64.clone(), o.image.mime), ContentBlock::text(head + &o.table)];
    let structured = json!({
        "observation": o.id,
        "image": {"width": o.image.width, "height": o.image.height, "bytes": o.image.bytes},
        "marks": o.marks,
        "timings_ms": o.timings_ms,
    });
    (content, structured)
}

/// Ask the client's person about a risky action through MCP elicitation (a form with one
/// yes/no field), when the client offers it; it has five minutes to answer.
fn asker(peer: Peer<RoleServer>) -> Asker {
    let handle = tokio::runtime::Handle::current();
    Box::new(move |question: &str| {
        if peer.peer_info().is_none_or(|i| i.capabilities.elicitation.is_none()) {
            return Err("this client cannot be asked (it offers no elicitation)".into());
        }
        let schema = ElicitationSchema::builder().required_bool("allow").build().map_err(|e| e.to_string())?;
        let params = ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: question.to_string(),
            requested_schema: schema,
        };
        let answer = handle
            .block_on(peer.create_elicitation_with_timeout(params, Some(std::time::Duration::from_secs(300))))
            .map_err(|e| format!("asking the client failed ({e})"))?;
        let allowed = answer.content.as_ref().and_then(|c| c.get("allow")).and_then(serde_json::Value::as_bool);
        Ok(answer.action == ElicitationAction::Accept && allowed != Some(false))
    })
}

fn tool_error(e: DeskError) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(e.to_string())])
}

impl McpServer {
    pub fn new(desk: Desk) -> Self {
        Self { desk: Arc::new(Mutex::new(desk)), tasks: None, tool_router: Self::tool_router() + Self::task_router() }
    }

    /// Offer `run_task` with this config and model.
    pub fn with_tasks(mut self, tasks: Tasks) -> Self {
        self.tasks = Some(Arc::new(tasks));
        self
    }

    /// The desk, to end its recording once the session is over.
    pub fn desk(&self) -> Arc<Mutex<Desk>> {
        self.desk.clone()
    }

    /// Run `f` on the desk on a blocking thread (capture, perception and input block).
    async fn with_desk<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Desk) -> Result<T, DeskError> + Send + 'static,
    ) -> Result<T, DeskError> {
        let desk = self.desk.clone();
        tokio::task::spawn_blocking(move || {
            let mut d = desk.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut d)
        })
        .await
        .unwrap_or_else(|e| Err(DeskError::Act(format!("the action stopped unexpectedly: {e}"))))
    }

    /// Run an action; with `observe_after`, observe again once it is done and append that.
    async fn act(
        &self,
        peer: Peer<RoleServer>,
        observe_after: bool,
        f: impl FnOnce(&mut Desk) -> Result<Acted, DeskError> + Send + 'static,
    ) -> Result<CallToolResult, ErrorData> {
        let ask = asker(peer);
        let r = self
            .with_desk(move |d| {
                d.set_asker(Some(ask));
                let a = f(d);
                d.set_asker(None);
                let a = a?;
                let o = if observe_after { Some(d.observe_again()) } else { None };
                Ok((a, o))
            })
            .await;
        Ok(match r {
            Ok((a, o)) => {
                let mut r = acted(a);
                match o {
                    Some(Ok(o)) => {
                        let (content, structured) = observed(o);
                        r.content.extend(content);
                        if let Some(s) = r.structured_content.as_mut() {
                            s["observed"] = structured;
                        }
                    }
                    Some(Err(e)) => r.content.push(ContentBlock::text(format!("could not observe afterwards: {e}"))),
                    None => {}
                }
                r
            }
            Err(e) => tool_error(e),
        })
    }

    async fn pointer(&self, peer: Peer<RoleServer>, kind: ClickKind, w: Where) -> Result<CallToolResult, ErrorData> {
        self.act(peer, w.observe_after, move |d| {
            let s = required(w.mark, w.point)?;
            d.pointer_action(w.observation, kind, s)
        })
        .await
    }
}

#[tool_router]
impl McpServer {
    #[tool(
        description = "Look at the screen: a screenshot with a numbered mark on every element a person could act on \
        (buttons, fields, links, list rows, check boxes…), and a table of the marks (`id kind \"text\" [states]`). \
        Actions then name a mark by its number. Marks are valid only until the next observe."
    )]
    async fn observe(&self, Parameters(a): Parameters<ObserveArgs>) -> Result<CallToolResult, ErrorData> {
        let r = self
            .with_desk(move |d| {
                let t = target(&a)?;
                d.observe(t, a.max_side)
            })
            .await;
        Ok(match r {
            Ok(o) => {
                let (content, structured) = observed(o);
                let mut r = CallToolResult::success(content);
                r.structured_content = Some(structured);
                r
            }
            Err(e) => tool_error(e),
        })
    }

    #[tool(description = "Click a mark (or a point of the latest observation's image) with the left button.")]
    async fn click(
        &self,
        Parameters(w): Parameters<Where>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.pointer(ctx.peer, ClickKind::Click, w).await
    }

    #[tool(description = "Double-click a mark or point (open a file, select a word).")]
    async fn double_click(
        &self,
        Parameters(w): Parameters<Where>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.pointer(ctx.peer, ClickKind::DoubleClick, w).await
    }

    #[tool(description = "Right-click a mark or point (open its context menu).")]
    async fn right_click(
        &self,
        Parameters(w): Parameters<Where>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.pointer(ctx.peer, ClickKind::RightClick, w).await
    }

    #[tool(description = "Move the pointer over a mark or point without clicking (show a tooltip or a menu).")]
    async fn hover(
        &self,
        Parameters(w): Parameters<Where>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.pointer(ctx.peer, ClickKind::Hover, w).await
    }

    #[tool(
        name = "type",
        description = "Type text, into a mark or point when given (it is clicked first), else where the keyboard focus is. \
        \"\\n\" presses Return; {{secret:NAME}} types a secret the server holds without revealing it."
    )]
    async fn type_text(
        &self,
        Parameters(a): Parameters<TypeArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.act(ctx.peer, a.observe_after, move |d| {
            let s = spot(a.mark, a.point)?;
            d.type_text(a.observation, a.text, s, a.clear)
        })
        .await
    }

    #[tool(description = "Press a key or a combination: \"Return\", \"Tab\", \"Escape\", \"ctrl+s\", \"alt+F4\".")]
    async fn key(
        &self,
        Parameters(a): Parameters<KeyArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.act(ctx.peer, a.observe_after, move |d| d.key(&a.keys)).await
    }

    #[tool(description = "Scroll with the wheel, over a mark or point when given.")]
    async fn scroll(
        &self,
        Parameters(a): Parameters<ScrollArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.act(ctx.peer, a.observe_after, move |d| {
            let s = spot(a.mark, a.point)?;
            d.scroll(a.observation, &a.direction, a.amount.unwrap_or(3), s)
        })
        .await
    }

    #[tool(description = "Drag from one mark or point to another (sliders, moving items).")]
    async fn drag(
        &self,
        Parameters(a): Parameters<DragArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.act(ctx.peer, a.observe_after || a.from.observe_after || a.to.observe_after, move |d| {
            let from = required(a.from.mark, a.from.point)?;
            let to = required(a.to.mark, a.to.point)?;
            d.drag(a.from.observation.or(a.to.observation), from, to)
        })
        .await
    }

    #[tool(description = "Wait a number of seconds (0 to 60) for the screen to change by itself.")]
    async fn wait(
        &self,
        Parameters(a): Parameters<WaitArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.act(ctx.peer, a.observe_after, move |d| d.wait(a.seconds)).await
    }

    #[tool(
        description = "List the monitors: index (what observe's `monitor` takes), name, origin, size, scale, primary."
    )]
    async fn list_monitors(&self) -> Result<CallToolResult, ErrorData> {
        let r = self.with_desk(|d| d.monitors()).await;
        Ok(match r {
            Ok(m) => {
                let v = serde_json::to_value(&m).unwrap_or_default();
                let mut r = CallToolResult::success(vec![ContentBlock::text(v.to_string())]);
                r.structured_content = Some(json!({ "monitors": v }));
                r
            }
            Err(e) => tool_error(e),
        })
    }

    #[tool(
        description = "List the top-level windows: title, application and where they are (observe's `window` takes a title)."
    )]
    async fn list_windows(&self) -> Result<CallToolResult, ErrorData> {
        let r = self.with_desk(|d| d.windows()).await;
        Ok(match r {
            Ok(w) => {
                let v = serde_json::to_value(&w).unwrap_or_default();
                let mut r = CallToolResult::success(vec![ContentBlock::text(v.to_string())]);
                r.structured_content = Some(json!({ "windows": v }));
                r
            }
            Err(e) => tool_error(e),
        })
    }
}

#[tool_router(router = task_router)]
impl McpServer {
    #[tool(description = "Hand a whole task to markpilot's own agent and its model (the one the server was started \
        with): it observes, decides and acts step by step until the task is done, fails or hits max_steps. \
        Progress comes as progress notifications (one per step); cancelling the call stops the run after the \
        current step. Risky actions are refused unless the server allows them. The run is recorded and can be \
        replayed. Marks from earlier observations are invalid afterwards.")]
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
        let ran = self
            .run_on_desk(ctx, total, false, move |capturer, stop, events, runtime| {
                Agent {
                    options: prepared.options,
                    capturer,
                    pipeline: prepared.perception.pipeline,
                    client: prepared.client,
                    executor: prepared.executor,
                    operator: Box::new(Unattended),
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
        cannot be found. Risky actions are refused unless the server allows them. Marks from earlier \
        observations are invalid afterwards."
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
        let ran = self
            .run_on_desk(ctx, total, true, move |capturer, stop, events, _| {
                crate::replay::Replayer {
                    original: prepared.original,
                    options: prepared.options,
                    capturer,
                    pipeline: prepared.perception.pipeline,
                    fallback: None,
                    executor: prepared.executor,
                    operator: Box::new(Unattended),
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

#[tool_handler(router = self.tool_router)]
impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("markpilot", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "markpilot sees and drives this desktop. Call observe to get a screenshot with numbered marks and \
                 a table of them, then act on a mark by its number (click, type, key, scroll, drag); observe again \
                 after acting, since marks are valid only for the observation they came from.",
            )
    }
}

/// Serve MCP over stdin/stdout until the client closes it.
pub async fn serve_stdio(server: McpServer) -> Result<(), String> {
    let running = server.serve(rmcp::transport::stdio()).await.map_err(|e| format!("MCP start failed: {e}"))?;
    running.waiting().await.map_err(|e| format!("MCP server stopped: {e}"))?;
    Ok(())
}

/// A bearer token for the HTTP transport: 32 random bytes as hex.
pub fn new_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("cannot make a token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether an `Authorization` header value carries `token` (compared in constant time, so
/// the answer's timing does not tell how much of a guess was right).
pub fn bearer_matches(header: Option<&[u8]>, token: &str) -> bool {
    let Some(h) = header else { return false };
    let Some(given) = h.strip_prefix(b"Bearer ") else { return false };
    let want = token.as_bytes();
    if given.len() != want.len() {
        return false;
    }
    given.iter().zip(want).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Serve MCP's streamable HTTP transport at `/mcp` on `listener` (bound by the caller, on
/// loopback) until `shutdown` resolves. Every request must carry `Authorization: Bearer
/// TOKEN`; others get 401 and never reach the server. All sessions share the one desk.
pub async fn serve_http(
    server: McpServer,
    listener: tokio::net::TcpListener,
    token: String,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    use http_body_util::BodyExt;
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};

    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let token = Arc::new(token);
    let plain = |status: u16, text: &'static str| {
        let body = http_body_util::Full::new(bytes::Bytes::from_static(text.as_bytes()))
            .map_err(|never| match never {})
            .boxed();
        let mut r = hyper::Response::new(body);
        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::UNAUTHORIZED);
        r.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("text/plain"));
        r
    };
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // A client that vanished between connect and accept; keep serving.
                Err(e) => { tracing::warn!("MCP over HTTP: accept failed: {e}"); continue; }
            },
            _ = &mut shutdown => return Ok(()),
        };
        let service = service.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let handler = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut service = service.clone();
                let token = token.clone();
                async move {
                    if req.uri().path() != "/mcp" {
                        return Ok::<_, std::convert::Infallible>(plain(404, "markpilot serves MCP at /mcp\n"));
                    }
                    let auth = req.headers().get(hyper::header::AUTHORIZATION).map(|v| v.as_bytes());
                    if !bearer_matches(auth, &token) {
                        let mut r = plain(
                            401,
                            "a valid Authorization: Bearer token is required (markpilot printed it at start)\n",
                        );
                        r.headers_mut().insert("www-authenticate", hyper::header::HeaderValue::from_static("Bearer"));
                        return Ok(r);
                    }
                    tower_service::Service::call(&mut service, req).await
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(io, handler).await {
                tracing::debug!("MCP over HTTP: connection ended: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_token_matches_only_itself() {
        let t = new_token().unwrap();
        assert_eq!(t.len(), 64);
        assert_ne!(t, new_token().unwrap());
        assert!(bearer_matches(Some(format!("Bearer {t}").as_bytes()), &t));
        assert!(!bearer_matches(None, &t));
        assert!(!bearer_matches(Some(t.as_bytes()), &t), "no scheme");
        assert!(!bearer_matches(Some(format!("Basic {t}").as_bytes()), &t));
        assert!(!bearer_matches(Some(format!("Bearer {}", &t[..63]).as_bytes()), &t), "a prefix");
        let mut wrong = t.clone().into_bytes();
        wrong[10] ^= 1;
        assert!(!bearer_matches(Some([b"Bearer ".as_slice(), &wrong].concat().as_slice()), &t));
    }
}
