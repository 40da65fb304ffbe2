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

/// Items of an icon view stand in a grid with one pitch. When the items found show the grid
/// in both directions, everything small inside one of its cells (an icon drawn in pieces, a
/// caption wrapped to three lines, an item whose icon and caption were found apart) is that
/// cell's item. Otherwise only what is left over just above or below an item, inside its
/// column (a caption's third line, a piece of its icon), joins it.
pub(super) fn join_grid_items(out: &mut Vec<Proposal>, item_boxes: &[Rect]) {
    let items: Vec<usize> =
        (0..out.len()).filter(|&i| out[i].kind == ElementKind::ListRow && item_boxes.contains(&out[i].bbox)).collect();
    if items.len() < 4 {
        return;
    }
    let boxes: Vec<Rect> = items.iter().map(|&i| out[i].bbox).collect();
    let Some(pitch) = grid_pitch(&boxes) else { return };
    if let Some(pitch_y) = row_pitch(&boxes, pitch) {
        join_grid_cells(out, &items, pitch, pitch_y);
        return;
    }
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

/// The grid's pitch across: the median distance from an item's centre to its nearest
/// neighbour's in the same row. None with fewer than four.
fn grid_pitch(boxes: &[Rect]) -> Option<f64> {
    let mut gaps: Vec<f64> = boxes
        .iter()
        .filter_map(|a| {
            let (cx, cy) = a.center();
            boxes
                .iter()
                .filter(|b| (b.center().1 - cy).abs() <= a.h as f64 / 2.0)
                .map(|b| (b.center().0 - cx).abs())
                .filter(|&d| d > 0.0)
                .min_by(|x, y| x.total_cmp(y))
        })
        .collect();
    if gaps.len() < 4 {
        return None;
    }
    gaps.sort_by(|a, b| a.total_cmp(b));
    Some(gaps[gaps.len() / 2])
}

/// The grid's pitch down, from items in the same column (their centres move with the
/// caption's length and the icon's size, so no one distance is exact): the pitch whose
/// multiples best fit every vertical distance between two items of a column, no smaller than
/// the tallest item. None when no two rows hold items in one column.
fn row_pitch(boxes: &[Rect], pitch_x: f64) -> Option<f64> {
    let tall = boxes.iter().map(|b| b.h).max()? as f64;
    let mut dys = Vec::new();
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            let dy = (b.center().1 - a.center().1).abs();
            if (b.center().0 - a.center().0).abs() <= pitch_x / 2.0 && dy >= tall / 2.0 {
                dys.push(dy);
            }
        }
    }
    if dys.len() < 2 {
        return None;
    }
    let nearest = dys.iter().copied().fold(f64::MAX, f64::min);
    let (lo, hi) = ((0.8 * tall).max(nearest * 0.6), nearest * 1.4);
    let err = |p: f64| -> f64 {
        dys.iter().map(|&d| (d - (d / p).round().max(1.0) * p).abs().min(p / 4.0)).sum::<f64>() / p.sqrt()
    };
    let mut best: Option<(f64, f64)> = None;
    let mut p = lo;
    while p <= hi {
        let e = err(p);
        if best.is_none_or(|(_, be)| e < be) {
            best = Some((p, e));
        }
        p += 0.5;
    }
    best.map(|(p, _)| p)
}

/// Where a grid of `pitch` puts its lines along one axis: the offset whose lines cut
/// through the fewest of the spans (each item's extent), in the middle of the best offsets.
fn grid_phase(spans: &[(i32, i32)], pitch: f64) -> f64 {
    let p = pitch.round().max(1.0) as i32;
    let cuts = |phase: i32| {
        spans
            .iter()
            .filter(|&&(a, b)| {
                // The first grid line after a+1; it cuts when it is before b-1.
                let k = ((a + 1 - phase) as f64 / pitch).ceil();
                phase as f64 + k * pitch < (b - 1) as f64
            })
            .count()
    };
    let counts: Vec<usize> = (0..p).map(cuts).collect();
    let best = counts.iter().copied().min().unwrap_or(0);
    // The longest run of best offsets, going round.
    let (mut run_start, mut run_len, mut cur_start, mut cur_len) = (0, 0, 0, 0);
    for k in 0..2 * p {
        if counts[(k % p) as usize] == best {
            if cur_len == 0 {
                cur_start = k;
            }
            cur_len += 1;
            if cur_len > run_len && cur_len <= p {
                (run_start, run_len) = (cur_start, cur_len);
            }
        } else {
            cur_len = 0;
        }
    }
    ((run_start + run_len / 2) % p) as f64
}

/// Everything small inside a cell of the grid the items stand in is the cell's item; a cell
/// holding pieces but no item becomes one.
fn join_grid_cells(out: &mut Vec<Proposal>, items: &[usize], pitch_x: f64, pitch_y: f64) {
    let spans_x: Vec<(i32, i32)> = items.iter().map(|&i| (out[i].bbox.x, out[i].bbox.right())).collect();
    let spans_y: Vec<(i32, i32)> = items.iter().map(|&i| (out[i].bbox.y, out[i].bbox.bottom())).collect();
    let (phase_x, phase_y) = (grid_phase(&spans_x, pitch_x), grid_phase(&spans_y, pitch_y));
    let cell_of = |r: &Rect| -> (i64, i64) {
        let (cx, cy) = r.center();
        (((cx - phase_x) / pitch_x).floor() as i64, ((cy - phase_y) / pitch_y).floor() as i64)
    };
    let cell_rect = |(c, r): (i64, i64)| {
        let x0 = (phase_x + c as f64 * pitch_x).round() as i32;
        let y0 = (phase_y + r as f64 * pitch_y).round() as i32;
        Rect::from_edges(x0, y0, x0 + pitch_x.round() as i32, y0 + pitch_y.round() as i32)
    };
    let item_cells: Vec<(i64, i64)> = items.iter().map(|&i| cell_of(&out[i].bbox)).collect();
    let (c0, c1) =
        (item_cells.iter().map(|c| c.0).min().unwrap_or(0), item_cells.iter().map(|c| c.0).max().unwrap_or(0));
    let (r0, r1) =
        (item_cells.iter().map(|c| c.1).min().unwrap_or(0), item_cells.iter().map(|c| c.1).max().unwrap_or(0));
    // The cell each piece or item lies in (nearly all of it inside), within the grid's extent.
    let mut cells: Vec<((i64, i64), Vec<usize>)> = Vec::new();
    for (e, p) in out.iter().enumerate() {
        let piece = matches!(p.kind, ElementKind::Text | ElementKind::Icon | ElementKind::Link)
            || p.kind == ElementKind::Button && p.text.is_none() && p.bbox.w as f64 <= 0.6 * pitch_x;
        if !piece && !items.contains(&e) {
            continue;
        }
        let cell = cell_of(&p.bbox);
        let inside = cell_rect(cell).intersection(&p.bbox).area() * 5 >= p.bbox.area() * 4;
        if !inside || !(c0..=c1).contains(&cell.0) || !(r0..=r1).contains(&cell.1) {
            continue;
        }
        match cells.iter_mut().find(|(c, _)| *c == cell) {
            Some((_, v)) => v.push(e),
            None => cells.push((cell, vec![e])),
        }
    }
    let mut gone = vec![false; out.len()];
    let mut new_items = Vec::new();
    for (_, members) in cells {
        let hosts: Vec<usize> = members.iter().copied().filter(|e| items.contains(e)).collect();
        let bbox = members.iter().skip(1).fold(out[members[0]].bbox, |a, &e| a.union(&out[e].bbox));
        match hosts[..] {
            [h] => {
                out[h].bbox = bbox;
                for &e in &members {
                    gone[e] = e != h;
                }
            }
            [] if members.len() >= 2 => {
                for &e in &members {
                    gone[e] = true;
                }
                new_items.push(Proposal::new(bbox, ElementKind::ListRow, 0.6, super::SOURCE));
            }
            _ => {}
        }
    }
    let mut gone = gone.into_iter();
    out.retain(|_| !gone.next().unwrap_or(false));
    out.extend(new_items);
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

    #[test]
    fn pieces_in_a_cell_of_an_icon_grid_are_that_cell_s_item() {
        // Items 114 across and 115 down, their boxes moving with icon and caption. One item's
        // icon came apart from its three-line caption; a cell the first pass found only in
        // pieces becomes an item; a list beside the grid is not in it.
        let at =
            |c: i32, r: i32, dy: i32, h: u32| prop(160 + 114 * c, 105 + 115 * r + dy, 100, h, ElementKind::ListRow);
        let mut items =
            vec![at(0, 0, 4, 80), at(1, 0, 0, 95), at(2, 0, 8, 78), at(3, 0, 2, 90), at(0, 1, 6, 88), at(2, 1, 0, 100)];
        items.push(at(3, 2, 5, 70));
        let boxes: Vec<Rect> = items.iter().map(|p| p.bbox).collect();
        let mut out = items;
        // Cell (1, 1): an icon made of two pieces and a caption of three lines.
        out.push(prop(310, 228, 20, 5, ElementKind::Icon));
        out.push(prop(310, 246, 20, 5, ElementKind::Button));
        out.push(prop(290, 275, 60, 13, ElementKind::Text));
        out.push(prop(285, 292, 70, 13, ElementKind::Text));
        out.push(prop(312, 311, 16, 13, ElementKind::Text));
        // Under the item of cell (2, 1), its caption's last line.
        out.push(prop(418, 318, 20, 13, ElementKind::Text));
        // A side list's row, left of the grid.
        out.push(prop(10, 240, 120, 20, ElementKind::Text));
        join_grid_items(&mut out, &boxes);
        let got: Vec<Rect> = out.iter().map(|p| p.bbox).collect();
        assert_eq!(out.len(), 9, "{got:?}");
        assert!(got.contains(&Rect::from_edges(285, 228, 355, 324)), "{got:?}");
        assert!(got.contains(&Rect::new(388, 220, 100, 111)), "{got:?}");
        assert!(got.contains(&Rect::new(10, 240, 120, 20)));
        assert_eq!(out.iter().filter(|p| p.kind == ElementKind::ListRow).count(), 8);
    }
}
