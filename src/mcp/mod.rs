//! mcp: `markpilot mcp`, markpilot as a Model Context Protocol server (the official Rust SDK,
//! `rmcp`) over stdio — the eyes and hands of any agent on this desktop. A thin shell over
//! [`crate::desk::Desk`]: each tool parses its arguments, calls the desk on a blocking thread
//! and presents the answer. A failed action is a tool error (`isError`) saying what to do,
//! never a protocol failure; the server keeps serving. Whole runs (`run_task`, `replay`,
//! `list_runs`) are in [`runs`], the streamable HTTP transport in [`http`].

use std::sync::{Arc, Mutex};

mod http;
mod runs;
pub use http::{bearer_matches, new_token, serve_http};
pub use runs::{ListRunsArgs, ReplayArgs, RunTaskArgs, Tasks};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::model::{ElicitRequestParams, ElicitationAction, ElicitationSchema};
use rmcp::service::{Peer, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::json;

use crate::action::ClickKind;
use crate::capture::Target;
use crate::desk::{Acted, Asker, Desk, DeskError, Observed, Spot, Zoom};
use crate::geometry::Rect;

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
    /// Zoom: look again, at the screen's full resolution, around this mark of the latest
    /// observation (its small text and tightly packed controls become legible, marked afresh).
    pub mark: Option<u32>,
    /// Zoom: look again at this [x, y, width, height] box of the latest observation's image,
    /// at full resolution. A zoom of a zoom is the deepest.
    pub zoom: Option<[f64; 4]>,
    /// The observation `mark` or `zoom` refers to (default: the latest).
    pub observation: Option<u64>,
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

/// A zoom the observe call asks for, if any (never with a window, region or monitor).
fn zoom(a: &ObserveArgs) -> Result<Option<Zoom>, DeskError> {
    let z = match (a.mark, a.zoom) {
        (Some(_), Some(_)) => return Err(DeskError::BadArguments("zoom into a mark or a box, not both".into())),
        (Some(m), None) => Zoom::Mark(m),
        (None, Some(r)) => Zoom::Region(r),
        (None, None) if a.observation.is_some() => {
            return Err(DeskError::BadArguments("observation goes with a mark or zoom box to zoom into".into()));
        }
        (None, None) => return Ok(None),
    };
    if a.window.is_some() || a.region.is_some() || a.monitor.is_some() {
        return Err(DeskError::BadArguments(
            "a zoom looks into the latest observation: give no window, region or monitor with it".into(),
        ));
    }
    Ok(Some(z))
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

/// The server: the desk behind a lock (one action at a time, as on a real desk).
#[derive(Clone)]
pub struct McpServer {
    desk: Arc<Mutex<Desk>>,
    tasks: Option<Arc<Tasks>>,
    tool_router: ToolRouter<McpServer>,
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
    let zoomed = o.zoom.as_ref().map_or(String::new(), |z| {
        let [x, y, w, h] = z.region;
        format!(" (a zoom of observation {} into the screen's {w}x{h} pixels at ({x}, {y}))", z.of)
    });
    let head = format!(
        "observation {}: a {}x{} image{zoomed}, {} marks. Points you give are in this image's pixels.\n",
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
        "zoom": o.zoom,
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
        Actions then name a mark by its number. Marks are valid only until the next observe. \
        Where marks crowd or text is small, zoom: `mark` (or a `zoom` box of the image) looks again at that \
        part at the screen's full resolution, marked afresh."
    )]
    async fn observe(&self, Parameters(a): Parameters<ObserveArgs>) -> Result<CallToolResult, ErrorData> {
        let r = self
            .with_desk(move |d| match zoom(&a)? {
                Some(z) => d.zoom(a.observation, z, a.max_side),
                None => d.observe(target(&a)?, a.max_side),
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
