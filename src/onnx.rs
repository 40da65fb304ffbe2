//! ONNX Runtime: found and loaded at run time, once per process, with errors instead of panics.
//!
//! The library comes from (in this order) an explicit path (config `onnxruntime`, or the
//! `--onnxruntime` flag), the `ORT_DYLIB_PATH` variable, or the copy `markpilot models fetch`
//! unpacked into the models folder. ONNX Runtime allows one environment per process and
//! silently ignores a second library path, so the first successful load wins for the whole
//! process; a failed load is remembered too, so every model-backed detector reports the
//! same error and the built-in detector carries on.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::ValueType;
use thiserror::Error;

/// The oldest ONNX Runtime this build accepts (ort's `api-22` feature).
pub const MIN_VERSION: &str = "1.22";

const INSTALL_HINT: &str = "run `markpilot models fetch onnxruntime`, or set ORT_DYLIB_PATH to a libonnxruntime.so";

#[derive(Debug, Clone, PartialEq, Error)]
pub enum RuntimeError {
    #[error("ONNX Runtime was not found (looked at {looked}); {INSTALL_HINT} (version {MIN_VERSION} or newer)")]
    NotFound { looked: String },
    #[error("cannot load ONNX Runtime from {path}: {detail}; {INSTALL_HINT} (version {MIN_VERSION} or newer)")]
    Load { path: PathBuf, detail: String },
}

/// Why a model could not be used.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ModelError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("model file {path} does not exist; {hint}")]
    Missing { path: PathBuf, hint: String },
    #[error("{path} is not a usable ONNX model: {detail}")]
    Load { path: PathBuf, detail: String },
    #[error("{path} does not have the layout of a {what} model: expected {expected}, found {found}")]
    Layout { path: PathBuf, what: String, expected: String, found: String },
    #[error("{path}: {detail}")]
    Other { path: PathBuf, detail: String },
}

impl ModelError {
    pub fn layout(path: &Path, what: &str, expected: &str, session: &Session) -> Self {
        ModelError::Layout {
            path: path.to_path_buf(),
            what: what.into(),
            expected: expected.into(),
            found: describe_io(session),
        }
    }
}

/// Where to look for the library, in order, with the first that exists.
pub fn find_library(explicit: Option<&Path>, models_dir: &Path) -> Result<PathBuf, RuntimeError> {
    let mut looked = Vec::new();
    // A library the user named is the one they want: no falling back to another.
    if let Some(p) = explicit {
        if p.is_file() {
            return Ok(p.to_path_buf());
        }
        return Err(RuntimeError::NotFound { looked: p.display().to_string() });
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()).map(PathBuf::from) {
        if p.is_file() {
            return Ok(p);
        }
        looked.push(format!("ORT_DYLIB_PATH={}", p.display()));
    }
    let dir = models_dir.join("onnxruntime");
    if let Some(p) = newest_library_in(&dir) {
        return Ok(p);
    }
    looked.push(format!("{}/libonnxruntime.so*", dir.display()));
    Err(RuntimeError::NotFound { looked: looked.join(", ") })
}

fn newest_library_in(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libonnxruntime.so")))
        .collect();
    found.sort();
    found.pop()
}

static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, RuntimeError>> = OnceLock::new();

/// The process's one ONNX Runtime environment, loading the library on first use (other
/// callers wait for that first load).
pub fn environment(explicit: Option<&Path>, models_dir: &Path) -> Result<ort::environment::Environment, RuntimeError> {
    ENVIRONMENT.get_or_init(|| load(&find_library(explicit, models_dir)?)).clone()
}

fn load(path: &Path) -> Result<ort::environment::Environment, RuntimeError> {
    let fail = |detail: String| RuntimeError::Load { path: path.to_path_buf(), detail };
    // ort panics in a few corners of loading (a library without the expected symbols);
    // a panic here must become an error, not take the process down.
    let built = catch_unwind(AssertUnwindSafe(|| {
        ort::init_from(path)
            .map_err(|e| e.to_string())?
            .with_name("markpilot")
            .with_telemetry(false)
            .build()
            .map_err(|e| e.to_string())
    }));
    match built {
        Ok(Ok(env)) => Ok(env),
        Ok(Err(detail)) => Err(fail(detail)),
        Err(panic) => Err(fail(panic_text(&panic))),
    }
}

pub(crate) fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "ONNX Runtime panicked".into())
}

/// Open a model file as a session using `threads` intra-op threads.
pub fn open_session(
    env: &ort::environment::Environment,
    path: &Path,
    threads: usize,
    hint: &str,
) -> Result<Session, ModelError> {
    if !path.is_file() {
        return Err(ModelError::Missing { path: path.to_path_buf(), hint: hint.into() });
    }
    let fail = |detail: String| ModelError::Load { path: path.to_path_buf(), detail };
    let opened = catch_unwind(AssertUnwindSafe(|| -> Result<Session, String> {
        let builder = Session::builder(env).map_err(|e| e.to_string())?;
        let builder = builder.with_intra_threads(threads.max(1)).map_err(|e| e.to_string())?;
        let builder = builder.with_optimization_level(GraphOptimizationLevel::Level3).map_err(|e| e.to_string())?;
        // Inputs change shape every call (blocks, batches): a memory plan per shape only
        // grows the process.
        let mut builder = builder.with_memory_pattern(false).map_err(|e| e.to_string())?;
        builder.commit_from_file(path).map_err(|e| e.to_string())
    }));
    match opened {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(detail)) => Err(fail(detail)),
        Err(panic) => Err(fail(panic_text(&panic))),
    }
}

/// `inputs: x f32[-1,3,-1,-1]; outputs: y f32[-1,1,-1,-1]` — for layout errors.
pub fn describe_io(session: &Session) -> String {
    let list = |outlets: &[ort::value::Outlet]| {
        outlets.iter().map(|o| format!("{} {}", o.name(), describe_type(o.dtype()))).collect::<Vec<_>>().join(", ")
    };
    format!("inputs: {}; outputs: {}", list(session.inputs()), list(session.outputs()))
}

fn describe_type(t: &ValueType) -> String {
    match (t.tensor_type(), t.tensor_shape()) {
        (Some(ty), Some(shape)) => {
            let dims: Vec<String> = shape.iter().map(|d| if *d < 0 { "?".into() } else { d.to_string() }).collect();
            format!("{ty}[{}]", dims.join(","))
        }
        _ => t.to_string(),
    }
}

/// The rank and element type of an input or output, if it is a tensor.
pub fn tensor_rank(t: &ValueType) -> Option<(ort::value::TensorElementType, usize)> {
    Some((t.tensor_type()?, t.tensor_shape()?.len()))
}

/// The fixed size of dimension `i`, if the model fixes it.
pub fn fixed_dim(t: &ValueType, i: usize) -> Option<i64> {
    t.tensor_shape().and_then(|s| s.get(i).copied()).filter(|d| *d > 0)
}
