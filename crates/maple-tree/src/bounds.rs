//! Range arguments (`a..b`, `a..=b`, `..`) as the inclusive `(first, last)` pairs the tree
//! works with.

use core::ops::{Bound, RangeBounds};

use crate::Error;

/// `range` as `(first, last)`; `None` when it holds no index.
pub(crate) fn to_inclusive<R: RangeBounds<u64>>(r: &R) -> Option<(u64, u64)> {
    let lo = match r.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let hi = match r.end_bound() {
        Bound::Included(&e) => e,
        Bound::Excluded(&e) => e.checked_sub(1)?,
        Bound::Unbounded => u64::MAX,
    };
    (lo <= hi).then_some((lo, hi))
}

/// `range` as `(first, last)`, or [`Error::Invalid`] when it holds no index.
pub(crate) fn window<R: RangeBounds<u64>>(r: &R) -> Result<(u64, u64), Error> {
    to_inclusive(r).ok_or(Error::Invalid)
}
