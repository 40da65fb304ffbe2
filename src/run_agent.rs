//! `markpilot run` (part of the CLI binary, not the library): build the agent from the
//! arguments and the config, run it, print its events.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};

use markpilot::agent::{Agent, Event, StopSignal, TerminalOperator};
use markpilot::capture;
use markpilot::config::Config;
use markpilot::decide::{ProviderProfile, VlmClient};
use markpilot::record::RunStatus;
use markpilot::run::{self, Recording, RunRequest};

use super::{ProviderArgs, RunArgs};

/// Exit code for errors before or outside the run.
const ERROR: u8 = 2;

pub fn run(args: RunArgs) -> ExitCode {
    match run_inner(args) {
        Ok(status) => ExitCode::from(status.exit_code()),
        Err(err) => {
            eprintln!("markpilot: {err:#}");
            ExitCode::from(ERROR)
        }
    }
}

pub(crate) fn profile(args: &ProviderArgs, config: &Config) -> Result<ProviderProfile> {
    // A bare --base-url is a custom OpenAI-compatible server (no key unless --api-key-env).
    let default = if args.base_url.is_some() { "custom" } else { "openai" };
    let name = args.provider.clone().or_else(|| config.default_provider.clone()).unwrap_or_else(|| default.into());
    let mut p = match config.profile(&name) {
        Ok(p) => p,
        // An unknown name with a URL is a custom OpenAI-compatible server.
        Err(_) if args.base_url.is_some() => ProviderProfile { name: name.clone(), ..Default::default() },
        Err(e) => return Err(e.into()),
    };
    if let Some(u) = &args.base_url {
        p.base_url = u.clone();
    }
    if let Some(m) = &args.model {
        p.model = m.clone();
    }
    if let Some(v) = &args.api_key_env {
        p.api_key_env = Some(v.clone());
        p.key_required = true;
    }
    if let Some(proto) = args.protocol {
        p.protocol = proto;
    }
    if args.coordinates {
        p.coordinates = true;
    }
    if let Some(s) = args.max_side {
        p.max_side = s;
    }
    if let Some(t) = args.timeout {
        p.timeout = t;
    }
    if let Some(r) = args.retries {
        p.retries = r;
    }
    Ok(p)
}

fn run_inner(args: RunArgs) -> Result<RunStatus> {
    if args.task.trim().is_empty() {
        anyhow::bail!("the task is empty: say what to do, e.g. markpilot run \"open the settings\"");
    }
    markpilot::guard::Secrets::from_task(&args.task).check().map_err(anyhow::Error::msg)?;
    let config = Config::load(args.config.as_deref())?;
    let client = VlmClient::new(profile(&args.vlm, &config)?)?;

    // Fail early and clearly: no display, no monitor.
    let capturer = capture::create_capturer();
    check_monitor(capturer.as_ref(), args.monitor)?;

    let request = RunRequest {
        task: args.task.clone(),
        monitor: args.monitor,
        max_steps: args.max_steps,
        max_seconds: args.max_seconds,
        confirm: args.confirm,
        language: args.language,
        mark_style: args.style,
        detectors: args.detectors.clone(),
        dry_run: args.dry_run,
        record: args.record.clone().map(Recording::Into).unwrap_or_default(),
        shell: "cli".into(),
    };
    let prepared = run::prepare_agent(&config, client, &request)?;
    for s in &prepared.perception.skipped {
        eprintln!("markpilot: skipping detector {}: {}", s.detector, s.reason);
    }

    let (runtime, stop) = runtime_with_stop()?;
    let json = args.json;
    let events = move |e: &Event| print_event(e, json);
    let agent = Agent {
        options: prepared.options,
        capturer: capturer.as_ref(),
        pipeline: prepared.perception.pipeline,
        client: prepared.client,
        executor: prepared.executor,
        operator: Box::new(TerminalOperator::new()),
        recorder: prepared.recorder,
        stop,
        events: Box::new(events),
        runtime: runtime.handle().clone(),
    };
    let result = agent.run();
    runtime.shutdown_timeout(Duration::from_millis(100));
    Ok(result.status)
}

/// Fail early and clearly: no display, or no such monitor.
pub(crate) fn check_monitor(capturer: &dyn markpilot::capture::Capturer, monitor: Option<usize>) -> Result<()> {
    let monitors = capturer.monitors()?;
    if let Some(i) = monitor
        && !monitors.iter().any(|m| m.index == i)
    {
        anyhow::bail!(
            "monitor {i} does not exist; monitors are {}",
            monitors.iter().map(|m| m.index.to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// The async runtime the model client runs on, and a stop signal pulled by Ctrl-C or SIGTERM.
pub(crate) fn runtime_with_stop() -> Result<(tokio::runtime::Runtime, StopSignal)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let stop = StopSignal::new();
    {
        let stop = stop.clone();
        runtime.spawn(async move {
            interrupted().await;
            eprintln!("markpilot: stopping after the current step…");
            stop.stop();
        });
    }
    Ok((runtime, stop))
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}

/// One event on stdout: a JSON line, or a line (or a few) for people.
pub(crate) fn print_event(e: &Event, json: bool) {
    if matches!(e, Event::Screenshot { .. }) {
        return; // images are for the desktop app; the run folder has them
    }
    let mut out = std::io::stdout().lock();
    if json {
        if let Ok(line) = serde_json::to_string(e) {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        return;
    }
    let line = match e {
        Event::StepStarted { .. } => return,
        Event::Perception { step, elements, capture_ms, detect_ms, .. } => {
            format!("step {step}: {} marks (capture {capture_ms:.0} ms, detect {detect_ms:.0} ms)", elements.len())
        }
        Event::Decision { step, thought, action } => {
            let thought: String = thought.split_whitespace().collect::<Vec<_>>().join(" ");
            format!("step {step}: {action} — {thought}")
        }
        Event::AwaitingConfirmation { .. }
        | Event::Ready { .. }
        | Event::Screenshot { .. }
        | Event::StepRecorded { .. } => return,
        Event::Replayed { step, original_step, via, targets } => {
            let mut s = format!("step {step}: replays recorded step {original_step} ({via})");
            for line in markpilot::replay::summarise(targets) {
                s.push_str(&format!("\n  {line}"));
            }
            s
        }
        Event::Action { .. } => return,
        Event::Outcome { step, outcome } => match (&outcome.detail, outcome.screen_changed) {
            (Some(d), _) => format!("step {step}: {}: {d}", outcome.status),
            (None, Some(c)) => {
                format!("step {step}: {}{}", outcome.status, if c { "" } else { " (no visible change)" })
            }
            (None, None) => return,
        },
        Event::Finished { status, message, answer, steps, usage, run_dir } => {
            let mut s = format!(
                "{}: {message} after {steps} step(s), {} input + {} output tokens",
                status.as_str(),
                usage.input_tokens,
                usage.output_tokens
            );
            if let Some(a) = answer {
                s.push_str(&format!("\nanswer: {a}"));
            }
            if let Some(d) = run_dir {
                s.push_str(&format!("\nrecorded in {d}"));
            }
            s
        }
    };
    let _ = writeln!(out, "{line}");
}
