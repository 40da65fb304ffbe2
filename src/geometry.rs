//! Plain rectangles and points in pixel space, shared by every stage.

use serde::{Deserialize, Serialize};

/// An axis-aligned rectangle: top-left corner and size, in pixels.
///
/// `x`/`y` may be negative (desktop coordinates left of or above the primary monitor);
/// a rectangle with a zero side is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    pub const fn new(x: i32, y: i32, w: u32, h: u32) -> Self {
        Self { x, y, w, h }
    }

    /// The rectangle spanning `x0..x1` × `y0..y1` (exclusive ends); empty if inverted.
    pub fn from_edges(x0: i32, y0: i32, x1: i32, y1: i32) -> Self {
        Self { x: x0, y: y0, w: (x1 - x0).max(0) as u32, h: (y1 - y0).max(0) as u32 }
    }

    /// Saturating: a box from outside (a region, a recorded box) never overflows.
    pub fn right(&self) -> i32 {
        self.x.saturating_add(i32::try_from(self.w).unwrap_or(i32::MAX))
    }

    pub fn bottom(&self) -> i32 {
        self.y.saturating_add(i32::try_from(self.h).unwrap_or(i32::MAX))
    }

    pub fn area(&self) -> u64 {
        self.w as u64 * self.h as u64
    }

    pub fn is_empty(&self) -> bool {
        self.w == 0 || self.h == 0
    }

    /// Centre in continuous coordinates (the middle of the covered pixels).
    pub fn center(&self) -> (f64, f64) {
        (self.x as f64 + self.w as f64 / 2.0, self.y as f64 + self.h as f64 / 2.0)
    }

    /// Whether the continuous point lies inside (left/top edges inclusive).
    pub fn contains_point(&self, px: f64, py: f64) -> bool {
        px >= self.x as f64 && py >= self.y as f64 && px < self.right() as f64 && py < self.bottom() as f64
    }

    pub fn contains(&self, other: &Rect) -> bool {
        other.x >= self.x && other.y >= self.y && other.right() <= self.right() && other.bottom() <= self.bottom()
    }

    pub fn intersection(&self, other: &Rect) -> Rect {
        Rect::from_edges(
            self.x.max(other.x),
            self.y.max(other.y),
            self.right().min(other.right()),
            self.bottom().min(other.bottom()),
        )
    }

    pub fn union(&self, other: &Rect) -> Rect {
        if self.is_empty() {
            return *other;
        }
        if other.is_empty() {
            return *self;
        }
        Rect::from_edges(
            self.x.min(other.x),
            self.y.min(other.y),
            self.right().max(other.right()),
            self.bottom().max(other.bottom()),
        )
    }

    pub fn intersects(&self, other: &Rect) -> bool {
        !self.intersection(other).is_empty()
    }

    pub fn iou(&self, other: &Rect) -> f64 {
        let inter = self.intersection(other).area() as f64;
        if inter == 0.0 {
            return 0.0;
        }
        inter / ((self.area() + other.area()) as f64 - inter)
    }

    /// Overlap that counts containment: the largest of IoU and the intersection over
    /// each box's own area. A small box wholly inside a large one overlaps it fully.
    pub fn overlap(&self, other: &Rect) -> f64 {
        let inter = self.intersection(other).area() as f64;
        if inter == 0.0 {
            return 0.0;
        }
        let a = self.area() as f64;
        let b = other.area() as f64;
        let iou = inter / (a + b - inter);
        iou.max(inter / a).max(inter / b)
    }

    /// Grow (or shrink, with a negative amount) on every side.
    pub fn inflate(&self, by: i32) -> Rect {
        Rect::from_edges(self.x - by, self.y - by, self.right() + by, self.bottom() + by)
    }

    /// Clip to `0..width` × `0..height`.
    pub fn clamp_to(&self, width: u32, height: u32) -> Rect {
        self.intersection(&Rect::new(0, 0, width, height))
    }

    /// Horizontal distance between the two boxes (0 when their x ranges overlap).
    pub fn gap_x(&self, other: &Rect) -> i32 {
        (other.x - self.right()).max(self.x - other.right()).max(0)
    }

    /// Vertical distance between the two boxes (0 when their y ranges overlap).
    pub fn gap_y(&self, other: &Rect) -> i32 {
        (other.y - self.bottom()).max(self.y - other.bottom()).max(0)
    }

    /// Length of the overlap of the two x ranges.
    pub fn overlap_x(&self, other: &Rect) -> i32 {
        (self.right().min(other.right()) - self.x.max(other.x)).max(0)
    }

    /// Length of the overlap of the two y ranges.
    pub fn overlap_y(&self, other: &Rect) -> i32 {
        (self.bottom().min(other.bottom()) - self.y.max(other.y)).max(0)
    }
}

impl std::fmt::Display for Rect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{} {}x{}", self.x, self.y, self.w, self.h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_of_boxes_from_outside_saturate_instead_of_overflowing() {
        let r = Rect::new(2_000_000_000, i32::MIN, u32::MAX, 10);
        assert_eq!((r.right(), r.bottom()), (i32::MAX, i32::MIN + 10));
    }

    #[test]
    fn overlap_counts_containment() {
        let big = Rect::new(0, 0, 100, 100);
        let small = Rect::new(10, 10, 10, 10);
        assert!(big.iou(&small) < 0.02);
        assert_eq!(big.overlap(&small), 1.0);
        assert_eq!(small.overlap(&big), 1.0);
    }

    #[test]
    fn disjoint_boxes_do_not_overlap() {
        let a = Rect::new(0, 0, 10, 10);
        let b = Rect::new(10, 0, 10, 10);
        assert_eq!(a.overlap(&b), 0.0);
        assert_eq!(a.gap_x(&b), 0);
        assert_eq!(a.gap_x(&Rect::new(15, 0, 1, 1)), 5);
    }

    #[test]
    fn union_and_centre() {
        let u = Rect::new(0, 0, 2, 2).union(&Rect::new(-4, 5, 1, 1));
        assert_eq!(u, Rect::new(-4, 0, 6, 6));
        assert_eq!(Rect::new(10, 20, 4, 6).center(), (12.0, 23.0));
    }
}
