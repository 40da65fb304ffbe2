//! decide: ask a vision-language model what to do next.
//!
//! A provider-neutral request (system prompt + turns of text and images) goes out over one of
//! two wire protocols; the answer text comes back with its token usage, and [`parse`] turns
//! it into a validated [`Decision`].

pub mod parse;
pub mod prompt;
pub mod provider;

use std::io::Cursor;
use std::time::Duration;

use base64::Engine;
use image::{ImageEncoder, RgbaImage};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use thiserror::Error;

pub use parse::{AnswerContext, Decision, InvalidAnswer, parse_answer};
pub use prompt::{Language, PromptConfig, StepPrompt};
pub use provider::{ImageFormat, Protocol, ProviderProfile};

use crate::coords::Resize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    /// The role's name on both wires.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Image(EncodedImage),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub role: Role,
    pub parts: Vec<Part>,
}

impl Turn {
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self { role, parts: vec![Part::Text(text.into())] }
    }
}

/// A request, before it is put on a wire.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VlmRequest {
    pub system: String,
    pub turns: Vec<Turn>,
}

/// Tokens, as the server counted them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, o: Usage) {
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct VlmReply {
    pub text: String,
    pub usage: Usage,
    /// HTTP attempts made (1 when the first succeeded).
    pub attempts: u32,
}

#[derive(Debug, Error)]
pub enum VlmError {
    #[error("provider {profile} needs an API key: set the environment variable {var}")]
    MissingKey { profile: String, var: String },
    #[error("provider {profile} has no model: give --model or set model in its profile")]
    NoModel { profile: String },
    #[error("the model server at {url} did not answer within {secs} s ({attempts} attempts)")]
    Timeout { url: String, secs: f64, attempts: u32 },
    #[error("cannot reach the model server at {url}: {detail} ({attempts} attempts)")]
    Connect { url: String, detail: String, attempts: u32 },
    #[error("the model server at {url} answered HTTP {status}: {message}{hint}")]
    Status { url: String, status: u16, message: String, hint: String, attempts: u32 },
    #[error("the model server at {url} sent an answer markpilot cannot read: {detail}")]
    BadResponse { url: String, detail: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("cannot encode the screenshot: {0}")]
    Encode(String),
}

/// An image ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedImage {
    pub mime: &'static str,
    pub base64: String,
    pub width: u32,
    pub height: u32,
    pub bytes: usize,
}

/// The size the frame is sent at for a profile.
pub fn sent_size(width: u32, height: u32, profile: &ProviderProfile) -> Resize {
    let mut r = Resize::fit(width, height, profile.max_side, profile.max_pixels);
    let m = profile.size_multiple;
    if m > 1 && r.to_width >= m && r.to_height >= m {
        r.to_width -= r.to_width % m;
        r.to_height -= r.to_height % m;
    }
    r
}

/// Downscale (if needed) and encode an image for a profile.
pub fn encode_image(image: &RgbaImage, resize: &Resize, profile: &ProviderProfile) -> Result<EncodedImage, VlmError> {
    let scaled;
    let img = if resize.to_width != image.width() || resize.to_height != image.height() {
        scaled =
            image::imageops::resize(image, resize.to_width, resize.to_height, image::imageops::FilterType::Triangle);
        &scaled
    } else {
        image
    };
    let mut out = Vec::with_capacity(img.as_raw().len() / 8);
    let mime = match profile.image_format {
        ImageFormat::Png => {
            let enc = image::codecs::png::PngEncoder::new_with_quality(
                Cursor::new(&mut out),
                image::codecs::png::CompressionType::Fast,
                image::codecs::png::FilterType::Adaptive,
            );
            enc.write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgba8)
                .map_err(|e| VlmError::Encode(e.to_string()))?;
            "image/png"
        }
        ImageFormat::Jpeg => {
            let (w, h) = (u16::try_from(img.width()), u16::try_from(img.height()));
            let (Ok(w), Ok(h)) = (w, h) else {
                return Err(VlmError::Encode(format!("{}x{} is too large for JPEG", img.width(), img.height())));
            };
            let enc = jpeg_encoder::Encoder::new(&mut out, profile.jpeg_quality.clamp(30, 100));
            enc.encode(img.as_raw(), w, h, jpeg_encoder::ColorType::Rgba)
                .map_err(|e| VlmError::Encode(e.to_string()))?;
            "image/jpeg"
        }
    };
    Ok(EncodedImage {
        mime,
        bytes: out.len(),
        base64: base64::engine::general_purpose::STANDARD.encode(&out),
        width: img.width(),
        height: img.height(),
    })
}

/// One provider, ready to ask.
pub struct VlmClient {
    pub profile: ProviderProfile,
    http: reqwest::Client,
    key: Option<String>,
}

impl std::fmt::Debug for VlmClient {
    // Never prints the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VlmClient").field("profile", &self.profile.name).finish_non_exhaustive()
    }
}

/// Whether a key sent to `base_url` is safe from the network: https, or this machine.
fn key_travels_safely(base_url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(base_url) else { return true };
    let host = u.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']');
    u.scheme() == "https" || host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The largest answer read from a model server (a chat answer is kilobytes; a server
/// streaming without end is not read into memory whole).
pub const MAX_ANSWER_BYTES: usize = 16 << 20;

/// The body of a response as text, read chunk by chunk; `None` once it passes `limit` bytes.
async fn read_capped(mut resp: reqwest::Response, limit: usize) -> Result<Option<String>, reqwest::Error> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(String::from_utf8_lossy(&body).into_owned()))
}

/// A model timeout in seconds: at least 0.1, and 60 where the value is not a number.
fn timeout(t: f64) -> f64 {
    if t.is_finite() { t.max(0.1) } else { 60.0 }
}

impl VlmClient {
    /// Reads the key from the profile's environment variable now, so a missing key is an
    /// error before the run starts.
    pub fn new(profile: ProviderProfile) -> Result<Self, VlmError> {
        let key = profile.api_key_env.as_deref().and_then(|v| std::env::var(v).ok());
        Self::with_key(profile, key)
    }

    /// With the key given (the desktop app reads it from the OS keyring), not from the
    /// environment.
    pub fn with_key(profile: ProviderProfile, key: Option<String>) -> Result<Self, VlmError> {
        if profile.model.trim().is_empty() {
            return Err(VlmError::NoModel { profile: profile.name.clone() });
        }
        let key = key.filter(|k| !k.trim().is_empty());
        if key.is_none() && profile.key_required {
            let var = profile.api_key_env.clone().unwrap_or_else(|| "an API key variable (--api-key-env)".into());
            return Err(VlmError::MissingKey { profile: profile.name.clone(), var });
        }
        if key.is_some() && !key_travels_safely(&profile.base_url) {
            tracing::warn!(
                "profile {:?} sends its API key over plain http:// to {}, which is not this machine: \
                 anyone on the way can read it (use https://)",
                profile.name,
                profile.base_url
            );
        }
        let http = reqwest::Client::builder()
            // The key travels in a header; a redirect to another origin would carry it there
            // (reqwest strips only Authorization, not x-api-key), so none is followed.
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let from = attempt
                    .previous()
                    .last()
                    .map(|u| (u.scheme().to_string(), u.host_str().map(str::to_string), u.port_or_known_default()));
                let to = attempt.url();
                let same = from
                    == Some((to.scheme().to_string(), to.host_str().map(str::to_string), to.port_or_known_default()));
                if !same {
                    let to = to.to_string();
                    attempt
                        .error(format!("the server redirected to {to}, another origin; the API key is not sent there"))
                } else if attempt.previous().len() > 5 {
                    attempt.error("too many redirects")
                } else {
                    attempt.follow()
                }
            }))
            // A timeout that is not a number (`timeout = nan` in a config) is the default.
            .timeout(crate::action::seconds(timeout(profile.timeout).min(3600.0)))
            .connect_timeout(crate::action::seconds(timeout(profile.timeout).min(30.0)))
            .user_agent(concat!("markpilot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| VlmError::Client(e.to_string()))?;
        Ok(Self { profile, http, key })
    }

    pub fn endpoint(&self) -> String {
        let base = self.profile.base_url.trim_end_matches('/');
        match self.profile.protocol {
            Protocol::Openai => format!("{base}/chat/completions"),
            Protocol::Anthropic => format!("{base}/messages"),
        }
    }

    /// The request body on the wire.
    pub fn body(&self, req: &VlmRequest) -> Value {
        match self.profile.protocol {
            Protocol::Openai => openai_body(&self.profile, req),
            Protocol::Anthropic => anthropic_body(&self.profile, req),
        }
    }

    /// Send a request, retrying 429, 5xx, timeouts and dropped connections with backoff
    /// (honouring `Retry-After`).
    pub async fn complete(&self, req: &VlmRequest) -> Result<VlmReply, VlmError> {
        let url = self.endpoint();
        let body = self.body(req);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let last = attempts > self.profile.retries;
            let mut rb = self.http.post(&url).json(&body);
            rb = match (self.profile.protocol, &self.key) {
                (Protocol::Openai, Some(k)) => rb.bearer_auth(k),
                (Protocol::Openai, None) => rb,
                (Protocol::Anthropic, k) => {
                    let rb = rb.header("anthropic-version", "2023-06-01");
                    match k {
                        Some(k) => rb.header("x-api-key", k),
                        None => rb,
                    }
                }
            };
            let result = rb.send().await;
            let retry_delay = backoff(attempts);
            match result {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .filter(|s| s.is_finite() && *s >= 0.0);
                    let text = match read_capped(resp, MAX_ANSWER_BYTES).await {
                        Ok(Some(t)) => t,
                        Ok(None) => {
                            return Err(VlmError::BadResponse {
                                url: url.clone(),
                                detail: format!("the answer is larger than {} MB", MAX_ANSWER_BYTES >> 20),
                            });
                        }
                        Err(e) if !last => {
                            tracing::warn!("reading the answer from {url} failed ({e}); retrying");
                            tokio::time::sleep(retry_delay).await;
                            continue;
                        }
                        Err(e) => return Err(connect_error(&url, &e, attempts, self.profile.timeout)),
                    };
                    if (200..300).contains(&status) {
                        let (text, usage) = match self.profile.protocol {
                            Protocol::Openai => read_openai(&text),
                            Protocol::Anthropic => read_anthropic(&text),
                        }
                        .map_err(|detail| VlmError::BadResponse { url: url.clone(), detail })?;
                        return Ok(VlmReply { text, usage, attempts });
                    }
                    let retryable = matches!(status, 408 | 409 | 425 | 429 | 500 | 502 | 503 | 504 | 529);
                    if retryable && !last {
                        let delay = retry_after.map(|s| crate::action::seconds(s.min(60.0))).unwrap_or(retry_delay);
                        tracing::warn!("{url} answered HTTP {status}; retrying in {:.1} s", delay.as_secs_f64());
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    let hint = match status {
                        401 | 403 => match &self.profile.api_key_env {
                            Some(v) => format!(" (check the key in {v})"),
                            None => " (the server wants a key: set api_key_env / --api-key-env)".into(),
                        },
                        404 => format!(" (check the base URL and the model name {:?})", self.profile.model),
                        _ => String::new(),
                    };
                    return Err(VlmError::Status { url, status, message: error_message(&text), hint, attempts });
                }
                Err(e) if !last => {
                    tracing::warn!("request to {url} failed ({e}); retrying in {:.1} s", retry_delay.as_secs_f64());
                    tokio::time::sleep(retry_delay).await;
                }
                Err(e) => return Err(connect_error(&url, &e, attempts, self.profile.timeout)),
            }
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempt.min(6).saturating_sub(1)))
}

fn connect_error(url: &str, e: &reqwest::Error, attempts: u32, secs: f64) -> VlmError {
    if e.is_timeout() {
        return VlmError::Timeout { url: url.to_string(), secs, attempts };
    }
    // The innermost cause says the most ("connection refused", "connection closed before message completed").
    let mut detail = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        detail = s.to_string();
        src = s.source();
    }
    VlmError::Connect { url: url.to_string(), detail, attempts }
}

/// The error message in an error body (OpenAI and Anthropic both use `error.message`).
fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let msg = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message").or_else(|| v.get("error")).or_else(|| v.get("message")))
        .and_then(|m| m.as_str().map(str::to_string))
        .unwrap_or_else(|| body.trim().to_string());
    let one_line: String = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = one_line.chars().take(300).collect();
    if cut.is_empty() { "(empty body)".into() } else { cut }
}

fn openai_body(p: &ProviderProfile, req: &VlmRequest) -> Value {
    let mut messages = vec![json!({"role": "system", "content": req.system})];
    for t in &req.turns {
        let role = t.role.as_str();
        if t.role == Role::Assistant {
            // Assistant turns are plain text everywhere.
            let text: Vec<&str> =
                t.parts.iter().filter_map(|p| if let Part::Text(s) = p { Some(s.as_str()) } else { None }).collect();
            messages.push(json!({"role": role, "content": text.join("\n")}));
            continue;
        }
        let content: Vec<Value> = t
            .parts
            .iter()
            .map(|part| match part {
                Part::Text(s) => json!({"type": "text", "text": s}),
                Part::Image(img) => json!({
                    "type": "image_url",
                    "image_url": {"url": format!("data:{};base64,{}", img.mime, img.base64), "detail": "high"}
                }),
            })
            .collect();
        messages.push(json!({"role": role, "content": content}));
    }
    let mut body = json!({"model": p.model, "messages": messages, "stream": false});
    let limit = if p.max_completion_tokens { "max_completion_tokens" } else { "max_tokens" };
    body[limit] = json!(p.max_tokens);
    if let Some(t) = p.temperature {
        body["temperature"] = json!(t);
    }
    body
}

fn anthropic_body(p: &ProviderProfile, req: &VlmRequest) -> Value {
    let messages: Vec<Value> = req
        .turns
        .iter()
        .map(|t| {
            let role = t.role.as_str();
            let content: Vec<Value> = t
                .parts
                .iter()
                .map(|part| match part {
                    Part::Text(s) => json!({"type": "text", "text": s}),
                    Part::Image(img) => json!({
                        "type": "image",
                        "source": {"type": "base64", "media_type": img.mime, "data": img.base64}
                    }),
                })
                .collect();
            json!({"role": role, "content": content})
        })
        .collect();
    let mut body = json!({"model": p.model, "system": req.system, "messages": messages, "max_tokens": p.max_tokens});
    if let Some(t) = p.temperature {
        body["temperature"] = json!(t);
    }
    body
}

fn read_openai(body: &str) -> Result<(String, Usage), String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON ({e})"))?;
    let content = v.pointer("/choices/0/message/content").ok_or("no choices[0].message.content")?;
    let text = match content {
        Value::String(s) => s.clone(),
        // Some servers return content parts.
        Value::Array(parts) => {
            parts.iter().filter_map(|p| p.get("text").and_then(|t| t.as_str())).collect::<Vec<_>>().join("")
        }
        Value::Null => {
            let refusal = v.pointer("/choices/0/message/refusal").and_then(|r| r.as_str());
            return Err(match refusal {
                Some(r) => format!("the model refused: {r}"),
                None => "the answer has no text".into(),
            });
        }
        other => return Err(format!("unexpected content {other}")),
    };
    let n = |p: &str| v.pointer(p).and_then(|x| x.as_u64()).unwrap_or(0);
    Ok((text, Usage { input_tokens: n("/usage/prompt_tokens"), output_tokens: n("/usage/completion_tokens") }))
}

fn read_anthropic(body: &str) -> Result<(String, Usage), String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON ({e})"))?;
    let parts = v.get("content").and_then(|c| c.as_array()).ok_or("no content array")?;
    let text: String = parts
        .iter()
        .filter(|p| p.get("type").and_then(|t| t.as_str()) == Some("text"))
        .filter_map(|p| p.get("text").and_then(|t| t.as_str()))
        .collect::<Vec<_>>()
        .join("");
    let n = |p: &str| v.pointer(p).and_then(|x| x.as_u64()).unwrap_or(0);
    Ok((text, Usage { input_tokens: n("/usage/input_tokens"), output_tokens: n("/usage/output_tokens") }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_key_never_follows_a_redirect_to_another_origin() {
        use std::io::{Read, Write};
        // B records what reaches it; A redirects there (127.0.0.1 and localhost are two origins).
        let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let b_port = b.local_addr().unwrap().port();
        b.set_nonblocking(true).unwrap();
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a_port = a.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in a.incoming().take(1) {
                let mut conn = conn.unwrap();
                let mut buf = [0u8; 65536];
                let _ = conn.read(&mut buf);
                let answer = format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://localhost:{b_port}/v1/messages\r\nContent-Length: 0\r\n\r\n"
                );
                let _ = conn.write_all(answer.as_bytes());
            }
        });
        let profile = ProviderProfile {
            name: "anthropic".into(),
            protocol: Protocol::Anthropic,
            base_url: format!("http://127.0.0.1:{a_port}/v1"),
            model: "m".into(),
            retries: 0,
            ..Default::default()
        };
        let client = VlmClient::with_key(profile, Some("sk-ant-secret-4f1e".into())).unwrap();
        let req = VlmRequest {
            system: "s".into(),
            turns: vec![Turn { role: Role::User, parts: vec![Part::Text("t".into())] }],
        };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let err = rt.block_on(client.complete(&req)).unwrap_err().to_string();
        assert!(err.contains("another origin"), "{err}");
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(b.accept().is_err(), "the request reached the other origin");
        assert!(key_travels_safely("https://api.anthropic.com/v1") && key_travels_safely("http://127.0.0.1:8000/v1"));
        assert!(key_travels_safely("http://localhost:11434/v1") && !key_travels_safely("http://10.0.0.5:8000/v1"));
    }

    #[test]
    fn an_answer_without_end_is_refused_not_read_into_memory() {
        use std::io::{Read, Write};
        // Two servers: one says the body is 1 GB; one streams chunks without a length, for ever.
        let serve = |declared: bool| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            std::thread::spawn(move || {
                let Some(Ok(mut conn)) = l.incoming().next() else { return };
                let mut buf = [0u8; 65536];
                let _ = conn.read(&mut buf);
                if declared {
                    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n{\"choices\":");
                } else {
                    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
                    let chunk = format!("{:x}\r\n{}\r\n", 1 << 16, "x".repeat(1 << 16));
                    while conn.write_all(chunk.as_bytes()).is_ok() {}
                }
            });
            port
        };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for declared in [true, false] {
            let profile = ProviderProfile {
                base_url: format!("http://127.0.0.1:{}/v1", serve(declared)),
                model: "m".into(),
                retries: 0,
                ..Default::default()
            };
            let client = VlmClient::with_key(profile, None).unwrap();
            let req = VlmRequest {
                system: "s".into(),
                turns: vec![Turn { role: Role::User, parts: vec![Part::Text("t".into())] }],
            };
            let err = rt.block_on(client.complete(&req)).unwrap_err();
            assert!(matches!(err, VlmError::BadResponse { .. }), "{err}");
            assert!(err.to_string().contains("larger than 16 MB"), "{err}");
        }
    }

    #[test]
    fn a_timeout_that_is_not_a_number_is_the_default_not_a_panic() {
        let c = crate::config::Config::parse(
            "[providers.x]\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\ntimeout = nan",
        )
        .unwrap();
        let p = c.profile("x").unwrap();
        assert!(p.timeout.is_nan());
        assert!(VlmClient::with_key(p, None).is_ok());
        assert_eq!((timeout(f64::NAN), timeout(-1.0), timeout(5.0)), (60.0, 0.1, 5.0));
    }

    fn request() -> VlmRequest {
        let img = EncodedImage { mime: "image/png", base64: "AAAA".into(), width: 1, height: 1, bytes: 3 };
        VlmRequest {
            system: "sys".into(),
            turns: vec![
                Turn { role: Role::User, parts: vec![Part::Text("task".into()), Part::Image(img)] },
                Turn::text(Role::Assistant, "bad"),
                Turn::text(Role::User, "repair"),
            ],
        }
    }

    #[test]
    fn openai_requests_carry_the_system_prompt_and_data_url_images() {
        let c = VlmClient::new(ProviderProfile { model: "m".into(), ..Default::default() }).unwrap();
        let b = c.body(&request());
        assert_eq!(b["model"], "m");
        assert_eq!(b["messages"][0]["role"], "system");
        assert_eq!(b["messages"][1]["content"][1]["image_url"]["url"], "data:image/png;base64,AAAA");
        assert_eq!(b["messages"][2]["content"], "bad");
        assert_eq!(b["max_tokens"], 1024);
        let o = VlmClient::new(ProviderProfile {
            api_key_env: None,
            key_required: false,
            ..ProviderProfile::builtin("openai").unwrap()
        })
        .unwrap();
        let b = o.body(&request());
        assert!(b.get("max_tokens").is_none() && b["max_completion_tokens"] == 1024, "{b}");
        assert!(c.endpoint().ends_with("/v1/chat/completions"));
    }

    #[test]
    fn anthropic_requests_use_base64_image_blocks_and_a_top_level_system() {
        let p = ProviderProfile { protocol: Protocol::Anthropic, model: "c".into(), ..Default::default() };
        let c = VlmClient::new(p).unwrap();
        let b = c.body(&request());
        assert_eq!(b["system"], "sys");
        assert_eq!(b["messages"][0]["content"][1]["source"]["media_type"], "image/png");
        assert_eq!(b["messages"][1]["role"], "assistant");
        assert!(c.endpoint().ends_with("/messages"));
    }

    #[test]
    fn answers_and_usage_are_read_from_both_protocols() {
        let (t, u) = read_openai(
            r#"{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#,
        )
        .unwrap();
        assert_eq!((t.as_str(), u.input_tokens, u.output_tokens), ("hi", 5, 2));
        let (t, u) = read_anthropic(r#"{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"usage":{"input_tokens":7,"output_tokens":1}}"#).unwrap();
        assert_eq!((t.as_str(), u.input_tokens), ("ab", 7));
        assert!(read_openai("<html>").unwrap_err().contains("not JSON"));
        assert!(read_openai(r#"{"choices":[]}"#).is_err());
        assert!(
            read_openai(r#"{"choices":[{"message":{"content":null,"refusal":"no"}}]}"#)
                .unwrap_err()
                .contains("refused")
        );
    }

    #[test]
    fn a_missing_key_is_an_error_naming_the_variable() {
        let p = ProviderProfile {
            api_key_env: Some("MARKPILOT_TEST_SURELY_UNSET_KEY".into()),
            key_required: true,
            model: "m".into(),
            ..Default::default()
        };
        let e = VlmClient::new(p).unwrap_err().to_string();
        assert!(e.contains("MARKPILOT_TEST_SURELY_UNSET_KEY"), "{e}");
    }

    #[test]
    fn sent_sizes_respect_the_profile_limits_and_patch_multiples() {
        let p = ProviderProfile { max_side: 1280, ..Default::default() };
        let r = sent_size(1920, 1080, &p);
        assert_eq!((r.to_width, r.to_height), (1280, 720));
        let q = ProviderProfile::builtin("qwen").unwrap();
        let r = sent_size(1920, 1080, &q);
        assert_eq!((r.to_width % 28, r.to_height % 28), (0, 0));
        assert!(r.to_width as u64 * r.to_height as u64 <= q.max_pixels);
    }

    #[test]
    fn error_bodies_become_one_short_line() {
        assert_eq!(error_message(r#"{"error":{"message":"rate\nlimited"}}"#), "rate limited");
        assert_eq!(error_message(""), "(empty body)");
    }
}
