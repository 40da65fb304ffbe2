//! Just enough of a W3C WebDriver client (HTTP/1.1 + JSON over a TCP socket) to drive the
//! desktop app through tauri-driver and Debian's WebKitWebDriver.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

pub struct WebDriver {
    port: u16,
    session: String,
}

/// One request on its own connection. No `Connection: close`: tauri-driver passes it on to
/// WebKitWebDriver, which then closes its side, and the proxy's next request on that pooled
/// connection fails (the client sees its connection dropped unanswered).
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(120))).ok();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).map_err(|e| format!("send: {e}"))?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    let started = Instant::now();
    reader.read_line(&mut status).map_err(|e| format!("read: {e}"))?;
    if status.is_empty() {
        return Err(format!("the driver closed the connection without answering after {:?}", started.elapsed()));
    }
    let mut length = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| format!("read: {e}"))?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse::<usize>().ok();
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    let mut raw = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).map_err(|e| format!("read: {e}"))?;
            let n = usize::from_str_radix(size.trim(), 16).map_err(|e| format!("chunk: {e}"))?;
            if n == 0 {
                break;
            }
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).map_err(|e| format!("read: {e}"))?;
            raw.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = length {
        raw.resize(n, 0);
        reader.read_exact(&mut raw).map_err(|e| format!("read: {e}"))?;
    } else {
        reader.read_to_end(&mut raw).map_err(|e| format!("read: {e}"))?;
    }
    let v: Value = serde_json::from_slice(&raw).map_err(|e| format!("{status}: not JSON: {e}"))?;
    if !status.contains(" 200") {
        return Err(format!("{} {path}: {}", status.trim(), v["value"]));
    }
    Ok(v["value"].clone())
}

impl WebDriver {
    /// Wait for the driver on `port`, then open a session on the application at `app`.
    pub fn start(port: u16, app: &str) -> Self {
        let start = Instant::now();
        while http(port, "GET", "/status", None).is_err() {
            assert!(start.elapsed() < Duration::from_secs(60), "tauri-driver did not come up on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"tauri:options": {"application": app}}}});
        let v = http(port, "POST", "/session", Some(&caps)).unwrap_or_else(|e| panic!("new session: {e}"));
        let session = v["sessionId"].as_str().expect("a session id").to_string();
        Self { port, session }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        http(self.port, method, &format!("/session/{}{path}", self.session), body.as_ref())
    }

    /// The element matching a CSS selector.
    pub fn find(&self, css: &str) -> String {
        let v = self
            .call("POST", "/element", Some(json!({"using": "css selector", "value": css})))
            .unwrap_or_else(|e| panic!("find {css}: {e}"));
        v.as_object().and_then(|o| o.values().next()).and_then(Value::as_str).expect("an element id").to_string()
    }

    pub fn click(&self, css: &str) {
        let id = self.find(css);
        self.call("POST", &format!("/element/{id}/click"), Some(json!({})))
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.call("POST", &format!("/element/{id}/value"), Some(json!({"text": text})))
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    pub fn text(&self, css: &str) -> String {
        let id = self.find(css);
        self.call("GET", &format!("/element/{id}/text"), None)
            .unwrap_or_else(|e| panic!("text of {css}: {e}"))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Run a script in the page (`return …` gives its value).
    pub fn execute(&self, script: &str) -> Value {
        self.call("POST", "/execute/sync", Some(json!({"script": script, "args": []})))
            .unwrap_or_else(|e| panic!("execute {script}: {e}"))
    }

    /// Poll `script` until it returns something truthy (or panic after `limit`).
    pub fn wait_for(&self, what: &str, limit: Duration, script: &str) -> Value {
        let start = Instant::now();
        loop {
            let v = self.execute(script);
            if !(v.is_null() || v == json!(false) || v == json!(0) || v == json!("")) {
                return v;
            }
            assert!(start.elapsed() < limit, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn screenshot(&self) -> Vec<u8> {
        let v = self.call("GET", "/screenshot", None).unwrap_or_else(|e| panic!("screenshot: {e}"));
        base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default()).expect("a base64 PNG")
    }

    pub fn close(self) {
        let _ = self.call("DELETE", "", None);
    }
}
