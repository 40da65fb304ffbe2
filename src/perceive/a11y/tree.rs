//! Reading an application's accessibility tree over AT-SPI (D-Bus).
//!
//! The walk goes level by level, every object of a level asked at once (a few hundred calls
//! in flight on one connection), and only where something can show: below objects that are
//! showing (visible, for toolkits that never say showing), whose box meets the part of the
//! screen the frame holds and the boxes of the panes that clip them. A button's, a link's or
//! a label's own parts are not walked: the object itself is the element.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use futures_util::stream;
use serde::Deserialize;
use zbus::Connection;
use zbus::zvariant::{OwnedObjectPath, OwnedValue};

use super::place::Placement;
use crate::geometry::Rect;

/// Where every application's root object lives.
pub const ROOT: &str = "/org/a11y/atspi/accessible/root";
const ACCESSIBLE: &str = "org.a11y.atspi.Accessible";
const COMPONENT: &str = "org.a11y.atspi.Component";
const TEXT: &str = "org.a11y.atspi.Text";
const ACTION: &str = "org.a11y.atspi.Action";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";
/// Objects asked about at once.
const IN_FLIGHT: usize = 192;
/// Beyond this many objects an application's tree is cut (a runaway table).
pub const MAX_NODES: usize = 6000;
const MAX_DEPTH: usize = 64;

/// AT-SPI state bits (`AtspiStateType`), the ones read here.
pub mod state {
    pub const CHECKED: u64 = 1 << 4;
    pub const DEFUNCT: u64 = 1 << 6;
    pub const EDITABLE: u64 = 1 << 7;
    pub const ENABLED: u64 = 1 << 8;
    pub const EXPANDED: u64 = 1 << 10;
    pub const FOCUSABLE: u64 = 1 << 11;
    pub const FOCUSED: u64 = 1 << 12;
    pub const PRESSED: u64 = 1 << 20;
    pub const SELECTABLE: u64 = 1 << 22;
    pub const SELECTED: u64 = 1 << 23;
    pub const SENSITIVE: u64 = 1 << 24;
    pub const SHOWING: u64 = 1 << 25;
    pub const VISIBLE: u64 = 1 << 30;
    pub const CHECKABLE: u64 = 1 << 41;
}

/// One object of the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub parent: Option<usize>,
    pub role: String,
    pub name: String,
    pub states: u64,
    /// Its box as the toolkit gives it (screen coordinates, in the toolkit's own units);
    /// `None` when it has none (no Component, or a negative size).
    pub extents: Option<Rect>,
    /// The text an editable field holds (its first characters).
    pub text: Option<String>,
    /// It has a "toggle" action (GTK 3's check-box cells say so, and nothing else).
    pub toggles: bool,
    /// It has actions at all (a clickable label).
    pub acts: bool,
}

impl Node {
    pub fn has(&self, bits: u64) -> bool {
        self.states & bits == bits
    }
}

/// How the walk decides where to go.
pub struct Walk<'a> {
    /// The state that says an object is on screen: SHOWING, or VISIBLE for toolkits that
    /// leave SHOWING off (GTK 4.8).
    pub on_screen: u64,
    /// The frame's place on the desktop (physical pixels).
    pub frame: Rect,
    /// Where the application's toplevels are (`None`: not known, and not walked).
    pub place: &'a (dyn Fn(&[&Node]) -> Vec<Option<Placement>> + Sync),
}

/// A role's number, named as libatspi names it: the toolkits' own names differ (GTK 4 calls a
/// push button "button"), and so do two of the `atspi` crate's.
fn role_name(role: u32) -> &'static str {
    match atspi::Role::try_from(role) {
        Ok(atspi::Role::Button) => "push button",
        Ok(atspi::Role::TearoffMenuItem) => "tear off menu item",
        Ok(r) => r.name(),
        Err(_) => "unknown",
    }
}

/// Objects whose children are parts of the object itself.
fn is_leaf(role: &str) -> bool {
    matches!(
        role,
        "push button"
            | "toggle button"
            | "check box"
            | "radio button"
            | "spin button"
            | "slider"
            | "scroll bar"
            | "entry"
            | "password text"
            | "image"
            | "icon"
            | "link"
            | "switch"
            | "progress bar"
            | "separator"
            | "static"
    )
}

/// Roles whose box clips what they hold (scrolled panes, tables, windows).
pub fn clips(role: &str) -> bool {
    matches!(
        role,
        "scroll pane"
            | "viewport"
            | "table"
            | "tree table"
            | "tree"
            | "list"
            | "list box"
            | "tool bar"
            | "window"
            | "frame"
            | "dialog"
            | "alert"
            | "file chooser"
            | "menu"
            | "popup menu"
            | "page tab list"
            | "split pane"
            | "layered pane"
    )
}

fn editable_text(role: &str) -> bool {
    matches!(role, "text" | "entry" | "password text" | "paragraph" | "terminal")
}

/// An object: its application's bus name and its path there (D-Bus `(so)`).
#[derive(Debug, Clone, Deserialize, serde::Serialize, zbus::zvariant::Type)]
#[zvariant(signature = "(so)", crate = "zbus::zvariant")]
struct ObjRef {
    bus: String,
    path: OwnedObjectPath,
}

#[derive(Debug, Clone)]
struct Pending {
    parent: Option<usize>,
    /// The visible part of the ancestors, in toolkit units (`None` above the toplevels).
    clip: Option<Rect>,
    depth: usize,
    obj: ObjRef,
}

struct Fetched {
    node: Node,
    /// What its children are clipped to (`None` for a toplevel, not placed yet).
    clip: Option<Rect>,
    children: Vec<ObjRef>,
}

/// How to reach an application: through the bus, or straight (a peer-to-peer connection to
/// the application's own socket, which spares every call a trip through the bus daemon).
pub struct Route<'a> {
    pub bus: &'a Connection,
    /// The application's bus name and its own connection.
    pub peer: Option<(&'a str, &'a Connection)>,
}

impl Route<'_> {
    pub fn bus_only(bus: &Connection) -> Route<'_> {
        Route { bus, peer: None }
    }
}

async fn call<B, R>(route: &Route<'_>, obj: &ObjRef, iface: &str, method: &str, body: &B) -> zbus::Result<R>
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
    R: for<'d> Deserialize<'d> + zbus::zvariant::Type,
{
    let reply = match route.peer {
        Some((name, peer)) if name == obj.bus => {
            peer.call_method(None::<&str>, obj.path.as_ref(), Some(iface), method, body).await?
        }
        _ => route.bus.call_method(Some(obj.bus.as_str()), obj.path.as_ref(), Some(iface), method, body).await?,
    };
    reply.body().deserialize::<R>()
}

async fn property(route: &Route<'_>, obj: &ObjRef, iface: &str, name: &str) -> zbus::Result<OwnedValue> {
    call(route, obj, PROPERTIES, "Get", &(iface, name)).await
}

fn string(v: zbus::Result<OwnedValue>) -> String {
    v.ok().and_then(|v| String::try_from(v).ok()).unwrap_or_default()
}

fn bits(words: &[u32]) -> u64 {
    words.iter().take(2).enumerate().fold(0u64, |acc, (i, w)| acc | ((*w as u64) << (32 * i)))
}

/// Ask everything about one object; `None` when it is gone (or never answered sensibly).
async fn fetch(conn: &Route<'_>, p: &Pending, walk: &Walk<'_>) -> Option<Fetched> {
    let o = &p.obj;
    let (role, states, name, extents) = futures_util::join!(
        call::<_, u32>(conn, o, ACCESSIBLE, "GetRole", &()),
        call::<_, Vec<u32>>(conn, o, ACCESSIBLE, "GetState", &()),
        property(conn, o, ACCESSIBLE, "Name"),
        call::<_, (i32, i32, i32, i32)>(conn, o, COMPONENT, "GetExtents", &0u32),
    );
    let role = role_name(role.ok()?).to_string();
    let states = bits(&states.ok()?);
    let extents = extents.ok();
    // A box of no size shows nothing, and neither does what it holds (Qt keeps a closed
    // combo box's list "showing", at 0×0); an object without a box at all (a notebook's
    // tab in GTK 3) is judged by its states alone.
    let empty = extents.is_some_and(|(_, _, w, h)| w <= 0 || h <= 0);
    let extents = extents
        // A box far beyond any screen (-2^31 is what some toolkits say for "nowhere") is none.
        .filter(|&(x, y, w, h)| {
            let sane = |v: i32| (-100_000..=1_000_000).contains(&v);
            w > 0 && h > 0 && sane(x) && sane(y) && sane(w) && sane(h)
        })
        .map(|(x, y, w, h)| Rect::new(x, y, w as u32, h as u32));
    let node =
        Node { parent: p.parent, role, name: string(name), states, extents, text: None, toggles: false, acts: false };
    // Below a toplevel, the part of the frame within every clipping ancestor (a toplevel's
    // own part is known once all of them are placed).
    let clip = p.clip.map(|c| match extents {
        Some(e) if clips(&node.role) => c.intersection(&e),
        _ => c,
    });
    let on_screen = node.has(walk.on_screen) && !node.has(state::DEFUNCT);
    let inside = !empty
        && match (extents, p.clip) {
            (Some(e), Some(c)) => e.intersects(&c),
            (None, _) | (_, None) => true,
        };
    let descend = on_screen && inside && !is_leaf(&node.role) && p.depth < MAX_DEPTH;
    let wants_text = on_screen && inside && editable_text(&node.role) && node.has(state::EDITABLE);
    let wants_actions = on_screen && inside && matches!(node.role.as_str(), "table cell" | "label");
    let (children, text, actions) = futures_util::join!(
        async {
            if descend { call::<_, Vec<ObjRef>>(conn, o, ACCESSIBLE, "GetChildren", &()).await.ok() } else { None }
        },
        async {
            if wants_text { call::<_, String>(conn, o, TEXT, "GetText", &(0i32, 200i32)).await.ok() } else { None }
        },
        async {
            // The first action's own name (GetActions gives them translated): a toggle cell's
            // "toggle" comes first.
            if wants_actions { call::<_, String>(conn, o, ACTION, "GetName", &0i32).await.ok() } else { None }
        },
    );
    let mut node = node;
    node.text = text.filter(|t| !t.trim().is_empty());
    if let Some(first) = actions {
        node.toggles = first == "toggle";
        node.acts = !first.is_empty();
    }
    let children: Vec<ObjRef> =
        children.unwrap_or_default().into_iter().filter(|c| c.path.as_str() != "/org/a11y/atspi/null").collect();
    let children = match clip {
        Some(c)
            if on_screen
                && inside
                && matches!(node.role.as_str(), "table" | "tree table" | "list" | "list box" | "tree") =>
        {
            in_view(conn, o, children, c).await
        }
        _ if on_screen && inside => children,
        _ => Vec::new(),
    };
    Some(Fetched { node, clip, children })
}

/// Of many children (a table's cells), the column headers and the rows in view. Cells out
/// of view give no usable box (GTK 3 says -2³¹), so they cannot be searched by position:
/// the container is asked which cells lie at the bottom corners of `clip`; their indices
/// and the height of a row bound the cells in view (reading order, rows of equal height).
/// Where anything does not fit, every child is kept.
async fn in_view(conn: &Route<'_>, parent: &ObjRef, children: Vec<ObjRef>, clip: Rect) -> Vec<ObjRef> {
    const MANY: usize = 200;
    const HEAD: usize = 16;
    let n = children.len();
    if n <= MANY || clip.w < 8 || clip.h < 8 {
        return children;
    }
    let bottom = clip.y + clip.h as i32 - 3;
    let at = |x: i32| async move {
        let hit: ObjRef = call(conn, parent, COMPONENT, "GetAccessibleAtPoint", &(x, bottom, 0u32)).await.ok()?;
        let index: i32 = call(conn, &hit, ACCESSIBLE, "GetIndexInParent", &()).await.ok()?;
        let (_, _, _, h): (i32, i32, i32, i32) = call(conn, &hit, COMPONENT, "GetExtents", &0u32).await.ok()?;
        (index >= 0 && (index as usize) < n && h > 0).then_some((index as usize, h))
    };
    let (left, right) = futures_util::join!(at(clip.x + 3), at(clip.x + clip.w as i32 - 3));
    let (Some((l, row_h)), Some((r, _))) = (left, right) else { return children };
    if r < l {
        return children;
    }
    let columns = r - l + 1;
    let rows = clip.h as usize / row_h as usize + 2;
    let first = l.saturating_sub(rows * columns).max(HEAD);
    let last = (r + columns).min(n - 1);
    if first > last {
        return children;
    }
    let mut kept = children;
    let rest: Vec<ObjRef> = kept.drain(HEAD..).skip(first - HEAD).take(last + 1 - first).collect();
    kept.extend(rest);
    kept
}

/// The application's objects that can show on the frame, parents before children (the
/// application itself is node 0), and where each of its placed toplevels is.
pub async fn read(
    conn: &Route<'_>,
    bus: &str,
    walk: &Walk<'_>,
) -> zbus::Result<(Vec<Node>, BTreeMap<usize, Placement>)> {
    let root = ObjRef { bus: bus.to_string(), path: OwnedObjectPath::try_from(ROOT)? };
    let name = string(property(conn, &root, ACCESSIBLE, "Name").await);
    let toplevels: Vec<ObjRef> = call(conn, &root, ACCESSIBLE, "GetChildren", &()).await?;
    let mut nodes = vec![Node {
        parent: None,
        role: "application".into(),
        name,
        states: 0,
        extents: None,
        text: None,
        toggles: false,
        acts: false,
    }];
    let mut tops = BTreeMap::new();
    let mut level: Vec<Pending> =
        toplevels.into_iter().map(|obj| Pending { parent: Some(0), clip: None, depth: 1, obj }).collect();
    while !level.is_empty() && nodes.len() < MAX_NODES {
        let fetched: Vec<(Pending, Option<Fetched>)> = stream::iter(level)
            .map(|p| async move {
                let f = fetch(conn, &p, walk).await;
                (p, f)
            })
            .buffered(IN_FLIGHT)
            .collect()
            .await;
        // The toplevels: placed all together (a popup by its application's windows), then
        // walked within the part of the frame they hold.
        let toplevel = fetched.first().is_some_and(|(p, _)| p.clip.is_none());
        let places = if toplevel {
            let found: Vec<&Node> = fetched.iter().filter_map(|(_, f)| f.as_ref().map(|f| &f.node)).collect();
            let mut places = (walk.place)(&found).into_iter();
            fetched.iter().map(|(_, f)| f.as_ref().and_then(|_| places.next().flatten())).collect()
        } else {
            Vec::new()
        };
        let mut next = Vec::new();
        for (n, (p, f)) in fetched.into_iter().enumerate() {
            let Some(mut f) = f else { continue };
            if nodes.len() >= MAX_NODES {
                break;
            }
            let id = nodes.len();
            if toplevel {
                let placed: Option<Placement> = places.get(n).copied().flatten();
                f.clip = placed
                    .zip(f.node.extents)
                    .map(|(pl, e)| pl.invert(&walk.frame).intersection(&e))
                    .filter(|c| !c.is_empty());
                if let Some(pl) = placed.filter(|_| f.clip.is_some()) {
                    tops.insert(id, pl);
                }
            }
            nodes.push(f.node);
            if let Some(clip) = f.clip {
                next.extend(f.children.into_iter().map(|obj| Pending {
                    parent: Some(id),
                    clip: Some(clip),
                    depth: p.depth + 1,
                    obj,
                }));
            }
        }
        level = next;
    }
    Ok((nodes, tops))
}

/// The applications registered on the accessibility bus: (bus name, process id).
pub async fn applications(conn: &Connection) -> zbus::Result<Vec<(String, u32)>> {
    let conn = &Route::bus_only(conn);
    let registry = ObjRef { bus: "org.a11y.atspi.Registry".into(), path: OwnedObjectPath::try_from(ROOT)? };
    let apps: Vec<ObjRef> = call(conn, &registry, ACCESSIBLE, "GetChildren", &()).await?;
    let dbus = ObjRef { bus: "org.freedesktop.DBus".into(), path: OwnedObjectPath::try_from("/org/freedesktop/DBus")? };
    let pids = futures_util::future::join_all(
        apps.iter().map(|a| call::<_, u32>(conn, &dbus, "org.freedesktop.DBus", "GetConnectionUnixProcessID", &a.bus)),
    )
    .await;
    Ok(apps.into_iter().zip(pids).map(|(a, pid)| (a.bus, pid.unwrap_or(0))).collect())
}

/// What toolkit an application is built with, its version ("GTK", "4.8.3") and the address
/// of its own socket, when it has one.
pub async fn about(conn: &Connection, bus: &str) -> (String, String, Option<String>) {
    let Ok(path) = OwnedObjectPath::try_from(ROOT) else { return Default::default() };
    let root = ObjRef { bus: bus.to_string(), path };
    let conn = &Route::bus_only(conn);
    let app = "org.a11y.atspi.Application";
    let (name, version, address) = futures_util::join!(
        property(conn, &root, app, "ToolkitName"),
        property(conn, &root, app, "Version"),
        call::<_, String>(conn, &root, app, "GetApplicationBusAddress", &()),
    );
    (string(name), string(version), address.ok().filter(|a| !a.is_empty()))
}

/// A peer-to-peer connection to an application's own socket.
pub async fn connect_peer(address: &str) -> zbus::Result<Connection> {
    zbus::connection::Builder::address(address)?.p2p().build().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_named_as_libatspi_names_them() {
        assert_eq!(role_name(atspi::Role::Button as u32), "push button");
        assert_eq!(role_name(atspi::Role::TableCell as u32), "table cell");
        assert_eq!(role_name(atspi::Role::PasswordText as u32), "password text");
        assert_eq!(role_name(100_000), "unknown");
    }

    #[test]
    fn state_words_make_one_set_of_bits_low_word_first() {
        let b = bits(&[state::SHOWING as u32 | state::VISIBLE as u32, (state::CHECKABLE >> 32) as u32]);
        assert_eq!(b, state::SHOWING | state::VISIBLE | state::CHECKABLE);
        assert_eq!(bits(&[]), 0);
        assert_eq!(bits(&[1, 2, 3]), 1 | (2 << 32), "a third word (none today) is ignored");
    }
}
