//! Building a [`Pipeline`] from a detector list (`builtin,text,yolo:PATH,sam:ENC,DEC`), the
//! config and the models on disk. A detector that cannot start (no ONNX Runtime, a missing or
//! broken model) is skipped with its reason; the built-in detector always works.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::ocr::{TextConfig, TextDetector};
use super::{BuiltinDetector, Detector, Pipeline};
use crate::models::{self, Manifest};
use crate::onnx::{self, ModelError};

/// One detector asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum DetectorSpec {
    Builtin,
    Text,
    /// The accessibility tree of the applications on screen (AT-SPI).
    A11y,
    Yolo {
        model: PathBuf,
    },
    Sam {
        encoder: PathBuf,
        decoder: PathBuf,
    },
}

impl DetectorSpec {
    pub fn name(&self) -> String {
        match self {
            DetectorSpec::Builtin => "builtin".into(),
            DetectorSpec::Text => "text".into(),
            DetectorSpec::A11y => "a11y".into(),
            DetectorSpec::Yolo { model } => format!("yolo:{}", model.display()),
            DetectorSpec::Sam { encoder, decoder } => format!("sam:{},{}", encoder.display(), decoder.display()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "bad detector list {list:?}: {detail} (expected a comma-separated list of builtin, text, a11y, yolo:MODEL.onnx, sam:ENCODER.onnx,DECODER.onnx)"
)]
pub struct SpecError {
    pub list: String,
    pub detail: String,
}

/// Parse `builtin,text,a11y,yolo:PATH,sam:ENC,DEC` (the SAM decoder is the item after `sam:`).
pub fn parse_detectors(list: &str) -> Result<Vec<DetectorSpec>, SpecError> {
    let err = |detail: String| SpecError { list: list.into(), detail };
    let mut items = list.split(',').map(str::trim);
    let mut out = Vec::new();
    while let Some(item) = items.next() {
        let spec = match item.split_once(':') {
            None if item == "builtin" => DetectorSpec::Builtin,
            None if item == "text" || item == "ocr" => DetectorSpec::Text,
            None if item == "a11y" || item == "atspi" => DetectorSpec::A11y,
            Some(("yolo", path)) if !path.is_empty() => DetectorSpec::Yolo { model: path.into() },
            Some(("sam", enc)) if !enc.is_empty() => {
                let dec = items
                    .next()
                    .filter(|d| !d.is_empty() && !d.contains(':') && !["builtin", "text", "a11y"].contains(d));
                let dec = dec.ok_or_else(|| err(format!("sam:{enc} needs its decoder as the next item")))?;
                DetectorSpec::Sam { encoder: enc.into(), decoder: dec.into() }
            }
            _ if item.is_empty() => return Err(err("an empty item".into())),
            _ => return Err(err(format!("unknown detector {item:?}"))),
        };
        if out.contains(&spec) {
            return Err(err(format!("{} is listed twice", spec.name())));
        }
        out.push(spec);
    }
    Ok(out)
}

/// The `[perception]` section of the config (and the matching command-line flags).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PerceptionConfig {
    /// `builtin,text,yolo:PATH,sam:ENC,DEC`; default: builtin plus every detector whose
    /// models are present.
    pub detectors: Option<String>,
    /// Where fetched models are (default: see `models::default_dir`).
    pub models_dir: Option<PathBuf>,
    /// The ONNX Runtime library (default: ORT_DYLIB_PATH, else the fetched copy).
    pub onnxruntime: Option<PathBuf>,
    /// Text detection / recognition models and dictionary (default: the manifest's).
    pub text_det: Option<PathBuf>,
    pub text_rec: Option<PathBuf>,
    pub text_dictionary: Option<PathBuf>,
    /// Readings below this confidence are dropped (default 0.5).
    pub text_min_confidence: Option<f32>,
    /// Threads per model (default 2).
    pub threads: Option<usize>,
    /// How long one application may take to give its accessibility tree before it is
    /// skipped, in milliseconds (default 1500).
    pub a11y_timeout_ms: Option<u64>,
    /// The languages on screen, as ISO 639-1 codes (`["en", "ko"]`; default: English and
    /// the locale's language). Korean lines are read by Tesseract where PP-OCR cannot.
    pub languages: Option<Vec<String>>,
    /// The folder holding Tesseract's `kor.traineddata` and `eng.traineddata` (default:
    /// TESSDATA_PREFIX, else the distribution's folder).
    pub tessdata: Option<PathBuf>,
}

/// A detector left out, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub detector: String,
    pub reason: String,
}

impl PerceptionConfig {
    pub fn models_dir(&self) -> PathBuf {
        self.models_dir.clone().unwrap_or_else(models::default_dir)
    }

    fn threads(&self) -> usize {
        self.threads.unwrap_or(2).max(1)
    }

    /// The text models: configured paths, else the manifest's defaults in the models folder.
    pub fn text_config(&self) -> TextConfig {
        let dir = self.models_dir();
        let manifest = Manifest::builtin().ok();
        let default_file = |task: &str, pick: &dyn Fn(&models::ModelEntry) -> Option<String>| {
            let entry = manifest.as_ref()?.default_for(task)?;
            Some(models::file_path(&dir, entry, &pick(entry)?))
        };
        let first_onnx =
            |e: &models::ModelEntry| e.files.iter().find(|f| f.file.ends_with(".onnx")).map(|f| f.file.clone());
        let det = self.text_det.clone().or_else(|| default_file("text-detection", &first_onnx));
        let rec = self.text_rec.clone().or_else(|| default_file("text-recognition", &first_onnx));
        let dictionary = match (&self.text_rec, &self.text_dictionary) {
            (_, Some(d)) => Some(d.clone()),
            // A user's own recognition model carries its dictionary in its metadata.
            (Some(_), None) => None,
            (None, None) => default_file("text-recognition", &|e| e.dictionary.clone()),
        };
        TextConfig {
            languages: self.languages(),
            tessdata: self.tessdata.clone(),
            det: det.unwrap_or_else(|| dir.join("text-det.onnx")),
            rec: rec.unwrap_or_else(|| dir.join("text-rec.onnx")),
            dictionary,
            threads: self.threads(),
            min_confidence: self.text_min_confidence.unwrap_or(0.5),
        }
    }

    /// The languages to read: the configured ones, else English and the locale's.
    pub fn languages(&self) -> Vec<String> {
        match &self.languages {
            Some(l) => l.iter().map(|c| c.trim().to_ascii_lowercase()).filter(|c| !c.is_empty()).collect(),
            None => {
                let mut l = vec!["en".to_string()];
                if let Some(c) = super::ocr::languages::of_locale().filter(|c| c != "en") {
                    l.push(c);
                }
                l
            }
        }
    }

    /// The detectors to try: the configured list, else builtin, plus text when its models
    /// exist, plus the accessibility tree where a session bus could lead to it.
    pub fn specs(&self) -> Result<(Vec<DetectorSpec>, bool), SpecError> {
        match &self.detectors {
            Some(list) => Ok((parse_detectors(list)?, true)),
            None => {
                let t = self.text_config();
                let mut specs = vec![DetectorSpec::Builtin];
                if t.det.is_file() && t.rec.is_file() {
                    specs.push(DetectorSpec::Text);
                }
                if a11y_bus_named() {
                    specs.push(DetectorSpec::A11y);
                }
                Ok((specs, false))
            }
        }
    }

    /// Build the pipeline; detectors that cannot start are skipped and reported.
    pub fn build(&self) -> Result<(Pipeline, Vec<Skipped>), SpecError> {
        let (specs, explicit) = self.specs()?;
        let mut detectors: Vec<Box<dyn Detector>> = Vec::new();
        let mut skipped = Vec::new();
        for spec in specs {
            if spec == DetectorSpec::Text {
                match self.open_text() {
                    Ok((d, notes)) => {
                        detectors.push(d);
                        skipped.extend(notes);
                    }
                    Err(e) => skipped.push(Skipped { detector: spec.name(), reason: e.to_string() }),
                }
                continue;
            }
            match self.open(&spec) {
                Ok(d) => detectors.push(d),
                // A desktop without the accessibility bus is common: unasked, the tree is
                // simply not used.
                Err(reason) if !explicit && spec == DetectorSpec::A11y => {
                    tracing::debug!("the accessibility tree is not used: {reason}")
                }
                Err(reason) => skipped.push(Skipped { detector: spec.name(), reason }),
            }
        }
        if detectors.is_empty() {
            detectors.push(Box::new(BuiltinDetector::default()));
        }
        Ok((Pipeline::new(detectors), skipped))
    }

    /// The text detector with a reader for every language PP-OCR cannot read, and a note for
    /// each language that has none (said once, here, not per line).
    fn open_text(&self) -> Result<(Box<dyn Detector>, Vec<Skipped>), ModelError> {
        let cfg = self.text_config();
        // Say which file is missing before complaining about the runtime.
        for p in [&cfg.det, &cfg.rec] {
            missing(p, "run `markpilot models fetch` (or set text_det / text_rec in the config)")?;
        }
        let env = self.environment()?;
        let mut text = TextDetector::open(&env, &cfg)?;
        let mut notes = Vec::new();
        let plan = super::ocr::languages::plan(&cfg.languages);
        for lang in &plan.unknown {
            notes.push(Skipped {
                detector: format!("text:{lang}"),
                reason: format!(
                    "markpilot has no text reader for the language {lang:?}: its text is read as far as PP-OCR's \
                     Latin and Chinese characters go"
                ),
            });
        }
        // A Korean recognition model configured as text_rec reads Hangul itself.
        if !plan.tesseract.is_empty() && !text.rec.knows('가') {
            let langs: Vec<&str> = plan.tesseract.iter().map(String::as_str).collect();
            match super::ocr::tess::Tesseract::open(&langs, cfg.tessdata.as_deref()) {
                Ok(t) => text.second = Some(t),
                Err(e) => notes.push(Skipped {
                    detector: format!("text:{}", plan.needs.join("+")),
                    reason: format!("{} text is not read: {e}", plan.needs_names()),
                }),
            }
        }
        Ok((Box::new(text), notes))
    }

    fn environment(&self) -> Result<ort::environment::Environment, ModelError> {
        Ok(onnx::environment(self.onnxruntime.as_deref(), &self.models_dir())?)
    }

    /// Start one detector, or say why it cannot.
    fn open(&self, spec: &DetectorSpec) -> Result<Box<dyn Detector>, String> {
        match spec {
            DetectorSpec::Builtin => Ok(Box::new(BuiltinDetector::default())),
            DetectorSpec::A11y => open_a11y(self.a11y_timeout_ms),
            model => self.open_model(model).map_err(|e| e.to_string()),
        }
    }

    fn open_model(&self, spec: &DetectorSpec) -> Result<Box<dyn Detector>, ModelError> {
        match spec {
            DetectorSpec::Builtin => Ok(Box::new(BuiltinDetector::default())),
            // `build` opens it with `open_text` to keep its notes.
            DetectorSpec::Text => Ok(self.open_text()?.0),
            DetectorSpec::A11y => open_a11y(self.a11y_timeout_ms)
                .map_err(|detail| ModelError::Other { path: PathBuf::from("a11y"), detail }),
            DetectorSpec::Yolo { model } => {
                missing(model, "give the path of a YOLO-format ONNX model")?;
                let env = self.environment()?;
                Ok(Box::new(super::yolo::YoloDetector::open(&env, model, self.threads())?))
            }
            DetectorSpec::Sam { encoder, decoder } => {
                missing(encoder, "give the path of a SAM image encoder ONNX model")?;
                missing(decoder, "give the path of a SAM mask decoder ONNX model")?;
                let env = self.environment()?;
                Ok(Box::new(super::sam::SamSegmenter::open(&env, encoder, decoder, self.threads())?))
            }
        }
    }
}

/// Whether a bus that could lead to the accessibility tree is named in the environment.
fn a11y_bus_named() -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    cfg!(all(unix, not(target_os = "macos"))) && (set("AT_SPI_BUS_ADDRESS") || set("DBUS_SESSION_BUS_ADDRESS"))
}

#[cfg(all(unix, not(target_os = "macos")))]
fn open_a11y(timeout_ms: Option<u64>) -> Result<Box<dyn Detector>, String> {
    let timeout = timeout_ms.map_or(super::a11y::DEFAULT_TIMEOUT, std::time::Duration::from_millis);
    super::a11y::A11yDetector::open(timeout).map(|d| Box::new(d) as Box<dyn Detector>).map_err(|e| e.to_string())
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
fn open_a11y(_timeout_ms: Option<u64>) -> Result<Box<dyn Detector>, String> {
    Err("the accessibility tree is read on Linux (AT-SPI) only".into())
}

fn missing(path: &Path, hint: &str) -> Result<(), ModelError> {
    if path.is_file() { Ok(()) } else { Err(ModelError::Missing { path: path.to_path_buf(), hint: hint.into() }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detector_list_parses_with_the_sam_decoder_after_its_encoder() {
        let specs = parse_detectors("builtin, text,yolo:/m/icons.onnx,sam:/m/enc.onnx,/m/dec.onnx").unwrap();
        assert_eq!(
            specs,
            vec![
                DetectorSpec::Builtin,
                DetectorSpec::Text,
                DetectorSpec::Yolo { model: "/m/icons.onnx".into() },
                DetectorSpec::Sam { encoder: "/m/enc.onnx".into(), decoder: "/m/dec.onnx".into() },
            ]
        );
    }

    #[test]
    fn bad_detector_lists_say_what_is_wrong() {
        for (list, needle) in [
            ("builtin,magic", "unknown detector \"magic\""),
            ("sam:/enc.onnx", "needs its decoder"),
            ("sam:/enc.onnx,text", "needs its decoder"),
            ("text,text", "listed twice"),
            ("builtin,,text", "empty item"),
            ("yolo:", "unknown detector"),
        ] {
            let e = parse_detectors(list).unwrap_err().to_string();
            assert!(e.contains(needle), "{list}: {e}");
        }
    }

    #[test]
    fn without_models_the_default_pipeline_is_the_builtin_detector_and_the_tree_where_a_bus_is() {
        let cfg = PerceptionConfig { models_dir: Some("/nonexistent/models".into()), ..Default::default() };
        let (specs, explicit) = cfg.specs().unwrap();
        let mut want = vec![DetectorSpec::Builtin];
        if a11y_bus_named() {
            want.push(DetectorSpec::A11y);
        }
        assert_eq!((specs, explicit), (want, false));
        // Unasked, a tree that cannot be reached is left out without a word.
        let (pipeline, skipped) = cfg.build().unwrap();
        assert_eq!(pipeline.detector_names()[0], "builtin");
        assert!(!pipeline.detector_names().contains(&"text".to_string()));
        assert!(skipped.is_empty(), "{skipped:?}");
    }

    #[test]
    fn an_explicit_text_detector_without_models_is_skipped_naming_the_missing_file() {
        let cfg = PerceptionConfig {
            models_dir: Some("/nonexistent/models".into()),
            detectors: Some("builtin,text".into()),
            ..Default::default()
        };
        let (pipeline, skipped) = cfg.build().unwrap();
        assert_eq!(pipeline.detector_names(), vec!["builtin"]);
        assert_eq!(skipped.len(), 1);
        assert!(
            skipped[0].reason.contains("/nonexistent/models/ppocr-v4-det/ch_PP-OCRv4_det_infer.onnx"),
            "{}",
            skipped[0].reason
        );
        assert!(skipped[0].reason.contains("markpilot models fetch"), "{}", skipped[0].reason);
    }
}
