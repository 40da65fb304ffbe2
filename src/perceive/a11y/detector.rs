//! Reading the tree on a thread of its own, with a runtime and a bus connection kept from one
//! frame to the next; every application with a window on the frame is read at once, each
//! within a time limit, so one that hangs is skipped (and named) rather than stalling the
//! step.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use image::RgbaImage;
use zbus::Connection;

use super::elements::{self, Above, FrameGeom, Placed};
use super::place::{self, Placement};
use super::tree::{self, Node, state};
use crate::capture::{Capturer, WindowInfo, XcapCapturer};
use crate::geometry::Rect;
use crate::perceive::{Detector, ImageInfo, PerceiveError, Proposal, ms};

/// How long one application may take to give its tree before it is skipped.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1500);

/// How long reaching the accessibility bus may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why the tree cannot be read at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum A11yError {
    #[error("the accessibility bus is not reachable ({0}); start at-spi-bus-launcher (package at-spi2-core)")]
    NoBus(String),
    #[error("the accessibility bus did not answer within {0:?}")]
    Timeout(Duration),
}

/// What one reading of the tree gives: per application, its nodes and toplevel placements.
struct AppRead {
    nodes: Vec<Node>,
    tops: BTreeMap<usize, Placement>,
    on_screen: u64,
}

struct Request {
    windows: Vec<WindowInfo>,
    /// The frame's place on the desktop, in physical pixels.
    frame: Rect,
    scale: f64,
    timeout: Duration,
}

struct Reply {
    apps: Vec<AppRead>,
    /// Applications that did not answer in time.
    skipped: Vec<String>,
}

/// The reading thread: its runtime and connection live as long as the detector.
struct Worker {
    tx: mpsc::Sender<Request>,
    rx: mpsc::Receiver<Result<Reply, A11yError>>,
}

impl Worker {
    fn start(connect_timeout: Duration) -> Result<Self, A11yError> {
        let (req_tx, req_rx) = mpsc::channel::<Request>();
        let (rep_tx, rep_rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("a11y".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(A11yError::NoBus(e.to_string())));
                        return;
                    }
                };
                let conn = rt.block_on(async {
                    match tokio::time::timeout(connect_timeout, connect()).await {
                        Ok(r) => r,
                        Err(_) => Err(A11yError::Timeout(connect_timeout)),
                    }
                });
                let conn = match conn {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let mut apps: HashMap<String, Known> = HashMap::new();
                while let Ok(req) = req_rx.recv() {
                    let reply = rt.block_on(read_all(&conn, &req, &mut apps));
                    if rep_tx.send(reply).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| A11yError::NoBus(e.to_string()))?;
        match ready_rx.recv_timeout(connect_timeout + Duration::from_secs(1)) {
            Ok(Ok(())) => Ok(Self { tx: req_tx, rx: rep_rx }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(A11yError::Timeout(connect_timeout)),
        }
    }
}

/// The accessibility bus: `AT_SPI_BUS_ADDRESS` when set, else the address the session bus's
/// `org.a11y.Bus` gives.
async fn connect() -> Result<Connection, A11yError> {
    let bus = |e: &dyn std::fmt::Display| A11yError::NoBus(e.to_string());
    if let Ok(addr) = std::env::var("AT_SPI_BUS_ADDRESS")
        && !addr.is_empty()
    {
        let b = zbus::connection::Builder::address(addr.as_str()).map_err(|e| bus(&e))?;
        return b.build().await.map_err(|e| bus(&e));
    }
    // Asked directly (the `atspi` crate's connection also sets up proxies that ask the
    // registry for its properties, a wait a step does not need).
    let session = zbus::Connection::session().await.map_err(|e| bus(&e))?;
    let reply = session
        .call_method(Some("org.a11y.Bus"), "/org/a11y/bus", Some("org.a11y.Bus"), "GetAddress", &())
        .await
        .map_err(|e| bus(&e))?;
    let addr: String = reply.body().deserialize().map_err(|e| bus(&e))?;
    let b = zbus::connection::Builder::address(addr.as_str()).map_err(|e| bus(&e))?;
    b.build().await.map_err(|e| bus(&e))
}

/// What is kept of an application from one reading to the next.
struct Known {
    /// The state that says "on screen" for its toolkit.
    on_screen: u64,
    /// Its own socket, when it has one.
    peer: Option<Connection>,
}

/// Read every application with a window on the frame, all at once, each within the limit.
async fn read_all(conn: &Connection, req: &Request, known: &mut HashMap<String, Known>) -> Result<Reply, A11yError> {
    let apps = tokio::time::timeout(req.timeout, tree::applications(conn))
        .await
        .map_err(|_| A11yError::Timeout(req.timeout))?
        .map_err(|e| A11yError::NoBus(e.to_string()))?;
    // With windows listed, only the processes that own one on the frame; without (no window
    // manager), everyone.
    let on_frame: Vec<u32> =
        req.windows.iter().filter(|w| window_rect(w).intersects(&req.frame)).map(|w| w.pid).collect();
    let wanted: Vec<(String, u32)> = apps
        .into_iter()
        .filter(|(_, pid)| req.windows.is_empty() || on_frame.contains(pid) || on_frame.contains(&0))
        .collect();
    known.retain(|bus, _| wanted.iter().any(|(b, _)| b == bus));
    // What is not known yet of each application, learnt for all of them at once.
    let unknown = wanted.iter().filter(|(bus, _)| !known.contains_key(bus));
    let learnt = futures_util::future::join_all(unknown.map(|(bus, _)| async move {
        let learn = async {
            let (name, version, address) = tree::about(conn, bus).await;
            let peer = match address {
                Some(a) => tree::connect_peer(&a).await.ok(),
                None => None,
            };
            // A toolkit that never says "showing" below its windows (GTK 4.8) is walked by
            // "visible".
            let gtk4 = name.eq_ignore_ascii_case("gtk") && version.starts_with('4');
            Known { on_screen: if gtk4 { state::VISIBLE } else { state::SHOWING }, peer }
        };
        (bus.clone(), tokio::time::timeout(req.timeout, learn).await.ok())
    }))
    .await;
    known.extend(learnt.into_iter().filter_map(|(bus, k)| Some((bus, k?))));
    let known = &*known;
    let reads = futures_util::future::join_all(wanted.iter().map(|(bus, pid)| async move {
        let k = known.get(bus);
        let on_screen = k.map_or(state::SHOWING, |k| k.on_screen);
        let route = tree::Route { bus: conn, peer: k.and_then(|k| k.peer.as_ref()).map(|p| (bus.as_str(), p)) };
        let placer = |tops: &[&Node]| place_toplevels(tops, *pid, &req.windows, req.scale);
        let walk = tree::Walk { on_screen, frame: req.frame, place: &placer };
        let r = tokio::time::timeout(req.timeout, tree::read(&route, bus, &walk)).await;
        (bus.clone(), *pid, on_screen, r)
    }))
    .await;
    let mut out = Reply { apps: Vec::new(), skipped: Vec::new() };
    for (bus, pid, on_screen, r) in reads {
        match r {
            Ok(Ok((nodes, tops))) => out.apps.push(AppRead { nodes, tops, on_screen }),
            // An application gone while being read has nothing on screen.
            Ok(Err(_)) => {}
            Err(_) => {
                // Named as its windows name it: asking the application itself would hang too.
                let window = req.windows.iter().find(|w| w.pid == pid && pid != 0);
                let name = window.map_or(bus.as_str(), |w| if w.app_name.is_empty() { &w.title } else { &w.app_name });
                out.skipped.push(format!("{name} (pid {pid})"))
            }
        }
    }
    Ok(out)
}

fn window_rect(w: &WindowInfo) -> Rect {
    Rect::new(w.x, w.y, w.width, w.height)
}

/// Place an application's toplevels: each on its window, popups by the placed ones.
fn place_toplevels(tops: &[&Node], pid: u32, windows: &[WindowInfo], scale: f64) -> Vec<Option<Placement>> {
    let mut placed: Vec<Option<Placement>> =
        tops.iter().map(|n| n.extents.and_then(|e| place::place(&e, &n.name, pid, windows))).collect();
    let known: Vec<Placement> = placed.iter().flatten().copied().collect();
    for (p, n) in placed.iter_mut().zip(tops) {
        if p.is_none() && n.extents.is_some() {
            *p = place::popup(&known, scale);
        }
    }
    placed
}

/// The `a11y` detector.
pub struct A11yDetector {
    worker: Worker,
    timeout: Duration,
    stages: Vec<(String, f64)>,
    /// The last frame read: an unchanged screen is not read again.
    last: Option<Last>,
}

/// A frame's pixels, its place, the windows then, and what the tree gave.
struct Last {
    pixels: Vec<u8>,
    frame: Rect,
    windows: Vec<WindowInfo>,
    proposals: Vec<Proposal>,
}

impl A11yDetector {
    /// Connect to the accessibility bus; an error says why there is no tree to read.
    pub fn open(timeout: Duration) -> Result<Self, A11yError> {
        let worker = Worker::start(timeout.max(CONNECT_TIMEOUT))?;
        Ok(Self { worker, timeout, stages: Vec::new(), last: None })
    }

    fn read(&mut self, req: Request) -> Result<Reply, PerceiveError> {
        let err = |detail: String| PerceiveError::Detector { detector: "a11y".into(), detail };
        self.worker.tx.send(req).map_err(|_| err("the accessibility thread has stopped".into()))?;
        // Every application has its own limits (listing, learning, reading: three of them at
        // most); this one only guards against a stuck bus.
        match self.worker.rx.recv_timeout(self.timeout * 3 + Duration::from_secs(1)) {
            Ok(r) => r.map_err(|e| err(e.to_string())),
            Err(_) => {
                // The thread may answer this request later: start afresh next time.
                match Worker::start(self.timeout.max(CONNECT_TIMEOUT)) {
                    Ok(w) => self.worker = w,
                    Err(e) => return Err(err(e.to_string())),
                }
                Err(err(format!("the accessibility bus did not answer within {:?}", self.timeout * 3)))
            }
        }
    }
}

impl Detector for A11yDetector {
    fn name(&self) -> &str {
        "a11y"
    }

    fn detect(&mut self, image: &RgbaImage, info: &ImageInfo) -> Result<Vec<Proposal>, PerceiveError> {
        self.stages.clear();
        // An image from a file has no live tree behind it.
        let Some(mapping) = &info.screen else { return Ok(Vec::new()) };
        let t = Instant::now();
        let windows = XcapCapturer::default().windows().unwrap_or_default();
        let windows_ms = ms(t);
        let m = &mapping.monitor;
        let frame =
            Rect::new(m.physical_x + mapping.offset_x, m.physical_y + mapping.offset_y, image.width(), image.height());
        if let Some(Last { pixels, frame: f, windows: w, proposals }) = &self.last
            && *f == frame
            && *w == windows
            && pixels.as_slice() == image.as_raw().as_slice()
        {
            self.stages = vec![("a11y windows".into(), windows_ms), ("a11y tree (unchanged screen)".into(), 0.0)];
            return Ok(proposals.clone());
        }
        let t = Instant::now();
        let reply =
            self.read(Request { windows: windows.clone(), frame, scale: m.ratio().0, timeout: self.timeout })?;
        let tree_ms = ms(t);
        for s in &reply.skipped {
            tracing::warn!("a11y: {s} did not give its accessibility tree within {:?}; skipped", self.timeout);
        }
        let t = Instant::now();
        let out = proposals(&reply.apps, &windows, frame, image);
        self.stages = vec![
            ("a11y windows".into(), windows_ms),
            ("a11y tree".into(), tree_ms),
            ("a11y nodes".into(), reply.apps.iter().map(|a| a.nodes.len()).sum::<usize>() as f64),
            ("a11y elements".into(), ms(t)),
        ];
        self.last = Some(Last { pixels: image.as_raw().clone(), frame, windows, proposals: out.clone() });
        Ok(out)
    }

    fn forget(&mut self) {
        self.last = None;
    }

    fn stages(&self) -> Vec<(String, f64)> {
        self.stages.clone()
    }
}

/// Every application's proposals on the frame (`frame`: its place in desktop pixels).
fn proposals(apps: &[AppRead], windows: &[WindowInfo], frame: Rect, image: &RgbaImage) -> Vec<Proposal> {
    let placed: Vec<Placed> = apps.iter().map(|a| Placed::new(&a.nodes, &a.tops, a.on_screen)).collect();
    let popups: Vec<Rect> = placed.iter().flat_map(|p| p.popups()).map(|(_, r)| r).collect();
    let window_rects: Vec<Rect> = windows.iter().map(window_rect).collect();
    let above = Above { windows: &window_rects, popups: &popups };
    let geom = FrameGeom { x: frame.x, y: frame.y, width: frame.w, height: frame.h };
    let mut out: Vec<Proposal> = placed.iter().flat_map(|p| elements::proposals(p, &above, &geom)).collect();
    // A box the pixels show nothing in (one flat colour) is not a control drawn there: the
    // tree is stale or lies. Fields and rows may be blank.
    out.retain(|p| {
        use crate::perceive::ElementKind::*;
        matches!(p.kind, TextField | ListRow | Text) || drawn(image, &p.bbox)
    });
    out
}

/// Whether anything is drawn inside a box (its inside is not all one colour).
fn drawn(image: &RgbaImage, r: &Rect) -> bool {
    let inner = Rect::new(r.x + 1, r.y + 1, r.w.saturating_sub(2), r.h.saturating_sub(2))
        .clamp_to(image.width(), image.height());
    if inner.is_empty() {
        return false;
    }
    let first = image.get_pixel(inner.x as u32, inner.y as u32);
    (inner.y..inner.y + inner.h as i32).any(|y| {
        (inner.x..inner.x + inner.w as i32).any(|x| {
            let p = image.get_pixel(x as u32, y as u32);
            p.0.iter().zip(first.0.iter()).any(|(a, b)| a.abs_diff(*b) > 8)
        })
    })
}
