//! The agent end to end: the real `markpilot run` binary on a real X server with real GTK
//! applications; only the model is scripted (tests/common/vlm.rs), and its policy picks marks
//! from where AT-SPI says the widgets are.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::vlm::{AgentRun, Events, Finished, Reply, ScriptedVlm, Seen, answer, mark_at};
use common::{XSession, markpilot_bin};
use serde_json::{Value, json};

const MODEL: &str = "scripted-vl";
const KEY_VAR: &str = "MARKPILOT_TEST_API_KEY";
const KEY: &str = "sk-test-7f3a9c1e5b2d4086";

/// The centre of the first AT-SPI node with this role (and name, if given), in the
/// application whose window has the title `window` (an application that just exited may
/// still be listed under the same name).
fn centre(tree: &Value, window: &str, role: &str, name: Option<&str>) -> (f64, f64) {
    try_centre(tree, window, role, name)
        .unwrap_or_else(|| panic!("no {role} {name:?} in the window {window:?}: {tree}"))
}

/// `markpilot run --json` against the scripted server, recording into `dir`.
fn run_cmd(s: &XSession, vlm: &ScriptedVlm, dir: &Path, task: &str, extra: &[&str]) -> Command {
    let mut cmd = s.command(markpilot_bin());
    cmd.env(KEY_VAR, KEY).args([
        "run",
        task,
        "--json",
        "--provider",
        "scripted",
        "--base-url",
        &vlm.base_url,
        "--model",
        MODEL,
        "--api-key-env",
        KEY_VAR,
        "--record",
        dir.to_str().unwrap(),
    ]);
    cmd.args(extra);
    cmd
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn steps(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("steps.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each step line is JSON"))
        .collect()
}

/// The run folder is complete and readable: run.json with a result, one line per step, each
/// step's images present, and the API key nowhere.
fn check_recording(dir: &Path, status: &str) -> Vec<Value> {
    let run = read_json(&dir.join("run.json"));
    assert_eq!(run["result"]["status"], status, "run.json: {run}");
    assert!(run["ended_at"].is_string());
    let steps = steps(dir);
    for s in &steps {
        for k in ["screen", "marked"] {
            let p = dir.join(s[k].as_str().unwrap());
            image::open(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
    }
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()), "the API key leaked into the recording");
    }
    steps
}

/// Wait until the window titled `window` is placed and drawn: AT-SPI puts the widget inside
/// the window's frame, and `annotate` finds a mark there. (A window that is mapped but not yet
/// placed reports widget positions relative to its own corner, and until it is drawn the
/// screen may still show the pixels of a window that just closed.)
fn wait_until_drawn(s: &XSession, window: &str, app: &str, role: &str, name: Option<&str>) -> Value {
    let w = s.wait_for_window(window);
    let (wx, wy) = (w["x"].as_f64().unwrap(), w["y"].as_f64().unwrap());
    let mut tree = Value::Null;
    s.wait_until(&format!("{window} to be placed and drawn"), Duration::from_secs(60), |s| {
        tree = s.atspi(&[app]);
        let Some(c) = try_centre(&tree, window, role, name) else {
            eprintln!("no centre");
            return false;
        };
        eprintln!("centre {c:?} window {wx},{wy}");
        if c.0 < wx || c.1 < wy {
            return false;
        }
        let o = s.markpilot(&["annotate", "--out", &s.scratch("drawn.png"), "--json", "-"]);
        let Ok(v) = serde_json::from_slice::<Value>(&o.stdout) else { return false };
        v["elements"].as_array().is_some_and(|es| {
            es.iter().any(|e| {
                let b = &e["bbox"];
                let f = |k: &str| b[k].as_f64().unwrap_or(0.0);
                c.0 >= f("x") && c.0 < f("x") + f("w") && c.1 >= f("y") && c.1 < f("y") + f("h")
            })
        })
    });
    tree
}

fn try_centre(tree: &Value, window: &str, role: &str, name: Option<&str>) -> Option<(f64, f64)> {
    let nodes = tree["apps"]
        .as_array()?
        .iter()
        .rev()
        .filter_map(|a| a["nodes"].as_array())
        .find(|nodes| nodes.iter().any(|n| n["name"] == window))?;
    let n = nodes
        .iter()
        .find(|n| n["role"] == role && name.is_none_or(|nm| n["name"] == nm) && n["w"].as_i64().unwrap_or(0) > 0)?;
    let f = |k: &str| n[k].as_f64().unwrap();
    Some((f("x") + f("w") / 2.0, f("y") + f("h") / 2.0))
}

fn finish(run: AgentRun) -> Finished {
    run.wait(Duration::from_secs(180))
}

#[test]
fn types_korean_into_a_zenity_entry_and_presses_ok() {
    let mut s = XSession::start(1280, 800);
    let pid = s.spawn("zenity", &["--entry", "--title=Name", "--text=Your name:"]);
    let tree = wait_until_drawn(&s, "Name", "zenity", "text", None);
    let field = centre(&tree, "Name", "text", None);
    let ok = centre(&tree, "Name", "push button", Some("OK"));

    let events = Events::default();
    let ev = events.clone();
    let vlm = ScriptedVlm::start(MODEL, Some(KEY), move |req: &Seen| {
        let p = ev.perception(req.step);
        match req.step {
            1 => {
                let m = mark_at(&p, field.0, field.1).expect("a mark on the entry");
                answer(json!({"thought": "type the name", "action": {"type": "type", "text": "Kim 김민수", "mark": m}}))
            }
            2 => {
                let m = mark_at(&p, ok.0, ok.1).expect("a mark on OK");
                Reply::Answer(format!(
                    "Now press OK.\n```json\n{{\"thought\": \"confirm\", \"action\": {{\"type\": \"click\", \"mark\": \"[{m}]\"}}}}\n```"
                ))
            }
            _ => answer(json!({"thought": "the dialog is gone", "action": {"type": "done", "answer": "typed"}})),
        }
    });
    let dir = PathBuf::from(s.scratch("run-zenity"));
    let run = AgentRun::start(run_cmd(&s, &vlm, &dir, "Type Kim 김민수 into the field and press OK", &[]), events, "");
    let done = finish(run);
    assert_eq!(done.code, Some(0), "stderr: {}\nevents: {:?}", done.stderr, done.events);
    assert_eq!(s.finish(pid, Duration::from_secs(10)).as_deref(), Some("Kim 김민수\n"));
    assert!(vlm.problems().is_empty(), "{:?}", vlm.problems());
    let reqs = vlm.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].images, vec![(1280, 800)]);
    assert!(reqs[1].text.contains("1. type \"Kim 김민수\" into mark"), "history: {}", reqs[1].text);

    let last = done.last();
    assert_eq!(
        (last["event"].as_str(), last["status"].as_str(), last["answer"].as_str()),
        (Some("finished"), Some("done"), Some("typed"))
    );
    assert_eq!(last["usage"]["input_tokens"], 3000);
    let kinds: Vec<&str> = done.events.iter().filter_map(|e| e["event"].as_str()).collect();
    for k in ["step_started", "perception", "decision", "action", "outcome", "finished"] {
        assert!(kinds.contains(&k), "no {k} event in {kinds:?}");
    }
    let steps = check_recording(&dir, "done");
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[0]["outcome"]["status"], "performed");
    assert_eq!(steps[0]["outcome"]["screen_changed"], true);
    assert_eq!(steps[2]["decision"]["action"]["type"], "done");
    let run = read_json(&dir.join("run.json"));
    assert_eq!(
        (run["task"].as_str(), run["model"].as_str(), run["steps"].as_u64()),
        (Some("Type Kim 김민수 into the field and press OK"), Some(MODEL), Some(3))
    );
}

#[test]
fn a_long_korean_sentence_arrives_exactly_twenty_times_out_of_twenty() {
    // 60 characters, 32 of them distinct Hangul syllables: more than the X server's spare
    // keycodes, which is where naive typing loses or repeats characters.
    let sentence =
        "안녕하세요, 저는 김민수입니다. 오늘 회의는 오후 세 시에 본관 삼층 대회의실에서 열립니다. 꼭 와 주세요!";
    assert_eq!(sentence.chars().count(), 60);
    let mut s = XSession::start(1280, 800);
    let pid = s.spawn("zenity", &["--entry", "--title=Type", "--text=Text:"]);
    let tree = wait_until_drawn(&s, "Type", "zenity", "text", None);
    let field = centre(&tree, "Type", "text", None);
    let mut results = Vec::new();
    for i in 0..20 {
        // Each run types into the emptied entry (emptied through AT-SPI: setting up the test
        // should not depend on the input under test).
        s.set_text("zenity", "text", "");
        let events = Events::default();
        let ev = events.clone();
        let text = sentence.to_string();
        let vlm = ScriptedVlm::start(MODEL, Some(KEY), move |req: &Seen| match req.step {
            1 => match mark_at(&ev.perception(1), field.0, field.1) {
                Some(m) => answer(json!({"action": {"type": "type", "text": text, "mark": m}})),
                None => answer(json!({"action": {"type": "fail", "reason": "no mark on the entry"}})),
            },
            _ => answer(json!({"action": {"type": "done"}})),
        });
        let dir = PathBuf::from(s.scratch(&format!("run-ko-{i}")));
        let run = AgentRun::start(run_cmd(&s, &vlm, &dir, "type the sentence", &["--confirm", "never"]), events, "");
        let done = finish(run);
        assert_eq!(done.code, Some(0), "iteration {i}: {}\n{}", done.stderr, done.last());
        results.push(s.text_of("zenity", "text"));
    }
    let exact = results.iter().filter(|r| r.as_str() == sentence).count();
    let wrong: Vec<&String> = results.iter().filter(|r| r.as_str() != sentence).collect();
    assert_eq!(exact, 20, "wrong results: {wrong:?}");
    s.kill(pid);
}
