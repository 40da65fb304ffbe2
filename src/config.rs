//! The config file: `$XDG_CONFIG_HOME/markpilot/config.toml` (or `--config PATH`).
//!
//! ```toml
//! default_provider = "local"
//!
//! [agent]
//! max_steps = 30
//! max_seconds = 900
//! confirm = "risky"          # never | risky | always
//! history_images = 0
//! settle_timeout_ms = 3000
//! record_dir = "/data/runs"
//!
//! [prompt]
//! language = "ko"            # en | ko
//! # system = "..."           # templates; see decide::prompt for the placeholders
//!
//! [perception]
//! detectors = "builtin,text" # also a11y, yolo:MODEL.onnx, sam:ENCODER.onnx,DECODER.onnx
//! # models_dir = "/data/markpilot-models"
//! # onnxruntime = "/opt/onnxruntime/lib/libonnxruntime.so.1.31.1"
//! # languages = ["en", "ko"]  # default: English and the locale's; Korean via Tesseract
//! # tessdata = "/usr/share/tesseract-ocr/5/tessdata"
//! # text_rec = "/models/korean_PP-OCRv5_rec.onnx"   # a Korean PP-OCR model reads Hangul itself
//! # text_dictionary = "/models/korean_dict.txt"
//!
//! [providers.local]          # a new profile, or overrides for a built-in one
//! protocol = "openai"
//! base_url = "http://127.0.0.1:8000/v1"
//! model = "Qwen/Qwen2.5-VL-7B-Instruct"
//! coordinates = true
//! ```
//!
//! API keys never go here: a profile names the environment variable that holds its key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::decide::{PromptConfig, ProviderProfile};
use crate::guard::ConfirmPolicy;
use crate::perceive::setup::PerceptionConfig;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error("the config file {path} is not valid: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error(
        "unknown provider {name:?}: use one of {known}, a [providers.{name}] section in the config, or give --base-url"
    )]
    UnknownProvider { name: String, known: String },
    #[error("provider {name:?} in the config is not valid: {detail}")]
    BadProfile { name: String, detail: String },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    pub max_steps: Option<u32>,
    pub max_seconds: Option<f64>,
    pub confirm: Option<ConfirmPolicy>,
    pub history_images: Option<usize>,
    pub settle_timeout_ms: Option<u64>,
    pub record_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub default_provider: Option<String>,
    pub agent: AgentConfig,
    pub prompt: PromptConfig,
    pub perception: PerceptionConfig,
    /// Raw tables: each overlays the built-in profile of the same name, if any.
    pub providers: BTreeMap<String, toml::Table>,
}

impl Config {
    /// The default path, if a home is known.
    pub fn default_path() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
        Some(base.join("markpilot").join("config.toml"))
    }

    /// Load `path` (must exist) or, without one, the default path if it exists.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => match Self::default_path().filter(|p| p.is_file()) {
                Some(p) => p,
                None => return Ok(Self::default()),
            },
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ConfigError::Read { path: path.clone(), detail: e.to_string() })?;
        Self::parse(&text).map_err(|detail| ConfigError::Invalid { path, detail })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))
    }

    /// The profile for a name: the config's section overlaid on the built-in profile.
    pub fn profile(&self, name: &str) -> Result<ProviderProfile, ConfigError> {
        let builtin = ProviderProfile::builtin(name);
        let section = self.providers.get(name);
        match (builtin, section) {
            (Some(b), None) => Ok(b),
            (b, Some(table)) => {
                let base = b.unwrap_or_else(|| ProviderProfile { name: name.to_string(), ..Default::default() });
                let mut merged = toml::Table::try_from(&base)
                    .map_err(|e| ConfigError::BadProfile { name: name.into(), detail: e.to_string() })?;
                for (k, v) in table {
                    merged.insert(k.clone(), v.clone());
                }
                merged.insert("name".into(), toml::Value::String(name.to_string()));
                // Every field, the optional ones set so they appear.
                let every = ProviderProfile {
                    api_key_env: Some(String::new()),
                    temperature: Some(0.0),
                    ..ProviderProfile::default()
                };
                let known: Vec<String> =
                    toml::Table::try_from(every).map(|t| t.keys().cloned().collect()).unwrap_or_default();
                if let Some(bad) = table.keys().find(|k| !known.contains(k)) {
                    return Err(ConfigError::BadProfile {
                        name: name.into(),
                        detail: format!("unknown field {bad:?} (known: {})", known.join(", ")),
                    });
                }
                merged
                    .try_into()
                    .map_err(|e: toml::de::Error| ConfigError::BadProfile { name: name.into(), detail: e.to_string() })
            }
            (None, None) => {
                let mut known: Vec<String> = ProviderProfile::BUILTIN.iter().map(|s| s.to_string()).collect();
                known.extend(self.providers.keys().cloned());
                Err(ConfigError::UnknownProvider { name: name.into(), known: known.join(", ") })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::Protocol;

    #[test]
    fn config_sections_overlay_builtin_profiles_and_define_new_ones() {
        let c = Config::parse(
            r#"
            default_provider = "local"
            [agent]
            max_steps = 5
            confirm = "always"
            [prompt]
            language = "ko"
            [providers.anthropic]
            model = "claude-opus-4-1"
            [providers.local]
            base_url = "http://127.0.0.1:9000/v1"
            model = "qwen"
            coordinates = true
            api_key_env = "LOCAL_KEY"
            temperature = 0.2
            "#,
        )
        .unwrap();
        assert_eq!(c.agent.max_steps, Some(5));
        assert_eq!(c.agent.confirm, Some(ConfirmPolicy::Always));
        let a = c.profile("anthropic").unwrap();
        assert_eq!((a.model.as_str(), a.protocol, a.max_side), ("claude-opus-4-1", Protocol::Anthropic, 1568));
        let l = c.profile("local").unwrap();
        assert!(l.coordinates && l.base_url.ends_with(":9000/v1") && l.name == "local");
        assert_eq!((l.api_key_env.as_deref(), l.temperature), (Some("LOCAL_KEY"), Some(0.2)));
        assert!(matches!(c.profile("nope"), Err(ConfigError::UnknownProvider { .. })));
    }

    #[test]
    fn the_config_example_in_the_readme_is_valid() {
        let readme = include_str!("../README.md");
        let start = readme.find("```toml\n").expect("a toml block in README.md") + 8;
        let block = &readme[start..start + readme[start..].find("```").unwrap()];
        let c = Config::parse(block).unwrap();
        let p = c.profile(c.default_provider.as_deref().unwrap()).unwrap();
        assert!(p.coordinates && p.size_multiple == 28, "{p:?}");
    }

    #[test]
    fn mistakes_in_the_config_are_named() {
        assert!(Config::parse("[agent]\nmax_step = 3").unwrap_err().contains("max_step"));
        let c = Config::parse("[providers.x]\nmodle = \"m\"").unwrap();
        assert!(c.profile("x").unwrap_err().to_string().contains("modle"));
        let c = Config::parse("[providers.x]\nprotocol = \"grpc\"").unwrap();
        assert!(c.profile("x").is_err());
    }
}
