//! The model's zoom: where it looks (part of the screen, captured at full resolution for
//! the next step) and how deep it already is.

use crate::action::{MAX_ZOOM_DEPTH, MIN_ZOOM_SIDE, ZoomTarget};
use crate::annotate::Annotation;
use crate::capture::Target;
use crate::geometry::Rect;

/// A zoom the model asked for.
#[derive(Clone)]
pub(super) struct Zooming {
    /// The part of the screen (a region of a monitor).
    pub target: Target,
    /// Where, in the monitor's physical pixels.
    pub region: Rect,
    /// 1 for a zoom of the screen, 2 for a zoom of a zoom.
    pub depth: u8,
}

/// Where a zoom the model asked for looks (`depth`: how deep the current screenshot already
/// is), or why it cannot be done.
pub(super) fn zoom_into(target: &ZoomTarget, depth: u8, ann: &Annotation) -> Result<Zooming, String> {
    if depth >= MAX_ZOOM_DEPTH {
        return Err("this screenshot is already a zoom of a zoom; act on its marks".into());
    }
    let mapping = ann.frame.mapping.as_ref().ok_or("this screenshot is not of a screen")?;
    let (fw, fh) = ann.frame.image.dimensions();
    let rect = match *target {
        ZoomTarget::Mark(m) => {
            let e = ann.scene.element(m).ok_or_else(|| format!("mark {m} is not on this screenshot"))?;
            crate::coords::zoom_around(&e.bbox, fw, fh)
        }
        ZoomTarget::Region { x, y, w, h } => {
            let (x0, y0) = (x.floor().max(0.0) as i32, y.floor().max(0.0) as i32);
            let (x1, y1) = ((x + w).ceil() as i32, (y + h).ceil() as i32);
            Rect::new(x0, y0, (x1 - x0).max(0) as u32, (y1 - y0).max(0) as u32).clamp_to(fw, fh)
        }
    };
    if rect.w < MIN_ZOOM_SIDE.min(fw) || rect.h < MIN_ZOOM_SIDE.min(fh) {
        return Err(format!("the box is {}x{} screen pixels, too small to zoom into", rect.w, rect.h));
    }
    let region = Rect::new(mapping.offset_x + rect.x, mapping.offset_y + rect.y, rect.w, rect.h);
    Ok(Zooming {
        target: Target::Region { monitor: Some(mapping.monitor.index), rect: region },
        region,
        depth: depth + 1,
    })
}
