//! Tables and lists: items (text lines, icons) standing in columns that share a row pitch
//! are the cells of one table, and each row of cells is one element.
//!
//! A column is a run of at least three items aligned on their left or right edge (numbers
//! are right-aligned) whose tops follow a regular pitch (a missing cell skips a row). Two
//! columns with the same pitch whose items pair up row by row belong to one table. Columns
//! of running text (long lines, as in a two-column page) never pair: a row of a table is
//! short cells, not lines of prose; nor do columns on different backgrounds (a sidebar
//! beside the page it belongs to).

use crate::geometry::Rect;

/// A row of a table: its items (indices into the input) and its box, spanning the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub rect: Rect,
    pub items: Vec<usize>,
}

/// A table: its rows top to bottom, the pitch between them, its extent.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub rows: Vec<Row>,
    pub pitch: f32,
    pub bounds: Rect,
}

#[derive(Debug, Clone)]
struct Column {
    items: Vec<usize>,
    pitch: f32,
}

fn cy(r: &Rect) -> f32 {
    r.y as f32 + r.h as f32 / 2.0
}

fn median(mut v: Vec<f32>) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

/// Whether `d` is a whole number (1..=3) of pitches, give or take.
fn regular(d: f32, pitch: f32) -> bool {
    let k = (d / pitch).round();
    (1.0..=3.0).contains(&k) && (d - k * pitch).abs() <= (0.15 * pitch).max(2.0)
}

/// Runs of aligned items with a regular pitch, for one alignment key.
fn columns_by(items: &[Rect], key: impl Fn(&Rect) -> i32) -> Vec<Column> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| (key(&items[i]), items[i].y));
    // Clusters of nearly equal keys (glyph edges wander by a pixel or two).
    let mut clusters: Vec<Vec<usize>> = Vec::new();
    let mut start = i32::MIN;
    let mut prev = i32::MIN;
    for &i in &order {
        let k = key(&items[i]);
        if clusters.is_empty() || k - prev > 2 || k - start > 5 {
            clusters.push(Vec::new());
            start = k;
        }
        prev = k;
        if let Some(c) = clusters.last_mut() {
            c.push(i);
        }
    }
    let mut out = Vec::new();
    for mut c in clusters.into_iter().filter(|c| c.len() >= 3) {
        c.sort_by_key(|&i| items[i].y);
        // Chains of items close below one another, of similar height.
        let mut chain: Vec<usize> = Vec::new();
        let mut flush = |chain: &mut Vec<usize>| {
            if chain.len() >= 3
                && let Some(col) = column(items, chain)
            {
                out.push(col);
            }
            chain.clear();
        };
        for i in c {
            if let Some(&last) = chain.last() {
                let (a, b) = (&items[last], &items[i]);
                let tall = a.h.max(b.h) as f32;
                let similar = tall <= 1.6 * a.h.min(b.h) as f32;
                let gap = b.y - a.bottom();
                if !(similar && gap >= 0 && (gap as f32) <= 3.0 * tall) {
                    flush(&mut chain);
                }
            }
            chain.push(i);
        }
        flush(&mut chain);
    }
    out
}

/// A column from a chain, when its items follow a regular pitch.
fn column(items: &[Rect], chain: &[usize]) -> Option<Column> {
    let diffs: Vec<f32> = chain.windows(2).map(|w| cy(&items[w[1]]) - cy(&items[w[0]])).collect();
    // The pitch is the smallest usual step (a skipped cell makes a double one).
    let smallest = median(diffs.iter().copied().filter(|&d| d > 0.0).collect());
    let singles: Vec<f32> = diffs.iter().copied().filter(|&d| d <= smallest * 1.4).collect();
    let pitch = median(singles);
    if pitch < 6.0 {
        return None;
    }
    let ok = diffs.iter().filter(|&&d| regular(d, pitch)).count();
    (ok * 4 >= diffs.len() * 3).then(|| Column { items: chain.to_vec(), pitch })
}

/// Whether two columns are cells of one table: same pitch, same background, items paired
/// row by row.
fn linked(items: &[Rect], bg: &[[u8; 3]], a: &Column, b: &Column) -> bool {
    if (a.pitch - b.pitch).abs() > (0.08 * a.pitch.max(b.pitch)).max(2.0) {
        return false;
    }
    let colour = |c: &Column| -> [f32; 3] {
        let mut v: Vec<[u8; 3]> = c.items.iter().map(|&i| bg[i]).collect();
        v.sort_unstable();
        let m = v[v.len() / 2];
        [m[0] as f32, m[1] as f32, m[2] as f32]
    };
    let (ca, cb) = (colour(a), colour(b));
    if (0..3).any(|k| (ca[k] - cb[k]).abs() > 40.0) {
        return false;
    }
    let pitch = (a.pitch + b.pitch) / 2.0;
    let mut pairs = 0;
    for &i in &a.items {
        if b.items.contains(&i) {
            continue;
        }
        if b.items.iter().any(|&j| j != i && (cy(&items[i]) - cy(&items[j])).abs() <= 0.35 * pitch) {
            pairs += 1;
        }
    }
    let shorter = a.items.len().min(b.items.len());
    if pairs < 3 || (pairs as f32) < 0.6 * shorter as f32 {
        return false;
    }
    // Prose set in two columns pairs up too; its lines are long.
    let long = |c: &Column| {
        let w = median(c.items.iter().map(|&i| items[i].w as f32).collect());
        let h = median(c.items.iter().map(|&i| items[i].h as f32).collect());
        w >= 14.0 * h.max(1.0)
    };
    !(long(a) && long(b))
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// What a cell can be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    pub rect: Rect,
    /// The colour behind it.
    pub bg: [u8; 3],
    /// A lone symbol rather than text.
    pub icon: bool,
}

/// The tables among `cells` (text lines and icons, one row of text each). `others` are
/// what else is on the screen (controls, other content): a row of a table has nothing
/// between its cells but other cells, so columns with other things between them (the tab
/// strips of two notebooks side by side) are no table. A table has a column of text: a
/// grid of icons is a grid of targets.
pub fn tables(cells: &[Cell], others: &[Rect]) -> Vec<Table> {
    let items: Vec<Rect> = cells.iter().map(|c| c.rect).collect();
    let bg: Vec<[u8; 3]> = cells.iter().map(|c| c.bg).collect();
    let items = &items[..];
    let bg = &bg[..];
    let mut cols = columns_by(items, |r| r.x);
    cols.extend(columns_by(items, |r| r.right()));
    let n = cols.len();
    let mut parent: Vec<usize> = (0..n).collect();
    for a in 0..n {
        for b in a + 1..n {
            if linked(items, bg, &cols[a], &cols[b]) {
                let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
                parent[ra.max(rb)] = ra.min(rb);
            }
        }
    }
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); n];
    for c in 0..n {
        let r = find(&mut parent, c);
        groups[r].push(c);
    }
    let mut claimed = vec![false; items.len()];
    let mut out = Vec::new();
    for g in groups.into_iter().filter(|g| g.len() >= 2) {
        if !g.iter().any(|&c| cols[c].items.iter().all(|&i| !cells[i].icon)) {
            continue;
        }
        let pitch = median(g.iter().map(|&c| cols[c].pitch).collect());
        let mut members: Vec<usize> = g.iter().flat_map(|&c| cols[c].items.iter().copied()).collect();
        members.sort_unstable();
        members.dedup();
        members.retain(|&i| !claimed[i]);
        if members.len() < 4 {
            continue;
        }
        let mut member = vec![false; items.len()];
        for &i in &members {
            member[i] = true;
        }
        let bounds = members.iter().skip(1).fold(items[members[0]], |acc, &i| acc.union(&items[i]));
        // Cells that belong to no column (centred ones) but sit in the table's rows.
        let lo = bounds.y as f32 - pitch * 0.5;
        let hi = bounds.bottom() as f32 + pitch * 0.5;
        for (i, r) in items.iter().enumerate() {
            if claimed[i] || member[i] {
                continue;
            }
            let inside = r.x >= bounds.x && r.right() <= bounds.right() && cy(r) >= lo && cy(r) <= hi;
            if inside && (r.h as f32) <= 1.2 * pitch {
                members.push(i);
            }
        }
        for &i in &members {
            member[i] = true;
        }
        // Rows: bands of items whose centres lie within a fraction of the pitch.
        members.sort_by(|&a, &b| cy(&items[a]).total_cmp(&cy(&items[b])));
        let mut bands: Vec<Vec<usize>> = Vec::new();
        let mut band_start = f32::MIN;
        for &i in &members {
            if bands.is_empty() || cy(&items[i]) - band_start > 0.4 * pitch {
                bands.push(Vec::new());
                band_start = cy(&items[i]);
            }
            if let Some(b) = bands.last_mut() {
                b.push(i);
            }
        }
        let bounds = members.iter().skip(1).fold(items[members[0]], |acc, &i| acc.union(&items[i]));
        let centres: Vec<f32> = bands.iter().map(|b| median(b.iter().map(|&i| cy(&items[i])).collect())).collect();
        let mut rows = Vec::with_capacity(bands.len());
        for (k, band) in bands.iter().enumerate() {
            let ink = band.iter().skip(1).fold(items[band[0]], |acc, &i| acc.union(&items[i]));
            // The row reaches halfway to its neighbours, at most half a pitch, and always
            // holds its own cells.
            let up = if k > 0 { (centres[k] - centres[k - 1]) / 2.0 } else { pitch / 2.0 };
            let down = if k + 1 < centres.len() { (centres[k + 1] - centres[k]) / 2.0 } else { pitch / 2.0 };
            let top = ((centres[k] - up.min(pitch / 2.0)).round() as i32).min(ink.y);
            let bottom = ((centres[k] + down.min(pitch / 2.0)).round() as i32).max(ink.bottom());
            rows.push(Row { rect: Rect::from_edges(bounds.x, top, bounds.right(), bottom), items: band.clone() });
        }
        // Other things between the cells of a row: these columns only line up.
        let blocked = bands
            .iter()
            .filter(|band| {
                let ink = band.iter().skip(1).fold(items[band[0]], |acc, &i| acc.union(&items[i]));
                // Small things only: a selected row's highlight spans the row.
                let inside = |r: &Rect| {
                    let (cx, cy) = r.center();
                    ink.contains_point(cx, cy) && r.h as f32 <= 1.5 * pitch && r.w * 2 <= ink.w
                };
                others.iter().any(inside)
                    || items.iter().enumerate().any(|(i, r)| !member[i] && !band.contains(&i) && inside(r))
            })
            .count();
        if blocked * 10 > bands.len() * 3 {
            continue;
        }
        for &i in &members {
            claimed[i] = true;
        }
        out.push(Table { rows, pitch, bounds });
    }
    out.sort_by_key(|t| (t.bounds.y, t.bounds.x));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn white(items: &[Rect]) -> Vec<Cell> {
        items.iter().map(|&rect| Cell { rect, bg: [255; 3], icon: false }).collect()
    }

    #[test]
    fn a_sidebar_of_the_same_pitch_on_another_background_is_no_table() {
        let mut items = Vec::new();
        let mut cells = Vec::new();
        for r in 0..8 {
            for (x, w, bg) in [(20, 90, [40, 40, 40]), (300, 200, [255; 3])] {
                let rect = Rect::new(x, 100 + 34 * r, w, 13);
                items.push(rect);
                cells.push(Cell { rect, bg, icon: false });
            }
        }
        assert!(tables(&cells, &[]).is_empty());
        assert_eq!(tables(&white(&items), &[]).len(), 1, "on one background they would be");
    }

    #[test]
    fn columns_with_other_things_between_them_are_no_table() {
        let items: Vec<Rect> =
            (0..4).flat_map(|r| [Rect::new(20, 100 + 44 * r, 44, 14), Rect::new(500, 100 + 44 * r, 44, 14)]).collect();
        let page = [Rect::new(200, 100, 120, 20), Rect::new(200, 144, 120, 20), Rect::new(200, 188, 120, 20)];
        assert!(tables(&white(&items), &page).is_empty());
        assert_eq!(tables(&white(&items), &[]).len(), 1);
    }

    #[test]
    fn a_grid_of_icons_is_no_table() {
        let cells: Vec<Cell> = (0..4)
            .flat_map(|r| (0..3).map(move |c| Rect::new(20 + 50 * c, 100 + 50 * r, 32, 32)))
            .map(|rect| Cell { rect, bg: [255; 3], icon: true })
            .collect();
        assert!(tables(&cells, &[]).is_empty());
    }

    /// A process list: names left-aligned, numbers right-aligned, 23 px apart.
    fn process_list(rows: usize) -> Vec<Rect> {
        let mut v = Vec::new();
        for r in 0..rows {
            let y = 100 + 23 * r as i32;
            v.push(Rect::new(20, y + 4, 60 + (r as u32 * 37) % 90, 13));
            let w = 20 + (r as u32 * 11) % 20;
            v.push(Rect::new(1140 - w as i32, y + 4, w, 13));
            v.push(Rect::new(1200, y + 4, 30, 13));
        }
        v
    }

    #[test]
    fn cells_in_aligned_columns_become_one_row_each() {
        let items = process_list(8);
        let t = tables(&white(&items), &[]);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].rows.len(), 8);
        for (k, row) in t[0].rows.iter().enumerate() {
            assert_eq!(row.items, vec![3 * k, 3 * k + 1, 3 * k + 2]);
            assert_eq!(row.rect.x, 20);
            assert_eq!(row.rect.right(), 1230);
        }
        // Rows touch: each reaches halfway to the next.
        assert_eq!(t[0].rows[0].rect.bottom(), t[0].rows[1].rect.y);
    }

    #[test]
    fn a_missing_cell_does_not_break_the_table() {
        let mut items = process_list(8);
        items.remove(3 * 4 + 1); // row 4 has no number
        let t = tables(&white(&items), &[]);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].rows.len(), 8);
    }

    #[test]
    fn a_single_column_list_is_no_table() {
        let items: Vec<Rect> = (0..6).map(|r| Rect::new(20, 100 + 23 * r, 80, 13)).collect();
        assert!(tables(&white(&items), &[]).is_empty());
    }

    #[test]
    fn two_columns_of_prose_are_no_table() {
        let mut items = Vec::new();
        for r in 0..6 {
            items.push(Rect::new(20, 100 + 20 * r, 400, 12));
            items.push(Rect::new(460, 100 + 20 * r, 400, 12));
        }
        assert!(tables(&white(&items), &[]).is_empty());
    }

    #[test]
    fn a_sidebar_beside_text_of_another_pitch_is_no_table() {
        let mut items = Vec::new();
        for r in 0..8 {
            items.push(Rect::new(20, 100 + 18 * r, 90, 12));
            items.push(Rect::new(300, 100 + 26 * r, 200, 14));
        }
        assert!(tables(&white(&items), &[]).is_empty());
    }
}
