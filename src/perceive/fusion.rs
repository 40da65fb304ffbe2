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

use super::{ElementKind, Proposal};
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
        Self { control_overlap: 0.8, content_inside: 0.7, content_overlap: 0.6, min_side: 3, max_area_frac: 0.95 }
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

fn join_cells(a: &Option<String>, b: &Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) if !b.is_empty() => Some(format!("{a} | {b}")),
        (Some(a), _) => Some(a.clone()),
        (None, b) => b.clone(),
    }
}

/// Pieces of text in reading order: line by line (a piece whose top lies below the middle
/// of the current line's first piece starts the next), left to right within a line.
pub(crate) fn reading_order<T>(mut pieces: Vec<(Rect, T)>) -> Vec<(Rect, T)> {
    pieces.sort_by(|a, b| a.0.center().1.total_cmp(&b.0.center().1));
    let mut line = 0;
    let mut first: Option<Rect> = None;
    let mut keyed: Vec<(usize, i32, usize, (Rect, T))> = Vec::with_capacity(pieces.len());
    for (n, p) in pieces.into_iter().enumerate() {
        match first {
            Some(f) if p.0.y as f64 <= f.center().1 => {}
            Some(_) => {
                line += 1;
                first = Some(p.0);
            }
            None => first = Some(p.0),
        }
        keyed.push((line, p.0.x, n, p));
    }
    keyed.sort_by_key(|&(line, x, n, _)| (line, x, n));
    keyed.into_iter().map(|(_, _, _, p)| p).collect()
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
        // A row of a list and a control in one of its cells (a check box, a button) are
        // two elements.
        let same = |k: &Proposal| {
            k.bbox.overlap(&p.bbox) >= cfg.control_overlap
                && !((k.kind == ElementKind::ListRow) != (p.kind == ElementKind::ListRow)
                    && k.bbox.area() * 3 <= p.bbox.area())
        };
        if let Some(k) = kept.iter_mut().find(|k| same(k)) {
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
    // A link drawn whole whose words another detector read apart, set as closely as the
    // words of one line (monospace text has wide spaces), is not the duplicate of one of
    // them: the words join the link below. Words set wider apart are links side by side
    // (a navigation bar) that the link's detector ran together.
    let pieces_of = |l: &Proposal| -> Vec<Rect> {
        let mut v: Vec<Rect> = content
            .iter()
            .filter(|u| {
                u.kind == ElementKind::Text
                    && u.source != l.source
                    && l.bbox.intersection(&u.bbox).area() * 10 >= u.bbox.area() * 9
            })
            .map(|u| u.bbox)
            .collect();
        v.sort_by_key(|r| r.x);
        v
    };
    let whole_link: Vec<bool> = content
        .iter()
        .map(|l| {
            let v = if l.kind == ElementKind::Link { pieces_of(l) } else { Vec::new() };
            v.len() >= 2
                && v.windows(2).all(|w| w[0].overlap_y(&w[1]) > 0 && w[0].gap_x(&w[1]) as u32 <= w[0].h.min(w[1].h))
        })
        .collect();
    for (p, whole) in content.into_iter().zip(whole_link) {
        let holds_piece = |u: &Proposal| {
            whole && u.kind == ElementKind::Text && u.source != p.source && p.bbox.area() * 2 >= u.bbox.area() * 3
        };
        // A link inside a longer line another detector read whole is a link in running
        // text, not the line's duplicate.
        let link_in_line = |u: &Proposal| {
            p.kind == ElementKind::Link
                && u.kind == ElementKind::Text
                && u.source != p.source
                && u.bbox.w * 2 >= p.bbox.w * 3
        };
        if let Some(u) = unique.iter_mut().find(|u| {
            u.bbox.overlap(&p.bbox) >= cfg.content_overlap
                && u.bbox.iou(&p.bbox) > 0.3
                && !holds_piece(u)
                && !link_in_line(u)
        }) {
            if u.text.is_none() {
                u.text = p.text.clone();
            }
            // Text another detector saw drawn as a link is a link.
            if u.kind == ElementKind::Text && p.kind == ElementKind::Link {
                u.kind = ElementKind::Link;
            }
            continue;
        }
        unique.push(p);
    }

    // A line of text inside a paragraph another detector found (several lines tall) is
    // part of it: the paragraph is one element, read as its lines joined. Links stay.
    unique.sort_by_key(sort_key);
    let mut i = 0;
    while i < unique.len() {
        let p = &unique[i];
        // Words of a link another detector read apart (monospace text has wide spaces) are
        // the link's.
        let inside = |u: &Proposal| {
            let holds =
                u.source != p.source && u.bbox.intersection(&p.bbox).area() as f64 >= 0.9 * p.bbox.area() as f64;
            holds
                && ((u.kind == ElementKind::Text && u.bbox.h as f64 >= 1.8 * p.bbox.h as f64)
                    || (u.kind == ElementKind::Link && u.bbox.area() > p.bbox.area()))
        };
        match (p.kind == ElementKind::Text).then(|| unique.iter().position(inside)).flatten() {
            Some(j) => {
                let p = unique.remove(i);
                let j = if j > i { j - 1 } else { j };
                let u = &mut unique[j];
                u.text = join_label(&u.text, &p.text);
                if p.text.is_some() && !u.source.split('+').any(|s| s == p.source) {
                    u.source = format!("{}+{}", u.source, p.source);
                }
            }
            None => i += 1,
        }
    }

    // A line read across a control's side ("Style: |Fusion": a label and the combo box
    // beside it) is two pieces of text: the part outside, and the control's own.
    let mut split = Vec::with_capacity(unique.len());
    for p in unique {
        match straddled(&p, &kept, cfg) {
            Some(cut) => split.extend(split_at(p, cut)),
            None => split.push(p),
        }
    }
    let mut unique = split;

    // Content inside a control becomes part of it (the tightest control holding it).
    unique.sort_by_key(sort_key);
    let mut free = Vec::with_capacity(unique.len());
    // A row's cells, by their left edge: they are joined in reading order at the end.
    let mut cells: Vec<Vec<(Rect, Option<String>)>> = vec![Vec::new(); kept.len()];
    for p in unique {
        let inside =
            |k: &Proposal| k.bbox.intersection(&p.bbox).area() as f64 >= cfg.content_inside * p.bbox.area() as f64;
        let host = (0..kept.len()).filter(|&i| inside(&kept[i])).min_by_key(|&i| kept[i].bbox.area());
        match host {
            Some(i) => {
                let k = &mut kept[i];
                if k.kind == ElementKind::ListRow {
                    cells[i].push((p.bbox, p.text.clone()));
                } else {
                    k.text = join_label(&k.text, &p.text);
                }
                // Say where the label came from when another detector read it.
                if p.text.is_some() && p.source != k.source && !k.source.split('+').any(|s| s == p.source) {
                    k.source = format!("{}+{}", k.source, p.source);
                }
            }
            None => free.push(p),
        }
    }
    // A row's cells read as a row, left to right: "Xvfb | 22371 | 95.8 MiB"; a row of
    // several lines (a heading and a date over a line of text) line by line.
    for (k, row) in kept.iter_mut().zip(cells) {
        for (_, text) in reading_order(row) {
            k.text = join_cells(&k.text, &text);
        }
    }
    kept.extend(free);
    // Text whose middle is another, smaller element (a paragraph centred on one of its
    // links) would be clicked there: it is read, not marked.
    let centre_taken: Vec<bool> = kept
        .iter()
        .map(|p| {
            let (cx, cy) = p.bbox.center();
            let smaller = |o: &&Proposal| !std::ptr::eq(*o, p) && o.bbox.area() < p.bbox.area();
            // A block no detector read whose lines are marked already (a list of links) adds
            // nothing but a mark.
            let held = kept
                .iter()
                .filter(smaller)
                .filter(|o| o.bbox.intersection(&p.bbox).area() * 10 >= o.bbox.area() * 9)
                .count();
            p.kind == ElementKind::Text
                && (kept.iter().filter(smaller).any(|o| o.bbox.contains_point(cx, cy))
                    || (p.text.is_none() && held >= 2))
        })
        .collect();
    // A read line given way to the unread pieces it holds (links in a bar with separators
    // between them: "previous | next | index") lends them its words, one item each, when
    // its separators part it into as many items as there are pieces.
    let mut lent: Vec<(usize, String, String)> = Vec::new();
    for (i, p) in kept.iter().enumerate() {
        let Some(text) = p.text.as_deref().filter(|_| centre_taken[i]) else { continue };
        let mut pieces: Vec<usize> = (0..kept.len())
            .filter(|&j| {
                let o = &kept[j];
                j != i
                    && o.kind.is_content()
                    && o.text.is_none()
                    && o.bbox.intersection(&p.bbox).area() * 10 >= o.bbox.area() * 7
            })
            .collect();
        pieces.sort_by_key(|&j| kept[j].bbox.x);
        let items: Vec<&str> = text.split(['|', '»', '›', '·', '•']).map(str::trim).filter(|t| !t.is_empty()).collect();
        let one_row = pieces.windows(2).all(|w| kept[w[0]].bbox.overlap_y(&kept[w[1]].bbox) > 0);
        if pieces.len() >= 2 && items.len() == pieces.len() && one_row {
            lent.extend(pieces.into_iter().zip(items).map(|(j, t)| (j, t.to_string(), p.source.clone())));
        }
    }
    for (j, t, source) in lent {
        kept[j].text = Some(t);
        if !kept[j].source.split('+').any(|s| s == source) {
            kept[j].source = format!("{}+{source}", kept[j].source);
        }
    }
    let mut taken = centre_taken.into_iter();
    kept.retain(|_| !taken.next().unwrap_or(false));
    kept
}

/// Where a line of read text crosses the side of a control of its own height that holds a
/// good part of it but not most of it: the x of that side.
fn straddled(p: &Proposal, controls: &[Proposal], cfg: &FusionConfig) -> Option<i32> {
    let text = p.text.as_deref()?;
    if p.kind != ElementKind::Text || text.chars().count() < 3 {
        return None;
    }
    let b = p.bbox;
    let held = |k: &Proposal| k.bbox.intersection(&b).area() as f64 >= cfg.content_inside * b.area() as f64;
    if controls.iter().any(held) {
        return None;
    }
    controls
        .iter()
        .filter(|k| k.kind != ElementKind::ListRow && k.bbox.h <= 3 * b.h)
        .filter(|k| k.bbox.overlap_y(&b) * 10 >= b.h as i32 * 7 && k.bbox.overlap_x(&b) * 4 >= b.w as i32)
        .find_map(|k| {
            let r = k.bbox;
            if b.x < r.x && b.right() <= r.right() + 2 {
                Some(r.x)
            } else if b.right() > r.right() && b.x >= r.x - 2 {
                Some(r.right())
            } else {
                None
            }
        })
}

/// Cut a line of read text at `x`: its characters shared out by width, the cut moved to a
/// space close by, and a border read as a character (`|`) dropped from the ends.
fn split_at(p: Proposal, x: i32) -> Vec<Proposal> {
    let text: Vec<char> = p.text.as_deref().unwrap_or_default().chars().collect();
    let n = text.len();
    let at = ((x - p.bbox.x) as f64 / p.bbox.w.max(1) as f64 * n as f64).round() as usize;
    let at = (at.saturating_sub(2)..=(at + 2).min(n))
        .filter(|&i| i < n && text[i].is_whitespace())
        .min_by_key(|&i| i.abs_diff(at))
        .unwrap_or(at.min(n));
    let clean = |s: &[char]| {
        let s: String = s.iter().collect();
        let s = s.trim_matches(|c: char| c.is_whitespace() || matches!(c, '|' | '[' | ']'));
        (!s.is_empty()).then(|| s.to_string())
    };
    let (left, right) = (clean(&text[..at]), clean(&text[at..]));
    let boxes = [
        Rect::from_edges(p.bbox.x, p.bbox.y, x, p.bbox.bottom()),
        Rect::from_edges(x, p.bbox.y, p.bbox.right(), p.bbox.bottom()),
    ];
    [left, right]
        .into_iter()
        .zip(boxes)
        .filter(|(t, r)| t.is_some() && r.w >= 3)
        .map(|(text, bbox)| Proposal { bbox, text, ..p.clone() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: i32, y: i32, w: u32, h: u32, kind: ElementKind, text: Option<&str>, source: &str) -> Proposal {
        Proposal {
            bbox: Rect::new(x, y, w, h),
            kind,
            text: text.map(String::from),
            score: 0.8,
            source: source.into(),
            mask: None,
            states: Vec::new(),
            path: None,
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
    fn a_paragraph_centred_on_one_of_its_links_gives_way_to_it() {
        let out = fuse(
            vec![
                p(10, 10, 300, 40, ElementKind::Text, Some("See the manual for details"), "ocr"),
                p(140, 22, 60, 14, ElementKind::Link, None, "builtin"),
                p(10, 60, 300, 40, ElementKind::Text, None, "builtin"),
                p(20, 62, 40, 14, ElementKind::Link, None, "builtin"),
            ],
            400,
            300,
            &FusionConfig::default(),
        );
        let kinds: Vec<ElementKind> = out.iter().map(|p| p.kind).collect();
        assert_eq!(kinds.iter().filter(|k| **k == ElementKind::Link).count(), 2);
        assert_eq!(out.len(), 3, "only the paragraph whose middle is a link goes: {out:?}");
    }

    #[test]
    fn a_link_a_third_of_a_line_read_whole_stays_a_link_of_its_own() {
        // "While The Python Language Reference describes the exact syntax ...": the reader
        // took the line whole, the link finder the link; a third of the line is no duplicate.
        let out = fuse(
            vec![
                p(264, 146, 700, 18, ElementKind::Text, Some("While The Python Language Reference describes"), "text"),
                p(313, 146, 262, 16, ElementKind::Link, None, "builtin"),
            ],
            1280,
            800,
            &FusionConfig::default(),
        );
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out.iter().any(|p| p.kind == ElementKind::Link && p.bbox == Rect::new(313, 146, 262, 16)), "{out:?}");
        assert!(out.iter().any(|p| p.kind == ElementKind::Text && p.bbox.w == 700), "{out:?}");
    }

    #[test]
    fn a_read_bar_of_links_lends_each_piece_its_words() {
        let out = fuse(
            vec![
                p(1018, 23, 235, 15, ElementKind::Text, Some("previous | next | modules | index"), "text"),
                p(1007, 22, 71, 16, ElementKind::Text, None, "builtin"),
                p(1083, 22, 41, 16, ElementKind::Text, None, "builtin"),
                p(1129, 22, 71, 16, ElementKind::Text, None, "builtin"),
                p(1205, 22, 49, 16, ElementKind::Text, None, "builtin"),
            ],
            1280,
            800,
            &FusionConfig::default(),
        );
        let texts: Vec<Option<&str>> = out.iter().map(|p| p.text.as_deref()).collect();
        assert_eq!(texts, vec![Some("previous"), Some("next"), Some("modules"), Some("index")], "{out:?}");
        assert!(out.iter().all(|p| p.source == "builtin+text"));
    }

    #[test]
    fn a_line_read_by_one_detector_and_seen_as_a_link_by_another_is_a_link_with_its_text() {
        let out = fuse(
            vec![
                p(10, 10, 120, 14, ElementKind::Link, None, "builtin"),
                p(11, 10, 118, 15, ElementKind::Text, Some("2.5.8. File names"), "text"),
            ],
            400,
            300,
            &FusionConfig::default(),
        );
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].kind, ElementKind::Link);
        assert_eq!(out[0].text.as_deref(), Some("2.5.8. File names"));
    }

    #[test]
    fn a_monospace_link_read_in_pieces_is_one_link_with_its_words_in_order() {
        let out = fuse(
            vec![
                p(358, 80, 300, 15, ElementKind::Link, None, "builtin"),
                p(358, 80, 135, 14, ElementKind::Text, Some("fs.lutimes(path,"), "text"),
                p(505, 80, 48, 13, ElementKind::Text, Some("atime,"), "text"),
                p(565, 80, 90, 13, ElementKind::Text, Some("callback)"), "text"),
            ],
            1000,
            300,
            &FusionConfig::default(),
        );
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].kind, ElementKind::Link);
        assert_eq!(out[0].bbox, Rect::new(358, 80, 300, 15));
        assert_eq!(out[0].text.as_deref(), Some("fs.lutimes(path, atime, callback)"));
    }

    #[test]
    fn a_line_read_across_a_combo_box_side_is_the_label_beside_it_and_the_box_s_own_text() {
        let out = fuse(
            vec![
                p(70, 47, 260, 25, ElementKind::ComboBox, None, "builtin"),
                p(18, 48, 106, 24, ElementKind::Text, Some("Style: |Fusion"), "text"),
            ],
            400,
            300,
            &FusionConfig::default(),
        );
        assert_eq!(out.len(), 2, "{out:?}");
        let combo = out.iter().find(|e| e.kind == ElementKind::ComboBox).unwrap();
        assert_eq!(combo.text.as_deref(), Some("Fusion"));
        assert_eq!(combo.bbox, Rect::new(70, 47, 260, 25));
        let label = out.iter().find(|e| e.kind == ElementKind::Text).unwrap();
        assert_eq!(label.text.as_deref(), Some("Style:"));
        assert_eq!(label.bbox, Rect::new(18, 48, 52, 24), "the label ends where the box begins");
    }

    #[test]
    fn links_side_by_side_that_one_detector_ran_together_stay_apart() {
        let out = fuse(
            vec![
                p(187, 20, 186, 16, ElementKind::Link, None, "builtin"),
                p(187, 20, 40, 15, ElementKind::Text, Some("Home"), "text"),
                p(260, 20, 113, 15, ElementKind::Text, Some("Getting Started"), "text"),
            ],
            1000,
            300,
            &FusionConfig::default(),
        );
        let texts: Vec<_> = out.iter().map(|e| e.text.as_deref()).collect();
        assert_eq!(texts, [Some("Home"), Some("Getting Started")], "{out:?}");
    }

    #[test]
    fn a_block_nobody_read_whose_lines_are_marked_already_gets_no_mark() {
        let out = fuse(
            vec![
                p(10, 10, 300, 58, ElementKind::Text, None, "builtin"),
                p(10, 10, 200, 14, ElementKind::Link, Some("Installing"), "builtin+text"),
                p(10, 30, 220, 14, ElementKind::Link, Some("Upgrading"), "builtin+text"),
                p(10, 50, 180, 14, ElementKind::Link, Some("Removing"), "builtin+text"),
            ],
            400,
            300,
            &FusionConfig::default(),
        );
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(out.iter().all(|p| p.kind == ElementKind::Link));
    }

    #[test]
    fn a_row_reads_as_its_cells_left_to_right_whatever_their_heights() {
        let out = fuse(
            vec![
                p(0, 100, 600, 24, ElementKind::ListRow, None, "builtin"),
                p(500, 102, 40, 14, ElementKind::Text, Some("Normal"), "text"),
                p(10, 106, 40, 14, ElementKind::Text, Some("Xvfb"), "text"),
                p(200, 104, 30, 14, ElementKind::Text, Some("0.84"), "text"),
            ],
            800,
            600,
            &FusionConfig::default(),
        );
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].text.as_deref(), Some("Xvfb | 0.84 | Normal"));
    }

    #[test]
    fn a_tile_s_lines_read_line_by_line() {
        // A heading with its date at the right, over a line of text: the date belongs to
        // the heading's line, though it sits further right than the text below starts.
        let out = fuse(
            vec![
                p(0, 100, 400, 60, ElementKind::ListRow, None, "builtin"),
                p(16, 128, 300, 14, ElementKind::Text, Some("Some placeholder content"), "text"),
                p(360, 112, 30, 10, ElementKind::Text, Some("Wed"), "text"),
                p(16, 108, 200, 16, ElementKind::Text, Some("List group item heading"), "text"),
            ],
            800,
            600,
            &FusionConfig::default(),
        );
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].text.as_deref(), Some("List group item heading | Wed | Some placeholder content"));
    }

    #[test]
    fn lines_read_inside_a_paragraph_make_it_one_element() {
        let out = fuse(
            vec![
                p(10, 10, 300, 60, ElementKind::Text, None, "builtin"),
                p(10, 10, 280, 14, ElementKind::Text, Some("Lorem ipsum dolor"), "text"),
                p(10, 30, 290, 14, ElementKind::Text, Some("sit amet"), "text"),
                p(40, 50, 50, 14, ElementKind::Link, None, "builtin"),
            ],
            400,
            300,
            &FusionConfig::default(),
        );
        assert_eq!(out.len(), 2, "{out:?}");
        let para = out.iter().find(|p| p.kind == ElementKind::Text).unwrap();
        assert_eq!(para.text.as_deref(), Some("Lorem ipsum dolor sit amet"));
        assert_eq!(para.source, "builtin+text");
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
