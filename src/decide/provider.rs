//! Provider profiles: which server, which model, which key, what image it takes.

use serde::{Deserialize, Serialize};

/// The wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// OpenAI chat completions: OpenAI, vLLM, LMDeploy, SGLang, Ollama, LM Studio,
    /// llama.cpp server, OpenRouter, Qwen's and Gemini's OpenAI-compatible endpoints.
    Openai,
    /// Anthropic Messages.
    Anthropic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageFormat {
    Png,
    Jpeg,
}

/// One provider profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProviderProfile {
    pub name: String,
    pub protocol: Protocol,
    /// Up to and including the version path: `https://api.openai.com/v1`.
    pub base_url: String,
    pub model: String,
    /// The environment variable holding the API key (the key itself is never stored).
    pub api_key_env: Option<String>,
    /// Whether a request without a key is an error (hosted APIs) or fine (local servers).
    pub key_required: bool,
    /// Longest side of the image sent, in pixels (0: no limit).
    pub max_side: u32,
    /// Pixel count of the image sent (0: no limit).
    pub max_pixels: u64,
    /// Round the sent image's sides down to a multiple of this (Qwen2.5-VL works on 28-pixel
    /// patches; a matching size makes its coordinates exact). 0 or 1: no rounding.
    pub size_multiple: u32,
    pub image_format: ImageFormat,
    pub jpeg_quality: u8,
    /// `None` leaves the server's default (OpenAI's reasoning models accept only 1).
    pub temperature: Option<f32>,
    pub max_tokens: u32,
    /// OpenAI protocol: send the limit as `max_completion_tokens` (what OpenAI's current
    /// models want; o-series and gpt-5 refuse `max_tokens`) instead of `max_tokens` (what
    /// vLLM, LMDeploy, Ollama and older servers read).
    pub max_completion_tokens: bool,
    /// Seconds per request.
    pub timeout: f64,
    /// Retries after a 429, 5xx, timeout or dropped connection.
    pub retries: u32,
    /// The model may answer with a point in the screenshot (Qwen2.5-VL, UI-TARS).
    pub coordinates: bool,
    /// Also send the screenshot without marks.
    pub send_clean_screenshot: bool,
}

impl Default for ProviderProfile {
    fn default() -> Self {
        Self {
            name: "custom".into(),
            protocol: Protocol::Openai,
            base_url: "http://127.0.0.1:8000/v1".into(),
            model: String::new(),
            api_key_env: None,
            key_required: false,
            max_side: 1920,
            max_pixels: 0,
            size_multiple: 0,
            image_format: ImageFormat::Jpeg,
            jpeg_quality: 85,
            temperature: Some(0.0),
            max_tokens: 1024,
            max_completion_tokens: false,
            timeout: 120.0,
            retries: 3,
            coordinates: false,
            send_clean_screenshot: false,
        }
    }
}

impl ProviderProfile {
    /// The ready-made profiles.
    pub fn builtin(name: &str) -> Option<Self> {
        let d = Self::default();
        let p = match name {
            "openai" => Self {
                name: "openai".into(),
                base_url: "https://api.openai.com/v1".into(),
                model: "gpt-4o".into(),
                api_key_env: Some("OPENAI_API_KEY".into()),
                key_required: true,
                max_side: 2048,
                max_completion_tokens: true,
                ..d
            },
            "anthropic" => Self {
                name: "anthropic".into(),
                protocol: Protocol::Anthropic,
                base_url: "https://api.anthropic.com/v1".into(),
                model: "claude-sonnet-4-5".into(),
                api_key_env: Some("ANTHROPIC_API_KEY".into()),
                key_required: true,
                // Anthropic's guidance: ≤ 1568 px long side and ≈ 1.15 megapixels avoid a resize.
                max_side: 1568,
                max_pixels: 1_150_000,
                ..d
            },
            "ollama" => Self {
                name: "ollama".into(),
                base_url: "http://127.0.0.1:11434/v1".into(),
                model: "qwen2.5vl:7b".into(),
                max_side: 1280,
                size_multiple: 28,
                ..d
            },
            "vllm" => Self {
                name: "vllm".into(),
                base_url: "http://127.0.0.1:8000/v1".into(),
                model: "Qwen/Qwen2.5-VL-7B-Instruct".into(),
                api_key_env: Some("VLLM_API_KEY".into()),
                ..d
            },
            "lmdeploy" => Self {
                name: "lmdeploy".into(),
                base_url: "http://127.0.0.1:23333/v1".into(),
                model: "OpenGVLab/InternVL3-8B".into(),
                ..d
            },
            "qwen" => Self {
                name: "qwen".into(),
                base_url: "https://dashscope-intl.aliyuncs.com/compatible-mode/v1".into(),
                model: "qwen2.5-vl-72b-instruct".into(),
                api_key_env: Some("DASHSCOPE_API_KEY".into()),
                key_required: true,
                // Qwen2.5-VL answers in the pixels of the image it saw after its own resize to
                // 28-pixel multiples within its pixel budget; sending exactly that size keeps
                // its coordinates in our image's space.
                max_pixels: 1_003_520,
                size_multiple: 28,
                coordinates: true,
                ..d
            },
            _ => return None,
        };
        Some(p)
    }

    pub const BUILTIN: [&'static str; 6] = ["openai", "anthropic", "ollama", "vllm", "lmdeploy", "qwen"];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_exists_and_names_itself() {
        for name in ProviderProfile::BUILTIN {
            let p = ProviderProfile::builtin(name).unwrap();
            assert_eq!(p.name, name);
            assert!(!p.model.is_empty() && p.base_url.starts_with("http"));
        }
        assert!(ProviderProfile::builtin("nope").is_none());
        assert_eq!(ProviderProfile::builtin("anthropic").unwrap().protocol, Protocol::Anthropic);
        assert!(ProviderProfile::builtin("qwen").unwrap().coordinates);
    }
}
