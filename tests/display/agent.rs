//! The agent end to end: the real `markpilot run` binary on a real X server with real GTK
//! applications; only the model is scripted (tests/support/vlm.rs), and its policy picks marks
//! from where AT-SPI says the widgets are.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::vlm::{AgentRun, Events, Finished, Reply, ScriptedVlm, Seen, answer, mark_at};
use crate::common::{XSession, centre, markpilot_bin, read_json, steps, wait_until_drawn};
use serde_json::{Value, json};

const MODEL: &str = "scripted-vl";
const KEY_VAR: &str = "MARKPILOT_TEST_API_KEY";
const KEY: &str = "sk-test-7f3a9c1e5b2d4086";

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
    // The built-in detector alone keeps these runs quick (text reading in a debug build
    // costs seconds a step); the widget-factory task runs with text reading too.
    if !extra.contains(&"--detectors") {
        cmd.args(["--detectors", "builtin"]);
    }
    cmd.args(extra);
    cmd
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
        let mut cmd = run_cmd(&s, &vlm, &dir, "type the sentence", &["--confirm", "never"]);
        cmd.env("RUST_LOG", "markpilot::act=debug");
        let done = finish(AgentRun::start(cmd, events, ""));
        assert_eq!(done.code, Some(0), "iteration {i}: {}\n{}", done.stderr, done.last());
        results.push(s.texts_of("zenity", "text").pop().unwrap_or_default());
        if results.last().map(String::as_str) != Some(sentence) {
            eprintln!("iteration {i} wrong; markpilot said: {}", done.stderr);
        }
    }
    let exact = results.iter().filter(|r| r.as_str() == sentence).count();
    let wrong: Vec<&String> = results.iter().filter(|r| r.as_str() != sentence).collect();
    assert_eq!(exact, 20, "wrong results: {wrong:?}");
    s.kill(pid);
}

/// A zenity entry on screen, for runs that need marks but not the dialog's result.
fn zenity_on_screen(s: &mut XSession, title: &str) -> (u32, (f64, f64)) {
    let pid = s.spawn("zenity", &["--entry", &format!("--title={title}"), "--text=Text:"]);
    let tree = wait_until_drawn(s, title, "zenity", "text", None);
    (pid, centre(&tree, title, "push button", Some("OK")))
}

fn done_answer() -> Reply {
    answer(json!({"thought": "finished", "action": {"type": "done"}}))
}

#[test]
fn model_and_network_faults_end_as_specified_with_the_recording_intact() {
    let mut s = XSession::start(1024, 700);
    let _ = zenity_on_screen(&mut s, "Faults");
    let run = |s: &XSession, name: &str, extra: &[&str], policy: Box<dyn FnMut(&Seen) -> Reply + Send>| {
        let vlm = ScriptedVlm::start(MODEL, Some(KEY), policy);
        let dir = PathBuf::from(s.scratch(name));
        let done = finish(AgentRun::start(run_cmd(s, &vlm, &dir, "check the dialog", extra), Events::default(), ""));
        (done, vlm, dir)
    };

    // Garbage twice: one repair turn that says what was wrong, then a clear error (exit 2).
    let (done, vlm, dir) =
        run(&s, "garbage", &[], Box::new(|_: &Seen| Reply::Answer("I would click the OK button.".into())));
    assert_eq!(done.code, Some(2), "{}", done.stderr);
    assert!(done.last()["message"].as_str().unwrap().contains("invalid twice"), "{}", done.last());
    let reqs = vlm.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[1].repair && reqs[1].last_text.contains("no JSON object"), "{}", reqs[1].last_text);
    let steps = check_recording(&dir, "error");
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0]["answers"].as_array().unwrap().len(), 2);
    assert_eq!(steps[0]["outcome"]["status"], "invalid");

    // An out-of-range mark is repaired, and the repaired answer is used.
    let (done, vlm, dir) = run(
        &s,
        "range",
        &[],
        Box::new(
            |r: &Seen| {
                if r.repair { done_answer() } else { answer(json!({"action": {"type": "click", "mark": 999}})) }
            },
        ),
    );
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let reqs = vlm.requests();
    assert!(
        reqs[1].last_text.contains("mark 999 does not exist; the marks on this screenshot are 1 to"),
        "{}",
        reqs[1].last_text
    );
    check_recording(&dir, "done");

    // HTTP 500, then success: retried.
    let mut calls = 0;
    let (done, vlm, dir) = run(
        &s,
        "http500",
        &[],
        Box::new(move |_: &Seen| {
            calls += 1;
            if calls == 1 {
                Reply::Status { code: 500, retry_after: None, body: "{\"error\":{\"message\":\"boom\"}}".into() }
            } else {
                done_answer()
            }
        }),
    );
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_eq!(vlm.requests().len(), 2);
    check_recording(&dir, "done");

    // 429 with Retry-After: 1 — the retry waits at least that long.
    let mut calls = 0;
    let (done, vlm, _) = run(
        &s,
        "http429",
        &[],
        Box::new(move |_: &Seen| {
            calls += 1;
            if calls == 1 {
                Reply::Status { code: 429, retry_after: Some(1), body: "{}".into() }
            } else {
                done_answer()
            }
        }),
    );
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let reqs = vlm.requests();
    assert!(reqs[1].at.duration_since(reqs[0].at) >= Duration::from_millis(950), "Retry-After was not honoured");

    // A server that never answers: a timeout error naming the server.
    let (done, vlm, dir) = run(&s, "hang", &["--timeout", "1", "--retries", "1"], Box::new(|_: &Seen| Reply::Hang));
    assert_eq!(done.code, Some(2), "{}", done.stderr);
    assert!(
        done.last()["message"].as_str().unwrap().contains("did not answer within 1 s (2 attempts)"),
        "{}",
        done.last()
    );
    assert_eq!(vlm.requests().len(), 2);
    let steps = check_recording(&dir, "error");
    assert_eq!(steps.len(), 1);

    // A dropped connection, then success.
    let mut calls = 0;
    let (done, _, _) = run(
        &s,
        "drop",
        &[],
        Box::new(move |_: &Seen| {
            calls += 1;
            if calls == 1 { Reply::Drop } else { done_answer() }
        }),
    );
    assert_eq!(done.code, Some(0), "{}", done.stderr);

    // A wrong key: no retry, one line that says what to check.
    let (done, vlm, _) = run(
        &s,
        "auth",
        &[],
        Box::new(|_: &Seen| Reply::Status {
            code: 401,
            retry_after: None,
            body: "{\"error\":{\"message\":\"invalid api key\"}}".into(),
        }),
    );
    assert_eq!(done.code, Some(2));
    assert!(
        done.last()["message"]
            .as_str()
            .unwrap()
            .contains(&format!("HTTP 401: invalid api key (check the key in {KEY_VAR})")),
        "{}",
        done.last()
    );
    assert_eq!(vlm.requests().len(), 1);

    // Nothing listening at all.
    let mut cmd = s.command(markpilot_bin());
    cmd.env(KEY_VAR, KEY).args([
        "run",
        "x",
        "--json",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--model",
        MODEL,
        "--retries",
        "0",
        "--record",
        &s.scratch("refused"),
    ]);
    let done = finish(AgentRun::start(cmd, Events::default(), ""));
    assert_eq!(done.code, Some(2));
    assert!(
        done.last()["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach the model server at http://127.0.0.1:9/v1/chat/completions"),
        "{}",
        done.last()
    );
}

#[test]
fn a_risky_action_is_not_performed_when_confirmation_is_refused_and_is_when_approved() {
    let mut s = XSession::start(1024, 700);
    let (pid, _) = zenity_on_screen(&mut s, "Risky");
    let policy = |r: &Seen| match r.step {
        1 => answer(json!({"thought": "close it", "action": {"type": "key", "keys": "alt+F4"}})),
        _ => answer(json!({"action": {"type": "done"}})),
    };

    // Refused on the terminal: the dialog stays, the model hears of it.
    let vlm = ScriptedVlm::start(MODEL, Some(KEY), policy);
    let dir = PathBuf::from(s.scratch("refused"));
    let done = finish(AgentRun::start(
        run_cmd(&s, &vlm, &dir, "close the dialog", &["--confirm", "risky"]),
        Events::default(),
        "n\n",
    ));
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(done.stderr.contains("wants to key alt+F4"), "{}", done.stderr);
    assert!(done.events.iter().any(|e| e["event"] == "awaiting_confirmation"));
    assert!(s.windows().iter().any(|w| w["title"] == "Risky"), "the refused alt+F4 was performed");
    assert!(vlm.requests()[1].text.contains("the person refused this action"), "{}", vlm.requests()[1].text);
    let steps = check_recording(&dir, "done");
    assert_eq!(steps[0]["outcome"]["status"], "refused");
    assert_eq!(steps[0]["confirmation"]["approved"], false);

    // No answer at all (stdin closed) also refuses.
    let vlm = ScriptedVlm::start(MODEL, Some(KEY), policy);
    let done = finish(AgentRun::start(
        run_cmd(&s, &vlm, &PathBuf::from(s.scratch("eof")), "close", &[]),
        Events::default(),
        "",
    ));
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(s.windows().iter().any(|w| w["title"] == "Risky"));

    // Approved: performed, the dialog closes (zenity exits with status 1 on close).
    let vlm = ScriptedVlm::start(MODEL, Some(KEY), policy);
    let done = finish(AgentRun::start(
        run_cmd(&s, &vlm, &PathBuf::from(s.scratch("approved")), "close", &[]),
        Events::default(),
        "y\n",
    ));
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert_eq!(s.finish(pid, Duration::from_secs(10)).as_deref(), Some(""));
}

#[test]
fn sigterm_stops_a_long_task_within_one_step_and_closes_the_recording() {
    let mut s = XSession::start(1024, 700);
    let _ = zenity_on_screen(&mut s, "Long");
    let vlm = ScriptedVlm::start(MODEL, Some(KEY), |_: &Seen| {
        answer(json!({"thought": "keep waiting", "action": {"type": "wait", "seconds": 0.2}}))
    });
    let dir = PathBuf::from(s.scratch("long"));
    let events = Events::default();
    let run = AgentRun::start(run_cmd(&s, &vlm, &dir, "wait forever", &["--max-steps", "1000"]), events.clone(), "");
    // Stop once step 2 has begun.
    events.wait_for(Duration::from_secs(60), |e| e["event"] == "step_started" && e["step"] == 2).expect("step 2");
    let stop_sent = vlm.requests().len();
    Command::new("kill").args(["-TERM", &run.pid().to_string()]).status().unwrap();
    let done = finish(run);
    assert_eq!(done.code, Some(130), "{}", done.stderr);
    assert_eq!(done.last()["status"], "stopped");
    assert!(vlm.requests().len() <= stop_sent + 1, "kept asking the model after the stop");
    let steps = check_recording(&dir, "stopped");
    assert!((1..=3).contains(&steps.len()), "{} steps", steps.len());
}

#[test]
fn the_step_limit_and_a_repeated_action_that_changes_nothing_end_the_run() {
    let mut s = XSession::start(1024, 700);
    let _ = zenity_on_screen(&mut s, "Limits");
    // Scrolling a dialog that cannot scroll changes nothing: warned, then stopped. (A caret
    // blink may count as a change once, so the warning is looked for in the last request,
    // the one answered with the third repeat.)
    let vlm = ScriptedVlm::start(MODEL, Some(KEY), |_: &Seen| {
        answer(json!({"action": {"type": "scroll", "direction": "down", "amount": 1}}))
    });
    let dir = PathBuf::from(s.scratch("repeat"));
    let done = finish(AgentRun::start(run_cmd(&s, &vlm, &dir, "scroll", &[]), Events::default(), ""));
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert!(
        done.last()["message"].as_str().unwrap().contains("three times and the screen did not change"),
        "{}",
        done.last()
    );
    let last = vlm.requests().pop().unwrap();
    assert!(last.text.contains("was done twice and the screen did not change"), "{}", last.text);
    check_recording(&dir, "limit");

    let vlm = ScriptedVlm::start(MODEL, Some(KEY), |r: &Seen| {
        answer(json!({"action": {"type": "wait", "seconds": 0.1 * r.step as f64}}))
    });
    let done = finish(AgentRun::start(
        run_cmd(&s, &vlm, &PathBuf::from(s.scratch("limit")), "wait", &["--max-steps", "2"]),
        Events::default(),
        "",
    ));
    assert_eq!(done.code, Some(1));
    assert_eq!(done.last()["message"], "reached the step limit (2)");
}

#[test]
fn on_a_dense_list_the_model_zooms_in_ticks_the_right_row_sees_the_whole_screen_again_and_replay_does_the_same() {
    let mut s = XSession::start(1920, 1080);
    let names: Vec<String> = (1..=40).map(|i| format!("Person {i:02}")).collect();
    let mut args: Vec<String> = ["--list", "--checklist", "--title=People", "--width=700", "--height=1000"]
        .iter()
        .map(|a| a.to_string())
        .collect();
    args.extend(["--column=Pick".to_string(), "--column=Name".to_string()]);
    for n in &names {
        args.extend(["FALSE".to_string(), n.clone()]);
    }
    let pid = s.spawn("zenity", &args.iter().map(String::as_str).collect::<Vec<_>>());
    let tree = wait_until_drawn(&s, "People", "zenity", "table cell", Some("Person 07"));
    let nodes = tree["apps"][0]["nodes"].as_array().unwrap();
    let f = |n: &Value, k: &str| n[k].as_f64().unwrap();
    let name = nodes.iter().find(|n| n["role"] == "table cell" && n["name"] == "Person 07").unwrap();
    let (ny, nh) = (f(name, "y"), f(name, "h"));
    let row_y = ny + nh / 2.0;
    // The row's check box: the table cell left of the name on the same row.
    let tick = nodes
        .iter()
        .find(|n| {
            n["role"] == "table cell" && f(n, "x") + f(n, "w") <= f(name, "x") + 1.0 && (f(n, "y") - ny).abs() < 2.0
        })
        .map(|n| (f(n, "x") + f(n, "w") / 2.0, row_y))
        .unwrap_or_else(|| panic!("no check cell beside Person 07: {tree}"));
    let ok = centre(&tree, "People", "push button", Some("OK"));

    let events = Events::default();
    let ev = events.clone();
    let region = std::sync::Arc::new(std::sync::Mutex::new([0.0f64; 4]));
    let zoomed = region.clone();
    let vlm = ScriptedVlm::start(MODEL, Some(KEY), move |req: &Seen| {
        let k = req.images[0].0 as f64 / 1920.0;
        match (req.step, req.repair) {
            // Dense: the zoom is offered. A box outside the screenshot first: the model is told.
            (1, false) => {
                assert!(req.text.contains("{\"type\": \"zoom\""), "no zoom offered: {}", req.text);
                answer(json!({"action": {"type": "zoom", "region": [1200.0 * k, 1000.0 * k, 900.0 * k, 50.0 * k]}}))
            }
            (1, true) => {
                assert!(req.last_text.contains("not a box inside the screenshot"), "{}", req.last_text);
                // Around the row, 600x200 screen pixels.
                let r = [(tick.0 - 100.0) * k, (row_y - 100.0) * k, 600.0 * k, 200.0 * k];
                *zoomed.lock().unwrap() = r.map(|v| v / k);
                answer(json!({"action": {"type": "zoom", "region": r}}))
            }
            // A zoom of the whole zoom (depth 2), then a third: refused, the zoom stays.
            (2 | 3, _) => {
                let (w, h) = req.images[0];
                answer(json!({"action": {"type": "zoom", "region": [0, 0, w, h]}}))
            }
            (4, _) => {
                let p = ev.perception(4);
                let m =
                    mark_at(&p, tick.0, tick.1).unwrap_or_else(|| panic!("no mark on the check box in the zoom: {p}"));
                answer(json!({"action": {"type": "click", "mark": m}}))
            }
            (5, _) => {
                let p = ev.perception(5);
                answer(json!({"action": {"type": "click", "mark": mark_at(&p, ok.0, ok.1).expect("a mark on OK")}}))
            }
            _ => answer(json!({"action": {"type": "done"}})),
        }
    });
    let dir = PathBuf::from(s.scratch("zoom"));
    let done = finish(AgentRun::start(run_cmd(&s, &vlm, &dir, "Tick Person 07 and press OK", &[]), events, ""));
    assert_eq!(done.code, Some(0), "stderr: {}\nevents: {:?}", done.stderr, done.events);
    assert!(vlm.problems().is_empty(), "{:?}", vlm.problems());
    assert_eq!(s.finish(pid, Duration::from_secs(10)).as_deref(), Some("Person 07\n"));

    let reqs: Vec<Seen> = vlm.requests().into_iter().filter(|r| !r.repair).collect();
    let full = reqs[0].images[0];
    // The zoom: the box at the screen's own pixels, 1:1, with what it is said beside it.
    let r = *region.lock().unwrap();
    for req in &reqs[1..=3] {
        let (w, h) = req.images[0];
        assert!((w as f64 - r[2]).abs() <= 2.0 && (h as f64 - r[3]).abs() <= 2.0, "zoom image {w}x{h} for {r:?}");
    }
    assert!(reqs[1].text.contains("This screenshot is the zoom you asked for"), "{}", reqs[1].text);
    assert!(reqs[1].text.contains("1. zoom into the "), "{}", reqs[1].text);
    assert!(reqs[2].text.contains("This screenshot is a zoom of a zoom"), "{}", reqs[2].text);
    assert!(reqs[3].text.contains("not done: this screenshot is already a zoom of a zoom"), "{}", reqs[3].text);
    // Then the whole screen again.
    assert_eq!(reqs[4].images[0], full);
    let steps = check_recording(&dir, "done");
    assert_eq!(steps[0]["decision"]["action"]["type"], "zoom");
    let outcomes: Vec<&str> = steps.iter().filter_map(|s| s["outcome"]["status"].as_str()).collect();
    assert_eq!(outcomes[..4], ["zoomed", "zoomed", "refused", "performed"], "{outcomes:?}");
    assert_eq!(steps[3]["outcome"]["screen_changed"], true, "the tick shows in the zoom");

    // Replayed with no model: the zoom sends no input, the tick made on the zoomed screen is
    // found again on the whole one.
    let pid = s.spawn("zenity", &args.iter().map(String::as_str).collect::<Vec<_>>());
    wait_until_drawn(&s, "People", "zenity", "table cell", Some("Person 07"));
    let out = PathBuf::from(s.scratch("zoom-replayed"));
    let mut cmd = s.command(markpilot_bin());
    cmd.args(["replay", dir.to_str().unwrap(), "--json", "--confirm", "never", "--detectors", "builtin"]);
    cmd.args(["--record", out.to_str().unwrap()]);
    let done = finish(AgentRun::start(cmd, Events::default(), ""));
    assert_eq!(done.code, Some(0), "stderr: {}\nevents: {:?}", done.stderr, done.events);
    assert_eq!(s.finish(pid, Duration::from_secs(10)).as_deref(), Some("Person 07\n"));
}

/// The AT-SPI node of `app` with this role and name whose box starts at (x, y).
fn node_at<'a>(tree: &'a Value, role: &str, x: i64, y: i64) -> &'a Value {
    tree["apps"][0]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["role"] == role && n["x"].as_i64() == Some(x) && n["y"].as_i64() == Some(y))
        .unwrap_or_else(|| panic!("no {role} at ({x}, {y})"))
}

fn node_centre(n: &Value) -> (f64, f64) {
    let f = |k: &str| n[k].as_f64().unwrap();
    (f("x") + f("w") / 2.0, f("y") + f("h") / 2.0)
}

fn has_state(n: &Value, state: &str) -> bool {
    n["states"].as_array().is_some_and(|s| s.iter().any(|x| x == state))
}

#[test]
fn a_multi_step_task_in_the_widget_factory_over_the_anthropic_protocol() {
    let mut s = XSession::start(1440, 900);
    s.spawn("gtk3-widget-factory", &[]);
    s.wait_for_window("gtk3-widget-factory");
    s.wait_for_app("gtk3-widget-factory", 100);
    let tree = s.settled_atspi("gtk3-widget-factory");
    let nodes = tree["apps"][0]["nodes"].as_array().unwrap();
    // The first notebook's second tab, an enabled unticked check box, an enabled entry.
    let tab = nodes.iter().find(|n| n["role"] == "page tab" && n["name"] == "page 2").expect("a page 2 tab").clone();
    let check = nodes
        .iter()
        .find(|n| n["role"] == "check box" && has_state(n, "enabled") && !has_state(n, "checked"))
        .expect("an unticked check box")
        .clone();
    let entry = nodes
        .iter()
        .find(|n| n["role"] == "text" && has_state(n, "enabled") && has_state(n, "editable"))
        .expect("an entry")
        .clone();
    let targets = [node_centre(&tab), node_centre(&check), node_centre(&entry)];
    let before = s.texts_of("gtk3-widget-factory", "text");

    let events = Events::default();
    let ev = events.clone();
    let vlm = ScriptedVlm::start(MODEL, Some(KEY), move |r: &Seen| {
        let p = ev.perception(r.step);
        let mark = |i: usize| mark_at(&p, targets[i].0, targets[i].1);
        let action = match r.step {
            1 => mark(0).map(|m| json!({"type": "click", "mark": m})),
            2 => mark(1).map(|m| json!({"type": "click", "mark": m})),
            3 => mark(2).map(|m| json!({"type": "type", "text": "markpilot 한글", "mark": m})),
            _ => Some(json!({"type": "done"})),
        };
        answer(
            json!({"thought": format!("step {}", r.step), "action": action.unwrap_or(json!({"type": "fail", "reason": "no mark"}))}),
        )
    });
    let dir = PathBuf::from(s.scratch("factory"));
    let run = AgentRun::start(
        run_cmd(
            &s,
            &vlm,
            &dir,
            "open page 2, tick a box, type into the entry",
            &["--protocol", "anthropic", "--confirm", "never", "--detectors", "builtin,text"],
        ),
        events,
        "",
    );
    let done = finish(run);
    assert_eq!(done.code, Some(0), "{}\n{:?}", done.stderr, done.events);
    assert!(vlm.problems().is_empty(), "{:?}", vlm.problems());
    assert!(vlm.requests().iter().all(|r| r.protocol == "anthropic"));
    // With text reading on, the element table names what the marks say.
    let first = &vlm.requests()[0].text;
    for label in ["\"Page 2\"", "\"togglebutton\"", "\"Inset\"", "\"comboboxentry\""] {
        assert!(first.contains(label), "{label} is not in the element table: {first}");
    }

    let after = s.settled_atspi("gtk3-widget-factory");
    let tab_now = node_at(&after, "page tab", tab["x"].as_i64().unwrap(), tab["y"].as_i64().unwrap());
    assert!(has_state(tab_now, "selected"), "the tab was not switched: {tab_now}");
    let check_now = node_at(&after, "check box", check["x"].as_i64().unwrap(), check["y"].as_i64().unwrap());
    assert!(has_state(check_now, "checked"), "the box was not ticked: {check_now}");
    // The entry held text: typing into it appends at the end.
    let texts = s.texts_of("gtk3-widget-factory", "text");
    assert!(
        before.iter().zip(&texts).any(|(b, a)| *a == format!("{b}markpilot 한글")),
        "entries held {before:?} and now hold {texts:?}"
    );
    let steps = check_recording(&dir, "done");
    assert_eq!(steps.len(), 4);
}

#[test]
fn on_a_monitor_at_a_non_zero_origin_points_from_a_downscaled_image_land_right() {
    // One 2048-wide X screen whose only RandR monitor is its right half (origin 1024,0).
    let mut s = XSession::start(2048, 768);
    s.only_the_right_half_as_monitor(2048, 768);
    let pid = s.spawn("zenity", &["--entry", "--title=Right", "--text=Name:"]);
    s.wait_for_window("Right");
    assert!(
        s.command("xdotool")
            .args(["search", "--name", "^Right$", "windowmove", "1400", "200"])
            .status()
            .unwrap()
            .success()
    );
    s.wait_until("the dialog on the right monitor", Duration::from_secs(30), |s| {
        s.windows().iter().any(|w| w["title"] == "Right" && w["x"].as_i64().unwrap_or(0) >= 1300)
    });
    let tree = wait_until_drawn(&s, "Right", "zenity", "text", None);
    let field = centre(&tree, "Right", "text", None);
    let ok = centre(&tree, "Right", "push button", Some("OK"));
    let monitors: Value = serde_json::from_slice(&s.markpilot(&["monitors", "--json"]).stdout).unwrap();
    assert_eq!(monitors[0]["x"], 1024, "{monitors}");

    // The model sees 800x600 (downscaled from 1024x768) and answers in that image's pixels.
    let to_image = |(x, y): (f64, f64)| [((x - 1024.0) * 800.0 / 1024.0).floor(), (y * 600.0 / 768.0).floor()];
    let vlm = ScriptedVlm::start(MODEL, Some(KEY), move |r: &Seen| {
        assert_eq!(r.images, vec![(800, 600)]);
        assert!(r.system.contains("\"point\": [x, y]"));
        match r.step {
            1 => answer(json!({"action": {"type": "type", "text": "Right monitor", "point": to_image(field)}})),
            2 => answer(json!({"action": {"type": "click", "point": to_image(ok)}})),
            _ => answer(json!({"action": {"type": "done"}})),
        }
    });
    let dir = PathBuf::from(s.scratch("right"));
    let done = finish(AgentRun::start(
        run_cmd(&s, &vlm, &dir, "type and press OK", &["--monitor", "0", "--coordinates", "--max-side", "800"]),
        Events::default(),
        "",
    ));
    assert_eq!(done.code, Some(0), "{}\n{:?}", done.stderr, done.events);
    assert_eq!(s.finish(pid, Duration::from_secs(10)).as_deref(), Some("Right monitor\n"));
}

#[test]
fn questions_are_put_to_the_person_and_dry_runs_touch_nothing() {
    let mut s = XSession::start(1024, 700);
    let (_, ok) = zenity_on_screen(&mut s, "Ask");
    let ask = |r: &Seen| match r.step {
        1 => answer(json!({"action": {"type": "ask_user", "question": "Which name?"}})),
        _ => answer(json!({"action": {"type": "done", "answer": "asked"}})),
    };
    // Answered on the terminal: the answer is in the next step's history.
    let vlm = ScriptedVlm::start(MODEL, Some(KEY), ask);
    let done = finish(AgentRun::start(
        run_cmd(&s, &vlm, &PathBuf::from(s.scratch("asked")), "ask", &[]),
        Events::default(),
        "Kim\n",
    ));
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(done.stderr.contains("the model asks: Which name?"));
    assert!(
        vlm.requests()[1].text.contains("asked the person \"Which name?\"; the answer: \"Kim\""),
        "{}",
        vlm.requests()[1].text
    );
    // Nobody to answer: the run ends with exit code 1.
    let vlm = ScriptedVlm::start(MODEL, Some(KEY), ask);
    let dir = PathBuf::from(s.scratch("unanswered"));
    let done = finish(AgentRun::start(run_cmd(&s, &vlm, &dir, "ask", &[]), Events::default(), ""));
    assert_eq!(done.code, Some(1), "{}", done.stderr);
    assert_eq!(done.last()["status"], "ask_user");
    check_recording(&dir, "ask_user");

    // A dry run decides and records, but the OK button is never pressed.
    let events = Events::default();
    let ev = events.clone();
    let vlm = ScriptedVlm::start(MODEL, Some(KEY), move |r: &Seen| match r.step {
        1 => answer(json!({"action": {"type": "click", "mark": mark_at(&ev.perception(1), ok.0, ok.1)}})),
        _ => answer(json!({"action": {"type": "done"}})),
    });
    let dir = PathBuf::from(s.scratch("dry"));
    let done = finish(AgentRun::start(run_cmd(&s, &vlm, &dir, "press OK", &["--dry-run"]), events, ""));
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(s.windows().iter().any(|w| w["title"] == "Ask"), "the dry run pressed OK");
    let steps = check_recording(&dir, "done");
    assert_eq!(steps[0]["outcome"]["status"], "dry_run");
    assert!(steps[0]["outcome"]["input"][1].as_str().unwrap().starts_with("click Left"));
}

/// `kill -9` of `markpilot run` at twenty random points of a twenty-step run: every run folder
/// reads back, holds every step but at most the one being written and the one in progress,
/// and replays its complete steps.
#[test]
fn a_run_killed_at_any_point_leaves_a_recording_that_reads_back_and_replays() {
    let mut s = XSession::start(1024, 700);
    let pid = s.spawn("zenity", &["--entry", "--title=Crash", "--text=Type here:"]);
    wait_until_drawn(&s, "Crash", "zenity", "text", None);
    let root = PathBuf::from(s.scratch("crash-runs"));
    // Kill points spread over the run's length, in a different order every time the test runs.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    let mut x = nanos | 1;
    let mut random = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut counts = Vec::new();
    for i in 0..20 {
        let dir = root.join(format!("run-{i:02}"));
        // Twenty steps, each typing into the focused entry (the screen changes every step).
        let vlm = ScriptedVlm::start(MODEL, Some(KEY), |r: &Seen| -> Reply {
            if r.step <= 20 {
                answer(json!({"thought": "more", "action": {"type": "type", "text": format!("{} ", r.step)}}))
            } else {
                done_answer()
            }
        });
        let cmd = run_cmd(&s, &vlm, &dir, "Type the numbers", &["--confirm", "never"]);
        let events = Events::default();
        let run = AgentRun::start(cmd, events.clone(), "");
        // Wait for a random number of recorded steps (0 to 19), then a random fraction of a step.
        let after = random(20);
        if after > 0 {
            events
                .wait_for(Duration::from_secs(120), |e| {
                    e["event"] == "step_recorded" && e["step"].as_u64() == Some(after)
                })
                .unwrap_or_else(|| panic!("run {i}: step {after} never recorded: {:?}", events.all()));
        }
        std::thread::sleep(Duration::from_millis(random(300)));
        let killed = s.command("kill").args(["-9", &run.pid().to_string()]).status().unwrap();
        assert!(killed.success());
        let seen = events.all().iter().filter(|e| e["event"] == "step_recorded").count() as u32;
        let done = run.wait(Duration::from_secs(30));
        if !dir.join("run.json").exists() {
            // Killed before the folder was made: nothing to read back.
            assert_eq!(seen, 0, "run {i}: steps were recorded but no run.json: {:?}", done.events);
            counts.push((seen, 0));
            continue;
        }
        let back = markpilot::record::read_run(&dir)
            .unwrap_or_else(|e| panic!("run {i} (killed after {seen} recorded steps) does not read back: {e}"));
        let n = back.steps.len() as u32;
        let numbers: Vec<u32> = back.steps.iter().map(|s| s.step).collect();
        assert_eq!(numbers, (1..=n).collect::<Vec<_>>(), "run {i}: steps in order, none missing");
        assert!(n + 2 >= seen, "run {i}: {seen} steps recorded before the kill, {n} read back");
        counts.push((seen, n));
    }
    eprintln!("kill -9 points (steps recorded before the kill, steps read back): {counts:?}");

    // The longest recording replays its complete steps (dry run: nothing typed again).
    let (i, _) = counts.iter().enumerate().max_by_key(|(_, c)| c.1).unwrap();
    let longest = root.join(format!("run-{i:02}"));
    if counts[i].1 > 0 {
        let out = PathBuf::from(s.scratch("crash-replayed"));
        let mut cmd = s.command(markpilot_bin());
        cmd.args(["replay", longest.to_str().unwrap(), "--json", "--dry-run", "--confirm", "never"]);
        cmd.args(["--detectors", "builtin", "--record", out.to_str().unwrap()]);
        let done = finish(AgentRun::start(cmd, Events::default(), ""));
        assert_eq!(done.code, Some(0), "stderr: {}\nevents: {:?}", done.stderr, done.events);
        // A recording that reached the model's `done` replays every step before it.
        let back = markpilot::record::read_run(&longest).unwrap();
        let acted = back
            .steps
            .iter()
            .filter(|st| {
                !matches!(st.decision.as_ref().map(|d| &d.action), Some(markpilot::action::Action::Done { .. }))
            })
            .count();
        assert_eq!(steps(&out).len(), acted, "every complete step replayed");
    }
    s.kill(pid);
}

/// Resident memory (kB) and open file descriptors of a process.
fn rss_and_fds(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    (rss, fds)
}

/// A 300-step run against a real GTK dialog holds steady memory and file descriptors
/// (the figures are printed: `--no-capture`).
#[test]
fn a_three_hundred_step_run_holds_steady_memory_and_file_descriptors() {
    let mut s = XSession::start(1024, 700);
    let pid = s.spawn("zenity", &["--entry", "--title=Soak", "--text=Type here:"]);
    wait_until_drawn(&s, "Soak", "zenity", "text", None);
    let vlm = ScriptedVlm::start(MODEL, Some(KEY), |r: &Seen| -> Reply {
        match r.step {
            n if n > 300 => done_answer(),
            n if n % 2 == 1 => answer(json!({"action": {"type": "type", "text": "ab"}})),
            _ => answer(json!({"action": {"type": "key", "keys": "BackSpace"}})),
        }
    });
    let dir = PathBuf::from(s.scratch("soak"));
    let cmd = run_cmd(&s, &vlm, &dir, "Type and erase", &["--confirm", "never", "--max-steps", "301"]);
    let events = Events::default();
    let run = AgentRun::start(cmd, events.clone(), "");
    let mut at = Vec::new();
    for step in [10u64, 100, 200, 300] {
        events
            .wait_for(Duration::from_secs(600), |e| e["event"] == "step_recorded" && e["step"].as_u64() == Some(step))
            .unwrap_or_else(|| panic!("step {step} never recorded"));
        at.push((step, rss_and_fds(run.pid())));
    }
    let done = run.wait(Duration::from_secs(120));
    assert_eq!(done.code, Some(0), "stderr: {}", done.stderr);
    eprintln!("soak (step, (RSS kB, open fds)): {at:?}");
    let (rss10, fds10) = at[0].1;
    let (rss300, fds300) = at[3].1;
    assert!(rss10 > 0 && fds10 > 0, "/proc readable");
    // Caches warm up in the first steps; after that memory stays flat (a leak of one
    // screenshot a step would be 2.8 MB a step, 800 MB by step 300).
    assert!(rss300 < rss10 + 64 * 1024, "RSS grew from {rss10} kB to {rss300} kB");
    assert!(at[3].1.0 < at[1].1.0 + 32 * 1024, "RSS still growing after step 100: {at:?}");
    assert!(fds300 <= fds10 + 4, "file descriptors grew from {fds10} to {fds300}");
    assert_eq!(steps(&dir).len(), 301);
    s.kill(pid);
}

/// The centre of a window (screen pixels), once it is listed.
fn window_centre(s: &XSession, title: &str) -> (f64, f64) {
    let w = s.wait_for_window(title);
    let f = |k: &str| w[k].as_f64().unwrap();
    (f("x") + f("width") / 2.0, f("y") + f("height") / 2.0)
}

/// A scripted model for the repaint app: wait until its window shows grey (drawn, not yet
/// clicked), click its centre, then done.
fn click_once_grey(at: (f64, f64), screen_w: f64) -> impl FnMut(&Seen) -> Reply + Send + 'static {
    let mut clicked = false;
    move |r: &Seen| {
        if clicked {
            return done_answer();
        }
        let pic = &r.pictures[0];
        let k = pic.width() as f64 / screen_w;
        let (x, y) = (at.0 * k, at.1 * k);
        let p = pic.get_pixel(x as u32, y as u32);
        if p[0] > 190 && p[1] > 190 && p[2] > 190 {
            clicked = true;
            answer(json!({"action": {"type": "click", "point": [x, y]}}))
        } else {
            answer(json!({"action": {"type": "wait", "seconds": 0.2}}))
        }
    }
}

/// The recorded screen after the click (the next step's) at `at`, and the click's step.
fn after_the_click(dir: &Path, at: (f64, f64)) -> (image::Rgba<u8>, Value) {
    let steps = check_recording(dir, "done");
    let i = steps
        .iter()
        .position(|s| s["decision"]["action"]["kind"] == "click")
        .unwrap_or_else(|| panic!("no click step: {steps:?}"));
    let next = &steps[i + 1];
    let screen = image::open(dir.join(next["screen"].as_str().unwrap())).unwrap().to_rgba8();
    (*screen.get_pixel(at.0 as u32, at.1 as u32), steps[i].clone())
}

fn is_blue(p: image::Rgba<u8>) -> bool {
    p[2] > 150 && p[0] < 80 && p[1] < 120
}

#[test]
fn settling_sees_a_repaint_that_comes_late_and_stops_at_the_cap_on_an_endless_animation() {
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/repaint_app.py");
    let app = app.to_str().unwrap();
    let mut s = XSession::start(1024, 700);

    // The click shows nothing at once and repaints 300 ms later: settling on the X server's
    // change reports waits for it.
    let late = s.spawn("/usr/bin/python3", &[app, "late"]);
    let at = window_centre(&s, "Repaint late");
    let vlm = ScriptedVlm::start(MODEL, Some(KEY), click_once_grey(at, 1024.0));
    let dir = PathBuf::from(s.scratch("late"));
    let cmd = run_cmd(&s, &vlm, &dir, "click the grey window", &["--coordinates"]);
    let done = finish(AgentRun::start(cmd, Events::default(), ""));
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let (colour, click) = after_the_click(&dir, at);
    assert!(is_blue(colour), "the screen after the click is stale: {colour:?}");
    assert_eq!(click["outcome"]["screen_changed"], true, "{click}");
    s.finish(late, Duration::from_secs(5));

    // Repainting forever: settling ends at the cap (here 1 s) and the run goes on.
    let forever = s.spawn("/usr/bin/python3", &[app, "forever"]);
    let at = window_centre(&s, "Repaint forever");
    let config = s.scratch("settle.toml");
    std::fs::write(&config, "[agent]\nsettle_timeout_ms = 1000\n").unwrap();
    let mut clicked = false;
    let vlm = ScriptedVlm::start(MODEL, Some(KEY), move |_: &Seen| {
        if std::mem::replace(&mut clicked, true) {
            done_answer()
        } else {
            answer(json!({"action": {"type": "click", "point": [at.0, at.1]}}))
        }
    });
    let dir = PathBuf::from(s.scratch("forever"));
    let cmd = run_cmd(&s, &vlm, &dir, "click the animation", &["--coordinates", "--config", &config]);
    let done = finish(AgentRun::start(cmd, Events::default(), ""));
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    let steps = check_recording(&dir, "done");
    let settle = steps[0]["timings_ms"]["settle"].as_f64().unwrap();
    assert!(settle >= 1000.0, "settling ended before the cap on a screen that never stops: {settle} ms");
    s.finish(forever, Duration::from_secs(5));

    // Without DAMAGE the agent compares captures, as before, and says so at debug level.
    let s = XSession::start_with_args(1024, 700, true, &["-extension", "DAMAGE"]);
    let vlm = ScriptedVlm::start(MODEL, Some(KEY), |r: &Seen| {
        if r.step == 1 { answer(json!({"action": {"type": "click", "point": [20, 20]}})) } else { done_answer() }
    });
    let dir = PathBuf::from(s.scratch("no-damage"));
    let mut cmd = run_cmd(&s, &vlm, &dir, "click", &["--coordinates"]);
    cmd.env("RUST_LOG", "markpilot=debug");
    let done = finish(AgentRun::start(cmd, Events::default(), ""));
    assert_eq!(done.code, Some(0), "{}", done.stderr);
    assert!(done.stderr.contains("settling by comparing captures"), "{}", done.stderr);
    check_recording(&dir, "done");
}
