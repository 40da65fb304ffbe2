//! Ground truth from the accessibility tree (AT-SPI), and the detector's quality figures
//! against it.
//!
//! - **interactive** elements: what a person can act on (buttons, toggles, check and radio
//!   buttons, entries and editable text, combo and spin buttons, sliders, tabs, menu items,
//!   links, list items, non-empty table cells, column headers, calendars, icon-view
//!   items), showing,
//!   sensitive and on screen;
//! - **readable** elements: labels and headings with text.
//!
//! Convention of the perception metric: a row of a table or tree is one element (its cells,
//! AT-SPI's "table cell"s, are joined into a "table row"); a cell that is a control of its
//! own (a check box) stays an element.
//!
//! Figures, as the foundation issue defines them:
//! - recall: interactive elements holding the centre of at least one mark;
//! - doubles: interactive elements holding the centres of two or more marks, not counting
//!   marks that belong to something nested inside (a check box in a list row, the icons
//!   an expander's area shows);
//! - marks per element: marks whose centre lies in the application's window, over
//!   interactive + readable elements. Calendars are opaque to AT-SPI (their days are not
//!   objects), so the marks inside them are left out of this ratio and reported apart.

use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Node {
    pub id: usize,
    pub parent: Option<usize>,
    pub role: String,
    pub name: String,
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
    pub states: Vec<String>,
}

impl Node {
    pub fn has(&self, s: &str) -> bool {
        self.states.iter().any(|x| x == s)
    }
    pub fn contains_point(&self, px: f64, py: f64) -> bool {
        px >= self.x as f64 && py >= self.y as f64 && px < (self.x + self.w) as f64 && py < (self.y + self.h) as f64
    }
    pub fn contains(&self, o: &Node) -> bool {
        o.x >= self.x && o.y >= self.y && o.x + o.w <= self.x + self.w && o.y + o.h <= self.y + self.h
    }
    pub fn area(&self) -> i64 {
        self.w * self.h
    }
}

const INTERACTIVE: &[&str] = &[
    "push button",
    "toggle button",
    "check box",
    "radio button",
    "combo box",
    "spin button",
    "slider",
    "menu item",
    "check menu item",
    "radio menu item",
    "menu",
    "page tab",
    "list item",
    "table cell",
    "link",
    "switch",
    "tree item",
    "table column header",
    "password text",
    "entry",
    "calendar",
];
const READABLE: &[&str] = &["label", "heading", "static", "caption"];
/// Layout-only roles: never "something else inside" an element.
const LAYOUT: &[&str] = &[
    "filler",
    "panel",
    "scroll pane",
    "viewport",
    "frame",
    "window",
    "dialog",
    "layered pane",
    "separator",
    "unknown",
];

/// One application's tree.
pub struct Truth {
    pub nodes: Vec<Node>,
    /// The application's top-level window (frame or dialog).
    pub window: Node,
    pub interactive: Vec<usize>,
    pub readable: Vec<usize>,
}

pub fn parse(tree: &Value, app: &str) -> Truth {
    let nodes: Vec<Node> = tree["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["name"].as_str() == Some(app))
        .flat_map(|a| a["nodes"].as_array().cloned().unwrap_or_default())
        .map(|n| Node {
            id: n["id"].as_u64().unwrap_or(0) as usize,
            parent: n["parent"].as_u64().map(|p| p as usize),
            role: n["role"].as_str().unwrap_or("").to_string(),
            name: n["name"].as_str().unwrap_or("").to_string(),
            x: n["x"].as_i64().unwrap_or(0),
            y: n["y"].as_i64().unwrap_or(0),
            w: n["w"].as_i64().unwrap_or(0),
            h: n["h"].as_i64().unwrap_or(0),
            states: n["states"].as_array().into_iter().flatten().filter_map(|s| s.as_str().map(String::from)).collect(),
        })
        .collect();
    // The largest showing top-level window of the application (a child of its root).
    let root = nodes.iter().find(|n| n.parent.is_none()).map(|n| n.id);
    let window = nodes
        .iter()
        .filter(|n| n.parent == root && n.parent.is_some() && n.has("showing") && n.w > 0 && n.h > 0)
        .max_by_key(|n| n.area())
        .cloned()
        .unwrap_or_else(|| panic!("{app} has no window on screen"));
    let visible = |n: &Node| {
        n.has("showing")
            && n.has("visible")
            && n.w >= 4
            && n.h >= 4
            && n.x > -10_000
            && n.y > -10_000
            && window.contains(n)
    };
    let has_children = |n: &Node| nodes.iter().any(|m| m.parent == Some(n.id));
    let mut interactive = Vec::new();
    let mut readable = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        if !visible(n) {
            continue;
        }
        let role = n.role.as_str();
        let editable_text = role == "text" && n.has("editable");
        // Items of an icon view are selectable icons.
        let icon_item = role == "icon" && n.has("selectable");
        if INTERACTIVE.contains(&role) || editable_text || icon_item {
            if !(n.has("sensitive") || n.has("enabled")) {
                continue;
            }
            // An empty table cell shows nothing to mark.
            if role == "table cell" && n.name.trim().is_empty() && !has_children(n) {
                continue;
            }
            interactive.push(i);
        } else if READABLE.contains(&role) && !n.name.trim().is_empty() {
            readable.push(i);
        }
    }
    let (nodes, interactive) = rows_of_cells(nodes, interactive);
    Truth { nodes, window, interactive, readable }
}

/// Replace the table cells among `interactive` by one "table row" per row of each table:
/// the cells with one parent on one line, their boxes joined and their names too.
fn rows_of_cells(mut nodes: Vec<Node>, interactive: Vec<usize>) -> (Vec<Node>, Vec<usize>) {
    let (cells, mut kept): (Vec<usize>, Vec<usize>) =
        interactive.into_iter().partition(|&i| nodes[i].role == "table cell");
    let mut rows: Vec<(Option<usize>, i64, Vec<usize>)> = Vec::new();
    for i in cells {
        let n = &nodes[i];
        match rows.iter_mut().find(|(p, y, _)| *p == n.parent && (*y - n.y).abs() <= 1) {
            Some((_, _, v)) => v.push(i),
            None => rows.push((n.parent, n.y, vec![i])),
        }
    }
    let first = nodes.iter().map(|n| n.id).max().unwrap_or(0) + 1;
    for (next, (parent, _, mut members)) in (first..).zip(rows) {
        members.sort_by_key(|&i| nodes[i].x);
        let (x0, y0) = (
            members.iter().map(|&i| nodes[i].x).min().unwrap_or(0),
            members.iter().map(|&i| nodes[i].y).min().unwrap_or(0),
        );
        let x1 = members.iter().map(|&i| nodes[i].x + nodes[i].w).max().unwrap_or(0);
        let y1 = members.iter().map(|&i| nodes[i].y + nodes[i].h).max().unwrap_or(0);
        let name =
            members.iter().map(|&i| nodes[i].name.trim()).filter(|n| !n.is_empty()).collect::<Vec<_>>().join(" | ");
        let states = nodes[members[0]].states.clone();
        nodes.push(Node {
            id: next,
            parent,
            role: "table row".into(),
            name,
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
            states,
        });
        kept.push(nodes.len() - 1);
    }
    kept.sort_unstable();
    (nodes, kept)
}

impl Truth {
    fn is_descendant(&self, node: usize, ancestor: usize) -> bool {
        let mut cur = self.nodes[node].parent;
        let target = self.nodes[ancestor].id;
        let mut guard = 0;
        while let Some(p) = cur {
            if p == target {
                return true;
            }
            cur = self.nodes.iter().find(|n| n.id == p).and_then(|n| n.parent);
            guard += 1;
            if guard > 200 {
                break;
            }
        }
        false
    }
}

/// A mark's centre on the screen.
#[derive(Debug, Clone, Copy)]
pub struct MarkCentre {
    pub id: u64,
    pub x: f64,
    pub y: f64,
}

/// Each element of an `annotate --json` document: id, box in screen coordinates (x, y, w,
/// h), and the element itself.
fn screen_boxes(report: &Value) -> Vec<(u64, ScreenBox, &Value)> {
    let ox = report["origin"]["x"].as_f64().unwrap_or(0.0);
    let oy = report["origin"]["y"].as_f64().unwrap_or(0.0);
    report["elements"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let b = &e["bbox"];
            let num = |k: &str| b[k].as_f64().unwrap_or(0.0);
            (e["id"].as_u64().unwrap_or(0), (ox + num("x"), oy + num("y"), num("w"), num("h")), e)
        })
        .collect()
}

/// Centres of the marks in an `annotate --json` document, in screen coordinates.
pub fn mark_centres(report: &Value) -> Vec<MarkCentre> {
    screen_boxes(report)
        .into_iter()
        .map(|(id, (x, y, w, h), _)| MarkCentre { id, x: x + w / 2.0, y: y + h / 2.0 })
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct Quality {
    pub interactive: usize,
    pub readable: usize,
    pub hit: usize,
    pub doubles: usize,
    pub marks: usize,
    pub marks_in_calendars: usize,
    pub missed: Vec<String>,
    pub doubled: Vec<String>,
}

impl Quality {
    pub fn recall(&self) -> f64 {
        self.hit as f64 / self.interactive.max(1) as f64
    }
    pub fn double_rate(&self) -> f64 {
        self.doubles as f64 / self.interactive.max(1) as f64
    }
    pub fn marks_per_element(&self) -> f64 {
        self.marks as f64 / (self.interactive + self.readable).max(1) as f64
    }
    pub fn add(&mut self, o: &Quality) {
        self.interactive += o.interactive;
        self.readable += o.readable;
        self.hit += o.hit;
        self.doubles += o.doubles;
        self.marks += o.marks;
        self.marks_in_calendars += o.marks_in_calendars;
    }
    pub fn line(&self, name: &str) -> String {
        format!(
            "{name:<28} interactive {:>3}  readable {:>3}  marks {:>3} (+{} in calendars)  recall {:.3}  doubles {:.3}  marks/element {:.2}",
            self.interactive,
            self.readable,
            self.marks,
            self.marks_in_calendars,
            self.recall(),
            self.double_rate(),
            self.marks_per_element()
        )
    }
}

/// Measure marks against the truth. `client` is the window's client area on screen
/// (x, y, w, h): AT-SPI's window extents include the window manager's title bar, whose
/// buttons and title are not the application's.
pub fn measure(truth: &Truth, marks: &[MarkCentre], client: (i64, i64, i64, i64)) -> Quality {
    let mut q = Quality { interactive: truth.interactive.len(), readable: truth.readable.len(), ..Default::default() };
    let area = Node {
        id: usize::MAX,
        parent: None,
        role: String::new(),
        name: String::new(),
        x: client.0,
        y: client.1,
        w: client.2,
        h: client.3,
        states: vec![],
    };
    let in_window: Vec<&MarkCentre> = marks.iter().filter(|m| area.contains_point(m.x, m.y)).collect();
    let calendars: Vec<&Node> =
        truth.interactive.iter().map(|&i| &truth.nodes[i]).filter(|n| n.role == "calendar").collect();
    for m in &in_window {
        if calendars.iter().any(|c| c.contains_point(m.x, m.y)) {
            q.marks_in_calendars += 1;
        } else {
            q.marks += 1;
        }
    }
    // Objects that are "something else" inside an element: other interactive elements,
    // and showing non-layout objects that are not the element's own descendants.
    let others: Vec<usize> = truth
        .nodes
        .iter()
        .enumerate()
        .filter(|(i, n)| {
            truth.interactive.contains(i)
                || (n.has("showing")
                    && n.w > 0
                    && n.h > 0
                    && !LAYOUT.contains(&n.role.as_str())
                    && truth.window.contains(n))
        })
        .map(|(i, _)| i)
        .collect();
    for &e in &truth.interactive {
        let el = &truth.nodes[e];
        let inside: Vec<&&MarkCentre> = in_window.iter().filter(|m| el.contains_point(m.x, m.y)).collect();
        if inside.is_empty() {
            q.missed.push(format!("{} {:?} at {},{} {}x{}", el.role, el.name, el.x, el.y, el.w, el.h));
        } else {
            q.hit += 1;
        }
        if el.role == "calendar" {
            continue; // its days are separate targets AT-SPI does not list
        }
        let nested: Vec<&Node> = others
            .iter()
            .filter(|&&o| o != e)
            .map(|&o| (o, &truth.nodes[o]))
            .filter(|(o, n)| {
                el.contains(n) && n.area() < el.area() && (truth.interactive.contains(o) || !truth.is_descendant(*o, e))
            })
            .map(|(_, n)| n)
            .collect();
        let own: Vec<u64> =
            inside.iter().filter(|m| !nested.iter().any(|n| n.contains_point(m.x, m.y))).map(|m| m.id).collect();
        if own.len() >= 2 {
            q.doubles += 1;
            q.doubled
                .push(format!("{} {:?} at {},{} {}x{}: marks {:?}", el.role, el.name, el.x, el.y, el.w, el.h, own));
        }
    }
    q
}

/// Roles whose accessible name is the text they show.
const NAMED_BY_TEXT: &[&str] = &[
    "push button",
    "toggle button",
    "label",
    "heading",
    "menu item",
    "check menu item",
    "radio menu item",
    "menu",
    "check box",
    "radio button",
    "page tab",
    "link",
];

/// How many accessible names (buttons, labels, menu items…) the text reader got exactly.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    pub total: usize,
    pub exact: usize,
    pub wrong: Vec<String>,
}

impl Reading {
    pub fn rate(&self) -> f64 {
        self.exact as f64 / self.total.max(1) as f64
    }
    pub fn add(&mut self, o: &Reading) {
        self.total += o.total;
        self.exact += o.exact;
    }
    pub fn line(&self, name: &str) -> String {
        format!("{name:<28} names {:>3}  read exactly {:>3}  rate {:.3}", self.total, self.exact, self.rate())
    }
}

fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A box on the screen: x, y, w, h.
pub type ScreenBox = (f64, f64, f64, f64);

/// A text line on the screen and its text.
pub type TextLine = (ScreenBox, String);

/// The text lines of an `annotate --json` report (screen coordinates): box and text.
pub fn text_lines(report: &Value) -> Vec<TextLine> {
    screen_boxes(report).into_iter().filter_map(|(_, r, e)| Some((r, e["text"].as_str()?.to_string()))).collect()
}

/// For every visible element named by its text, the lines whose centres lie in it, in
/// reading order, joined by spaces, must equal its name (whitespace aside). Buttons with a
/// small, squarish box are icon-only (their name is a tooltip, not shown) and not counted.
pub fn reading(truth: &Truth, lines: &[TextLine]) -> Reading {
    let mut r = Reading::default();
    for &i in truth.interactive.iter().chain(&truth.readable) {
        let n = &truth.nodes[i];
        let name = normalise(&n.name);
        if !NAMED_BY_TEXT.contains(&n.role.as_str()) || name.is_empty() {
            continue;
        }
        let mut inside: Vec<&TextLine> =
            lines.iter().filter(|((x, y, w, h), _)| n.contains_point(x + w / 2.0, y + h / 2.0)).collect();
        let icon_like = n.w <= 48 && n.h <= 48 && (n.w as f64) < 1.6 * n.h as f64;
        if icon_like && n.role.ends_with("button") {
            continue;
        }
        // Reading order: rows (a line starts a new row when its centre is below the
        // previous line's box), then left to right.
        inside.sort_by(|a, b| (a.0.1 + a.0.3 / 2.0).total_cmp(&(b.0.1 + b.0.3 / 2.0)));
        let mut rows: Vec<Vec<&TextLine>> = Vec::new();
        for l in inside {
            match rows.last_mut() {
                Some(row) if l.0.1 + l.0.3 / 2.0 < row[0].0.1 + row[0].0.3 => row.push(l),
                _ => rows.push(vec![l]),
            }
        }
        let read = rows
            .into_iter()
            .flat_map(|mut row| {
                row.sort_by(|a, b| a.0.0.total_cmp(&b.0.0));
                row.into_iter().map(|l| l.1.clone())
            })
            .collect::<Vec<_>>()
            .join(" ");
        r.total += 1;
        if normalise(&read) == name {
            r.exact += 1;
        } else {
            r.wrong.push(format!("{} {:?} read as {:?} at {},{} {}x{}", n.role, name, read, n.x, n.y, n.w, n.h));
        }
    }
    r
}
