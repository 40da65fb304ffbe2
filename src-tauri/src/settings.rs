//! The app's settings: provider profiles (no keys), detectors, mark style, recording folder,
//! in `$XDG_CONFIG_HOME/markpilot/app.json`; API keys in the OS keyring only. The settings
//! overlay `config.toml` (the CLI's config): the config file's profiles appear in the app
//! beside its own, and the app's own profile of the same name wins.

use std::path::{Path, PathBuf};

use markpilot::config::Config;
use markpilot::decide::{Protocol, ProviderProfile};
use markpilot::files::write_atomically;
use serde::{Deserialize, Serialize};

const KEYRING_SERVICE: &str = "markpilot";

/// A model server, as the settings page edits it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    /// `openai` or `anthropic`.
    pub protocol: String,
    pub base_url: String,
    pub model: String,
    #[serde(default)]
    pub coordinates: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub profiles: Vec<Profile>,
    /// `builtin`, `builtin,text`, … (empty: builtin plus text when its models are present).
    #[serde(default)]
    pub detectors: String,
    /// `box`, `number` or `mask`.
    #[serde(default = "default_style")]
    pub mark_style: String,
    /// Empty: the default runs folder.
    #[serde(default)]
    pub record_dir: String,
}

fn default_style() -> String {
    "box".into()
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            profiles: vec![
                Profile {
                    name: "openai".into(),
                    protocol: "openai".into(),
                    base_url: "https://api.openai.com/v1".into(),
                    model: "gpt-4o".into(),
                    coordinates: false,
                },
                Profile {
                    name: "local".into(),
                    protocol: "openai".into(),
                    base_url: "http://127.0.0.1:8000/v1".into(),
                    model: "Qwen/Qwen2.5-VL-7B-Instruct".into(),
                    coordinates: true,
                },
            ],
            detectors: String::new(),
            mark_style: default_style(),
            record_dir: String::new(),
        }
    }
}

/// What the front end sees of a profile: never the key, only whether one is stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileView {
    #[serde(flatten)]
    pub profile: Profile,
    pub has_key: bool,
    /// Defined in config.toml, not (yet) in the app's own settings.
    pub from_config: bool,
}

impl Settings {
    pub fn path(config_dir: &Path) -> PathBuf {
        config_dir.join("markpilot").join("app.json")
    }

    /// The saved settings, or the defaults when there are none (a broken file is an error:
    /// it is not silently replaced).
    pub fn load(config_dir: &Path) -> Result<Self, String> {
        let path = Self::path(config_dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                serde_json::from_str(&text).map_err(|e| format!("{} is not valid settings: {e}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    pub fn save(&self, config_dir: &Path) -> Result<(), String> {
        self.validate()?;
        let path = Self::path(config_dir);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        write_atomically(&path, text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    pub fn validate(&self) -> Result<(), String> {
        let mut names = std::collections::BTreeSet::new();
        for p in &self.profiles {
            if p.name.trim().is_empty() {
                return Err("every profile needs a name".into());
            }
            if !names.insert(p.name.trim()) {
                return Err(format!("two profiles are named {:?}", p.name));
            }
            if !(p.base_url.starts_with("http://") || p.base_url.starts_with("https://")) {
                return Err(format!("profile {:?}: the base URL must start with http:// or https://", p.name));
            }
            if p.model.trim().is_empty() {
                return Err(format!("profile {:?}: name a model", p.name));
            }
            if !matches!(p.protocol.as_str(), "openai" | "anthropic") {
                return Err(format!("profile {:?}: protocol must be openai or anthropic", p.name));
            }
        }
        if !matches!(self.mark_style.as_str(), "box" | "number" | "mask") {
            return Err(format!("unknown mark style {:?} (box, number or mask)", self.mark_style));
        }
        if !self.detectors.trim().is_empty() {
            markpilot::perceive::setup::parse_detectors(&self.detectors).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The profiles the app offers: its own, then config.toml's (its `default_provider` and
    /// its `[providers.NAME]` sections) that the app does not define itself; `true` marks
    /// those from the config.
    pub fn profiles_with(&self, config: &Config) -> Vec<(Profile, bool)> {
        let mut out: Vec<(Profile, bool)> = self.profiles.iter().cloned().map(|p| (p, false)).collect();
        let mut names: Vec<&String> = config.default_provider.iter().collect();
        names.extend(config.providers.keys().filter(|n| Some(*n) != config.default_provider.as_ref()));
        for name in names {
            if out.iter().any(|(p, _)| &p.name == name) {
                continue;
            }
            match config.profile(name) {
                Ok(lib) => out.push((Profile::from_library(&lib), true)),
                Err(e) => tracing::warn!("config.toml's profile {name:?} is left out: {e}"),
            }
        }
        out
    }

    /// The settings to store: a config profile the window sent back unchanged stays in the
    /// config file only (so later edits of config.toml still reach the app).
    pub fn without_config_copies(mut self, config: &Config) -> Self {
        let from_config =
            |name: &str| config.providers.contains_key(name) || config.default_provider.as_deref() == Some(name);
        self.profiles.retain(|p| {
            !(from_config(&p.name) && config.profile(&p.name).is_ok_and(|lib| Profile::from_library(&lib) == *p))
        });
        self
    }

    /// The library's profile for a name the app offers (see [`Settings::profiles_with`]).
    pub fn provider(&self, config: &Config, name: &str) -> Result<ProviderProfile, String> {
        let (p, _) = self
            .profiles_with(config)
            .into_iter()
            .find(|(p, _)| p.name == name)
            .ok_or_else(|| format!("no profile named {name:?}"))?;
        Ok(p.to_provider(config))
    }
}

impl Profile {
    /// What the settings page shows of a library profile.
    pub fn from_library(p: &ProviderProfile) -> Self {
        Self {
            name: p.name.clone(),
            protocol: if p.protocol == Protocol::Anthropic { "anthropic" } else { "openai" }.into(),
            base_url: p.base_url.clone(),
            model: p.model.clone(),
            coordinates: p.coordinates,
        }
    }

    /// The library's profile: config.toml's (or a built-in one's) for the name — image size,
    /// retries, timeout… — when there is one, with this profile's server, model and protocol.
    pub fn to_provider(&self, config: &Config) -> ProviderProfile {
        let mut p = config
            .profile(&self.name)
            .unwrap_or_else(|_| ProviderProfile { name: self.name.clone(), ..Default::default() });
        p.base_url = self.base_url.clone();
        p.model = self.model.clone();
        p.protocol = if self.protocol == "anthropic" { Protocol::Anthropic } else { Protocol::Openai };
        p.coordinates = self.coordinates;
        // The key comes from the keyring, never from a variable named in a file.
        p.api_key_env = None;
        p
    }
}

/// The OS keyring (Secret Service on Linux).
pub struct Keys;

impl Keys {
    fn entry(profile: &str) -> Result<keyring::Entry, String> {
        keyring::Entry::new(KEYRING_SERVICE, profile).map_err(|e| format!("the keyring is not available: {e}"))
    }

    pub fn set(profile: &str, key: &str) -> Result<(), String> {
        if key.trim().is_empty() {
            return Err("the key is empty".into());
        }
        Self::entry(profile)?.set_password(key.trim()).map_err(|e| format!("cannot store the key in the keyring: {e}"))
    }

    pub fn get(profile: &str) -> Result<Option<String>, String> {
        match Self::entry(profile)?.get_password() {
            Ok(k) => Ok(Some(k)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(format!("cannot read the key from the keyring: {e}")),
        }
    }

    pub fn clear(profile: &str) -> Result<(), String> {
        match Self::entry(profile)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(format!("cannot remove the key from the keyring: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_without_keys_and_bad_ones_are_refused() {
        let dir = std::env::temp_dir().join(format!("markpilot-app-settings-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(Settings::load(&dir).unwrap(), Settings::default());
        let s = Settings { detectors: "builtin".into(), ..Default::default() };
        s.save(&dir).unwrap();
        assert_eq!(Settings::load(&dir).unwrap(), s);
        let text = std::fs::read_to_string(Settings::path(&dir)).unwrap();
        assert!(!text.contains("key"), "no key field is ever written: {text}");

        let mut bad = s.clone();
        bad.profiles[0].base_url = "ftp://x".into();
        assert!(bad.save(&dir).unwrap_err().contains("http"));
        let mut bad = s.clone();
        bad.profiles.push(bad.profiles[0].clone());
        assert!(bad.validate().unwrap_err().contains("two profiles"));
        let mut bad = s.clone();
        bad.detectors = "yolo".into();
        assert!(bad.validate().is_err());
        std::fs::write(Settings::path(&dir), "{").unwrap();
        assert!(Settings::load(&dir).unwrap_err().contains("not valid settings"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_profile_becomes_a_library_profile_that_never_reads_a_key_variable() {
        let p = Profile {
            name: "anthropic".into(),
            protocol: "anthropic".into(),
            base_url: "http://127.0.0.1:9/v1".into(),
            model: "claude".into(),
            coordinates: false,
        };
        let lib = p.to_provider(&Config::default());
        assert_eq!(
            (lib.protocol, lib.base_url.as_str(), lib.api_key_env),
            (Protocol::Anthropic, "http://127.0.0.1:9/v1", None)
        );
        assert!(lib.key_required, "the built-in anthropic profile needs a key");
    }

    #[test]
    fn config_profiles_appear_in_the_app_and_the_apps_own_overlay_them() {
        let config = Config::parse(
            r#"
            default_provider = "lab"
            [providers.lab]
            base_url = "http://127.0.0.1:8000/v1"
            model = "Qwen/Qwen2.5-VL-7B-Instruct"
            coordinates = true
            max_side = 1024
            api_key_env = "LAB_KEY"
            [providers.local]
            model = "from-config"
            "#,
        )
        .unwrap();
        let settings = Settings::default();
        let offered = settings.profiles_with(&config);
        let names: Vec<(&str, bool)> = offered.iter().map(|(p, c)| (p.name.as_str(), *c)).collect();
        // The app's own "local" wins over the config's section of the same name.
        assert_eq!(names, [("openai", false), ("local", false), ("lab", true)]);
        let lab = settings.provider(&config, "lab").unwrap();
        assert_eq!((lab.model.as_str(), lab.coordinates, lab.max_side), ("Qwen/Qwen2.5-VL-7B-Instruct", true, 1024));
        assert_eq!(lab.api_key_env, None, "keys come from the keyring only");
        assert_eq!(settings.provider(&config, "local").unwrap().model, "Qwen/Qwen2.5-VL-7B-Instruct");
        assert!(settings.provider(&config, "nope").is_err());

        // Saved back unchanged, the config's profile stays in the config; edited, it is the app's.
        let mut sent = settings.clone();
        sent.profiles.push(offered[2].0.clone());
        assert_eq!(sent.clone().without_config_copies(&config).profiles.len(), 2);
        sent.profiles[2].model = "edited".into();
        let kept = sent.without_config_copies(&config);
        assert_eq!(kept.profiles.len(), 3);
        let lab = kept.provider(&config, "lab").unwrap();
        assert_eq!((lab.model.as_str(), lab.max_side), ("edited", 1024), "the app's edit over the config's profile");
    }
}
