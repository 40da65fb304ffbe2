//! An application's accessibility tree → proposals in frame pixels, one per thing a person
//! can act on or read, following the conventions of the perception metric: a table or tree
//! row is one element (its cells' names joined), compound controls are what the toolkit says
//! they are, a text area is one element; what is scrolled away, clipped by the pane holding
//! it, or covered by another window or a popup is not there.

use std::collections::BTreeMap;

use super::SOURCE;
use super::place::Placement;
use super::tree::{Node, clips, state};
use crate::geometry::Rect;
use crate::perceive::{ElementKind, Proposal, State};

/// Roles a person acts on, and the kind each is drawn as.
fn control_kind(role: &str) -> Option<ElementKind> {
    Some(match role {
        "push button"
        | "push button menu"
        | "toggle button"
        | "table column header"
        | "column header"
        | "table row header"
        | "row header"
        | "calendar"
        | "dial"
        | "date editor"
        | "color chooser"
        | "font chooser" => ElementKind::Button,
        "check box" => ElementKind::CheckBox,
        "radio button" => ElementKind::RadioButton,
        "switch" | "toggle" => ElementKind::Toggle,
        "combo box" => ElementKind::ComboBox,
        "spin button" | "entry" | "password text" | "terminal" => ElementKind::TextField,
        "slider" | "scroll bar" => ElementKind::Slider,
        "menu item" | "check menu item" | "radio menu item" | "menu" | "tear off menu item" => ElementKind::MenuItem,
        "page tab" => ElementKind::Tab,
        "link" => ElementKind::Link,
        "list item" | "tree item" | "table row" => ElementKind::ListRow,
        _ => return None,
    })
}

/// Roles of text to read.
fn is_textual(role: &str) -> bool {
    matches!(
        role,
        "label"
            | "static"
            | "heading"
            | "caption"
            | "paragraph"
            | "description term"
            | "description value"
            | "text"
            | "status bar"
            | "accelerator label"
            | "footer"
            | "header"
            | "block quote"
            | "title bar"
    )
}

/// Roles of controls that can sit in a table cell as controls of their own.
fn is_cell_control(role: &str) -> bool {
    matches!(
        role,
        "check box"
            | "radio button"
            | "toggle button"
            | "push button"
            | "spin button"
            | "combo box"
            | "slider"
            | "switch"
            | "link"
            | "entry"
            | "text"
    )
}

/// An application's tree with what is known of its place on screen.
pub struct Placed<'a> {
    pub nodes: &'a [Node],
    /// Per node: where its toplevel is (`None`: not on the frame, or not known).
    pub placement: Vec<Option<Placement>>,
    /// The state that says "on screen" for this toolkit.
    pub on_screen: u64,
}

impl<'a> Placed<'a> {
    /// Place every node by its toplevel's placement (`tops`: toplevel node → placement).
    pub fn new(nodes: &'a [Node], tops: &BTreeMap<usize, Placement>, on_screen: u64) -> Self {
        let mut placement: Vec<Option<Placement>> = vec![None; nodes.len()];
        for i in 1..nodes.len() {
            placement[i] = match nodes[i].parent {
                Some(0) => tops.get(&i).copied(),
                Some(p) if p < i => placement[p],
                _ => None,
            };
        }
        Self { nodes, placement, on_screen }
    }

    fn on_screen(&self, n: &Node) -> bool {
        n.has(self.on_screen) && n.has(state::VISIBLE) && !n.has(state::DEFUNCT) && n.extents.is_some()
    }

    fn ancestors(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(self.nodes[i].parent, |&p| self.nodes[p].parent)
    }

    /// A node's visible box in desktop pixels: its box within every clipping ancestor's.
    fn visible(&self, i: usize) -> Option<Rect> {
        let p = self.placement[i]?;
        let mut b = self.nodes[i].extents?;
        for a in self.ancestors(i) {
            let n = &self.nodes[a];
            if let Some(e) = n.extents.filter(|_| clips(&n.role) && self.on_screen(n)) {
                b = b.intersection(&e);
            }
        }
        (!b.is_empty()).then(|| p.apply(&b))
    }

    /// The named objects above node `i`, outermost first (`frame "Settings" > page tab
    /// "Fonts"`): its window and the nearest three, what tells two alike elements apart.
    fn path(&self, i: usize) -> Option<String> {
        let mut named: Vec<String> = self
            .ancestors(i)
            .filter(|&a| a != 0)
            .filter_map(|a| {
                let n = &self.nodes[a];
                clean(&n.name, 40).map(|name| format!("{} {name:?}", n.role))
            })
            .collect();
        named.reverse();
        if named.len() > 4 {
            named.drain(1..named.len() - 3);
        }
        (!named.is_empty()).then(|| named.join(" > "))
    }

    /// Boxes (desktop pixels) of the popups that show: toplevels no listed window explains.
    pub fn popups(&self) -> Vec<(usize, Rect)> {
        (1..self.nodes.len())
            .filter(|&i| self.nodes[i].parent == Some(0))
            .filter(|&i| self.placement[i].is_some_and(|p| p.window.is_none()) && self.on_screen(&self.nodes[i]))
            .filter_map(|i| Some((i, self.visible(i)?)))
            .collect()
    }
}

/// What lies above a window: the listed windows (desktop pixels, topmost first) and every
/// application's showing popups.
pub struct Above<'a> {
    pub windows: &'a [Rect],
    pub popups: &'a [Rect],
}

impl Above<'_> {
    /// Whether a box of a toplevel placed so is hidden at its centre: by a window above its
    /// own, or by a popup. A popup itself lies above every window.
    fn covers(&self, b: &Rect, p: &Placement) -> bool {
        let (cx, cy) = b.center();
        let hit = |r: &&Rect| r.contains_point(cx, cy);
        p.window.is_some_and(|w| {
            self.windows[..w.min(self.windows.len())].iter().any(|r| hit(&r)) || self.popups.iter().any(|r| hit(&r))
        })
    }
}

fn states_of(n: &Node, kind: ElementKind) -> Vec<State> {
    let mut out = Vec::new();
    let checkable = matches!(kind, ElementKind::CheckBox | ElementKind::RadioButton | ElementKind::Toggle)
        || n.has(state::CHECKABLE)
        || n.role == "toggle button"
        || n.role.ends_with("menu item");
    if checkable && (n.has(state::CHECKED) || (n.role == "toggle button" && n.has(state::PRESSED))) {
        out.push(State::Checked);
    }
    if n.has(state::SELECTED) && matches!(kind, ElementKind::ListRow | ElementKind::Tab | ElementKind::MenuItem) {
        out.push(State::Selected);
    }
    if n.has(state::FOCUSED) {
        out.push(State::Focused);
    }
    if n.has(state::EXPANDED) && !matches!(kind, ElementKind::MenuItem) {
        out.push(State::Expanded);
    }
    if !n.has(state::SENSITIVE) && !n.has(state::ENABLED) {
        out.push(State::Disabled);
    }
    if n.role == "password text" {
        out.push(State::Password);
    }
    out
}

/// A name that only says what class the widget is ("GtkMenuButton", "AdwGizmo": GTK 4 names
/// unnamed widgets so) names nothing a person sees.
fn class_name(s: &str) -> bool {
    let word = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    word && ["Gtk", "Adw", "Gsk", "Gdk"]
        .iter()
        .any(|p| s.strip_prefix(p).is_some_and(|r| r.starts_with(|c: char| c.is_ascii_uppercase())))
}

fn clean(s: &str, max: usize) -> Option<String> {
    if class_name(s.trim()) {
        return None;
    }
    let t = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let t: String = t.chars().take(max).collect();
    (!t.is_empty()).then_some(t)
}

/// Desktop pixels → frame pixels, and the frame's size.
#[derive(Debug, Clone, Copy)]
pub struct FrameGeom {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

impl FrameGeom {
    fn frame_box(&self, r: &Rect) -> Option<Rect> {
        let f = Rect::new(r.x - self.x, r.y - self.y, r.w, r.h).clamp_to(self.width, self.height);
        (f.w >= 3 && f.h >= 3).then_some(f)
    }
}

/// The proposals one application's tree makes on the frame.
pub fn proposals(app: &Placed, above: &Above, frame: &FrameGeom) -> Vec<Proposal> {
    let nodes = app.nodes;
    let mut out = Vec::new();
    // Cells by their table and row (cells of one row share their top and height).
    let mut rows: BTreeMap<(usize, i32, u32), Vec<usize>> = BTreeMap::new();
    for i in 1..nodes.len() {
        let n = &nodes[i];
        if n.parent == Some(0) || !app.on_screen(n) {
            continue;
        }
        let Some(p) = app.placement[i] else { continue };
        // (Its ancestors are on screen: the walk goes no further below hidden objects.)
        let Some(vis) = app.visible(i) else { continue };
        if above.covers(&vis, &p) {
            continue;
        }
        let Some(bbox) = frame.frame_box(&vis) else { continue };
        let role = n.role.as_str();
        let in_cell = app.ancestors(i).any(|a| nodes[a].role == "table cell");
        if role == "table cell" {
            if in_cell {
                continue; // a part of a composite cell: the top cell stands for it
            }
            let parent = n.parent.unwrap_or(0);
            if matches!(nodes[parent].role.as_str(), "table row" | "list item" | "tree item") {
                continue; // the row itself is the element
            }
            let e = n.extents.unwrap_or(bbox);
            rows.entry((parent, e.y, e.h)).or_default().push(i);
            if n.toggles || n.has(state::CHECKABLE) {
                let mut c = Proposal::new(bbox, ElementKind::CheckBox, 1.0, SOURCE);
                c.text = clean(&n.name, 80);
                c.states = states_of(n, ElementKind::CheckBox);
                c.path = app.path(i);
                out.push(c);
            }
            continue;
        }
        if in_cell && !is_cell_control(role) {
            continue;
        }
        let editable = matches!(role, "text" | "entry" | "password text" | "paragraph") && n.has(state::EDITABLE);
        let kind = if editable {
            Some(ElementKind::TextField)
        } else if role == "icon" && n.has(state::SELECTABLE) {
            Some(ElementKind::Icon)
        } else if role == "label" && n.acts && n.has(state::FOCUSABLE) {
            Some(ElementKind::Link)
        } else {
            control_kind(role)
        };
        if let Some(kind) = kind {
            // A combo box's or a menu button's own (closed) menu is not a menu of a bar.
            if role == "menu"
                && !app.ancestors(i).any(|a| matches!(nodes[a].role.as_str(), "menu bar" | "menu" | "popup menu"))
            {
                continue;
            }
            let mut e = Proposal::new(bbox, kind, 1.0, SOURCE);
            e.text = clean(&n.name, 120).or_else(|| {
                (kind == ElementKind::TextField && role != "password text")
                    .then(|| n.text.as_deref().and_then(|t| clean(t, 80)))
                    .flatten()
            });
            e.states = states_of(n, kind);
            e.path = app.path(i);
            out.push(e);
        } else if is_textual(role) {
            let text = clean(&n.name, 200).or_else(|| n.text.as_deref().and_then(|t| clean(t, 200)));
            if let Some(text) = text {
                let mut e = Proposal::new(bbox, ElementKind::Text, 1.0, SOURCE);
                e.text = Some(text);
                e.path = app.path(i);
                out.push(e);
            }
        } else if matches!(role, "image" | "icon" | "animation") {
            let mut e = Proposal::new(bbox, ElementKind::Icon, 1.0, SOURCE);
            e.text = clean(&n.name, 80);
            out.push(e);
        }
    }
    for ((_, _, _), cells) in rows {
        let boxes: Vec<Rect> = cells.iter().filter_map(|&c| app.visible(c).and_then(|v| frame.frame_box(&v))).collect();
        let Some(first) = boxes.first() else { continue };
        let bbox = boxes.iter().fold(*first, |acc, b| acc.union(b));
        let mut sorted = cells.clone();
        sorted.sort_by_key(|&c| nodes[c].extents.map_or(0, |e| e.x));
        let names: Vec<String> = sorted
            .iter()
            .filter_map(|&c| {
                clean(&nodes[c].name, 80).or_else(|| {
                    let kids: Vec<String> = (c + 1..nodes.len())
                        .filter(|&k| nodes[k].parent == Some(c))
                        .filter_map(|k| clean(&nodes[k].name, 80))
                        .collect();
                    (!kids.is_empty()).then(|| kids.join(" "))
                })
            })
            .collect();
        let mut row = Proposal::new(bbox, ElementKind::ListRow, 1.0, SOURCE);
        row.path = app.path(cells[0]);
        row.text = (!names.is_empty()).then(|| names.join(" | "));
        if cells.iter().any(|&c| nodes[c].has(state::SELECTED)) {
            row.states.push(State::Selected);
        }
        if cells.iter().all(|&c| !nodes[c].has(state::SENSITIVE) && !nodes[c].has(state::ENABLED)) {
            row.states.push(State::Disabled);
        }
        out.push(row);
    }
    out
}
