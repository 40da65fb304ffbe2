//! Numbering in reading order: rows top to bottom, left to right within a row.
//!
//! An element shares the row of the row's first element when their vertical centres are
//! within half the taller one's height and neither is more than four times the other's
//! height: a label beside a button shares its row, a tall sidebar does not swallow the
//! rows beside it. The same input always gives the same numbers.

use super::{Element, Proposal};

/// Twice the centre, in integers (exact and order-stable).
fn centre2(p: &Proposal) -> (i64, i64) {
    (2 * p.bbox.x as i64 + p.bbox.w as i64, 2 * p.bbox.y as i64 + p.bbox.h as i64)
}

pub fn number(mut ps: Vec<Proposal>) -> Vec<Element> {
    ps.sort_by(|a, b| {
        let (ax, ay) = centre2(a);
        let (bx, by) = centre2(b);
        ay.cmp(&by).then(ax.cmp(&bx)).then(a.bbox.cmp(&b.bbox)).then(a.source.cmp(&b.source))
    });
    let mut rows: Vec<Vec<Proposal>> = Vec::new();
    let mut anchor: Option<(i64, i64)> = None; // (2*cy, h)
    for p in ps {
        let (_, cy2) = centre2(&p);
        let h = (p.bbox.h as i64).max(1);
        let joins = anchor.is_some_and(|(acy2, ah)| {
            let (lo, hi) = (ah.min(h), ah.max(h));
            // Centres within half the taller height (both doubled), comparable heights.
            (cy2 - acy2).abs() <= hi.max(8) && 4 * lo >= hi
        });
        if joins {
            rows.last_mut().expect("a row exists when anchored").push(p);
        } else {
            anchor = Some((cy2, h));
            rows.push(vec![p]);
        }
    }
    let mut out = Vec::new();
    for mut row in rows {
        row.sort_by(|a, b| {
            a.bbox
                .x
                .cmp(&b.bbox.x)
                .then(a.bbox.y.cmp(&b.bbox.y))
                .then(a.bbox.cmp(&b.bbox))
                .then(a.source.cmp(&b.source))
        });
        for p in row {
            out.push(Element {
                id: out.len() as u32 + 1,
                bbox: p.bbox,
                kind: p.kind,
                text: p.text,
                score: p.score,
                source: p.source,
                mask: p.mask,
                states: p.states,
                path: p.path,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Rect;
    use crate::perceive::ElementKind;

    fn p(x: i32, y: i32, w: u32, h: u32) -> Proposal {
        Proposal::new(Rect::new(x, y, w, h), ElementKind::Button, 0.5, "t")
    }

    fn ids(v: &[Element]) -> Vec<(i32, i32)> {
        v.iter().map(|e| (e.bbox.x, e.bbox.y)).collect()
    }

    #[test]
    fn numbers_run_left_to_right_then_top_to_bottom() {
        let out = number(vec![p(200, 100, 50, 20), p(10, 12, 50, 20), p(100, 10, 50, 24), p(10, 100, 50, 20)]);
        assert_eq!(ids(&out), vec![(10, 12), (100, 10), (10, 100), (200, 100)]);
        assert_eq!(out.iter().map(|e| e.id).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    }

    #[test]
    fn a_label_a_few_pixels_lower_than_its_neighbour_shares_its_row() {
        let out = number(vec![p(300, 14, 40, 12), p(10, 10, 200, 34)]);
        assert_eq!(ids(&out), vec![(10, 10), (300, 14)]);
    }

    #[test]
    fn numbering_is_the_same_whatever_the_input_order() {
        let base = vec![
            p(5, 5, 10, 10),
            p(40, 7, 10, 10),
            p(5, 40, 10, 10),
            p(40, 38, 12, 12),
            p(80, 6, 8, 8),
            p(80, 6, 8, 8),
        ];
        let first = number(base.clone());
        let mut rev = base.clone();
        rev.reverse();
        assert_eq!(number(rev), first);
        let mut rot = base;
        rot.rotate_left(2);
        assert_eq!(number(rot), first);
    }
}
