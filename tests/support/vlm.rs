//! A scripted vision-language model: an HTTP server on 127.0.0.1 that speaks the OpenAI
//! chat-completions and Anthropic Messages wire formats, checks every request it gets (model
//! name, system prompt, element table, a decodable screenshot, the key) and answers what the
//! test's policy says — which may be an HTTP error, silence, or a dropped connection.
//!
//! The policy sees the request and, through [`Events`], what markpilot reported about the
//! step (`--json` events), so it can pick the mark whose screen box holds a point AT-SPI
//! names — an honest stand-in for a model looking at the screenshot.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// What the server saw in one request.
#[derive(Debug, Clone)]
pub struct Seen {
    /// 1 for the first request of step 1, 2 for the first of step 2 …; a repair request has
    /// the step of the request it repairs.
    pub step: usize,
    /// A repair turn (the conversation already holds an answer).
    pub repair: bool,
    pub protocol: &'static str,
    pub model: String,
    pub system: String,
    /// Text parts of the first user turn (task, history, element table).
    pub text: String,
    /// Text of the last user turn (the repair message for a repair).
    pub last_text: String,
    /// Sizes of the decoded images in the first user turn.
    pub images: Vec<(u32, u32)>,
    /// The decoded images of the first user turn themselves.
    pub pictures: Vec<image::RgbaImage>,
    pub key: Option<String>,
    pub at: Instant,
}

pub enum Reply {
    /// The model's text.
    Answer(String),
    Status {
        code: u16,
        retry_after: Option<u32>,
        body: String,
    },
    /// Read the request, never answer.
    Hang,
    /// Read the request, close the connection.
    Drop,
}

pub fn answer(v: Value) -> Reply {
    Reply::Answer(v.to_string())
}

/// Events markpilot printed with `--json`, shared with the policy.
#[derive(Clone, Default)]
pub struct Events(Arc<(Mutex<Vec<Value>>, Condvar)>);

impl Events {
    pub fn push(&self, v: Value) {
        let (m, c) = &*self.0;
        m.lock().unwrap().push(v);
        c.notify_all();
    }

    pub fn all(&self) -> Vec<Value> {
        self.0.0.lock().unwrap().clone()
    }

    /// The first event matching `pred`, waiting for it up to `limit`.
    pub fn wait_for(&self, limit: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let (m, c) = &*self.0;
        let end = Instant::now() + limit;
        let mut g = m.lock().unwrap();
        loop {
            if let Some(v) = g.iter().find(|v| pred(v)) {
                return Some(v.clone());
            }
            let now = Instant::now();
            if now >= end {
                return None;
            }
            g = c.wait_timeout(g, end - now).unwrap().0;
        }
    }

    /// The perception event of a step.
    pub fn perception(&self, step: usize) -> Value {
        self.wait_for(Duration::from_secs(30), |v| v["event"] == "perception" && v["step"] == step as u64)
            .unwrap_or_else(|| panic!("no perception event for step {step}"))
    }
}

/// The mark whose screen box contains (x, y); the smallest such box.
pub fn mark_at(perception: &Value, x: f64, y: f64) -> Option<u64> {
    perception["elements"]
        .as_array()?
        .iter()
        .filter_map(|e| {
            let s = &e["screen"];
            let (ex, ey, w, h) = (s["x"].as_f64()?, s["y"].as_f64()?, s["w"].as_f64()?, s["h"].as_f64()?);
            (x >= ex && x < ex + w && y >= ey && y < ey + h).then(|| (e["id"].as_u64().unwrap(), w * h))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(id, _)| id)
}

type Policy = Box<dyn FnMut(&Seen) -> Reply + Send>;

pub struct ScriptedVlm {
    pub base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    problems: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl ScriptedVlm {
    /// Start the server. `expected_key`: the API key every request must carry.
    pub fn start(model: &str, expected_key: Option<&str>, policy: impl FnMut(&Seen) -> Reply + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let problems = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let policy: Arc<Mutex<Policy>> = Arc::new(Mutex::new(Box::new(policy)));
        let (seen2, problems2, stop2) = (seen.clone(), problems.clone(), stop.clone());
        let model = model.to_string();
        let key = expected_key.map(str::to_string);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (seen, problems, stop, policy, model, key) =
                    (seen2.clone(), problems2.clone(), stop2.clone(), policy.clone(), model.clone(), key.clone());
                std::thread::spawn(move || serve(conn, &seen, &problems, &stop, &policy, &model, key.as_deref()));
            }
        });
        Self { base_url, seen, problems, stop }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Everything wrong with the requests markpilot sent.
    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().unwrap().clone()
    }
}

impl Drop for ScriptedVlm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.base_url.trim_start_matches("http://").trim_end_matches("/v1"));
    }
}

fn serve(
    conn: TcpStream,
    seen: &Mutex<Vec<Seen>>,
    problems: &Mutex<Vec<String>>,
    stop: &AtomicBool,
    policy: &Mutex<Policy>,
    model: &str,
    key: Option<&str>,
) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        // Request line and headers.
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end().to_string();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let protocol = if path.ends_with("/chat/completions") { "openai" } else { "anthropic" };
        let mut seen_req = inspect(protocol, &body, &headers, problems, model, key);
        {
            let mut all = seen.lock().unwrap();
            let fresh = all.iter().filter(|s| !s.repair).count();
            seen_req.step = if seen_req.repair { fresh } else { fresh + 1 };
            all.push(seen_req.clone());
        }
        if !path.ends_with("/chat/completions") && !path.ends_with("/messages") {
            problems.lock().unwrap().push(format!("unexpected path {path}"));
        }
        let reply = (policy.lock().unwrap())(&seen_req);
        let (code, extra, text) = match reply {
            Reply::Answer(text) => {
                let body = if protocol == "openai" {
                    json!({
                        "id": "chatcmpl-test", "object": "chat.completion", "model": model,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 1000, "completion_tokens": 20, "total_tokens": 1020}
                    })
                } else {
                    json!({
                        "id": "msg_test", "type": "message", "role": "assistant", "model": model,
                        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                        "usage": {"input_tokens": 1000, "output_tokens": 20}
                    })
                };
                (200, String::new(), body.to_string())
            }
            Reply::Status { code, retry_after, body } => {
                (code, retry_after.map(|s| format!("Retry-After: {s}\r\n")).unwrap_or_default(), body)
            }
            Reply::Hang => {
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                return;
            }
            Reply::Drop => return,
        };
        let resp = format!(
            "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{text}",
            text.len()
        );
        if conn.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

fn text_parts(content: &Value) -> Vec<String> {
    match content {
        Value::String(s) => vec![s.clone()],
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p["type"] == "text")
            .filter_map(|p| p["text"].as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    }
}

fn decode_image(data: &str) -> Result<image::RgbaImage, String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(data).map_err(|e| e.to_string())?;
    let img = image::load_from_memory(&bytes).map_err(|e| e.to_string())?;
    Ok(img.to_rgba8())
}

fn inspect(
    protocol: &'static str,
    body: &Value,
    headers: &[(String, String)],
    problems: &Mutex<Vec<String>>,
    model: &str,
    key: Option<&str>,
) -> Seen {
    let mut bad = Vec::new();
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if body["model"] != model {
        bad.push(format!("model {} instead of {model}", body["model"]));
    }
    let (system, turns): (String, Vec<Value>) = if protocol == "openai" {
        let msgs = body["messages"].as_array().cloned().unwrap_or_default();
        let system = msgs.first().filter(|m| m["role"] == "system").and_then(|m| m["content"].as_str()).unwrap_or("");
        (system.to_string(), msgs.into_iter().filter(|m| m["role"] != "system").collect())
    } else {
        if header("anthropic-version").is_none() {
            bad.push("no anthropic-version header".into());
        }
        if body["max_tokens"].as_u64().is_none() {
            bad.push("no max_tokens".into());
        }
        (body["system"].as_str().unwrap_or("").to_string(), body["messages"].as_array().cloned().unwrap_or_default())
    };
    let got_key = if protocol == "openai" {
        header("authorization").and_then(|a| a.strip_prefix("Bearer ").map(str::to_string))
    } else {
        header("x-api-key")
    };
    if key.is_some() && got_key.as_deref() != key {
        bad.push("the API key is missing or wrong".into());
    }
    if !system.contains("JSON") || !system.contains("\"type\": \"click\"") {
        bad.push("the system prompt does not describe the action schema".into());
    }
    let first = turns.first().cloned().unwrap_or(Value::Null);
    if first["role"] != "user" {
        bad.push("the first turn is not the user's".into());
    }
    let text = text_parts(&first["content"]).join("\n");
    if !(text.contains("Marks (id kind text):") || text.contains("표시 (id")) {
        bad.push("no element table in the user turn".into());
    }
    let mut images = Vec::new();
    let mut pictures = Vec::new();
    for part in first["content"].as_array().cloned().unwrap_or_default() {
        let data = if protocol == "openai" {
            part["image_url"]["url"].as_str().and_then(|u| u.split_once(";base64,").map(|(_, d)| d.to_string()))
        } else {
            part["source"]["data"].as_str().map(str::to_string)
        };
        if let Some(d) = data {
            match decode_image(&d) {
                Ok(img) => {
                    images.push((img.width(), img.height()));
                    pictures.push(img);
                }
                Err(e) => bad.push(format!("an image does not decode: {e}")),
            }
        }
    }
    if images.is_empty() {
        bad.push("no screenshot in the user turn".into());
    }
    let last_text = turns.last().map(|t| text_parts(&t["content"]).join("\n")).unwrap_or_default();
    if !bad.is_empty() {
        problems.lock().unwrap().extend(bad);
    }
    Seen {
        step: 0,
        repair: turns.len() > 1,
        protocol,
        model: body["model"].as_str().unwrap_or("").to_string(),
        system,
        text,
        last_text,
        images,
        pictures,
        key: got_key,
        at: Instant::now(),
    }
}

/// A `markpilot run --json` in progress, its events collected.
pub struct AgentRun {
    child: Child,
    pub events: Events,
    reader: Option<std::thread::JoinHandle<()>>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

pub struct Finished {
    pub code: Option<i32>,
    pub events: Vec<Value>,
    pub stderr: String,
}

impl Finished {
    pub fn last(&self) -> Value {
        self.events.last().cloned().unwrap_or(Value::Null)
    }
}

impl AgentRun {
    /// Start `markpilot run --json ARGS` in a session command (display, buses), with `stdin`
    /// fed to it (then closed).
    pub fn start(mut cmd: Command, events: Events, stdin: &str) -> Self {
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start markpilot run");
        let mut input = child.stdin.take().unwrap();
        let stdin = stdin.to_string();
        std::thread::spawn(move || {
            let _ = input.write_all(stdin.as_bytes());
        });
        let out = child.stdout.take().unwrap();
        let ev = events.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => ev.push(v),
                    Err(_) => ev.push(json!({"event": "not_json", "line": line})),
                }
            }
        });
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Self { child, events, reader: Some(reader), stderr: Some(stderr) }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait for the process (killing it after `limit`, which is a generous bound).
    pub fn wait(mut self, limit: Duration) -> Finished {
        let start = Instant::now();
        let code = loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                break st.code();
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("markpilot run did not finish within {limit:?}; events: {:?}", self.events.all());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default();
        Finished { code, events: self.events.all(), stderr }
    }
}
