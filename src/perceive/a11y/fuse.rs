//! The accessibility tree's elements and vision's, made one set.
//!
//! Where the tree speaks it is believed: its boxes are the toolkit's own, its roles, names
//! and states are what the application says. Vision fills what the tree does not explain
//! (canvas content, images, applications without a tree):
//! - a vision element on the same box as a tree element is that element (the tree's role,
//!   name and states; `source` says both);
//! - vision's content or controls inside a tree control, row, field or text are parts of it
//!   (a row's cells, a button's label): the tree element stands for them;
//! - what vision found mostly made of tree elements (a line of text across two labels, a
//!   group of tree controls), or a vision control holding a tree control (a check box and
//!   its label seen as one), adds nothing;
//! - the rest stays, and tree text inside a vision control the tree does not know becomes
//!   that control's label.

use super::super::fusion::{FusionConfig, reading_order};
use super::super::{ElementKind, Proposal};
use crate::geometry::Rect;

/// Tree elements that stand for what vision sees inside them. Icons and images do not: a
/// picture's content (a canvas, a photo) is vision's to find.
fn holds_parts(t: &Proposal) -> bool {
    !matches!(t.kind, ElementKind::Icon | ElementKind::Image | ElementKind::Other)
}

fn same(t: &Rect, v: &Rect) -> bool {
    t.iou(v) >= 0.5
}

fn inside(part: &Rect, whole: &Rect, frac: f64) -> bool {
    part.intersection(whole).area() as f64 >= frac * part.area() as f64
}

fn add_source(to: &mut String, from: &str) {
    for s in from.split('+') {
        if !to.split('+').any(|t| t == s) {
            to.push('+');
            to.push_str(s);
        }
    }
}

/// Tree text and pictures inside one of the tree's own controls are its parts: its label
/// when it has none.
fn fold_tree(tree: Vec<Proposal>) -> Vec<Proposal> {
    let (mut controls, content): (Vec<Proposal>, Vec<Proposal>) =
        tree.into_iter().partition(|t| !matches!(t.kind, ElementKind::Text | ElementKind::Icon));
    let mut free: Vec<Proposal> = Vec::new();
    for c in content {
        // The same words twice (a heading and the text inside it) are one piece of text.
        if let Some(f) = free
            .iter_mut()
            .find(|f| f.text == c.text && (inside(&c.bbox, &f.bbox, 0.9) || inside(&f.bbox, &c.bbox, 0.9)))
        {
            if c.bbox.area() < f.bbox.area() {
                f.bbox = c.bbox;
            }
            continue;
        }
        let host = (0..controls.len())
            .filter(|&i| holds_parts(&controls[i]) && inside(&c.bbox, &controls[i].bbox, 0.8))
            .min_by_key(|&i| controls[i].bbox.area());
        match host {
            Some(i) => {
                if controls[i].text.is_none() {
                    controls[i].text = c.text;
                }
            }
            None => free.push(c),
        }
    }
    // A control whose middle is a smaller control inside it (a combo box around its entry)
    // would be clicked there: the inner one stands for both, with the outer's name if it has
    // none and its states too. A row stays (its middle is its text, not the check box in a
    // cell) unless what lies at its middle is as tall as the row (a row of column headers).
    let mut i = 0;
    while i < controls.len() {
        let (cx, cy) = controls[i].bbox.center();
        let outer = &controls[i];
        let inner = (0..controls.len()).find(|&j| {
            let c = &controls[j];
            j != i
                && (outer.kind != ElementKind::ListRow || c.bbox.h * 10 >= outer.bbox.h * 9)
                && c.bbox.area() < outer.bbox.area()
                && c.bbox.contains_point(cx, cy)
                && inside(&c.bbox, &outer.bbox, 0.9)
        });
        match inner {
            Some(j) => {
                let outer = controls.remove(i);
                let j = if j > i { j - 1 } else { j };
                let inner = &mut controls[j];
                if inner.text.is_none() {
                    inner.text = outer.text;
                }
                for st in outer.states {
                    if !inner.states.contains(&st) {
                        inner.states.push(st);
                    }
                }
            }
            None => i += 1,
        }
    }
    controls.extend(free);
    controls
}

/// One set from the tree's proposals and vision's fused elements, for a `width`×`height`
/// image.
pub fn merge(tree: Vec<Proposal>, vision: Vec<Proposal>, width: u32, height: u32, cfg: &FusionConfig) -> Vec<Proposal> {
    let image_area = width as f64 * height as f64;
    let tree: Vec<Proposal> = tree
        .into_iter()
        .map(|mut t| {
            t.bbox = t.bbox.clamp_to(width, height);
            t
        })
        .filter(|t| {
            t.bbox.w >= cfg.min_side
                && t.bbox.h >= cfg.min_side
                && (t.bbox.area() as f64) < cfg.max_area_frac * image_area
        })
        .collect();
    if tree.is_empty() {
        return vision;
    }
    let mut tree = fold_tree(tree);
    let mut parts: Vec<Vec<(Rect, String)>> = vec![Vec::new(); tree.len()];
    let mut kept: Vec<Proposal> = Vec::with_capacity(vision.len());
    for v in vision {
        // The same thing: the tree element on (nearly) the same box, the closest if several.
        if let Some(t) = tree
            .iter_mut()
            .filter(|t| same(&t.bbox, &v.bbox))
            .max_by(|a, b| a.bbox.iou(&v.bbox).total_cmp(&b.bbox.iou(&v.bbox)))
        {
            add_source(&mut t.source, &v.source);
            if t.text.is_none() {
                t.text = v.text;
            }
            continue;
        }
        // A part of a tree element: what it reads names the element when the tree does not.
        let host = (0..tree.len())
            .filter(|&i| holds_parts(&tree[i]) && inside(&v.bbox, &tree[i].bbox, 0.8))
            .min_by_key(|&i| tree[i].bbox.area());
        if let Some(i) = host {
            if tree[i].text.is_none()
                && let Some(text) = v.text
            {
                parts[i].push((v.bbox, text));
            }
            continue;
        }
        // A coarser view of a tree control (a check box and its label seen as one).
        if !v.kind.is_content() && tree.iter().any(|t| !t.kind.is_content() && inside(&t.bbox, &v.bbox, 0.9)) {
            continue;
        }
        // Made of tree elements.
        let covered: u64 = tree.iter().filter(|t| holds_parts(t)).map(|t| t.bbox.intersection(&v.bbox).area()).sum();
        if covered as f64 >= 0.6 * v.bbox.area() as f64 {
            continue;
        }
        kept.push(v);
    }
    for (t, parts) in tree.iter_mut().zip(parts) {
        if t.text.is_none() && !parts.is_empty() {
            let words: Vec<String> = reading_order(parts).into_iter().map(|(_, s)| s).collect();
            t.text = Some(words.join(if t.kind == ElementKind::ListRow { " | " } else { " " }));
        }
    }
    // Tree text inside a control only vision found is that control's label.
    tree.retain(|t| {
        if !matches!(t.kind, ElementKind::Text) {
            return true;
        }
        let host = kept
            .iter_mut()
            .filter(|k| !k.kind.is_content() && inside(&t.bbox, &k.bbox, 0.9))
            .min_by_key(|k| k.bbox.area());
        match host {
            Some(k) => {
                if k.text.is_none() {
                    k.text = t.text.clone();
                }
                add_source(&mut k.source, &t.source);
                false
            }
            None => true,
        }
    });
    tree.extend(kept);
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: i32, y: i32, w: u32, h: u32, kind: ElementKind, text: Option<&str>, source: &str) -> Proposal {
        let mut p = Proposal::new(Rect::new(x, y, w, h), kind, 0.9, source);
        p.text = text.map(str::to_string);
        p
    }

    fn merged(tree: Vec<Proposal>, vision: Vec<Proposal>) -> Vec<Proposal> {
        merge(tree, vision, 800, 600, &FusionConfig::default())
    }

    #[test]
    fn a_control_both_found_is_one_element_with_the_trees_name_and_states() {
        let mut t = p(10, 10, 80, 24, ElementKind::CheckBox, Some("Wrap lines"), "a11y");
        t.states = vec![crate::perceive::State::Checked];
        let v = p(11, 10, 78, 25, ElementKind::Button, Some("Wrap lnes"), "builtin+text");
        let out = merged(vec![t], vec![v]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, ElementKind::CheckBox);
        assert_eq!(out[0].text.as_deref(), Some("Wrap lines"));
        assert_eq!(out[0].source, "a11y+builtin+text");
        assert_eq!(out[0].states, vec![crate::perceive::State::Checked]);
    }

    #[test]
    fn a_rows_cells_seen_apart_are_the_trees_one_row() {
        let row = p(0, 100, 600, 20, ElementKind::ListRow, Some("Xvfb | 22371 | 95.8 MiB"), "a11y");
        let cells = vec![
            p(4, 102, 40, 16, ElementKind::Text, Some("Xvfb"), "text"),
            p(200, 102, 50, 16, ElementKind::Text, Some("22371"), "text"),
            p(400, 101, 60, 18, ElementKind::Button, None, "builtin"),
        ];
        let out = merged(vec![row], cells);
        assert_eq!(out.len(), 1, "{out:?}");
    }

    #[test]
    fn what_the_tree_does_not_explain_stays_and_a_picture_keeps_its_content() {
        let picture = p(0, 0, 400, 300, ElementKind::Icon, Some("canvas"), "a11y");
        let button = p(500, 10, 60, 24, ElementKind::Button, Some("OK"), "a11y");
        let drawn = p(50, 50, 30, 30, ElementKind::Button, None, "builtin");
        let elsewhere = p(600, 400, 90, 20, ElementKind::Text, Some("status"), "text");
        let out = merged(vec![picture, button], vec![drawn.clone(), elsewhere.clone()]);
        assert_eq!(out.len(), 4);
        assert!(out.contains(&drawn) && out.contains(&elsewhere));
    }

    #[test]
    fn tree_text_inside_a_control_only_vision_found_becomes_its_label() {
        let label = p(20, 12, 40, 14, ElementKind::Text, Some("Apply"), "a11y");
        let button = p(10, 8, 80, 24, ElementKind::Button, None, "builtin");
        let out = merged(vec![label], vec![button]);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].kind, out[0].text.as_deref()), (ElementKind::Button, Some("Apply")));
        assert_eq!(out[0].source, "builtin+a11y");
    }

    #[test]
    fn a_combo_box_around_its_entry_is_marked_once_on_the_entry() {
        let combo = p(10, 10, 356, 34, ElementKind::ComboBox, Some("Fruit"), "a11y");
        let entry = p(10, 10, 320, 34, ElementKind::TextField, None, "a11y");
        let out = merged(vec![combo, entry], vec![]);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].kind, out[0].text.as_deref()), (ElementKind::TextField, Some("Fruit")));
        // A row keeps the check box in its first cell.
        let row = p(0, 100, 600, 20, ElementKind::ListRow, Some("Ada"), "a11y");
        let check = p(0, 100, 40, 20, ElementKind::CheckBox, None, "a11y");
        assert_eq!(merged(vec![row, check], vec![]).len(), 2);
    }

    #[test]
    fn a_line_read_across_two_tree_labels_adds_nothing() {
        let a = p(10, 10, 60, 16, ElementKind::Text, Some("Name:"), "a11y");
        let b = p(80, 10, 100, 16, ElementKind::Text, Some("Ada"), "a11y");
        let line = p(10, 10, 170, 16, ElementKind::Text, Some("Name: Ada"), "text");
        assert_eq!(merged(vec![a, b], vec![line]).len(), 2);
    }
}
