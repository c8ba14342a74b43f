//! Defects found by an outside adversarial run, one test each (each failed before its fix).
// Plain-thread tests: under `--cfg loom` only `loom_tree` runs (loom atomics need a model).
#![cfg(not(loom))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use maple_tree::{Error, MapleTree, RcuMapleTree, TreeKind, Value};

/// An entry that counts its drops.
#[derive(Clone, Debug)]
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// `CursorMut::store` and `store_range` used to lose the entry when the write failed: it was
/// turned into a raw word before the write and neither dropped nor returned on error.
#[test]
#[allow(clippy::reversed_empty_ranges)]
fn a_failed_cursor_store_hands_the_entry_back() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut tree: MapleTree<Box<Counted>> = MapleTree::new();
    let mut c = tree.cursor_mut(0);
    c.set_range(9..=3);
    let back = c.store(Box::new(Counted(drops.clone()))).unwrap_err();
    assert_eq!(back.error, Error::Invalid);
    assert_eq!(drops.load(Ordering::SeqCst), 0, "not dropped: handed back");
    drop(back);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped exactly once");
    let back = c
        .store_range(9..3, Box::new(Counted(drops.clone())))
        .unwrap_err();
    assert_eq!(back.error, Error::Invalid);
    drop(back);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    let _ = c;
    tree.validate().unwrap();
    assert!(tree.is_empty());
}

/// The same with the allocator failing (needs the failure-injection hooks).
#[cfg(feature = "fault-injection")]
#[test]
fn a_cursor_store_that_runs_out_of_memory_hands_the_entry_back() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut tree: MapleTree<Box<Counted>> = MapleTree::new();
    let mut c = tree.cursor_mut(0);
    maple_tree::fault::fail_after(Some(0));
    let back = c.store_range(10..=19, Box::new(Counted(drops.clone())));
    maple_tree::fault::fail_after(None);
    let back = back.unwrap_err();
    assert_eq!(back.error, Error::NoMemory);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(back);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    let _ = c;
    assert!(tree.is_empty());
}

/// Having yielded `0..=9` and `10..=19`, a write over `5..=25` used to make the shared
/// iterator yield `5..=25` next, going back over what it had already yielded. It now walks
/// again from where it was and clips the range to start after it.
#[test]
fn the_shared_iterator_never_goes_back_over_what_it_yielded() {
    let tree = RcuMapleTree::new(TreeKind::Plain);
    {
        let mut w = tree.write();
        for i in 0..4u64 {
            w.store_range(i * 10..=i * 10 + 9, Value::new(i)).unwrap();
        }
    }
    let reader = tree.read();
    let mut it = reader.iter();
    assert_eq!(it.next(), Some((0..=9, Value::new(0))));
    assert_eq!(it.next(), Some((10..=19, Value::new(1))));
    // The writer replaces the leaf the iterator stands in (the reader's pin keeps the old one
    // readable until it is done).
    tree.write().store_range(5..=25, Value::new(9)).unwrap();
    assert_eq!(
        it.next(),
        Some((20..=25, Value::new(9))),
        "clipped, not 5..=25"
    );
    assert_eq!(it.next(), Some((26..=29, Value::new(2))));
    assert_eq!(it.next(), Some((30..=39, Value::new(3))));
    assert_eq!(it.next(), None);
    // From the back too: having yielded `30..=39`, a store over `25..=35` is clipped to end
    // before it.
    let mut back = reader.iter();
    assert_eq!(back.next_back(), Some((30..=39, Value::new(3))));
    tree.write().store_range(25..=35, Value::new(8)).unwrap();
    assert_eq!(back.next_back(), Some((25..=29, Value::new(8))));
}

/// Found by `maple soak`: a shared `range(200..=400)` whose first leaf was replaced before
/// its first step walked again from the start of the slot holding 200 (here 100), not from
/// 200, and so yielded `100..=150`, a range outside the window. The first range an end yields
/// now always meets the window, from the front and from the back.
#[test]
fn a_shared_range_replaced_before_its_first_step_stays_in_its_window() {
    let tree = RcuMapleTree::new(TreeKind::Plain);
    tree.write().store_range(100..=300, Value::new(1)).unwrap();
    tree.write().store_range(350..=500, Value::new(2)).unwrap();
    let reader = tree.read();
    let mut it = reader.range(200..=400);
    tree.write().store_range(100..=150, Value::new(3)).unwrap();
    assert_eq!(it.next(), Some((151..=300, Value::new(1))));
    assert_eq!(it.next(), Some((350..=500, Value::new(2))));
    assert_eq!(it.next(), None);

    let mut back = reader.range(200..=400);
    tree.write().store_range(450..=500, Value::new(4)).unwrap();
    assert_eq!(back.next_back(), Some((350..=449, Value::new(2))));
    assert_eq!(back.next_back(), Some((151..=300, Value::new(1))));
    assert_eq!(back.next_back(), None);
}

/// A cursor whose search found nothing used to be dead: `cursor(100)`, `find(50)` gave
/// `None`, then `find(200)` gave `None` though `150..=160` is stored; paused on the last
/// range, an exhausted `find(u64::MAX)` made `find_rev(0)` give `None`. Both resume now, as
/// the kernel's overflow and underflow states do, on owned trees and lock-free readers.
#[test]
fn exhausted_cursors_resume() {
    let mut tree = MapleTree::new();
    tree.insert(0, Value::new(0)).unwrap();
    tree.insert_range(150..=160, Value::new(1)).unwrap();
    tree.insert_range(u64::MAX - 9..=u64::MAX, Value::new(2))
        .unwrap();
    let check = |c: &mut maple_tree::Cursor<'_, Value>| {
        assert_eq!(c.find(50), None);
        assert_eq!(c.find(200), Some((150..=160, Value::new(1))));
    };
    check(&mut tree.cursor(100));
    let shared = RcuMapleTree::from_tree(tree);
    let reader = shared.read();
    check(&mut reader.cursor(100));

    let mut c = reader.cursor(u64::MAX);
    assert_eq!(c.walk(u64::MAX), Some(Value::new(2)));
    c.pause();
    assert_eq!(c.find(u64::MAX), None, "nothing after the top range");
    assert_eq!(c.find_rev(0), Some((150..=160, Value::new(1))));
    assert_eq!(c.find_rev(0), Some((0..=0, Value::new(0))));
    assert_eq!(c.find_rev(0), None, "nothing before 0");
    assert_eq!(
        c.find(u64::MAX),
        Some((150..=160, Value::new(1))),
        "and forward again"
    );
    // Running off the top leaves the cursor on the last range: `prev` goes on from there.
    let mut c = reader.cursor(150);
    assert_eq!(
        c.next(u64::MAX),
        Some((u64::MAX - 9..=u64::MAX, Value::new(2)))
    );
    assert_eq!(c.next(u64::MAX), None);
    assert_eq!(c.prev(0), Some((150..=160, Value::new(1))));
}

/// `dup()` and `clone()` used to lose the cyclic allocator's wrap state (the kernel's
/// `__mt_dup` copies the tree's flags): after an allocation at `u64::MAX`, the next
/// `alloc_cyclic` returned `(0, true)` on the original and `(0, false)` on the copy.
#[test]
fn dup_and_clone_keep_the_cyclic_wrap() {
    let mut tree = MapleTree::new_alloc();
    let mut next = u64::MAX;
    assert_eq!(
        tree.alloc_cyclic(.., &mut next, Value::new(1)).unwrap(),
        (u64::MAX, false)
    );
    assert_eq!(next, 0);
    let mut dup = tree.dup();
    let mut clone = tree.clone();
    for t in [&mut tree, &mut dup, &mut clone] {
        let mut n = next;
        assert_eq!(
            t.alloc_cyclic(.., &mut n, Value::new(2)).unwrap(),
            (0, true)
        );
        assert_eq!(
            t.alloc_cyclic(.., &mut n, Value::new(3)).unwrap(),
            (1, false)
        );
    }
}

/// Found by the `shared_tree` fuzz target. `TreeView::overlapping` on a lock-free view,
/// created before a write and first advanced after it: the iterator walked to its start when it was created and remembered the first
/// index of the range it found there, and after the write replaced that node it re-walked
/// to that index and yielded the entry clipped to start there. The entry `[0, 234]` came
/// out as `[53, 234]`, a range the tree never held, though the iterator had yielded nothing
/// (its documentation promises clipping only over ground already yielded).
#[test]
fn lockless_iterator_created_before_a_write_yields_whole_ranges() {
    let tree = RcuMapleTree::new(TreeKind::Plain);
    tree.write().store_range(10..=52, Value::new(1)).unwrap();
    let reader = tree.read();
    let mut it = reader.overlapping(61..);
    tree.write().store_range(0..=234, Value::new(2)).unwrap();
    assert_eq!(it.next(), Some((0..=234, Value::new(2))));
}

/// The same defect, worse: an entry stored before the iterator's start, inside the range
/// that held the start when the iterator was made, was yielded though it did not meet the
/// iterator's range at all.
#[test]
fn lockless_iterator_created_before_a_write_yields_only_entries_meeting_its_range() {
    let tree = RcuMapleTree::new(TreeKind::Plain);
    tree.write().store_range(0..=9, Value::new(1)).unwrap();
    let reader = tree.read();
    let mut it = reader.overlapping(175..);
    tree.write().store(124, Value::new(2)).unwrap();
    assert_eq!(it.next(), None);
}

/// The same from the back: `overlapping(..=100)` created while the range holding 100 ended
/// at 120, then a write stores `[90, 200]`.
#[test]
fn lockless_iterator_created_before_a_write_yields_whole_ranges_backwards() {
    let tree = RcuMapleTree::new(TreeKind::Plain);
    tree.write().store_range(101..=120, Value::new(1)).unwrap();
    tree.write().store_range(0..=99, Value::new(3)).unwrap();
    let reader = tree.read();
    let mut it = reader.overlapping(..=100);
    tree.write().store_range(90..=200, Value::new(2)).unwrap();
    assert_eq!(it.next_back(), Some((90..=200, Value::new(2))));
}

/// An iterator made on an empty lock-free view stays empty after a write stores an entry
/// ahead of it, while one made on a non-empty view sees such an entry (the second half of
/// this test): the empty tree gave it no path, and it ended before it was asked.
#[test]
fn lockless_iterator_made_on_an_empty_tree_sees_later_entries() {
    let tree = RcuMapleTree::new(TreeKind::Plain);
    tree.write().store_range(0..=10, Value::new(1)).unwrap();
    let reader = tree.read();
    let mut it = reader.overlapping(128..);
    tree.write().insert(1 << 63, Value::new(2)).unwrap();
    assert_eq!(it.next(), Some(((1 << 63)..=(1 << 63), Value::new(2))));
    drop(it);
    drop(reader);

    let tree = RcuMapleTree::new(TreeKind::Plain);
    let reader = tree.read();
    let mut it = reader.overlapping(128..);
    tree.write().insert(1 << 63, Value::new(2)).unwrap();
    assert_eq!(it.next(), Some(((1 << 63)..=(1 << 63), Value::new(2))));
}
