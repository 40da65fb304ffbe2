//! score: perception quality against ground truth, as the perception metric defines it
//! (`annotations.json`: interactive elements and text regions per image).
//!
//! The same measurement as the project's reference scorer (`score_elements.py`), on the same
//! input the same numbers:
//! - **click_recall**: ground-truth elements whose box holds the centre of at least one mark;
//! - **ambiguity**: elements holding the centres of two or more marks, each centre counted
//!   only for the smallest element holding it (a check box marked inside a marked row is not
//!   ambiguous); `ambiguity_any` without that rule;
//! - **precision_proxy**: marks whose centre lies in an element or a text region;
//! - **combined** = F1(click_recall, precision_proxy) × (1 − ambiguity).
//!
//! Boxes are `[x, y, w, h]` in image pixels; "holds" is half-open (`x ≤ px < x + w`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ScoreError {
    #[error("cannot read {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("{path} is not ground truth in the perception metric's format: {detail}")]
    Format { path: String, detail: String },
}

/// One screen of a ground-truth set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TruthImage {
    pub id: u64,
    pub file: String,
    pub width: u32,
    pub height: u32,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub app: String,
    /// Optional: the theme (`light`, `dark`) and scale the screen was taken at.
    #[serde(default)]
    pub theme: Option<String>,
    #[serde(default)]
    pub scale: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TruthElement {
    pub image_id: u64,
    pub bbox: [f64; 4],
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TextRegion {
    pub image_id: u64,
    pub bbox: [f64; 4],
}

/// A ground-truth set (`annotations.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Truth {
    pub images: Vec<TruthImage>,
    pub annotations: Vec<TruthElement>,
    #[serde(default)]
    pub text_regions: Vec<TextRegion>,
}

impl Truth {
    pub fn load(path: &Path) -> Result<Self, ScoreError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScoreError::Read { path: path.display().to_string(), detail: e.to_string() })?;
        let truth: Truth = serde_json::from_str(&text)
            .map_err(|e| ScoreError::Format { path: path.display().to_string(), detail: e.to_string() })?;
        for a in truth
            .annotations
            .iter()
            .map(|a| (a.image_id, a.bbox))
            .chain(truth.text_regions.iter().map(|t| (t.image_id, t.bbox)))
        {
            if !truth.images.iter().any(|im| im.id == a.0) {
                return Err(ScoreError::Format {
                    path: path.display().to_string(),
                    detail: format!("a box refers to image {} which is not listed", a.0),
                });
            }
            if a.1.iter().any(|v| !v.is_finite()) {
                return Err(ScoreError::Format {
                    path: path.display().to_string(),
                    detail: "a box is not finite".into(),
                });
            }
        }
        Ok(truth)
    }

    pub fn elements_of(&self, image: u64) -> impl Iterator<Item = &TruthElement> {
        self.annotations.iter().filter(move |a| a.image_id == image)
    }

    pub fn texts_of(&self, image: u64) -> impl Iterator<Item = &TextRegion> {
        self.text_regions.iter().filter(move |t| t.image_id == image)
    }
}

/// One image's per-element results.
#[derive(Debug, Clone, Default)]
pub struct ImageScore {
    pub file: String,
    pub source: String,
    pub app: String,
    /// Per ground-truth element: a mark centre inside; a box with IoU ≥ 0.5; ambiguous
    /// (smallest-box rule); ambiguous (any box); its role.
    pub hit: Vec<bool>,
    pub iou50: Vec<bool>,
    pub amb_leaf: Vec<bool>,
    pub amb_any: Vec<bool>,
    pub roles: Vec<String>,
    /// Marks whose centre is in an element or a text region; in an element.
    pub precise: usize,
    pub on_gt: usize,
    pub marks: usize,
    pub text_regions: usize,
}

fn contains(b: &[f64; 4], px: f64, py: f64) -> bool {
    px >= b[0] && px < b[0] + b[2] && py >= b[1] && py < b[1] + b[3]
}

fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let iw = ((a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0])).max(0.0);
    let ih = ((a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = a[2] * a[3] + b[2] * b[3] - inter;
    inter / union.max(1e-9)
}

/// Score one image: ground-truth elements `gt` (with roles), text regions, predicted boxes.
pub fn score_image(gt: &[([f64; 4], String)], texts: &[[f64; 4]], preds: &[[f64; 4]]) -> ImageScore {
    // Boxes with no area are not marks (the reference drops them when loading).
    let preds: Vec<&[f64; 4]> = preds.iter().filter(|b| b[2] > 0.0 && b[3] > 0.0).collect();
    let centres: Vec<(f64, f64)> = preds.iter().map(|b| (b[0] + b[2] / 2.0, b[1] + b[3] / 2.0)).collect();
    let n = gt.len();
    let mut s = ImageScore {
        hit: vec![false; n],
        iou50: vec![false; n],
        amb_leaf: vec![false; n],
        amb_any: vec![false; n],
        roles: gt.iter().map(|(_, r)| r.clone()).collect(),
        marks: preds.len(),
        text_regions: texts.len(),
        ..Default::default()
    };
    let mut owned = vec![0usize; n];
    for (m, &(cx, cy)) in centres.iter().enumerate() {
        let mut owner: Option<(f64, usize)> = None;
        let mut in_gt = false;
        for (i, (b, _)) in gt.iter().enumerate() {
            if contains(b, cx, cy) {
                in_gt = true;
                let area = b[2] * b[3];
                // The first of equally small boxes (numpy's argmin).
                if owner.is_none_or(|(a, _)| area < a) {
                    owner = Some((area, i));
                }
            }
        }
        if let Some((_, i)) = owner {
            owned[i] += 1;
        }
        if in_gt {
            s.on_gt += 1;
        }
        if in_gt || texts.iter().any(|t| contains(t, cx, cy)) {
            s.precise += 1;
        }
        let _ = m;
    }
    for (i, (b, _)) in gt.iter().enumerate() {
        let inside = centres.iter().filter(|&&(cx, cy)| contains(b, cx, cy)).count();
        s.hit[i] = inside >= 1;
        s.amb_any[i] = inside >= 2;
        s.amb_leaf[i] = owned[i] >= 2;
        s.iou50[i] = preds.iter().any(|p| iou(b, p) >= 0.5);
    }
    s
}

/// Figures over a group of images (micro-averaged over elements and marks).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    pub images: usize,
    pub gt_elements: usize,
    pub text_regions: usize,
    pub click_recall: f64,
    pub recall_iou50: f64,
    pub marks_per_image: f64,
    pub gt_median: f64,
    pub ambiguity: f64,
    pub ambiguity_any: f64,
    pub precision_proxy: f64,
    pub precision_interactive: f64,
    pub combined: f64,
    /// Marks over ground-truth elements plus text regions.
    pub marks_per_thing: f64,
}

fn f1(r: f64, p: f64) -> f64 {
    if r + p == 0.0 { 0.0 } else { 2.0 * r * p / (r + p) }
}

fn median(mut v: Vec<usize>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    let n = v.len();
    if n % 2 == 1 { v[n / 2] as f64 } else { (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0 }
}

pub fn aggregate<'a>(rows: impl IntoIterator<Item = &'a ImageScore>) -> Figures {
    let rows: Vec<&ImageScore> = rows.into_iter().collect();
    let n_gt: usize = rows.iter().map(|r| r.hit.len()).sum();
    let marks: usize = rows.iter().map(|r| r.marks).sum();
    let texts: usize = rows.iter().map(|r| r.text_regions).sum();
    let count = |f: &dyn Fn(&ImageScore) -> usize| rows.iter().map(|r| f(r)).sum::<usize>() as f64;
    let per_gt = |v: f64| if n_gt > 0 { v / n_gt as f64 } else { 0.0 };
    let per_mark = |v: f64| if marks > 0 { v / marks as f64 } else { 0.0 };
    let trues = |v: &[bool]| v.iter().filter(|&&b| b).count();
    let mut f = Figures {
        images: rows.len(),
        gt_elements: n_gt,
        text_regions: texts,
        click_recall: per_gt(count(&|r| trues(&r.hit))),
        recall_iou50: per_gt(count(&|r| trues(&r.iou50))),
        marks_per_image: if rows.is_empty() { 0.0 } else { marks as f64 / rows.len() as f64 },
        gt_median: median(rows.iter().map(|r| r.hit.len()).collect()),
        ambiguity: per_gt(count(&|r| trues(&r.amb_leaf))),
        ambiguity_any: per_gt(count(&|r| trues(&r.amb_any))),
        precision_proxy: per_mark(count(&|r| r.precise)),
        precision_interactive: per_mark(count(&|r| r.on_gt)),
        marks_per_thing: if n_gt + texts > 0 { marks as f64 / (n_gt + texts) as f64 } else { 0.0 },
        ..Default::default()
    };
    f.combined = f1(f.click_recall, f.precision_proxy) * (1.0 - f.ambiguity);
    f
}

/// Per role: how many elements, recalled, ambiguous.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RoleFigures {
    pub n: usize,
    pub click_recall: f64,
    pub ambiguity: f64,
}

pub fn per_role<'a>(rows: impl IntoIterator<Item = &'a ImageScore>) -> BTreeMap<String, RoleFigures> {
    let mut acc: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for r in rows {
        for (i, role) in r.roles.iter().enumerate() {
            let e = acc.entry(role.clone()).or_default();
            e.0 += 1;
            e.1 += r.hit[i] as usize;
            e.2 += r.amb_leaf[i] as usize;
        }
    }
    acc.into_iter()
        .map(|(k, (n, h, a))| (k, RoleFigures { n, click_recall: h as f64 / n as f64, ambiguity: a as f64 / n as f64 }))
        .collect()
}

/// Score a whole set: `preds(file)` gives the predicted boxes of each image (None: the
/// image has no predictions, which counts as no marks).
pub fn score_set(truth: &Truth, mut preds: impl FnMut(&TruthImage) -> Option<Vec<[f64; 4]>>) -> Vec<ImageScore> {
    truth
        .images
        .iter()
        .map(|im| {
            let gt: Vec<([f64; 4], String)> = truth.elements_of(im.id).map(|a| (a.bbox, a.role.clone())).collect();
            let texts: Vec<[f64; 4]> = truth.texts_of(im.id).map(|t| t.bbox).collect();
            let p = preds(im).unwrap_or_default();
            let mut s = score_image(&gt, &texts, &p);
            s.file = im.file.clone();
            s.source = im.source.clone();
            s.app = im.app.clone();
            s
        })
        .collect()
}

/// Group images by a key (source, app, ...) and aggregate each group.
pub fn grouped<'a>(rows: &'a [ImageScore], key: impl Fn(&ImageScore) -> &str) -> BTreeMap<String, Figures> {
    let mut groups: BTreeMap<String, Vec<&'a ImageScore>> = BTreeMap::new();
    for r in rows {
        groups.entry(key(r).to_string()).or_default().push(r);
    }
    groups.into_iter().map(|(k, v)| (k, aggregate(v))).collect()
}

/// A fixed-width table of figures, one line per group.
pub fn table(groups: &[(String, Figures)]) -> String {
    let mut out = format!(
        "{:<26}{:>7}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}{:>10}\n",
        "group", "images", "gt", "recall", "ambig", "precis", "combin", "iou50", "marks/img"
    );
    for (name, f) in groups {
        out.push_str(&format!(
            "{:<26}{:>7}{:>8}{:>8.3}{:>8.3}{:>8.3}{:>8.3}{:>8.3}{:>10.1}\n",
            name,
            f.images,
            f.gt_elements,
            f.click_recall,
            f.ambiguity,
            f.precision_proxy,
            f.combined,
            f.recall_iou50,
            f.marks_per_image
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gt(v: &[[f64; 4]]) -> Vec<([f64; 4], String)> {
        v.iter().map(|b| (*b, "push button".to_string())).collect()
    }

    #[test]
    fn a_check_box_marked_inside_a_marked_row_is_not_ambiguous() {
        let row = [0.0, 0.0, 200.0, 20.0];
        let check = [4.0, 4.0, 12.0, 12.0];
        let s = score_image(&gt(&[row, check]), &[], &[[0.0, 0.0, 200.0, 20.0], [4.0, 4.0, 12.0, 12.0]]);
        assert_eq!(s.hit, vec![true, true]);
        assert_eq!(s.amb_leaf, vec![false, false]);
        assert_eq!(s.amb_any, vec![true, false], "the row holds both centres");
    }

    #[test]
    fn two_marks_on_one_button_are_ambiguous_and_a_mark_on_nothing_is_imprecise() {
        let b = [10.0, 10.0, 100.0, 30.0];
        let s = score_image(
            &gt(&[b]),
            &[[300.0, 0.0, 50.0, 10.0]],
            &[[10.0, 10.0, 40.0, 30.0], [60.0, 10.0, 40.0, 30.0], [300.0, 0.0, 40.0, 10.0], [500.0, 500.0, 10.0, 10.0]],
        );
        assert!(s.hit[0] && s.amb_leaf[0]);
        assert_eq!((s.precise, s.on_gt, s.marks), (3, 2, 4));
        let f = aggregate([&s]);
        assert_eq!(f.click_recall, 1.0);
        assert_eq!(f.precision_proxy, 0.75);
        assert_eq!(f.ambiguity, 1.0);
        assert_eq!(f.combined, 0.0);
    }

    #[test]
    fn boxes_hold_their_top_left_edge_but_not_their_bottom_right_one() {
        let b = [10.0, 10.0, 10.0, 10.0];
        // Centres at (10, 10) and (20, 20).
        let s = score_image(&gt(&[b]), &[], &[[5.0, 5.0, 10.0, 10.0]]);
        assert!(s.hit[0]);
        let s = score_image(&gt(&[b]), &[], &[[15.0, 15.0, 10.0, 10.0]]);
        assert!(!s.hit[0]);
    }

    /// The reference scorer's figures on this input (`score_elements.py --json`):
    /// click_recall 1.0, recall_iou50 0.6667, ambiguity 0.3333, precision_proxy 0.8333,
    /// precision_interactive 0.6667, combined 0.6061, gt_median 1.5; per source: gtk
    /// combined 0.5, web combined 0.8.
    #[test]
    fn figures_match_the_reference_scorer_on_a_small_set() {
        let truth: Truth = serde_json::from_str(
            r#"{"images": [{"id": 1, "file": "a.png", "width": 100, "height": 100, "source": "gtk", "app": "x"},
                           {"id": 2, "file": "b.png", "width": 100, "height": 100, "source": "web", "app": "y"}],
                "annotations": [{"id": 1, "image_id": 1, "bbox": [0, 0, 50, 20], "role": "push button"},
                                {"id": 2, "image_id": 1, "bbox": [0, 30, 50, 20], "role": "entry"},
                                {"id": 3, "image_id": 2, "bbox": [10, 10, 30, 30], "role": "link"}],
                "text_regions": [{"image_id": 2, "bbox": [60, 60, 30, 10]}]}"#,
        )
        .unwrap();
        let rows = score_set(&truth, |im| match im.file.as_str() {
            "a.png" => Some(vec![[0.0, 0.0, 50.0, 20.0], [2.0, 2.0, 10.0, 10.0], [5.0, 32.0, 40.0, 16.0]]),
            _ => Some(vec![[60.0, 60.0, 30.0, 10.0], [70.0, 10.0, 5.0, 5.0], [15.0, 15.0, 20.0, 20.0]]),
        });
        let f = aggregate(&rows);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-4;
        assert!(close(f.click_recall, 1.0), "{f:?}");
        assert!(close(f.recall_iou50, 0.6667), "{f:?}");
        assert!(close(f.ambiguity, 0.3333), "{f:?}");
        assert!(close(f.precision_proxy, 0.8333), "{f:?}");
        assert!(close(f.precision_interactive, 0.6667), "{f:?}");
        assert!(close(f.combined, 0.6061), "{f:?}");
        assert_eq!(f.gt_median, 1.5);
        let by_source = grouped(&rows, |r| &r.source);
        assert!(close(by_source["gtk"].combined, 0.5));
        assert!(close(by_source["web"].combined, 0.8));
    }
}
