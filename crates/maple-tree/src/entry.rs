//! What a tree can store: one-word entries.

use core::mem::ManuallyDrop;
use core::num::NonZeroUsize;

use alloc::boxed::Box;
use alloc::sync::Arc;

/// A type whose values are one machine word and can be stored in a tree slot.
///
/// The tree keeps each entry as the raw bytes of the value and owns it: overwriting or
/// erasing a range drops (or returns) its entry, dropping the tree drops them all. When a
/// store splits an existing range in two, the two pieces must each own an entry, so writes
/// that can split require `E: Clone` (for [`Arc`] that is a reference-count increment).
///
/// Implemented for [`Box<T>`], [`Arc<T>`], `&'static T`, [`Value`] and [`NonZeroUsize`].
/// Wrap any other type in a `Box` or an `Arc`.
///
/// # Safety
///
/// An implementor promises that `Self` is exactly one `usize` in size and alignment at most
/// that of `usize`, that every value's bytes are fully initialised and never all zero (the
/// tree's empty slot), and that moving a value by copying its bytes is a valid move. Pointer
/// types with a non-null niche and `#[repr(transparent)]` integer wrappers that are never zero
/// qualify.
pub unsafe trait Entry: Sized {}

// SAFETY: `Box<T>` for sized `T` is a single non-null pointer.
unsafe impl<T> Entry for Box<T> {}
// SAFETY: `Arc<T>` is a single non-null pointer to its shared allocation (size asserted below).
unsafe impl<T> Entry for Arc<T> {}
// SAFETY: a reference is a single non-null pointer.
unsafe impl<T> Entry for &'static T {}
// SAFETY: a non-zero integer of pointer size.
unsafe impl Entry for NonZeroUsize {}
// SAFETY: `Value` is a transparent wrapper of an odd (so non-zero) `usize`.
unsafe impl Entry for Value {}

/// A small integer stored as an entry: the kernel's `xa_mk_value()`.
///
/// Integers up to [`Value::MAX`] are encoded as `(v << 1) | 1`, so they never collide with
/// the tree's internal markers.
///
/// ```
/// use maple_tree::{MapleTree, Value};
/// let mut tree = MapleTree::new();
/// tree.insert(7, Value::new(42)).unwrap();
/// assert_eq!(tree.load(7).map(|v| v.get()), Some(42));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct Value(NonZeroUsize);

impl Value {
    /// The largest integer a `Value` can hold: 2^63 - 1.
    pub const MAX: u64 = (usize::MAX >> 1) as u64;

    /// Encodes `v`. Panics if `v > Value::MAX`; see [`Value::try_new`].
    pub const fn new(v: u64) -> Value {
        match Value::try_new(v) {
            Some(value) => value,
            None => panic!("Value::new: integer above Value::MAX"),
        }
    }

    /// Encodes `v`, or `None` if `v > Value::MAX`.
    pub const fn try_new(v: u64) -> Option<Value> {
        if v > Value::MAX {
            return None;
        }
        match NonZeroUsize::new(((v as usize) << 1) | 1) {
            Some(w) => Some(Value(w)),
            None => None,
        }
    }

    /// The integer.
    pub const fn get(self) -> u64 {
        (self.0.get() >> 1) as u64
    }
}

impl core::fmt::Debug for Value {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Value({})", self.get())
    }
}

impl From<Value> for u64 {
    fn from(v: Value) -> u64 {
        v.get()
    }
}

/// The address of this static is the reserved zero entry: it is never a value's bytes
/// (values are odd, and no `Box`/`Arc`/reference can point into a private static).
#[repr(align(8))]
struct ZeroMarker(#[allow(dead_code)] u8);
static ZERO_MARKER: ZeroMarker = ZeroMarker(0);

/// A slot's contents inside the engine: an entry's bytes, a child pointer, the zero entry or
/// null (empty). Kept as a pointer so that entries' provenance survives the trip.
pub(crate) type Word = *mut ();

/// The raw word of the reserved zero entry (the kernel's `XA_ZERO_ENTRY`).
#[inline]
pub(crate) fn zero_word() -> Word {
    &ZERO_MARKER as *const ZeroMarker as *mut ()
}

/// Whether a raw slot word holds a real entry (not empty, not the zero entry).
#[inline]
pub(crate) fn is_entry(word: Word) -> bool {
    !word.is_null() && word != zero_word()
}

/// Moves `e` into a raw word.
#[inline]
pub(crate) fn into_word<E: Entry>(e: E) -> Word {
    const { assert!(core::mem::size_of::<E>() == core::mem::size_of::<usize>()) };
    const { assert!(core::mem::align_of::<E>() <= core::mem::align_of::<usize>()) };
    let e = ManuallyDrop::new(e);
    // SAFETY: `Entry` guarantees `E` is one fully initialised word.
    unsafe { core::mem::transmute_copy::<E, Word>(&*e) }
}

/// Takes back ownership of the entry in `word`.
///
/// # Safety
/// `word` came from [`into_word::<E>`] and ownership of it is given up by the caller.
#[inline]
pub(crate) unsafe fn from_word<E: Entry>(word: Word) -> E {
    debug_assert!(is_entry(word));
    // SAFETY: the bytes are an `E` moved out by `into_word` (caller contract).
    unsafe { core::mem::transmute_copy::<Word, E>(&word) }
}

/// Borrows the entry stored in a slot.
///
/// # Safety
/// `slot` holds a word from [`into_word::<E>`] and will not change while borrowed.
#[inline]
pub(crate) unsafe fn borrow_slot<E: Entry>(slot: &core::sync::atomic::AtomicPtr<()>) -> &E {
    // SAFETY: the slot's bytes are an `E` (caller contract), `E` is one word with alignment at
    // most the slot's, and the caller guarantees no write for `'a`.
    unsafe { &*(slot.as_ptr() as *const E) }
}

/// Entry operations the type-erased engine needs.
pub(crate) struct EntryOps {
    pub(crate) clone: Option<unsafe fn(Word) -> Word>,
}

/// Drops the entry in `word`.
///
/// # Safety
/// As [`from_word`].
pub(crate) unsafe fn drop_word<E: Entry>(word: Word) {
    // SAFETY: caller contract.
    drop(unsafe { from_word::<E>(word) })
}

/// Clones the entry in `word` into a new word, leaving the original owned by its slot.
///
/// # Safety
/// `word` holds a live `E`.
pub(crate) unsafe fn clone_word<E: Entry + Clone>(word: Word) -> Word {
    // SAFETY: borrow without taking ownership; the original stays owned by the tree.
    let e = ManuallyDrop::new(unsafe { from_word::<E>(word) });
    into_word::<E>((*e).clone())
}

pub(crate) trait HasOps: Entry {
    const OPS: EntryOps;
}
impl<E: Entry> HasOps for E {
    const OPS: EntryOps = EntryOps { clone: None };
}
pub(crate) trait HasCloneOps: Entry + Clone {
    const CLONE_OPS: EntryOps;
}
impl<E: Entry + Clone> HasCloneOps for E {
    const CLONE_OPS: EntryOps = EntryOps {
        clone: Some(clone_word::<E>),
    };
}
