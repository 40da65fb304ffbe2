//! perceive: [`Frame`](crate::capture::Frame) image → [`Scene`] of numbered [`Element`]s.
//!
//! Detectors propose boxes ([`Proposal`]); [`fusion`] removes duplicates and attaches text
//! to the controls it sits in; [`numbering`] numbers the result in reading order. The
//! [`Pipeline`] runs all of it and times each stage.

pub mod a11y;
pub mod builtin;
mod components;
pub mod fusion;
pub mod numbering;
pub mod ocr;
pub mod sam;
pub mod setup;
pub mod yolo;

use std::fmt;
use std::time::Instant;

use image::RgbaImage;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::geometry::Rect;

pub use builtin::{BuiltinConfig, BuiltinDetector};

/// What kind of thing an element looks like. A guess: detectors differ in how sure they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ElementKind {
    Button,
    TextField,
    CheckBox,
    RadioButton,
    Toggle,
    Slider,
    ComboBox,
    Tab,
    MenuItem,
    Link,
    ListRow,
    Icon,
    Text,
    Image,
    Other,
}

impl ElementKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ElementKind::Button => "button",
            ElementKind::TextField => "text_field",
            ElementKind::CheckBox => "check_box",
            ElementKind::RadioButton => "radio_button",
            ElementKind::Toggle => "toggle",
            ElementKind::Slider => "slider",
            ElementKind::ComboBox => "combo_box",
            ElementKind::Tab => "tab",
            ElementKind::MenuItem => "menu_item",
            ElementKind::Link => "link",
            ElementKind::ListRow => "list_row",
            ElementKind::Icon => "icon",
            ElementKind::Text => "text",
            ElementKind::Image => "image",
            ElementKind::Other => "other",
        }
    }

    /// Text and icons are content; everything else is a control that can hold a label.
    pub fn is_content(&self) -> bool {
        matches!(self, ElementKind::Text | ElementKind::Icon | ElementKind::Link)
    }
}

impl fmt::Display for ElementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A binary mask over an element's box (row-major, `bbox.w * bbox.h` entries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mask {
    pub bbox: Rect,
    pub bits: Vec<bool>,
}

impl Mask {
    pub fn get(&self, x: i32, y: i32) -> bool {
        let (lx, ly) = (x - self.bbox.x, y - self.bbox.y);
        if lx < 0 || ly < 0 || lx >= self.bbox.w as i32 || ly >= self.bbox.h as i32 {
            return false;
        }
        self.bits[ly as usize * self.bbox.w as usize + lx as usize]
    }
}

/// What an application says of one of its elements (through its accessibility tree): vision
/// cannot know these, so only the `a11y` detector sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Checked,
    Selected,
    Focused,
    Expanded,
    Disabled,
    /// A field whose text is hidden (a "password text").
    Password,
}

impl State {
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Checked => "checked",
            State::Selected => "selected",
            State::Focused => "focused",
            State::Expanded => "expanded",
            State::Disabled => "disabled",
            State::Password => "password",
        }
    }
}

/// One detector's guess at an element, before fusion and numbering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub bbox: Rect,
    pub kind: ElementKind,
    pub text: Option<String>,
    pub score: f32,
    pub source: String,
    pub mask: Option<Mask>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<State>,
    /// Where it sits in its application's accessibility tree (see [`Element::path`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl Proposal {
    pub fn new(bbox: Rect, kind: ElementKind, score: f32, source: &str) -> Self {
        Self { bbox, kind, text: None, score, source: source.to_string(), mask: None, states: Vec::new(), path: None }
    }
}

/// A numbered element: what a mark points at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Element {
    /// 1..N in reading order.
    pub id: u32,
    /// In frame pixels.
    pub bbox: Rect,
    pub kind: ElementKind,
    pub text: Option<String>,
    pub score: f32,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mask: Option<Mask>,
    /// What the application says of it (checked, disabled…), when its tree was read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<State>,
    /// Where it sits in its application's accessibility tree, when that was read: the roles
    /// and names of the named objects above it, outermost first (`dialog "Settings" > page
    /// tab "Fonts"`). Replay's strongest clue when both runs read the tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl Element {
    /// An element with a box, a kind and perhaps text: score 1, no mask, states or tree path.
    pub fn simple(id: u32, kind: ElementKind, text: Option<&str>, bbox: Rect, source: &str) -> Self {
        Self {
            id,
            bbox,
            kind,
            text: text.map(str::to_string),
            score: 1.0,
            source: source.into(),
            mask: None,
            states: Vec::new(),
            path: None,
        }
    }

    pub fn has(&self, state: State) -> bool {
        self.states.contains(&state)
    }
}

/// The elements found on one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    pub width: u32,
    pub height: u32,
    pub elements: Vec<Element>,
}

impl Scene {
    pub fn element(&self, id: u32) -> Option<&Element> {
        self.elements.iter().find(|e| e.id == id)
    }
}

#[derive(Debug, Error)]
pub enum PerceiveError {
    #[error("the image is empty ({width}x{height}); nothing to detect")]
    EmptyImage { width: u32, height: u32 },
    #[error("detector {detector} failed: {detail}")]
    Detector { detector: String, detail: String },
}

/// What a detector knows about the image besides its pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    /// Physical pixels per logical point of the screen it shows (2 on a HiDPI screen at
    /// 200 %): GUI elements are drawn this many times larger than at 100 %.
    pub scale: f64,
    /// Where on the desktop the image was captured (`None` for an image from a file):
    /// what lets the accessibility tree's screen boxes be put on its pixels.
    pub screen: Option<crate::coords::FrameMapping>,
}

impl ImageInfo {
    pub fn new(scale: f64) -> Self {
        Self { scale, screen: None }
    }
}

impl Default for ImageInfo {
    fn default() -> Self {
        Self::new(1.0)
    }
}

/// Turns an RGBA image into proposals (boxes in the image's pixels).
pub trait Detector: Send {
    /// Short name, used as each proposal's `source`.
    fn name(&self) -> &str;
    fn detect(&mut self, image: &RgbaImage, info: &ImageInfo) -> Result<Vec<Proposal>, PerceiveError>;

    /// Milliseconds of this detector's own stages on the last image (text: blocks,
    /// detection, recognition), for benchmarks.
    fn stages(&self) -> Vec<(String, f64)> {
        Vec::new()
    }

    /// Drop whatever was kept from earlier frames (the next run is cold).
    fn forget(&mut self) {}

    /// Whether this detector works from the other detectors' proposals (a segmenter
    /// prompted with their boxes): it then runs after them.
    fn uses_prior(&self) -> bool {
        false
    }

    /// Detect, given the proposals of the detectors that ran before.
    fn detect_with_prior(
        &mut self,
        image: &RgbaImage,
        info: &ImageInfo,
        _prior: &[Proposal],
    ) -> Result<Vec<Proposal>, PerceiveError> {
        self.detect(image, info)
    }
}

/// Milliseconds spent in each perception stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PerceiveTimings {
    /// Per detector, in the order they ran.
    pub detectors: Vec<(String, f64)>,
    pub fusion: f64,
    /// Detectors that failed on this image, with the error (the others' results stand).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<(String, String)>,
}

impl PerceiveTimings {
    pub fn detect_total(&self) -> f64 {
        self.detectors.iter().map(|(_, ms)| ms).sum()
    }
}

/// Detectors + fusion + numbering.
pub struct Pipeline {
    detectors: Vec<Box<dyn Detector>>,
    pub fusion: fusion::FusionConfig,
}

impl Pipeline {
    pub fn new(detectors: Vec<Box<dyn Detector>>) -> Self {
        Self { detectors, fusion: fusion::FusionConfig::default() }
    }

    /// The default pipeline: the built-in, model-free detector only.
    pub fn builtin() -> Self {
        Self::new(vec![Box::new(BuiltinDetector::default())])
    }

    /// Forget earlier frames: the next perception is a cold run.
    pub fn forget(&mut self) {
        self.detectors.iter_mut().for_each(|d| d.forget());
    }

    /// Each detector's own stages on the last image.
    pub fn stages(&self) -> Vec<(String, f64)> {
        self.detectors.iter().flat_map(|d| d.stages()).collect()
    }

    pub fn detector_names(&self) -> Vec<String> {
        self.detectors.iter().map(|d| d.name().to_string()).collect()
    }

    pub fn perceive(&mut self, image: &RgbaImage, info: &ImageInfo) -> Result<(Scene, PerceiveTimings), PerceiveError> {
        let (width, height) = image.dimensions();
        if width == 0 || height == 0 {
            return Err(PerceiveError::EmptyImage { width, height });
        }
        let mut timings = PerceiveTimings::default();
        let mut proposals = Vec::new();
        // Independent detectors run side by side (the built-in detector's tens of
        // milliseconds hide behind text detection); the ones that need their proposals after.
        type Group<'a> = Vec<&'a mut Box<dyn Detector>>;
        let (first, later): (Group, Group) = self.detectors.iter_mut().partition(|d| !d.uses_prior());
        let results: Vec<(String, f64, Result<Vec<Proposal>, PerceiveError>)> = std::thread::scope(|scope| {
            let run = |d: &mut Box<dyn Detector>| {
                let t = Instant::now();
                let name = d.name().to_string();
                let found = isolated(&name, || d.detect(image, info));
                (name, ms(t), found)
            };
            let mut iter = first.into_iter();
            let head = iter.next();
            let handles: Vec<_> = iter.map(|d| (d.name().to_string(), scope.spawn(move || run(d)))).collect();
            let mut results: Vec<_> = head.map(run).into_iter().collect();
            for (name, h) in handles {
                results.push(h.join().unwrap_or_else(|p| {
                    let detail = crate::onnx::panic_text(&p);
                    (name.clone(), 0.0, Err(PerceiveError::Detector { detector: name, detail }))
                }));
            }
            results
        });
        // One detector failing on this image (a model that cannot take it) does not cost the
        // others' results; only when every detector fails is perception an error.
        let mut first_error = None;
        for (name, t, found) in results {
            timings.detectors.push((name.clone(), t));
            match found {
                Ok(found) => proposals.extend(found),
                Err(e) => {
                    timings.failures.push((name, e.to_string()));
                    first_error.get_or_insert(e);
                }
            }
        }
        for d in later {
            let t = Instant::now();
            let name = d.name().to_string();
            let found = isolated(&name, || d.detect_with_prior(image, info, &proposals));
            timings.detectors.push((d.name().to_string(), ms(t)));
            match found {
                Ok(found) => proposals.extend(found),
                Err(e) => {
                    timings.failures.push((d.name().to_string(), e.to_string()));
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error
            && timings.failures.len() == timings.detectors.len()
        {
            return Err(e);
        }
        let t = Instant::now();
        // Vision's proposals are fused among themselves, then with the accessibility tree's.
        let (tree, vision): (Vec<Proposal>, Vec<Proposal>) =
            proposals.into_iter().partition(|p| p.source == a11y::SOURCE);
        let fused = fusion::fuse(vision, width, height, &self.fusion);
        let fused = a11y::fuse::merge(tree, fused, width, height, &self.fusion);
        let elements = numbering::number(fused);
        timings.fusion = ms(t);
        Ok((Scene { width, height, elements }, timings))
    }
}

/// Run one detector so that its panic (a model runtime's, or a bug on a strange image) is
/// that detector's error on this image, whichever thread it runs on.
fn isolated(
    name: &str,
    f: impl FnOnce() -> Result<Vec<Proposal>, PerceiveError>,
) -> Result<Vec<Proposal>, PerceiveError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        Err(PerceiveError::Detector { detector: name.to_string(), detail: crate::onnx::panic_text(&p) })
    })
}

pub(crate) fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A detector that panics on every image, running first or after the others.
    struct Panicking {
        later: bool,
    }

    impl Detector for Panicking {
        fn name(&self) -> &str {
            if self.later { "panics-later" } else { "panics-first" }
        }
        fn detect(&mut self, _: &RgbaImage, _: &ImageInfo) -> Result<Vec<Proposal>, PerceiveError> {
            panic!("a detector bug")
        }
        fn uses_prior(&self) -> bool {
            self.later
        }
    }

    #[test]
    fn a_detector_that_panics_first_or_last_costs_only_its_own_results() {
        let mut image = RgbaImage::from_pixel(320, 200, image::Rgba([240, 240, 240, 255]));
        for y in 60..90 {
            for x in 40..160 {
                image.put_pixel(x, y, image::Rgba([40, 90, 200, 255]));
            }
        }
        let mut p = Pipeline::new(vec![
            Box::new(Panicking { later: false }),
            Box::new(BuiltinDetector::default()),
            Box::new(Panicking { later: true }),
        ]);
        let info = ImageInfo { scale: 1.0, screen: None };
        let (_, t) = p.perceive(&image, &info).expect("the built-in detector's results stand");
        let failed: Vec<&str> = t.failures.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(failed, ["panics-first", "panics-later"]);
        assert!(t.failures.iter().all(|(_, why)| why.contains("a detector bug")), "{:?}", t.failures);
        // Every detector failing is perception failing, said, not a panic.
        let mut all_bad = Pipeline::new(vec![Box::new(Panicking { later: false })]);
        assert!(matches!(all_bad.perceive(&image, &info), Err(PerceiveError::Detector { .. })));
    }
}
