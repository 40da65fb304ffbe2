//! `markpilot mcp` end to end: a real MCP client (the official Python SDK, through
//! tests/support/mcp_bridge.py) drives the real server over stdio on a real X server with a
//! real zenity form — lists the tools, observes, fills the form by marks, and gets a clear
//! tool error (never a protocol failure) for every kind of bad call.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::vlm::{Reply, ScriptedVlm, Seen, answer};
use crate::common::{XSession, markpilot_bin, read_json, steps, wait_until_drawn};

/// The Python MCP client, connected to `markpilot mcp ARGS` inside the session.
struct Client {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Client {
    /// Start `markpilot mcp ARGS` and connect to it over stdio.
    fn start(s: &XSession, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut server = vec![markpilot_bin().into_os_string(), "mcp".into()];
        server.extend(args.iter().map(Into::into));
        Self::spawn(s, server, env)
    }

    /// Connect to a server's streamable HTTP endpoint with this bearer token.
    fn connect(s: &XSession, url: &str, token: &str) -> Self {
        Self::spawn(s, vec!["--http".into(), url.into()], &[("MCP_BRIDGE_TOKEN", token)])
    }

    fn spawn(s: &XSession, bridge_args: Vec<std::ffi::OsString>, env: &[(&str, &str)]) -> Self {
        let python = std::env::var("MARKPILOT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let bridge = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/mcp_bridge.py");
        let mut cmd = s.command(&python);
        cmd.arg(&bridge).args(bridge_args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the MCP client (python with the `mcp` package; ./scripts/test installs it)");
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        Self { child, input, output }
    }

    fn ask(&mut self, request: Value) -> Value {
        writeln!(self.input, "{request}").expect("write to the MCP client");
        self.input.flush().unwrap();
        let mut line = String::new();
        self.output.read_line(&mut line).expect("read from the MCP client");
        assert!(!line.is_empty(), "the MCP client ended (the server died?) on {request}");
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v.get("protocol_error").is_none(), "a protocol failure on {request}: {v}");
        v
    }

    fn call(&mut self, tool: &str, args: Value) -> Value {
        self.ask(json!({"tool": tool, "args": args}))
    }

    /// A call that must succeed.
    fn ok(&mut self, tool: &str, args: Value) -> Value {
        let r = self.call(tool, args.clone());
        assert_eq!(r["is_error"], false, "{tool} {args}: {r}");
        r
    }

    /// A call that must be a tool error; its message.
    fn error(&mut self, tool: &str, args: Value) -> String {
        let r = self.call(tool, args.clone());
        assert_eq!(r["is_error"], true, "{tool} {args} should fail: {r}");
        r["texts"][0].as_str().unwrap_or_default().to_string()
    }
}

impl Client {
    /// End the session as a client does: close its input, let it close the server.
    fn close(mut self) {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut child = std::mem::replace(&mut self.child, std::process::Command::new("true").spawn().unwrap());
        drop(self);
        std::thread::spawn(move || tx.send(child.wait()).ok());
        let done = rx.recv_timeout(Duration::from_secs(20));
        assert!(matches!(done, Ok(Ok(st)) if st.success()), "the MCP client did not end cleanly: {done:?}");
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The smallest mark of an observation whose box (in the sent image) holds the point.
fn mark_at(observed: &Value, x: f64, y: f64) -> Option<u64> {
    observed["structured"]["marks"]
        .as_array()?
        .iter()
        .filter_map(|m| {
            let b: Vec<f64> = m["bbox"].as_array()?.iter().filter_map(Value::as_f64).collect();
            (x >= b[0] && x < b[0] + b[2] && y >= b[1] && y < b[1] + b[3])
                .then(|| (m["id"].as_u64().unwrap(), b[2] * b[3]))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(id, _)| id)
}

#[test]
fn an_mcp_client_lists_the_tools_observes_and_fills_a_form_by_marks() {
    let mut s = XSession::start(1920, 1080);
    let pid = super::replay::signup_form(&mut s);
    let tree = wait_until_drawn(&s, "Signup", "zenity", "push button", Some("OK"));
    // The Name and City entries, the password field and OK, where AT-SPI says they are.
    let [name_at, city_at, password, ok] = super::replay::form_points(&tree);

    // With the tree the server knows the password field for what it is.
    let run = PathBuf::from(s.scratch("mcp-session"));
    let mut c = Client::start(&s, &["--detectors", "builtin,a11y", "--record", run.to_str().unwrap()], &[]);

    // Every tool a client needs, each with a description and an object schema.
    let tools = c.ask(json!({"list_tools": true}));
    let names: Vec<&str> = tools["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    for want in [
        "observe",
        "click",
        "double_click",
        "right_click",
        "hover",
        "type",
        "key",
        "scroll",
        "drag",
        "wait",
        "list_monitors",
        "list_windows",
        "run_task",
        "replay",
        "list_runs",
    ] {
        assert!(names.contains(&want), "no {want} tool in {names:?}");
    }
    for t in tools["tools"].as_array().unwrap() {
        assert!(t["description"].as_str().is_some_and(|d| d.len() > 20), "{t}");
        assert_eq!(t["input_schema"]["type"], "object", "{t}");
    }
    // Before any observation there are no marks to act on.
    assert!(c.error("click", json!({"mark": 1})).contains("observe first"));

    let monitors = c.ok("list_monitors", json!({}));
    assert_eq!(monitors["structured"]["monitors"].as_array().map(Vec::len), Some(1), "{monitors}");
    let windows = c.ok("list_windows", json!({}));
    assert!(windows["texts"][0].as_str().unwrap().contains("Signup"), "{windows}");

    // The marked screen: a JPEG no larger than max_side, well under 1 MB, and the table.
    let first = c.ok("observe", json!({}));
    let img = &first["images"][0];
    assert_eq!(img["mime"], "image/jpeg", "{first}");
    assert_eq!((img["width"].as_u64(), img["height"].as_u64()), (Some(1280), Some(720)), "{first}");
    assert!(first["result_bytes"].as_u64().unwrap() < 1_000_000, "{}", first["result_bytes"]);
    let table = first["texts"][0].as_str().unwrap();
    assert!(table.starts_with("observation 1: a 1280x720 image"), "{table}");
    let marks = first["structured"]["marks"].as_array().unwrap().len();
    assert!(marks >= 6, "{table}");
    assert_eq!(table.lines().count(), marks + 1, "one line per mark: {table}");

    // Screen points → the sent image's pixels (1920 → 1280).
    let k = 1280.0 / 1920.0;
    let at = |o: &Value, p: (f64, f64)| mark_at(o, p.0 * k, p.1 * k).unwrap_or_else(|| panic!("no mark at {p:?}: {o}"));

    // Bad calls: each a tool error that says what is wrong, and the server keeps serving.
    assert!(c.error("click", json!({"mark": 9999})).contains("mark 9999 is not in observation 1"));
    assert!(c.error("click", json!({"point": [5000, 10]})).contains("outside the observed image (1280x720)"));
    assert!(c.error("click", json!({})).contains("say where"));
    assert!(c.error("click", json!({"mark": 1, "point": [1, 1]})).contains("not both"));
    assert!(c.error("key", json!({"keys": "ctrl+nosuchkey"})).contains("bad arguments"));
    assert!(c.error("type", json!({"text": "x", "clear": true})).contains("clear needs a mark or point"));
    assert!(c.error("scroll", json!({"direction": "sideways"})).contains("not up, down, left or right"));
    assert!(c.error("wait", json!({"seconds": -1})).contains("out of range"));
    assert!(c.error("observe", json!({"max_side": 10})).contains("out of range"));
    assert!(c.error("observe", json!({"window": "No such window"})).contains("No such window"));
    let wrong_type = c.call("click", json!({"mark": "seven"}));
    assert_eq!(wrong_type["is_error"], true, "a mark that is not a number: {wrong_type}");

    // A second observation makes the first one's marks stale.
    let second = c.ok("observe", json!({}));
    assert_eq!(second["structured"]["observation"], 2);
    let name = at(&second, name_at);
    let stale = c.error("click", json!({"mark": name, "observation": 1}));
    assert!(stale.contains("observation 1 is not the latest (that is 2)"), "{stale}");

    // Fill the form by marks; the password field is a risky target, refused with a reason.
    let typed = c.ok("type", json!({"text": "Ada", "mark": name, "observation": 2}));
    assert_eq!(typed["structured"]["screen_changed"], true, "{typed}");
    assert!(typed["texts"][0].as_str().unwrap().contains("type \"Ada\" into mark"), "{typed}");
    // observe_after: the answer carries the next observation, whose marks the rest uses.
    let city = c.ok("type", json!({"text": "Seoul", "mark": at(&second, city_at), "observe_after": true}));
    assert_eq!(city["images"][0]["mime"], "image/jpeg", "{city}");
    assert_eq!(city["structured"]["observed"]["observation"], 3, "{city}");
    assert!(city["texts"][1].as_str().unwrap().starts_with("observation 3: a 1280x720 image"), "{city}");
    let third = json!({"structured": city["structured"]["observed"]});
    let refused = c.error("type", json!({"text": "hunter2", "mark": at(&third, password), "observation": 3}));
    assert!(refused.starts_with("refused:") && refused.contains("--confirm never"), "{refused}");
    c.ok("click", json!({"mark": at(&third, ok), "observation": 3}));
    assert_eq!(s.finish(pid, Duration::from_secs(10)).as_deref(), Some("Ada|Seoul|\n"));

    // The session is a run: what the client did, step by step, the refusal included.
    c.close();
    let info = read_json(&run.join("run.json"));
    assert_eq!((info["source"].as_str(), info["result"]["status"].as_str()), (Some("mcp"), Some("done")), "{info}");
    assert_eq!(info["options"]["detectors"], "builtin,a11y");
    let recorded = steps(&run);
    let outcomes: Vec<&str> = recorded.iter().filter_map(|s| s["outcome"]["status"].as_str()).collect();
    assert_eq!(outcomes, ["performed", "performed", "refused", "performed"], "{recorded:?}");
    for st in &recorded {
        for k in ["screen", "marked"] {
            image::open(run.join(st[k].as_str().unwrap())).expect("the step's images");
        }
    }

    // Replayed with no client and no model on the form moved elsewhere: the same values.
    let pid = super::replay::signup_form(&mut s);
    wait_until_drawn(&s, "Signup", "zenity", "push button", Some("OK"));
    super::replay::move_window(&s, "Signup", 1300, 620);
    let out = s.scratch("mcp-replayed");
    let o = s
        .command(markpilot_bin())
        .args(["replay", run.to_str().unwrap(), "--confirm", "never", "--record", &out])
        .output()
        .unwrap();
    assert!(o.status.success(), "replay failed: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(s.finish(pid, Duration::from_secs(10)).as_deref(), Some("Ada|Seoul|\n"));
}

#[test]
fn a_zoom_shows_part_of_the_screen_at_full_resolution_and_its_marks_act_there() {
    let mut s = XSession::start(1920, 1080);
    let pid = super::replay::signup_form(&mut s);
    let tree = wait_until_drawn(&s, "Signup", "zenity", "push button", Some("OK"));
    let [name_at, city_at, _, ok] = super::replay::form_points(&tree);
    let mut c = Client::start(&s, &["--detectors", "builtin,a11y"], &[]);
    assert!(c.error("observe", json!({"mark": 1})).contains("observe first"));

    // The whole screen, scaled to 1280 wide.
    let whole = c.ok("observe", json!({}));
    let k = 1280.0 / 1920.0;
    let name = mark_at(&whole, name_at.0 * k, name_at.1 * k).expect("a mark on the Name entry");

    // Around the Name entry at the screen's own pixels: the image is the region, 1:1.
    let zoomed = c.ok("observe", json!({"mark": name}));
    let z = &zoomed["structured"];
    assert_eq!(z["observation"], 2, "{zoomed}");
    assert_eq!((z["zoom"]["of"].as_u64(), z["zoom"]["depth"].as_u64()), (Some(1), Some(1)), "{zoomed}");
    let region: Vec<f64> = z["zoom"]["region"].as_array().unwrap().iter().filter_map(Value::as_f64).collect();
    assert_eq!((z["image"]["width"].as_f64(), z["image"]["height"].as_f64()), (Some(region[2]), Some(region[3])));
    assert!(
        region[2] >= 480.0 && region[3] >= 270.0 && region[2] < 1920.0,
        "a quarter of the screen at least: {region:?}"
    );
    let inside = |p: (f64, f64)| {
        p.0 >= region[0] && p.0 < region[0] + region[2] && p.1 >= region[1] && p.1 < region[1] + region[3]
    };
    assert!(inside(name_at), "the zoom holds the entry it was asked about: {region:?} {name_at:?}");
    let head = zoomed["texts"][0].as_str().unwrap();
    assert!(head.contains("a zoom of observation 1"), "{head}");
    // Its marks are in the zoomed image's pixels, and act where they are on the screen.
    let zname = mark_at(&zoomed, name_at.0 - region[0], name_at.1 - region[1]).expect("the entry marked in the zoom");
    let typed = c.ok("type", json!({"text": "Ada", "mark": zname, "observation": 2}));
    assert_eq!(typed["structured"]["screen_changed"], true, "{typed}");

    // A zoom of a zoom (a box of the zoomed image), then no deeper.
    let deeper = c.ok("observe", json!({"zoom": [0.0, 0.0, region[2] / 2.0, region[3] / 2.0]}));
    assert_eq!(deeper["structured"]["zoom"]["depth"], 2, "{deeper}");
    assert_eq!(deeper["structured"]["zoom"]["of"], 2, "{deeper}");
    let refused = c.error("observe", json!({"zoom": [0.0, 0.0, 50.0, 50.0]}));
    assert!(refused.contains("already a zoom of a zoom"), "{refused}");

    // Bad zooms: each a clear error, and the latest observation stays usable.
    let whole = c.ok("observe", json!({}));
    assert_eq!(whole["structured"]["observation"], 4);
    for (args, says) in [
        (json!({"zoom": [1200.0, 700.0, 200.0, 100.0]}), "not a box inside the observed image (1280x720)"),
        (json!({"zoom": [10.0, 10.0, 0.0, 40.0]}), "not a box inside"),
        (json!({"zoom": [10.0, 10.0, 3.0, 3.0]}), "at least 16 on each side"),
        (json!({"mark": 9999}), "mark 9999 is not in observation 4"),
        (json!({"mark": 1, "zoom": [0.0, 0.0, 100.0, 100.0]}), "not both"),
        (json!({"mark": 1, "window": "Signup"}), "give no window, region or monitor"),
        (json!({"mark": 1, "observation": 3}), "observation 3 is not the latest (that is 4)"),
    ] {
        let e = c.error("observe", args.clone());
        assert!(e.contains(says), "{args}: {e}");
    }
    c.ok(
        "type",
        json!({"text": "Seoul", "mark": mark_at(&whole, city_at.0 * k, city_at.1 * k).unwrap(), "observation": 4}),
    );
    c.ok("click", json!({"mark": mark_at(&whole, ok.0 * k, ok.1 * k).unwrap(), "observation": 4}));
    assert_eq!(s.finish(pid, Duration::from_secs(10)).as_deref(), Some("Ada|Seoul|\n"));
    c.close();
}

/// One raw HTTP/1.1 request; the status code of the answer.
fn http_status(addr: &str, head: &str, body: &str) -> u16 {
    let mut conn = std::net::TcpStream::connect(addr).expect("connect to the MCP server");
    conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let request = format!(
        "{head}\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(request.as_bytes()).unwrap();
    let mut status = String::new();
    BufReader::new(conn).read_line(&mut status).unwrap();
    status.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no status: {status:?}"))
}

#[test]
fn over_http_only_the_printed_token_gets_in_and_clients_come_and_go_on_one_desk() {
    let mut s = XSession::start(1920, 1080);
    let pid = super::replay::signup_form(&mut s);
    let tree = wait_until_drawn(&s, "Signup", "zenity", "push button", Some("OK"));
    let [name_at, city_at, _, ok] = super::replay::form_points(&tree);

    let run = PathBuf::from(s.scratch("mcp-http-session"));
    let mut server = s
        .command(markpilot_bin())
        .args(["mcp", "--http", "0", "--detectors", "builtin,a11y", "--record", run.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The address and the token, each printed once on standard error.
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let mut next_line = || lines.next().and_then(Result::ok).unwrap_or_default();
    let mut url = String::new();
    while url.is_empty() {
        let line = next_line();
        assert!(!line.is_empty(), "the server ended before saying where it listens");
        if let Some(u) = line.strip_prefix("markpilot: MCP over streamable HTTP at ") {
            url = u.to_string();
        }
    }
    let token = next_line().strip_prefix("markpilot: bearer token (shown once): ").map(str::to_string).unwrap();
    assert_eq!(token.len(), 64, "{token}");
    let addr = url.strip_prefix("http://").and_then(|u| u.strip_suffix("/mcp")).unwrap().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "loopback only: {url}");

    // Without the token, or with another, nothing reaches the server.
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;
    assert_eq!(http_status(&addr, "POST /mcp HTTP/1.1", init), 401);
    let wrong = format!("POST /mcp HTTP/1.1\r\nAuthorization: Bearer {}", "0".repeat(64));
    assert_eq!(http_status(&addr, &wrong, init), 401);
    let basic = format!("POST /mcp HTTP/1.1\r\nAuthorization: Basic {token}");
    assert_eq!(http_status(&addr, &basic, init), 401);
    assert_eq!(http_status(&addr, &format!("POST /other HTTP/1.1\r\nAuthorization: Bearer {token}"), init), 404);
    let mut refused = Client::connect(&s, &url, "f".repeat(64).as_str());
    writeln!(refused.input, "{}", json!({"list_tools": true})).unwrap();
    let mut line = String::new();
    refused.output.read_line(&mut line).unwrap();
    assert!(line.is_empty(), "a client with a wrong token got an answer: {line}");
    drop(refused);

    // A client with the token: the tools, an observation, the first field filled.
    let k = 1280.0 / 1920.0;
    let at = |o: &Value, p: (f64, f64)| mark_at(o, p.0 * k, p.1 * k).unwrap_or_else(|| panic!("no mark at {p:?}: {o}"));
    let mut first = Client::connect(&s, &url, &token);
    let tools = first.ask(json!({"list_tools": true}));
    assert!(tools["tools"].as_array().unwrap().iter().any(|t| t["name"] == "observe"), "{tools}");
    let seen = first.ok("observe", json!({}));
    assert_eq!(seen["images"][0]["mime"], "image/jpeg", "{seen}");
    first.ok("type", json!({"text": "Ada", "mark": at(&seen, name_at)}));
    // It goes away without a word; a raw request with the token still gets in.
    drop(first);
    assert_eq!(http_status(&addr, &format!("POST /mcp HTTP/1.1\r\nAuthorization: Bearer {token}"), init), 200);

    // A second client finds the same desk and finishes the form.
    let mut second = Client::connect(&s, &url, &token);
    let seen = second.ok("observe", json!({}));
    second.ok("type", json!({"text": "Seoul", "mark": at(&seen, city_at), "observe_after": true}));
    let after = second.ok("observe", json!({}));
    second.ok("click", json!({"mark": at(&after, ok)}));
    assert_eq!(s.finish(pid, Duration::from_secs(10)).as_deref(), Some("Ada|Seoul|\n"));
    second.close();

    // SIGTERM ends the server cleanly, and the session's run holds what both clients did.
    assert!(s.command("kill").args(["-TERM", &server.id().to_string()]).status().unwrap().success());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(server.wait()).ok());
    let ended = rx.recv_timeout(Duration::from_secs(20));
    assert!(matches!(ended, Ok(Ok(st)) if st.success()), "the server did not stop cleanly: {ended:?}");
    let info = read_json(&run.join("run.json"));
    assert_eq!(info["result"]["status"], "done", "{info}");
    let outcomes: Vec<String> =
        steps(&run).iter().filter_map(|s| s["outcome"]["status"].as_str().map(str::to_string)).collect();
    assert_eq!(outcomes, ["performed", "performed", "performed"]);
}

/// A run folder's run.json; `None` for a folder still being created (made, its run.json not
/// yet renamed into it).
fn run_info(dir: &std::path::Path) -> Option<Value> {
    let p = dir.join("run.json");
    p.is_file().then(|| read_json(&p))
}

#[test]
fn run_task_hands_a_task_to_the_agent_reports_progress_and_stops_when_cancelled() {
    const MODEL: &str = "scripted-vl";
    const KEY: &str = "sk-test-mcp-2c71e0a9";
    let mut s = XSession::start(1024, 700);
    let pid = s.spawn("zenity", &["--entry", "--title=Name", "--text=Your name:"]);
    wait_until_drawn(&s, "Name", "zenity", "text", None);
    // The server honours config.toml: its runs folder is where run_task records.
    let runs = PathBuf::from(s.scratch("mcp-task-runs"));
    std::fs::create_dir_all(s.config_home().join("markpilot")).unwrap();
    std::fs::write(
        s.config_home().join("markpilot/config.toml"),
        format!("[agent]\nrecord_dir = {:?}\n", runs.to_str().unwrap()),
    )
    .unwrap();
    // Three steps for the first task; the second waits until it is cancelled.
    let vlm = ScriptedVlm::start(MODEL, Some(KEY), |r: &Seen| -> Reply {
        match r.step {
            1 => answer(json!({"thought": "the entry has focus", "action": {"type": "type", "text": "Ada"}})),
            2 => answer(json!({"action": {"type": "key", "keys": "Return"}})),
            3 => answer(json!({"action": {"type": "done", "answer": "entered"}})),
            // Never the same wait twice in a row (three alike would end the run by themselves).
            n => answer(
                json!({"thought": "still waiting", "action": {"type": "wait", "seconds": 0.3 + (n % 2) as f64 * 0.1}}),
            ),
        }
    });
    let args = ["--detectors", "builtin", "--base-url", &vlm.base_url, "--model", MODEL];
    let mut c = Client::start(&s, &[&args[..], &["--api-key-env", "MCP_TEST_KEY"]].concat(), &[("MCP_TEST_KEY", KEY)]);
    let tools = c.ask(json!({"list_tools": true}));
    let run_task = tools["tools"].as_array().unwrap().iter().find(|t| t["name"] == "run_task").expect("run_task");
    assert_eq!(run_task["input_schema"]["required"], json!(["task"]), "{run_task}");

    // Bad arguments are tool errors, before any model is asked.
    assert!(c.error("run_task", json!({"task": "  "})).contains("the task is empty"));
    assert!(c.error("run_task", json!({"task": "x", "max_steps": 0})).contains("out of range"));
    assert!(c.error("run_task", json!({"task": "type {{secret:NOT_SET_ANYWHERE}}"})).contains("NOT_SET_ANYWHERE"));
    assert!(vlm.requests().is_empty());

    // A task done: the answer, a progress notification per step, the run recorded.
    let done = c.ok("run_task", json!({"task": "enter the name Ada", "max_steps": 5}));
    assert_eq!(s.finish(pid, Duration::from_secs(10)).as_deref(), Some("Ada\n"));
    let st = &done["structured"];
    assert_eq!(
        (st["status"].as_str(), st["answer"].as_str(), st["steps"].as_u64()),
        (Some("done"), Some("entered"), Some(3)),
        "{done}"
    );
    let progress = done["progress"].as_array().unwrap();
    assert_eq!(progress.len(), 3, "{done}");
    assert_eq!((progress[0]["progress"].as_f64(), progress[0]["total"].as_f64()), (Some(1.0), Some(5.0)));
    assert!(progress[1]["message"].as_str().unwrap().starts_with("step 2: "), "{progress:?}");
    let run = PathBuf::from(st["run_dir"].as_str().unwrap());
    assert!(run.starts_with(&runs), "{run:?} is not in the config's runs folder");
    let info = read_json(&run.join("run.json"));
    assert_eq!((info["source"].as_str(), info["options"]["shell"].as_str()), (Some("agent"), Some("mcp")));
    assert_eq!((info["options"]["detectors"].as_str(), info["model"].as_str()), (Some("builtin"), Some(MODEL)));
    assert!(vlm.problems().is_empty(), "{:?}", vlm.problems());
    // The run changed the screen: the marks of before are gone.
    assert!(c.error("click", json!({"mark": 1})).contains("observe first"));

    // The task is a run the client can list and replay with no model.
    let listed = c.ok("list_runs", json!({}));
    let runs_listed = listed["structured"]["runs"].as_array().unwrap().clone();
    let entry = runs_listed.iter().find(|r| r["task"] == "enter the name Ada").expect("the task's run is listed");
    assert_eq!((entry["status"].as_str(), entry["steps"].as_u64()), (Some("done"), Some(3)), "{listed}");
    assert!(listed["texts"][0].as_str().unwrap().contains(entry["id"].as_str().unwrap()), "{listed}");
    assert!(c.error("replay", json!({"run": "no-such-run"})).contains("no recorded run no-such-run"));
    assert!(c.error("replay", json!({"run": "../../etc"})).contains("recorded run"));
    assert!(c.error("replay", json!({"run": entry["id"], "speed": 0})).contains("speed"));
    let pid = s.spawn("zenity", &["--entry", "--title=Name again", "--text=Your name:"]);
    wait_until_drawn(&s, "Name again", "zenity", "text", None);
    let asked_before = vlm.requests().len();
    let replayed = c.ok("replay", json!({"run": entry["id"]}));
    assert_eq!(s.finish(pid, Duration::from_secs(10)).as_deref(), Some("Ada\n"));
    assert_eq!(replayed["structured"]["status"], "done", "{replayed}");
    assert_eq!(replayed["progress"].as_array().map(Vec::len), Some(2), "one per replayed action: {replayed}");
    assert_eq!(vlm.requests().len(), asked_before, "a replay asks no model");
    let replay_info = read_json(&PathBuf::from(replayed["structured"]["run_dir"].as_str().unwrap()).join("run.json"));
    assert_eq!(
        (replay_info["source"].as_str(), replay_info["options"]["shell"].as_str()),
        (Some("replay"), Some("mcp"))
    );

    // A task cancelled by the client stops after its step; the server keeps serving.
    let cancelled = c.ask(json!({"tool": "run_task", "args": {"task": "wait for ever"}, "cancel_after_progress": 2}));
    assert_eq!(cancelled["cancelled"], true, "{cancelled}");
    let seen = c.ok("observe", json!({}));
    assert!(seen["structured"]["marks"].is_array(), "{seen}");
    let stopped: Vec<Value> = std::fs::read_dir(&runs)
        .unwrap()
        .filter_map(|e| run_info(&e.ok()?.path()))
        .filter(|i| i["task"] == "wait for ever")
        .collect();
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0]["result"]["status"], "stopped", "{}", stopped[0]);
    assert!(stopped[0]["result"]["message"].as_str().unwrap().contains("MCP client"), "{}", stopped[0]);
    let asked = vlm.requests().len();
    assert!((5..=6).contains(&asked), "the cancelled run went on asking the model: {asked} requests");

    // A client that goes away mid-task: the server stops the run and closes its recording.
    writeln!(c.input, "{}", json!({"tool": "run_task", "args": {"task": "wait until the client is gone"}})).unwrap();
    c.input.flush().unwrap();
    let task_runs = |status: Option<&str>| {
        std::fs::read_dir(&runs)
            .unwrap()
            .filter_map(|e| run_info(&e.ok()?.path()))
            .filter(|i| i["task"] == "wait until the client is gone")
            .filter(|i| status.is_none_or(|st| i["result"]["status"] == st))
            .count()
    };
    s.wait_until("the task to start", Duration::from_secs(20), |_| {
        task_runs(None) == 1 && vlm.requests().len() > asked
    });
    drop(c);
    let started = std::time::Instant::now();
    while task_runs(Some("stopped")) != 1 {
        let all: Vec<Value> = std::fs::read_dir(&runs)
            .unwrap()
            .filter_map(|e| run_info(&e.ok()?.path()))
            .map(|i| json!([i["task"], i["result"]]))
            .collect();
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the task did not stop: {all:?}, {} requests",
            vlm.requests().len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn risky_actions_are_put_to_the_person_through_elicitation_when_the_client_offers_it() {
    let mut s = XSession::start(1024, 700);
    s.spawn("zenity", &["--entry", "--title=Keep me", "--text=Close this?"]);
    wait_until_drawn(&s, "Keep me", "zenity", "text", None);
    let open = |s: &XSession| s.windows().iter().any(|w| w["title"] == "Keep me");

    // The person declines: nothing is sent, the refusal is recorded as theirs.
    let run = PathBuf::from(s.scratch("mcp-declined"));
    let args = ["--detectors", "builtin", "--record", run.to_str().unwrap()];
    let mut c = Client::start(&s, &args, &[("MCP_BRIDGE_ELICIT", "decline")]);
    c.ok("observe", json!({}));
    let declined = c.call("key", json!({"keys": "alt+F4"}));
    assert_eq!(declined["is_error"], true, "{declined}");
    assert!(declined["texts"][0].as_str().unwrap().contains("the person declined it"), "{declined}");
    let asked = declined["elicited"].as_array().unwrap();
    assert_eq!(asked.len(), 1, "{declined}");
    assert!(
        asked[0].as_str().unwrap().contains("alt+F4") && asked[0].as_str().unwrap().ends_with("Allow it?"),
        "{asked:?}"
    );
    c.close();
    assert!(open(&s), "a declined action was performed");
    let recorded = steps(&run);
    assert_eq!(recorded[0]["outcome"]["status"], "refused");
    assert_eq!(recorded[0]["outcome"]["detail"], "declined by the person");

    // The person allows it: it is done.
    let mut c = Client::start(&s, &["--detectors", "builtin", "--no-record"], &[("MCP_BRIDGE_ELICIT", "accept")]);
    c.ok("observe", json!({}));
    let allowed = c.ok("key", json!({"keys": "alt+F4"}));
    assert_eq!(allowed["elicited"].as_array().map(Vec::len), Some(1), "{allowed}");
    s.wait_until("the dialog to close", Duration::from_secs(10), |s| !open(s));
    // Actions that are not risky ask nobody.
    c.ok("observe", json!({}));
    let calm = c.ok("key", json!({"keys": "shift"}));
    assert_eq!(calm["elicited"], json!([]), "{calm}");
    c.close();

    // A whole task's risky step is put to the person too, and done once allowed.
    s.spawn("zenity", &["--entry", "--title=Keep me", "--text=Close this?"]);
    wait_until_drawn(&s, "Keep me", "zenity", "text", None);
    let vlm = ScriptedVlm::start("scripted-vl", None, |r: &Seen| -> Reply {
        match r.step {
            1 => answer(json!({"thought": "close it", "action": {"type": "key", "keys": "alt+F4"}})),
            _ => answer(json!({"action": {"type": "done", "answer": "closed"}})),
        }
    });
    let args = ["--detectors", "builtin", "--no-record", "--base-url", &vlm.base_url, "--model", "scripted-vl"];
    let mut c = Client::start(&s, &args, &[("MCP_BRIDGE_ELICIT", "accept")]);
    let ran = c.ok("run_task", json!({"task": "close the dialog"}));
    let asked = ran["elicited"].as_array().unwrap();
    assert_eq!(asked.len(), 1, "{ran}");
    assert!(asked[0].as_str().unwrap().contains("alt+F4"), "{asked:?}");
    s.wait_until("the dialog to close", Duration::from_secs(10), |s| !open(s));
    c.close();
}
