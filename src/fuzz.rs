//! A mutation fuzzer for what markpilot reads from outside: model answers, key combinations,
//! config files and recorded runs. Stable Rust, no extra dependency: seeded mutations of a
//! corpus of valid inputs, each case run under `catch_unwind` and timed.
//!
//! The test suite runs a short budget (`tests/offline/fuzz.rs`); `scripts/fuzz` a long one.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::decide::{AnswerContext, parse_answer};
use crate::geometry::Rect;
use crate::perceive::{Element, ElementKind, Scene};

/// What was fuzzed and what came of it.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub target: String,
    pub cases: u64,
    /// Inputs that panicked (at most 5 kept), lossily as text.
    pub panics: Vec<String>,
    pub panic_count: u64,
    /// The slowest case, in milliseconds.
    pub slowest_ms: f64,
    pub seconds: f64,
}

pub const TARGETS: &[&str] = &["answer", "keys", "config", "run"];

/// A small, fast, seeded generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Pieces worth splicing in: JSON syntax, numbers at the edges, key names, long runs.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "null",
    "true",
    "-1",
    "1e309",
    "NaN",
    "-0",
    "4294967296",
    "18446744073709551616",
    "0.0000001",
    "\"type\"",
    "\"click\"",
    "\"mark\"",
    "\"point\"",
    "\"wait\"",
    "\"seconds\"",
    "\"scroll\"",
    "\"amount\"",
    "\"type\": \"drag\"",
    "\"zoom\"",
    "\"region\"",
    "\"text\"",
    "\\u0000",
    "\\ud800",
    "ctrl+",
    "shift+",
    "alt+",
    "super+",
    "F99",
    "Return",
    "+",
    "++",
    "=",
    "[providers.x]",
    "\n",
    "\r\n",
    "\t",
    "é",
    "한국",
    "{{secret:",
    "}}",
    "```json",
    "```",
    "\u{202e}",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(v.len() + 1);
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at.min(end)..end);
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                v.splice(at..at, t.iter().copied());
            }
            3 => v.truncate(at),
            4 if !v.is_empty() => {
                // Repeat a stretch: deep nesting, long strings.
                let end = (at + 1 + rng.below(8)).min(v.len());
                let piece: Vec<u8> = v[at.min(end)..end].to_vec();
                for _ in 0..rng.below(200) {
                    v.splice(at..at, piece.iter().copied());
                }
            }
            5 => v.insert(at, rng.next() as u8),
            _ => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                v.extend_from_slice(t);
            }
        }
    }
    v
}

fn scene() -> Scene {
    let el = |id, kind, text: &str, bbox| Element::simple(id, kind, Some(text), bbox, "fuzz");
    Scene {
        width: 1920,
        height: 1080,
        elements: vec![
            el(1, ElementKind::Button, "OK", Rect::new(100, 100, 80, 30)),
            el(2, ElementKind::TextField, "", Rect::new(100, 200, 300, 30)),
            el(3, ElementKind::Link, "Help", Rect::new(1800, 1000, 60, 20)),
        ],
    }
}

const ANSWERS: &[&str] = &[
    r#"{"thought": "press it", "action": {"type": "click", "mark": 1}}"#,
    r#"{"thought": "t", "action": {"type": "type", "text": "Kim", "mark": 2, "clear": true}}"#,
    r#"{"action": {"type": "key", "keys": "ctrl+shift+t"}}"#,
    r#"{"action": {"type": "scroll", "direction": "down", "amount": 3, "mark": 3}}"#,
    r#"{"action": {"type": "drag", "from": 1, "to": 3}}"#,
    r#"{"action": {"type": "wait", "seconds": 1.5}}"#,
    r#"{"action": {"type": "click", "point": [640, 360]}}"#,
    r#"{"action": {"type": "zoom", "mark": 2}}"#,
    r#"{"action": {"type": "zoom", "region": [100, 50, 400, 200]}}"#,
    r#"{"action": {"type": "done", "answer": "42"}}"#,
    r#"```json
{"thought": "x", "action": {"type": "ask_user", "question": "which?"}}
```"#,
];

const KEYS: &[&str] = &["ctrl+s", "Return", "alt+F4", "ctrl+shift+Delete", "super", "KP_Enter", "a", "shift+Tab"];

const CONFIGS: &[&str] = &[
    "[agent]\nmax_steps = 10\nmax_seconds = 60.0\nconfirm = \"risky\"\nrecord_dir = \"/tmp/r\"\n",
    "[providers.local]\nbase_url = \"http://127.0.0.1:8000/v1\"\nmodel = \"qwen\"\nmax_side = 1280\ntimeout = 30\n",
    "[perception]\ndetectors = [\"builtin\", \"text\"]\n[prompt]\nlanguage = \"ko\"\n",
];

/// Fuzz one target for `cases` cases from `seed`. `scratch` is a folder the `run` target
/// may write in.
pub fn fuzz(target: &str, cases: u64, seed: u64, scratch: &Path) -> Result<Report, String> {
    let mut rng = Rng(seed | 1);
    let mut report = Report { target: target.into(), ..Default::default() };
    let started = Instant::now();
    let scene = scene();
    let ctx =
        AnswerContext { scene: &scene, resize: crate::coords::Resize::fit(1920, 1080, 1280, 0), coordinates: true };
    let run_dir = if target == "run" { Some(seed_run(scratch)?) } else { None };
    let (steps_seed, info_seed) = match &run_dir {
        Some(d) => (
            std::fs::read(d.join("steps.jsonl")).map_err(|e| e.to_string())?,
            std::fs::read(d.join("run.json")).map_err(|e| e.to_string())?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let pick = |rng: &mut Rng, corpus: &[&'static str]| corpus[rng.below(corpus.len())].as_bytes();
    for _ in 0..cases {
        let input: Vec<u8> = match target {
            "answer" => {
                let s = pick(&mut rng, ANSWERS);
                mutate(&mut rng, s)
            }
            "keys" => {
                let s = pick(&mut rng, KEYS);
                mutate(&mut rng, s)
            }
            "config" => {
                let s = pick(&mut rng, CONFIGS);
                mutate(&mut rng, s)
            }
            "run" => {
                if rng.below(2) == 0 {
                    mutate(&mut rng, &steps_seed)
                } else {
                    mutate(&mut rng, &info_seed)
                }
            }
            other => {
                std::panic::set_hook(previous_hook);
                return Err(format!("unknown fuzz target {other:?} (known: {})", TARGETS.join(", ")));
            }
        };
        let text = String::from_utf8_lossy(&input).into_owned();
        let t = Instant::now();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match target {
            "answer" => {
                let _ = parse_answer(&text, &ctx).map(|d| d.action.bounded());
            }
            "keys" => {
                let _ = crate::action::KeyCombo::parse(&text);
            }
            "config" => {
                if let Ok(c) = crate::config::Config::parse(&text) {
                    for name in c.providers.keys() {
                        if let Ok(p) = c.profile(name) {
                            let _ = crate::decide::VlmClient::with_key(p, None);
                        }
                    }
                    let request = crate::run::RunRequest { task: "fuzz".into(), ..Default::default() };
                    let _ = crate::run::agent_options(&c, &request);
                    let _ = crate::run::perception_config(&c, None);
                }
            }
            _ => {
                let dir = run_dir.as_deref().unwrap_or(scratch);
                let (steps, info) = if input.starts_with(b"{\n") {
                    (steps_seed.as_slice(), input.as_slice())
                } else {
                    (input.as_slice(), info_seed.as_slice())
                };
                let _ = std::fs::write(dir.join("steps.jsonl"), steps);
                let _ = std::fs::write(dir.join("run.json"), info);
                if let Ok(run) = crate::record::read_run(dir) {
                    let _ = crate::replay::secrets(&run);
                }
            }
        }));
        report.slowest_ms = report.slowest_ms.max(t.elapsed().as_secs_f64() * 1000.0);
        report.cases += 1;
        if outcome.is_err() {
            report.panic_count += 1;
            if report.panics.len() < 5 {
                report.panics.push(text.chars().take(400).collect());
            }
        }
    }
    std::panic::set_hook(previous_hook);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// A small real run folder to mutate: two steps with their images.
fn seed_run(scratch: &Path) -> Result<PathBuf, String> {
    use crate::record::{Outcome, Recorder, RunInfo, RunResult, RunStatus, StepRecord};
    let dir = scratch.join("fuzz-run");
    let _ = std::fs::remove_dir_all(&dir);
    let info = RunInfo::start(&dir, "agent", "type {{secret:FUZZ_PW}} into the field", None, serde_json::json!({}));
    let mut rec = Recorder::create(&dir, info).map_err(|e| e.to_string())?;
    let scene = scene();
    for n in 1..=2u32 {
        let mut s = StepRecord::on_screen(n, crate::record::now_rfc3339(), &scene, None, vec![]);
        s.decision = Some(crate::decide::Decision {
            thought: "t".into(),
            action: crate::action::Action::Type {
                text: "{{secret:FUZZ_PW}}".into(),
                target: Some(crate::action::Pointer::Mark(2)),
                clear: false,
            },
        });
        s.outcome = Outcome { status: "performed".into(), detail: None, screen_changed: Some(true), input: vec![] };
        rec.step(s, image::RgbaImage::new(8, 8), image::RgbaImage::new(8, 8)).map_err(|e| e.to_string())?;
    }
    rec.finish(RunResult::new(RunStatus::Done, "done")).map_err(|e| e.to_string())?;
    Ok(dir)
}
