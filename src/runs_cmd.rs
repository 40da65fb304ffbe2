//! `markpilot replay`, `report` and `runs` (part of the CLI binary): recorded runs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use markpilot::action::KeyCombo;
use markpilot::agent::{Event, TerminalOperator};
use markpilot::capture::{self, Target};
use markpilot::config::Config;
use markpilot::decide::VlmClient;
use markpilot::demonstrate::{DemoOptions, Demonstration};
use markpilot::files::write_atomically;
use markpilot::guard::ConfirmPolicy;
use markpilot::record::{self, RunStatus};
use markpilot::replay::{Fallback, Replayer};
use markpilot::run;

use super::{ProviderArgs, parse_confirm, parse_seconds};
use crate::run_agent::{check_monitor, print_event, profile, runtime_with_stop};

#[derive(Args)]
pub(crate) struct ReplayArgs {
    /// The recorded run: its folder, or its id under the runs folder (see `markpilot runs`).
    run: PathBuf,
    /// Monitor index; default: primary, else the first.
    #[arg(long, value_name = "N")]
    monitor: Option<usize>,
    /// Recorded waits last seconds / F.
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = parse_speed)]
    speed: f64,
    /// When a target cannot be re-found, ask the model (the original run's, unless the
    /// provider flags below say otherwise) instead of stopping.
    #[arg(long)]
    allow_vlm: bool,
    #[command(flatten)]
    vlm: ProviderArgs,
    /// Ask before acting: never, risky (default), always.
    #[arg(long, value_name = "POLICY", value_parser = parse_confirm)]
    confirm: Option<ConfirmPolicy>,
    /// Seconds to wait for a target that is not on the screen yet.
    #[arg(long, value_name = "S", value_parser = parse_seconds)]
    find_timeout: Option<f64>,
    /// Find every target but do not touch the mouse or keyboard.
    #[arg(long)]
    dry_run: bool,
    /// Record the replay into this folder (default: a new folder beside the runs).
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
    /// Detectors (default: the original run's).
    #[arg(long, value_name = "LIST")]
    detectors: Option<String>,
    /// Config file (default: $XDG_CONFIG_HOME/markpilot/config.toml when it exists).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// One JSON event per line on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub(crate) struct RecordArgs {
    /// What the demonstration does, in plain words (becomes the run's task).
    #[arg(long, default_value = "a demonstration")]
    task: String,
    /// The run folder to write (default: a new folder under the runs folder).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Monitor index; default: primary, else the first.
    #[arg(long, value_name = "N")]
    monitor: Option<usize>,
    /// The key combination that ends the demonstration (Ctrl-C and SIGTERM end it too).
    #[arg(long, value_name = "COMBO", default_value = "ctrl+alt+q", value_parser = parse_combo)]
    stop_key: KeyCombo,
    /// Detectors (default: the config's, else builtin plus text when its models are present).
    #[arg(long, value_name = "LIST")]
    detectors: Option<String>,
    /// Config file (default: $XDG_CONFIG_HOME/markpilot/config.toml when it exists).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// One JSON event per line on stdout (`ready` when the screen has settled after an input).
    #[arg(long)]
    json: bool,
}

fn parse_combo(s: &str) -> Result<KeyCombo, String> {
    KeyCombo::parse(s).map_err(|e| e.to_string())
}

pub(crate) fn record_demo(args: RecordArgs) -> Result<()> {
    let config = Config::load(args.config.as_deref())?;
    let capturer = capture::create_capturer();
    check_monitor(capturer.as_ref(), args.monitor)?;
    let perception = perception(&config, args.detectors.as_deref())?;
    let out = match &args.out {
        Some(d) => d.clone(),
        None => run::runs_dir(&config).join(record::run_id(&args.task)),
    };
    let options = serde_json::json!({
        "target": format!("{:?}", Target::Monitor(args.monitor)),
        "stop_key": args.stop_key.to_string(),
        "shell": "cli",
    });
    let recorder = run::recorder(&out, "human", &args.task, None, options, &perception.detectors)?;
    let pipeline = perception.pipeline;
    let (runtime, stop) = runtime_with_stop()?;
    let json = args.json;
    if !json {
        eprintln!("markpilot: watching; do the task, then press {} (or Ctrl-C) to finish", args.stop_key);
    }
    let demo = Demonstration {
        options: DemoOptions {
            target: Target::Monitor(args.monitor),
            stop_key: Some(args.stop_key),
            interval: Duration::from_millis(100),
        },
        capturer: capturer.as_ref(),
        pipeline,
        recorder,
        stop,
        events: Box::new(move |e: &Event| print_event(e, json)),
    };
    let result = demo.run();
    runtime.shutdown_timeout(Duration::from_millis(100));
    let result = result?;
    if result.status != RunStatus::Done {
        bail!("{}", result.message);
    }
    Ok(())
}

#[derive(Args)]
pub(crate) struct ReportArgs {
    /// The run: its folder, or its id under the runs folder.
    run: PathBuf,
    /// Where to write the HTML (default: report.html in the run folder).
    #[arg(long, short = 'o', value_name = "PATH")]
    out: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct RunsArgs {
    #[command(subcommand)]
    action: Option<RunsAction>,
    /// The runs folder (default: the config's record_dir, else the data dir's runs/).
    #[arg(long, value_name = "DIR", global = true)]
    dir: Option<PathBuf>,
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum RunsAction {
    /// List recorded runs, newest first (the default).
    List,
    /// Remove a recorded run (a folder holding a run.json).
    Rm {
        /// Its id or folder.
        run: PathBuf,
    },
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.1..=100.0).contains(&v) => Ok(v),
        _ => Err(format!("expected a speed between 0.1 and 100, got {s:?}")),
    }
}

fn runs_dir(explicit: Option<&Path>, config: &Config) -> PathBuf {
    explicit.map(Path::to_path_buf).unwrap_or_else(|| run::runs_dir(config))
}

/// The pipeline for a detector list (none: the config's), telling stderr what was skipped.
fn perception(config: &Config, detectors: Option<&str>) -> Result<run::Perception> {
    let p = run::perception(&run::perception_config(config, detectors))?;
    for s in &p.skipped {
        eprintln!("markpilot: skipping detector {}: {}", s.detector, s.reason);
    }
    Ok(p)
}

/// A run named by folder, or by id under the runs folder.
fn find_run(run: &Path, config: &Config) -> Result<PathBuf> {
    Ok(run::find_run(run, config)?)
}

pub(crate) fn replay(args: ReplayArgs) -> ExitCode {
    match replay_inner(args) {
        Ok(status) => ExitCode::from(status.exit_code()),
        Err(err) => {
            eprintln!("markpilot: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn replay_inner(args: ReplayArgs) -> Result<RunStatus> {
    let config = Config::load(args.config.as_deref())?;
    let dir = find_run(&args.run, &config)?;
    let capturer = capture::create_capturer();
    check_monitor(capturer.as_ref(), args.monitor)?;

    let (runtime, stop) = runtime_with_stop()?;
    let client = if args.allow_vlm {
        // The original run's server and model, unless told otherwise.
        let o = record::read_run(&dir)?.info;
        let mut v = args.vlm.clone();
        if v.provider.is_none() && v.base_url.is_none() {
            v.provider = Some(o.provider.clone()).filter(|p| !p.is_empty());
            v.base_url = Some(o.base_url.clone()).filter(|u| !u.is_empty());
        }
        if v.model.is_none() {
            v.model = Some(o.model.clone()).filter(|m| !m.is_empty());
        }
        if v.api_key_env.is_none() {
            v.api_key_env = o.options["profile"]["api_key_env"].as_str().map(String::from);
        }
        Some(VlmClient::new(profile(&v, &config)?)?)
    } else {
        None
    };
    let request = run::ReplayRequest {
        monitor: args.monitor,
        speed: args.speed,
        confirm: args.confirm,
        find_timeout: args.find_timeout,
        detectors: args.detectors.clone(),
        dry_run: args.dry_run,
        record: args.record.clone().map(run::Recording::Into).unwrap_or_default(),
        shell: "cli".into(),
        ..Default::default()
    };
    let prepared = run::prepare_replay(&config, &dir, &request, client.as_ref())?;
    for s in &prepared.perception.skipped {
        eprintln!("markpilot: skipping detector {}: {}", s.detector, s.reason);
    }
    let original = prepared.original;
    if original.truncated {
        eprintln!(
            "markpilot: the recording was cut short after step {} (its process was killed); replaying the {} complete step(s)",
            original.steps.last().map_or(0, |s| s.step),
            original.steps.len()
        );
    }
    let fallback =
        client.map(|client| Fallback { client, prompt: config.prompt.clone(), runtime: runtime.handle().clone() });
    let json = args.json;
    let replayer = Replayer {
        original,
        options: prepared.options,
        capturer: capturer.as_ref(),
        pipeline: prepared.perception.pipeline,
        fallback,
        executor: prepared.executor,
        operator: Box::new(TerminalOperator::new()),
        recorder: prepared.recorder,
        stop,
        events: Box::new(move |e: &Event| print_event(e, json)),
    };
    let result = replayer.run();
    runtime.shutdown_timeout(Duration::from_millis(100));
    Ok(result.status)
}

pub(crate) fn report(args: ReportArgs) -> Result<()> {
    let config = Config::load(None)?;
    let dir = find_run(&args.run, &config)?;
    let run = record::read_run(&dir)?;
    let html = markpilot::report::render(&run).map_err(anyhow::Error::msg)?;
    let out = args.out.unwrap_or_else(|| dir.join("report.html"));
    write_atomically(&out, html.as_bytes()).with_context(|| format!("cannot write {}", out.display()))?;
    if run.truncated {
        eprintln!("markpilot: the run's last step was cut short; the report shows the complete ones");
    }
    println!("{}", out.display());
    Ok(())
}

pub(crate) fn runs(args: RunsArgs) -> Result<()> {
    let config = Config::load(None)?;
    let root = runs_dir(args.dir.as_deref(), &config);
    match args.action.unwrap_or(RunsAction::List) {
        RunsAction::List => list(&root, args.json),
        RunsAction::Rm { run } => {
            let dir = if run.join("run.json").is_file() { run.clone() } else { root.join(&run) };
            if !dir.join("run.json").is_file() {
                bail!("no recorded run {} under {}", run.display(), root.display());
            }
            // Only what a run folder holds: never a folder with anything else in it.
            for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let ours = name == "run.json"
                    || name == "steps.jsonl"
                    || name == "report.html"
                    || (name.starts_with("step-") && name.ends_with(".png"))
                    || name.ends_with(".tmp")
                    || markpilot::files::is_temporary_name(&name);
                if !ours || !entry.file_type()?.is_file() {
                    bail!("{} holds {name:?}, which is not part of a run; not removing it", dir.display());
                }
            }
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
            println!("removed {}", dir.display());
            Ok(())
        }
    }
}

fn list(root: &Path, json: bool) -> Result<()> {
    let (rows, unreadable) = run::list_runs(root);
    for path in unreadable {
        eprintln!("markpilot: skipping {}: its run.json is not readable", path.display());
    }
    let mut out = std::io::stdout().lock();
    if json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|i| {
                serde_json::json!({
                    "id": i.id, "dir": i.dir, "task": i.task, "source": i.source,
                    "started_at": i.started_at, "steps": i.steps, "status": i.status, "message": i.message,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    if rows.is_empty() {
        writeln!(out, "no recorded runs in {}", root.display())?;
        return Ok(());
    }
    writeln!(out, "{:<19}  {:<6}  {:>5}  {:<8}  {:<40}  task", "started", "source", "steps", "result", "id")?;
    for i in &rows {
        let started: String = i.started_at.chars().take(19).collect::<String>().replace('T', " ");
        let task: String = i.task.chars().take(60).collect();
        writeln!(out, "{:<19}  {:<6}  {:>5}  {:<8}  {:<40}  {}", started, i.source, i.steps, i.status, i.id, task)?;
    }
    Ok(())
}
