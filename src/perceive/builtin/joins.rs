//! Parts the first pass finds apart that are one element: a scroll bar's trough and its
//! arrows, a field and its own arrow buttons, an icon-view item and what is left over in its
//! cell of the grid.

use crate::geometry::Rect;
use crate::perceive::{ElementKind, Proposal};

/// A field's own buttons drawn flush against its right end (a spin box's stacked arrows, a
/// combo box's drop-down arrow): narrow, as tall as the field, touching it. They are one
/// control with the field.
pub(super) fn join_field_steppers(out: &mut Vec<Proposal>) {
    let mut i = 0;
    while i < out.len() {
        let a = out[i].bbox;
        // An arrow button, or one of a pair of small arrows stacked beside the field.
        let arrow = a.w <= 16 && a.h <= 12;
        let stepper = matches!(out[i].kind, ElementKind::Icon | ElementKind::Button | ElementKind::Text)
            && out[i].text.is_none()
            && (a.w <= a.h && a.h <= 40 || arrow);
        let field = stepper
            .then(|| {
                (0..out.len()).find(|&f| {
                    let b = out[f].bbox;
                    let beside = if arrow {
                        a.y >= b.y - 1 && a.bottom() <= b.bottom() + 1
                    } else {
                        a.overlap_y(&b) * 10 >= a.h as i32 * 8 && a.h * 10 >= b.h * 7 && a.h <= b.h + 4
                    };
                    f != i
                        && matches!(
                            out[f].kind,
                            ElementKind::TextField | ElementKind::Slider | ElementKind::ComboBox | ElementKind::Button
                        )
                        && b.w >= 3 * b.h
                        && (-2..=3).contains(&(a.x - b.right()))
                        && beside
                })
            })
            .flatten();
        match field {
            Some(f) => {
                out[f].bbox = out[f].bbox.union(&a);
                out.remove(i);
            }
            None => i += 1,
        }
    }
}

/// Items of an icon view stand in a grid with one pitch: what is left over inside one
/// item's cell of the grid, just above or below it (a caption's third line, a piece of its
/// icon), is part of that item.
pub(super) fn join_grid_items(out: &mut Vec<Proposal>, item_boxes: &[Rect]) {
    let items: Vec<usize> =
        (0..out.len()).filter(|&i| out[i].kind == ElementKind::ListRow && item_boxes.contains(&out[i].bbox)).collect();
    if items.len() < 4 {
        return;
    }
    // The pitch: the median distance from an item to its nearest neighbour in its row.
    let mut gaps: Vec<f64> = items
        .iter()
        .filter_map(|&i| {
            let (cx, cy) = out[i].bbox.center();
            items
                .iter()
                .filter(|&&j| j != i && (out[j].bbox.center().1 - cy).abs() <= out[i].bbox.h as f64 / 2.0)
                .map(|&j| (out[j].bbox.center().0 - cx).abs())
                .filter(|&d| d > 0.0)
                .min_by(|a, b| a.total_cmp(b))
        })
        .collect();
    if gaps.len() < 4 {
        return;
    }
    gaps.sort_by(|a, b| a.total_cmp(b));
    let pitch = gaps[gaps.len() / 2];
    let mut gone = vec![false; out.len()];
    for e in 0..out.len() {
        let p = &out[e];
        if !matches!(p.kind, ElementKind::Text | ElementKind::Icon | ElementKind::Link) || p.bbox.w as f64 > 0.9 * pitch
        {
            continue;
        }
        let (ex, _) = p.bbox.center();
        let hosts: Vec<usize> = items
            .iter()
            .copied()
            .filter(|&i| {
                // Only what touches an item joins it, so no item grows into the next row.
                let r = out[i].bbox;
                (r.center().0 - ex).abs() <= pitch / 2.0 - 2.0
                    && r.gap_y(&p.bbox) <= (r.h as i32 / 12).max(3)
                    && p.bbox.h <= r.h
            })
            .collect();
        if let [i] = hosts[..] {
            let b = out[e].bbox;
            out[i].bbox = out[i].bbox.union(&b);
            gone[e] = true;
        }
    }
    let mut gone = gone.into_iter();
    out.retain(|_| !gone.next().unwrap_or(false));
}

/// A scroll bar's arrow buttons sit at the ends of its trough, on its axis and no thicker
/// than it: they are parts of the one scroll bar, not marks of their own. A strip with words
/// in it (a title bar, a one-line entry) is no scroll bar: its buttons stay its neighbours.
pub(super) fn join_strip_ends(out: &mut Vec<Proposal>, words: &[Rect]) {
    loop {
        let mut joined = false;
        for s in 0..out.len() {
            let strip = out[s].bbox;
            let has_words = words.iter().any(|w| strip.intersection(w).area() * 10 >= w.area() * 9);
            if out[s].kind != ElementKind::Slider || has_words {
                continue;
            }
            let vertical = strip.h > strip.w;
            let t = strip.w.min(strip.h) as i32;
            let end = (0..out.len()).find(|&e| {
                if e == s {
                    return false;
                }
                let r = out[e].bbox;
                // Across the axis: no thicker than the trough (and its border), centred on it.
                let (across, along, gap, off) = if vertical {
                    (r.w as i32, r.h as i32, r.gap_y(&strip), r.center().0 - strip.center().0)
                } else {
                    (r.h as i32, r.w as i32, r.gap_x(&strip), r.center().1 - strip.center().1)
                };
                let overlaps = if vertical { r.overlap_x(&strip) > 0 } else { r.overlap_y(&strip) > 0 };
                let on_axis = overlaps && across <= t * 13 / 10 + 2 && off.abs() <= t as f64 / 2.0;
                on_axis && along <= 3 * t / 2 + 2 && gap <= (2 * t).max(3)
            });
            if let Some(e) = end {
                let r = out[e].bbox;
                out[s].bbox = strip.union(&r);
                out.remove(e);
                joined = true;
                break;
            }
        }
        if !joined {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perceive::builtin::SOURCE;

    fn prop(x: i32, y: i32, w: u32, h: u32, kind: ElementKind) -> Proposal {
        Proposal::new(Rect::new(x, y, w, h), kind, 0.5, SOURCE)
    }

    #[test]
    fn a_scroll_bar_s_arrow_buttons_join_its_trough() {
        let mut out = vec![
            prop(1000, 30, 11, 12, ElementKind::Button),
            prop(1001, 42, 13, 600, ElementKind::Slider),
            prop(1000, 645, 12, 11, ElementKind::Icon),
            // A button beside the bar and one far beyond its end stay marks of their own.
            prop(960, 30, 30, 24, ElementKind::Button),
            prop(1000, 700, 12, 12, ElementKind::Button),
        ];
        // A title bar's buttons are not its arrows.
        out.push(prop(40, 800, 300, 18, ElementKind::Slider));
        out.push(prop(342, 800, 16, 16, ElementKind::Button));
        join_strip_ends(&mut out, &[Rect::new(150, 803, 60, 12)]);
        let boxes: Vec<Rect> = out.iter().map(|p| p.bbox).collect();
        assert_eq!(out.len(), 5, "{boxes:?}");
        assert_eq!(out[0].kind, ElementKind::Slider);
        assert_eq!(out[0].bbox, Rect::from_edges(1000, 30, 1014, 656));
    }

    #[test]
    fn what_touches_an_icon_view_item_in_its_grid_cell_joins_it() {
        // Four items 114 pixels apart; the first one's caption wraps to a third line, and
        // its neighbour's icon lost a piece. Text further down is another row's, not theirs.
        let items: Vec<Proposal> = (0..4).map(|i| prop(10 + 114 * i, 20, 100, 80, ElementKind::ListRow)).collect();
        let boxes: Vec<Rect> = items.iter().map(|p| p.bbox).collect();
        let mut out = items;
        out.push(prop(45, 102, 30, 14, ElementKind::Text));
        out.push(prop(160, 10, 12, 12, ElementKind::Icon));
        out.push(prop(45, 140, 30, 14, ElementKind::Text));
        join_grid_items(&mut out, &boxes);
        let got: Vec<Rect> = out.iter().map(|p| p.bbox).collect();
        assert_eq!(out.len(), 5, "{got:?}");
        assert_eq!(out[0].bbox, Rect::from_edges(10, 20, 110, 116));
        assert_eq!(out[1].bbox, Rect::from_edges(124, 10, 224, 100));
    }
}
