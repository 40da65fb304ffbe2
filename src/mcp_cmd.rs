//! `markpilot mcp` (part of the CLI binary, not the library): build the desk from the
//! arguments and the config, record the session, serve it over stdio or streamable HTTP.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use markpilot::capture;
use markpilot::guard::ConfirmPolicy;
use markpilot::run::{self, Recording};

use super::{PerceptionArgs, ProviderArgs, parse_confirm};

#[derive(Args)]
pub struct McpArgs {
    #[command(flatten)]
    perception: PerceptionArgs,
    /// The model `run_task` uses (default: the config's default provider). The server starts
    /// without one; only `run_task` needs it.
    #[command(flatten)]
    vlm: ProviderArgs,
    /// Risky actions (closing, deleting, sending, typing a secret…): `risky` refuses them
    /// with an explanation (this server cannot ask a person), `never` allows them, `always`
    /// refuses every action.
    #[arg(long, value_name = "POLICY", value_parser = parse_confirm, default_value = "risky")]
    confirm: ConfirmPolicy,
    /// Environment variables `type` may use as {{secret:NAME}} (comma separated); their
    /// values are typed, never shown.
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    secrets: Vec<String>,
    /// Perform nothing: actions are resolved and described, no input is sent.
    #[arg(long)]
    dry_run: bool,
    /// Record the session as a run in this folder (default: a new folder in the runs
    /// directory); `markpilot replay` repeats it later with no model and no client.
    #[arg(long, value_name = "DIR", conflicts_with = "no_record")]
    record: Option<PathBuf>,
    /// Do not record the session.
    #[arg(long)]
    no_record: bool,
    /// Serve MCP's streamable HTTP transport on 127.0.0.1:PORT (0: a free port) at /mcp
    /// instead of stdio, until Ctrl-C or SIGTERM. Requests need `Authorization: Bearer
    /// TOKEN`: the token is $MARKPILOT_MCP_TOKEN when set (at least 32 characters), else a new
    /// one printed once at start.
    #[arg(long, value_name = "PORT")]
    http: Option<u16>,
}

/// The HTTP transport's token: the environment's, else a new one to print.
fn http_token() -> Result<(String, bool)> {
    match std::env::var("MARKPILOT_MCP_TOKEN") {
        Ok(t) if t.trim().len() >= 32 && !t.trim().contains(char::is_whitespace) => Ok((t.trim().to_string(), false)),
        Ok(_) => anyhow::bail!("MARKPILOT_MCP_TOKEN must be at least 32 characters with no spaces"),
        Err(_) => Ok((markpilot::mcp::new_token().map_err(anyhow::Error::msg)?, true)),
    }
}

pub fn run(a: McpArgs) -> Result<()> {
    let http = match a.http {
        Some(port) => Some((port, http_token()?)),
        None => None,
    };
    let secrets = markpilot::guard::Secrets::named(a.secrets.iter().map(|n| n.trim().to_string()));
    secrets.check().map_err(anyhow::Error::msg)?;
    let config = markpilot::config::Config::load(a.perception.perception_config.as_deref())?;
    let perception = run::perception(&a.perception.config()?)?;
    for s in &perception.skipped {
        eprintln!("markpilot: skipping detector {}: {}", s.detector, s.reason);
    }
    let executor = run::executor(a.dry_run)?;
    // The task names the secrets, so that a replay of the session may type them too.
    let mut task = "an MCP session".to_string();
    if !secrets.names.is_empty() {
        let named: Vec<String> = secrets.names.iter().map(|n| format!("{{{{secret:{n}}}}}")).collect();
        task.push_str(&format!(" (secrets {})", named.join(", ")));
    }
    let recording = match (&a.record, a.no_record) {
        (_, true) => Recording::Off,
        (Some(d), false) => Recording::Into(d.clone()),
        (None, false) => Recording::InRunsDir,
    };
    let options = serde_json::json!({
        "confirm": a.confirm,
        "executor": executor.name(),
        "shell": "mcp",
    });
    let detectors = perception.detectors.clone();
    let recorder = match run::run_dir(&config, &recording, "mcp session") {
        Some(dir) => {
            let r = run::recorder(&dir, "mcp", &task, None, options, &perception.detectors)
                .with_context(|| format!("cannot record the session in {}", dir.display()))?;
            eprintln!("markpilot: recording the session in {}", dir.display());
            Some(r)
        }
        None => None,
    };
    let mut desk = markpilot::desk::Desk::new(
        capture::create_capturer(),
        perception.pipeline,
        executor,
        a.confirm,
        secrets.clone(),
    );
    if let Some(r) = recorder {
        desk = desk.with_recorder(r);
    }
    // run_task's model: named on the command line, it must be right now; else the config's,
    // and a problem with it is told to the client that asks for a task.
    let profile = crate::run_agent::profile(&a.vlm, &config);
    let profile = if a.vlm.is_given() { Ok(profile?) } else { profile.map_err(|e| format!("{e:#}")) };
    let tasks = markpilot::mcp::Tasks {
        config: config.clone(),
        profile,
        confirm: a.confirm,
        detectors: detectors.clone(),
        dry_run: a.dry_run,
        record: !a.no_record,
    };
    let server = markpilot::mcp::McpServer::new(desk).with_tasks(tasks);
    let desk = server.desk();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let served = match http {
        None => runtime.block_on(markpilot::mcp::serve_stdio(server)).map_err(anyhow::Error::msg),
        Some((port, (token, show))) => runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
            let addr = listener.local_addr()?;
            eprintln!("markpilot: MCP over streamable HTTP at http://{addr}/mcp");
            if show {
                eprintln!("markpilot: bearer token (shown once): {token}");
            } else {
                eprintln!("markpilot: bearer token: the one in MARKPILOT_MCP_TOKEN");
            }
            markpilot::mcp::serve_http(server, listener, token, stop_requested()).await.map_err(anyhow::Error::msg)
        }),
    };
    let recorded = desk.lock().unwrap_or_else(|p| p.into_inner()).finish();
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    served?;
    recorded.context("cannot finish the session's recording")?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM (how an HTTP server is stopped).
async fn stop_requested() {
    crate::run_agent::interrupted().await;
    eprintln!("markpilot: stopping the MCP server");
}
