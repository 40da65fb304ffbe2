//! Fusion: many detectors' proposals → one set of distinct elements.
//!
//! - Overlap counts containment: [`Rect::overlap`] is the largest of IoU and the
//!   intersection over each box's own area.
//! - Content (text, icons) inside a control becomes part of it; recognised text becomes
//!   the control's label.
//! - Of two overlapping controls the tighter one stays, inheriting the other's label and
//!   mask when it has none.
//! - Duplicate content (two detectors finding one word) keeps the more confident copy.
//! - Boxes too small to act on, or nearly the whole image, are dropped.

use serde::{Deserialize, Serialize};

use super::Proposal;
use crate::geometry::Rect;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FusionConfig {
    /// Two controls overlapping at least this much are one element.
    pub control_overlap: f64,
    /// Content at least this much inside a control belongs to it.
    pub content_inside: f64,
    /// Two pieces of content overlapping at least this much are duplicates.
    pub content_overlap: f64,
    /// Smallest side kept, in pixels.
    pub min_side: u32,
    /// Boxes covering at least this fraction of the image are dropped.
    pub max_area_frac: f64,
}

impl Default for FusionConfig {
    fn default() -> Self {
        Self { control_overlap: 0.8, content_inside: 0.7, content_overlap: 0.6, min_side: 3, max_area_frac: 0.6 }
    }
}

fn sort_key(p: &Proposal) -> (i32, i32, u32, u32) {
    (p.bbox.y, p.bbox.x, p.bbox.w, p.bbox.h)
}

fn join_label(a: &Option<String>, b: &Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) if !b.is_empty() && !a.contains(b.as_str()) => Some(format!("{a} {b}")),
        (Some(a), _) => Some(a.clone()),
        (None, b) => b.clone(),
    }
}

/// Fuse proposals from any number of detectors for a `width`×`height` image.
pub fn fuse(proposals: Vec<Proposal>, width: u32, height: u32, cfg: &FusionConfig) -> Vec<Proposal> {
    let image_area = width as f64 * height as f64;
    let image = Rect::new(0, 0, width, height);
    let mut ps: Vec<Proposal> = proposals
        .into_iter()
        .filter_map(|mut p| {
            p.bbox = p.bbox.clamp_to(width, height);
            let ok = p.bbox.w >= cfg.min_side
                && p.bbox.h >= cfg.min_side
                && (p.bbox.area() as f64) < cfg.max_area_frac * image_area;
            ok.then_some(p)
        })
        .collect();
    debug_assert!(ps.iter().all(|p| image.contains(&p.bbox)));
    // Deterministic: confidence first, then position, then source.
    ps.sort_by(|a, b| {
        b.score.total_cmp(&a.score).then_with(|| sort_key(a).cmp(&sort_key(b))).then_with(|| a.source.cmp(&b.source))
    });

    let (mut controls, mut content): (Vec<Proposal>, Vec<Proposal>) =
        ps.into_iter().partition(|p| !p.kind.is_content());

    // Controls: tighter wins among overlapping ones.
    controls.sort_by(|a, b| a.bbox.area().cmp(&b.bbox.area()).then_with(|| sort_key(a).cmp(&sort_key(b))));
    let mut kept: Vec<Proposal> = Vec::with_capacity(controls.len());
    for p in controls {
        if let Some(k) = kept.iter_mut().find(|k| k.bbox.overlap(&p.bbox) >= cfg.control_overlap) {
            // `k` is the tighter (sorted by area). It inherits what it lacks.
            if k.text.is_none() {
                k.text = p.text.clone();
            }
            if k.mask.is_none() {
                k.mask = p.mask.clone();
            }
            k.score = k.score.max(p.score);
            continue;
        }
        kept.push(p);
    }

    // Content: duplicates collapse, preferring recognised text, then confidence.
    content.sort_by(|a, b| {
        b.text
            .is_some()
            .cmp(&a.text.is_some())
            .then(b.score.total_cmp(&a.score))
            .then_with(|| sort_key(a).cmp(&sort_key(b)))
    });
    let mut unique: Vec<Proposal> = Vec::with_capacity(content.len());
    for p in content {
        if let Some(u) =
            unique.iter_mut().find(|u| u.bbox.overlap(&p.bbox) >= cfg.content_overlap && u.bbox.iou(&p.bbox) > 0.3)
        {
            if u.text.is_none() {
                u.text = p.text.clone();
            }
            continue;
        }
        unique.push(p);
    }

    // Content inside a control becomes part of it (the tightest control holding it).
    unique.sort_by_key(sort_key);
    let mut free = Vec::with_capacity(unique.len());
    for p in unique {
        let inside =
            |k: &Proposal| k.bbox.intersection(&p.bbox).area() as f64 >= cfg.content_inside * p.bbox.area() as f64;
        let host = kept.iter_mut().filter(|k| inside(k)).min_by_key(|k| k.bbox.area());
        match host {
            Some(k) => {
                k.text = join_label(&k.text, &p.text);
                // Say where the label came from when another detector read it.
                if p.text.is_some() && p.source != k.source && !k.source.split('+').any(|s| s == p.source) {
                    k.source = format!("{}+{}", k.source, p.source);
                }
            }
            None => free.push(p),
        }
    }
    kept.extend(free);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perceive::ElementKind;

    fn p(x: i32, y: i32, w: u32, h: u32, kind: ElementKind, text: Option<&str>, source: &str) -> Proposal {
        Proposal {
            bbox: Rect::new(x, y, w, h),
            kind,
            text: text.map(String::from),
            score: 0.8,
            source: source.into(),
            mask: None,
        }
    }

    #[test]
    fn text_inside_a_control_becomes_its_label() {
        let out = fuse(
            vec![
                p(10, 10, 100, 30, ElementKind::Button, None, "builtin"),
                p(40, 18, 40, 12, ElementKind::Text, Some("Save"), "ocr"),
            ],
            400,
            300,
            &FusionConfig::default(),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, ElementKind::Button);
        assert_eq!(out[0].text.as_deref(), Some("Save"));
        assert_eq!(out[0].source, "builtin+ocr", "the label's reader is named");
    }

    #[test]
    fn of_two_overlapping_controls_the_tighter_stays() {
        let out = fuse(
            vec![
                p(10, 10, 100, 30, ElementKind::Button, Some("OK"), "yolo"),
                p(12, 12, 96, 26, ElementKind::Button, None, "builtin"),
            ],
            400,
            300,
            &FusionConfig::default(),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bbox, Rect::new(12, 12, 96, 26));
        assert_eq!(out[0].text.as_deref(), Some("OK"), "the kept box inherits the label");
    }

    #[test]
    fn a_control_nested_in_a_large_one_is_a_separate_element_only_when_overlap_is_low() {
        // A list row (tiny overlap relative to the list's own area, but fully contained).
        let out = fuse(
            vec![p(0, 0, 300, 200, ElementKind::Other, None, "a"), p(10, 10, 100, 20, ElementKind::Button, None, "b")],
            400,
            300,
            &FusionConfig::default(),
        );
        assert_eq!(out.len(), 1, "containment counts as overlap: the tighter stays");
        assert_eq!(out[0].bbox, Rect::new(10, 10, 100, 20));
    }

    #[test]
    fn duplicate_text_from_two_detectors_collapses_to_the_recognised_one() {
        let out = fuse(
            vec![
                p(10, 10, 50, 12, ElementKind::Text, None, "builtin"),
                p(11, 10, 48, 13, ElementKind::Text, Some("File"), "ocr"),
            ],
            400,
            300,
            &FusionConfig::default(),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].text.as_deref(), Some("File"));
    }

    #[test]
    fn tiny_and_screen_sized_boxes_are_dropped() {
        let out = fuse(
            vec![
                p(0, 0, 400, 300, ElementKind::Other, None, "a"),
                p(5, 5, 2, 2, ElementKind::Icon, None, "a"),
                p(50, 50, 20, 20, ElementKind::Icon, None, "a"),
            ],
            400,
            300,
            &FusionConfig::default(),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bbox, Rect::new(50, 50, 20, 20));
    }

    #[test]
    fn fusion_does_not_depend_on_input_order() {
        let a = vec![
            p(10, 10, 100, 30, ElementKind::Button, None, "x"),
            p(40, 18, 40, 12, ElementKind::Text, Some("Save"), "y"),
            p(200, 10, 30, 30, ElementKind::Icon, None, "x"),
            p(12, 12, 96, 26, ElementKind::Button, None, "y"),
        ];
        let mut b = a.clone();
        b.reverse();
        let cfg = FusionConfig::default();
        let mut fa = fuse(a, 400, 300, &cfg);
        let mut fb = fuse(b, 400, 300, &cfg);
        fa.sort_by_key(sort_key);
        fb.sort_by_key(sort_key);
        assert_eq!(fa, fb);
    }
}
