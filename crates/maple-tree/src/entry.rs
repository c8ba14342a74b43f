//! What a tree can store: one-word entries.

use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::num::NonZeroUsize;
use core::ptr::NonNull;

use alloc::boxed::Box;
use alloc::sync::Arc;

/// A type whose values are one machine word and can be stored in a tree slot.
///
/// The tree keeps each entry as the raw bytes of the value and owns it: overwriting or
/// erasing a range drops (or returns) its entry, dropping the tree drops them all. When a
/// store splits an existing range in two, the two pieces must each own an entry, so writes
/// that can split require `E: Clone` (for [`Arc`] that is a reference-count increment).
///
/// Readers never get the stored value itself: they get a borrowed view, [`Entry::Ref`], made
/// from the stored bytes without materialising a second owning value (as the kernel's Rust
/// `ForeignOwnable::borrow` does). For a `Box<T>` that is a `&T`: a copy of the `Box` would be
/// a second unique owner of the same allocation, which Rust's aliasing rules forbid while
/// anyone else reads it.
///
/// Implemented for [`Box<T>`], [`Arc<T>`], `&'static T`, [`Value`] and [`NonZeroUsize`].
/// Wrap any other type in a `Box` or an `Arc`.
///
/// ```
/// use std::sync::Arc;
/// use maple_tree::{ArcBorrow, MapleTree};
///
/// let mut tree = MapleTree::new();
/// tree.insert(7, Box::new(String::from("seven"))).unwrap();
/// let s: &String = tree.load(7).unwrap(); // a `Box<String>` is read as `&String`
/// assert_eq!(s, "seven");
///
/// let mut shared = MapleTree::new();
/// shared.insert(1, Arc::new(5u32)).unwrap();
/// let five: ArcBorrow<'_, u32> = shared.load(1).unwrap();
/// let owned: Arc<u32> = five.to_arc(); // a new reference, independent of the tree
/// assert_eq!(*owned, 5);
/// ```
///
/// # Safety
///
/// An implementor promises that `Self` is exactly one `usize` in size and alignment at most
/// that of `usize`, that every value's bytes are fully initialised and never all zero (the
/// tree's empty slot), and that moving a value by copying its bytes is a valid move. Pointer
/// types with a non-null niche and `#[repr(transparent)]` integer wrappers that are never zero
/// qualify. [`Entry::borrow`] must only read through the value's bytes, never take ownership.
pub unsafe trait Entry: Sized {
    /// What a reader gets for a stored entry: a view that borrows the tree for `'a`.
    type Ref<'a>: Copy
    where
        Self: 'a;

    /// Whether cloning a value is a plain copy of its bytes and dropping one does nothing (as for
    /// [`Value`], [`NonZeroUsize`] and `&'static T`). Duplicating a tree then copies its nodes
    /// whole, without visiting their entries. Leave it `false` unless both hold.
    const PLAIN: bool = false;

    /// Borrows the entry whose bytes are `raw`.
    ///
    /// # Safety
    /// `raw` holds the bytes of a live `Self` that was moved into the tree; it stays alive and
    /// is neither dropped nor accessed mutably for `'a`.
    unsafe fn borrow<'a>(raw: *const ()) -> Self::Ref<'a>;
}

// SAFETY: `Box<T>` for sized `T` is a single non-null pointer; the view reborrows its target.
unsafe impl<T> Entry for Box<T> {
    type Ref<'a>
        = &'a T
    where
        T: 'a;
    #[inline]
    unsafe fn borrow<'a>(raw: *const ()) -> Self::Ref<'a> {
        // SAFETY: the bytes are the box's pointer (caller contract), with the box's provenance;
        // a shared reborrow of its target is what `&**boxed` would give.
        unsafe { &*raw.cast::<T>() }
    }
}

// SAFETY: `Arc<T>` is a single non-null pointer to its shared allocation.
unsafe impl<T> Entry for Arc<T> {
    type Ref<'a>
        = ArcBorrow<'a, T>
    where
        T: 'a;
    #[inline]
    unsafe fn borrow<'a>(raw: *const ()) -> Self::Ref<'a> {
        // SAFETY: the bytes are an `Arc<T>` (caller contract). The copy is never dropped, so
        // the reference count is untouched; `Arc` holds a raw pointer, so copying it asserts
        // no uniqueness.
        let arc =
            ManuallyDrop::new(unsafe { core::mem::transmute_copy::<*const (), Arc<T>>(&raw) });
        ArcBorrow {
            // SAFETY: `Arc::as_ptr` is never null.
            data: unsafe { NonNull::new_unchecked(Arc::as_ptr(&arc).cast_mut()) },
            _arc: PhantomData,
        }
    }
}

// SAFETY: a reference is a single non-null pointer.
unsafe impl<T: 'static> Entry for &'static T {
    type Ref<'a> = &'static T;
    const PLAIN: bool = true;
    #[inline]
    unsafe fn borrow<'a>(raw: *const ()) -> Self::Ref<'a> {
        // SAFETY: the bytes are a `&'static T` (caller contract).
        unsafe { &*raw.cast::<T>() }
    }
}

// SAFETY: a non-zero integer of pointer size.
unsafe impl Entry for NonZeroUsize {
    type Ref<'a> = NonZeroUsize;
    const PLAIN: bool = true;
    #[inline]
    unsafe fn borrow<'a>(raw: *const ()) -> Self::Ref<'a> {
        // SAFETY: the bytes are a `NonZeroUsize` (caller contract).
        unsafe { NonZeroUsize::new_unchecked(raw.addr()) }
    }
}

// SAFETY: `Value` is a transparent wrapper of an odd (so non-zero) `usize`.
unsafe impl Entry for Value {
    type Ref<'a> = Value;
    const PLAIN: bool = true;
    #[inline]
    unsafe fn borrow<'a>(raw: *const ()) -> Self::Ref<'a> {
        // SAFETY: the bytes are a `Value`'s non-zero word (caller contract).
        Value(unsafe { NonZeroUsize::new_unchecked(raw.addr()) })
    }
}

/// A borrowed [`Arc`] entry: what readers get for an `Arc<T>` stored in a tree (the kernel
/// binding's `ArcBorrow`). It dereferences to `T`, and [`to_arc`](ArcBorrow::to_arc) makes a
/// new owning reference that may outlive the read.
///
/// ```
/// use std::sync::Arc;
/// use maple_tree::{RcuMapleTree, TreeKind};
///
/// let tree = RcuMapleTree::new(TreeKind::Plain);
/// tree.write().insert(3, Arc::new("three")).unwrap();
/// let kept: Arc<&str> = {
///     let reader = tree.read();
///     reader.load(3).unwrap().to_arc() // outlives the read section
/// };
/// tree.write().erase(3).unwrap();
/// assert_eq!(*kept, "three");
/// ```
pub struct ArcBorrow<'a, T> {
    data: NonNull<T>,
    _arc: PhantomData<&'a Arc<T>>,
}

impl<T> ArcBorrow<'_, T> {
    /// A new strong reference to the borrowed allocation.
    #[must_use]
    pub fn to_arc(self) -> Arc<T> {
        // SAFETY: `data` came from `Arc::as_ptr` of an `Arc` that stays alive while the borrow
        // lasts; the increment gives the new `Arc` its own count.
        unsafe {
            Arc::increment_strong_count(self.data.as_ptr());
            Arc::from_raw(self.data.as_ptr())
        }
    }
}

impl<T> Clone for ArcBorrow<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for ArcBorrow<'_, T> {}

impl<T> core::ops::Deref for ArcBorrow<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the allocation lives while the borrow lasts (see `Entry::borrow`).
        unsafe { self.data.as_ref() }
    }
}

impl<T> From<ArcBorrow<'_, T>> for Arc<T> {
    fn from(b: ArcBorrow<'_, T>) -> Arc<T> {
        b.to_arc()
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for ArcBorrow<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        (**self).fmt(f)
    }
}
impl<T: core::fmt::Display> core::fmt::Display for ArcBorrow<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        (**self).fmt(f)
    }
}
impl<T: PartialEq> PartialEq for ArcBorrow<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}
impl<T: Eq> Eq for ArcBorrow<'_, T> {}
impl<T: core::hash::Hash> core::hash::Hash for ArcBorrow<'_, T> {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

// SAFETY: an `ArcBorrow` gives `&T` and can make an `Arc<T>`, so it may cross threads exactly
// when `&Arc<T>` may: `T: Send + Sync`.
unsafe impl<T: Send + Sync> Send for ArcBorrow<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for ArcBorrow<'_, T> {}

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

/// Borrows the entry in `word` as readers see it.
///
/// # Safety
/// `word` holds a live `E` of the tree, which is not dropped or changed for `'a`.
#[inline]
pub(crate) unsafe fn view<'a, E: Entry + 'a>(word: Word) -> E::Ref<'a> {
    // SAFETY: forwarded.
    unsafe { E::borrow(word) }
}

/// Borrows the entry stored in a slot as a whole `&E`, for the tree's owner or its one writer
/// (no one else can change the slot while the borrow lasts).
///
/// # Safety
/// `slot` holds a word from [`into_word::<E>`] and will not change while borrowed.
#[inline]
pub(crate) unsafe fn borrow_slot<E: Entry>(slot: &core::sync::atomic::AtomicPtr<()>) -> &E {
    // SAFETY: the slot's bytes are an `E` (caller contract), `E` is one word with alignment at
    // most the slot's, and the caller guarantees no write for `'a`.
    unsafe { &*(slot.as_ptr() as *const E) }
}

/// Mutably borrows the entry stored in a slot (the owner only).
///
/// # Safety
/// As [`borrow_slot`], and nothing else reads or writes the slot while borrowed.
#[inline]
pub(crate) unsafe fn borrow_slot_mut<'a, E: Entry>(
    slot: *const core::sync::atomic::AtomicPtr<()>,
) -> &'a mut E {
    // SAFETY: as in `borrow_slot`; exclusive by the caller's contract. `E` stays an `E`
    // whatever the caller writes, so the slot keeps holding a valid, non-zero entry word.
    unsafe { &mut *((*slot).as_ptr() as *mut E) }
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
/// The original is borrowed where its bytes lie (here, a local copy of the word) and cloned
/// through that borrow; no owning copy of it is ever made, so a `Box` entry's uniqueness is
/// never claimed twice.
///
/// # Safety
/// `word` holds a live `E`.
pub(crate) unsafe fn clone_word<E: Entry + Clone>(word: Word) -> Word {
    let bytes = word;
    // SAFETY: `bytes` holds an `E` (caller contract), one word with alignment at most a
    // pointer's; the reference lives only for the clone.
    let original: &E = unsafe { &*(&bytes as *const Word).cast::<E>() };
    into_word::<E>(original.clone())
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
