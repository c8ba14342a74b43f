//! The rest of the public API: errors, entry hand-back, return values of writes, clear,
//! Debug/dump, owned iteration, Extend, cursor pause/resume and cursor writes, height,
//! node_count and visit_nodes.
// Plain-thread tests: under `--cfg loom` only `loom_tree` runs (loom atomics need a model).
#![cfg(not(loom))]

use std::sync::Arc;

use maple_tree::{Cursor, CursorMut, Error, MapleTree, SlotKind, TreeKind, Value};

const MAX: u64 = u64::MAX;
const KINDS: [TreeKind; 2] = [TreeKind::Plain, TreeKind::Alloc];

fn v(x: u64) -> Value {
    Value::new(x)
}

fn entries(t: &MapleTree<Value>) -> Vec<(u64, u64, u64)> {
    t.iter()
        .map(|(r, e)| (*r.start(), *r.end(), e.get()))
        .collect()
}

/// All ranges (empty and reserved ones too) as (first, last, value, reserved).
fn ranges(t: &MapleTree<Value>) -> Vec<(u64, u64, Option<u64>, bool)> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let (r, e) = t.load_range(i);
        out.push((*r.start(), *r.end(), e.map(|e| e.get()), t.is_reserved(i)));
        if *r.end() == MAX {
            return out;
        }
        i = *r.end() + 1;
    }
}

#[test]
fn errno_and_display() {
    assert_eq!(Error::Invalid.errno(), -22);
    assert_eq!(Error::Exists.errno(), -17);
    assert_eq!(Error::Busy.errno(), -16);
    assert_eq!(Error::NoMemory.errno(), -12);
    let all = [Error::Invalid, Error::Exists, Error::Busy, Error::NoMemory];
    for e in all {
        assert!(!e.to_string().is_empty());
        let boxed: Box<dyn std::error::Error> = Box::new(e);
        assert_eq!(boxed.to_string(), e.to_string());
    }
    let texts: std::collections::HashSet<String> = all.iter().map(|e| e.to_string()).collect();
    assert_eq!(texts.len(), 4, "each error has its own message");
}

#[test]
fn value_roundtrip() {
    assert_eq!(Value::MAX, (1u64 << 63) - 1);
    for x in [0, 1, 2, 12345, Value::MAX - 1, Value::MAX] {
        assert_eq!(Value::new(x).get(), x);
        assert_eq!(Value::try_new(x), Some(Value::new(x)));
    }
    assert_eq!(Value::try_new(Value::MAX + 1), None);
    assert_eq!(Value::try_new(MAX), None);
    assert!(Value::new(1) < Value::new(2));
    let mut t = MapleTree::new();
    t.store_range(0..=MAX, Value::new(Value::MAX)).unwrap();
    assert_eq!(t.load(77), Some(Value::new(Value::MAX)));
}

#[test]
#[should_panic]
fn value_new_rejects_too_large() {
    let _ = Value::new(Value::MAX + 1);
}

#[test]
fn kinds_and_constructors() {
    assert_eq!(MapleTree::<Value>::new().kind(), TreeKind::Plain);
    assert_eq!(MapleTree::<Value>::default().kind(), TreeKind::Plain);
    assert_eq!(MapleTree::<Value>::new_alloc().kind(), TreeKind::Alloc);
    for k in KINDS {
        let t = MapleTree::<Value>::with_kind(k);
        assert_eq!(t.kind(), k);
        assert!(t.is_empty());
        assert_eq!(t.len(), 0);
        assert_eq!(t.height(), 0);
        assert_eq!(t.node_count(), 0);
        assert_eq!(t.load(0), None);
        assert_eq!(t.load_range(42), (0..=MAX, None));
        assert!(!t.is_reserved(0));
        assert!(t.first().is_none() && t.last().is_none());
        assert!(t.find(0, MAX).is_none());
        assert_eq!(t.iter().count(), 0);
        assert_eq!(t.range(5..10).count(), 0);
        t.validate().unwrap();
    }
    // const constructors
    static _T: MapleTree<Value> = MapleTree::new();
    fn send_sync<T: Send + Sync>() {}
    send_sync::<MapleTree<Value>>();
    send_sync::<MapleTree<Arc<u64>>>();
    send_sync::<MapleTree<Box<u64>>>();
    // Iterators are as shareable as the `&MapleTree` they borrow.
    send_sync::<maple_tree::Iter<'static, Arc<u64>>>();
    let t: MapleTree<Value> = (0..100u64)
        .map(|i| (i * 2..=i * 2, Value::new(i)))
        .collect();
    let mut it = t.iter();
    it.next();
    let rest = std::thread::scope(|s| s.spawn(move || it.count()).join().unwrap());
    assert_eq!(rest, 99);
}

#[test]
#[allow(clippy::reversed_empty_ranges)]
fn insert_error_gives_entry_back() {
    for k in KINDS {
        let mut t: MapleTree<Arc<u64>> = MapleTree::with_kind(k);
        let a = Arc::new(1);
        t.insert_range(10..=20, a.clone()).unwrap();
        // Occupied anywhere in the range.
        for r in [10..=20, 5..=10, 20..=30, 0..=MAX, 15..=15] {
            let b = Arc::new(2);
            let e = t.insert_range(r.clone(), b.clone()).unwrap_err();
            assert_eq!(e.error, Error::Exists, "{r:?}");
            assert!(Arc::ptr_eq(&e.entry, &b), "the same entry comes back");
            assert!(!format!("{e:?}").is_empty() && !e.to_string().is_empty());
            drop(e);
            assert_eq!(Arc::strong_count(&b), 1);
        }
        let e = t.insert(12, Arc::new(3)).unwrap_err();
        assert_eq!((e.error, *e.entry), (Error::Exists, 3));
        // Backwards range.
        let b = Arc::new(4);
        let e = t.insert_range(30..=29, b.clone()).unwrap_err();
        assert_eq!(e.error, Error::Invalid);
        assert!(Arc::ptr_eq(&e.entry, &b));
        drop(e);
        // Reserved ranges are occupied too.
        t.reserve_range(40..=49).unwrap();
        let e = t.insert_range(45..=60, Arc::new(5)).unwrap_err();
        assert_eq!(e.error, Error::Exists);
        let e = t.insert(49, Arc::new(5)).unwrap_err();
        assert_eq!(e.error, Error::Exists);
        // Next to them is free.
        t.insert_range(21..=39, Arc::new(6)).unwrap();
        t.insert(50, Arc::new(7)).unwrap();
        t.validate().unwrap();
        assert_eq!(Arc::strong_count(&a), 2);
        drop(t);
        assert_eq!(Arc::strong_count(&a), 1);
        assert_eq!(Arc::strong_count(&b), 1);
    }
}

#[test]
#[allow(clippy::reversed_empty_ranges)]
fn backwards_ranges_are_invalid_and_change_nothing() {
    for k in KINDS {
        let mut t: MapleTree<Value> = MapleTree::with_kind(k);
        t.store_range(0..=9, v(1)).unwrap();
        t.store_range(20..=29, v(2)).unwrap();
        let before = ranges(&t);
        assert_eq!(
            t.store_range(5..=4, v(3)).unwrap_err().error,
            Error::Invalid
        );
        assert_eq!(
            t.store_range(MAX..=0, v(3)).unwrap_err().error,
            Error::Invalid
        );
        assert_eq!(t.erase_range(25..=21), Err(Error::Invalid));
        assert_eq!(t.reserve_range(25..=21), Err(Error::Invalid));
        assert_eq!(
            t.insert_range(15..=14, v(3)).unwrap_err().error,
            Error::Invalid
        );
        assert_eq!(t.empty_area(15..=14, 1), Err(Error::Invalid));
        assert_eq!(t.empty_area_rev(15..=14, 1), Err(Error::Invalid));
        assert_eq!(ranges(&t), before);
        t.validate().unwrap();
    }
}

/// The range holding `i` and its entry's value.
fn arc_range(t: &MapleTree<Arc<u64>>, i: u64) -> (std::ops::RangeInclusive<u64>, Option<u64>) {
    let (r, e) = t.load_range(i);
    (r, e.map(|a| *a))
}

#[test]
fn store_range_returns_entry_at_first() {
    for k in KINDS {
        let pool: Vec<Arc<u64>> = (0..10).map(Arc::new).collect();
        let count = |i: usize| Arc::strong_count(&pool[i]) - 1;
        let mut t: MapleTree<Arc<u64>> = MapleTree::with_kind(k);
        // Into empty space.
        assert_eq!(t.store_range(10..=19, pool[1].clone()), Ok(None));
        assert_eq!(t.store_range(20..=29, pool[2].clone()), Ok(None));
        assert_eq!(t.store_range(30..=39, pool[3].clone()), Ok(None));
        // Exact overwrite: the old entry comes back, the tree no longer holds it.
        let old = t.store_range(20..=29, pool[4].clone()).unwrap().unwrap();
        assert!(Arc::ptr_eq(&old, &pool[2]));
        drop(old);
        assert_eq!(count(2), 0);
        // Split in the middle of [10,19]: entry at first returned, both ends still stored.
        let old = t.store_range(12..=15, pool[5].clone()).unwrap().unwrap();
        assert_eq!(*old, 1);
        drop(old);
        assert_eq!(count(1), 2, "[10,11] and [16,19] each hold pool[1]");
        assert_eq!(arc_range(&t, 11), (10..=11, Some(1)));
        assert_eq!(arc_range(&t, 16), (16..=19, Some(1)));
        // Spanning store starting in empty space: returns None, drops what it covers fully.
        let old = t.store_range(5..=33, pool[6].clone()).unwrap();
        assert!(old.is_none());
        assert_eq!((count(1), count(4), count(5), count(3)), (0, 0, 0, 1));
        assert_eq!(arc_range(&t, 34), (34..=39, Some(3)));
        // Start inside a reserved range: None.
        t.reserve_range(40..=49).unwrap();
        assert_eq!(t.store_range(45..=50, pool[7].clone()), Ok(None));
        assert!(t.is_reserved(44) && !t.is_reserved(45));
        // store() of one index.
        assert_eq!(t.store(45, pool[8].clone()).unwrap().map(|a| *a), Some(7));
        assert_eq!(t.load(45).map(|a| *a), Some(8));
        assert_eq!(t.load(46).map(|a| *a), Some(7));
        t.validate().unwrap();
        // erase_range: NULL store that cuts entries back.
        t.erase_range(30..=46).unwrap();
        assert_eq!(t.load_range(30), (30..=46, None));
        assert_eq!(t.load_range(29).1.map(|a| *a), Some(6));
        assert_eq!(arc_range(&t, 47), (47..=50, Some(7)));
        t.validate().unwrap();
        drop(t);
        for (i, a) in pool.iter().enumerate() {
            assert_eq!(Arc::strong_count(a), 1, "pool[{i}] leaked or over-dropped");
        }
    }
}

#[test]
fn erase_returns_range_and_entry() {
    for k in KINDS {
        let mut t: MapleTree<Value> = MapleTree::with_kind(k);
        for i in 0..100u64 {
            t.insert_range(i * 10..=i * 10 + 4, v(i)).unwrap();
        }
        assert_eq!(t.erase(7), Ok(None), "empty index");
        let (r, e) = t.erase(42).unwrap().unwrap();
        assert_eq!((r, e), (40..=44, v(4)));
        assert_eq!(t.load_range(42), (35..=49, None), "NULLs merged");
        assert_eq!(
            t.erase(990).unwrap().map(|(r, e)| (r, e.get())),
            Some((990..=994, 99))
        );
        assert_eq!(t.load_range(990), (985..=MAX, None));
        assert_eq!(t.len(), 98);
        // A reserved range is erased too but gives no entry (kernel mtree_erase returns the
        // zero entry, which reads as NULL).
        t.reserve_range(500..=509).unwrap();
        assert_eq!(t.erase(505), Ok(None));
        assert!(!t.is_reserved(505));
        // [500,509] had swallowed entry 50 ([500,504]); now it merges with the NULLs around.
        assert_eq!(t.load_range(505), (495..=509, None));
        t.validate().unwrap();
        // Erasing everything leaves an empty tree.
        let starts: Vec<u64> = t.iter().map(|(r, _)| *r.start()).collect();
        for s in starts {
            assert!(t.erase(s).unwrap().is_some());
        }
        assert!(t.is_empty());
        assert_eq!(t.load_range(0), (0..=MAX, None));
        t.validate().unwrap();
        assert_eq!(t.height(), 0, "an emptied tree has height 0");
        assert_eq!(t.node_count(), 0, "an emptied tree has no nodes");
    }
}

#[test]
fn erase_everything_with_null_stores() {
    for k in KINDS {
        for (n, span) in [(1u64, 0u64), (1, 5), (20, 1), (500, 2)] {
            let mut t: MapleTree<Value> = MapleTree::with_kind(k);
            for i in 0..n {
                t.store_range(i * 3..=i * 3 + span, v(i)).unwrap();
            }
            t.erase_range(0..=MAX).unwrap();
            assert!(t.is_empty());
            t.validate().unwrap_or_else(|e| panic!("{k:?} n={n}: {e}"));
            assert_eq!(t.height(), 0, "{k:?} n={n}");
            let mut t: MapleTree<Value> = MapleTree::with_kind(k);
            for i in 0..n {
                t.store_range(i * 3 + 1..=i * 3 + 1 + span, v(i)).unwrap();
            }
            t.erase_range(1..=n * 3 + span + 1).unwrap();
            assert!(t.is_empty());
            t.validate()
                .unwrap_or_else(|e| panic!("{k:?} n={n} partial NULL store: {e}"));
            assert_eq!(t.height(), 0, "{k:?} n={n}");
        }
    }
}

#[test]
fn clear_drops_everything() {
    for k in KINDS {
        let a = Arc::new(0u64);
        let mut t: MapleTree<Arc<u64>> = MapleTree::with_kind(k);
        for i in 0..1000u64 {
            t.insert_range(i * 2..=i * 2, a.clone()).unwrap();
        }
        t.reserve_range(5000..=6000).unwrap();
        assert_eq!(Arc::strong_count(&a), 1001);
        t.clear();
        assert_eq!(Arc::strong_count(&a), 1);
        assert!(t.is_empty());
        assert_eq!(t.height(), 0);
        assert_eq!(t.node_count(), 0);
        assert!(!t.is_reserved(5500));
        assert_eq!(t.kind(), k, "clear keeps the kind");
        t.validate().unwrap();
        t.insert(7, a.clone()).unwrap();
        assert_eq!(t.len(), 1);
        t.validate().unwrap();
    }
}

#[test]
fn debug_and_dump() {
    for k in KINDS {
        let mut t: MapleTree<Value> = MapleTree::with_kind(k);
        let empty_dbg = format!("{t:?}");
        assert!(!empty_dbg.is_empty());
        assert!(!t.dump().is_empty());
        for i in 0..200u64 {
            t.store_range(i * 5..=i * 5 + 2, v(i)).unwrap();
        }
        let dbg = format!("{t:?}");
        assert!(dbg.len() > empty_dbg.len());
        assert!(dbg.contains("995"), "Debug shows the ranges: {dbg:.200}");
        let dump = t.dump();
        assert!(
            dump.lines().count() >= t.node_count(),
            "dump shows every node"
        );
    }
}

#[test]
fn owned_iteration_yields_every_entry_once() {
    for k in KINDS {
        let pool: Vec<Arc<u64>> = (0..300).map(Arc::new).collect();
        let mut t: MapleTree<Arc<u64>> = MapleTree::with_kind(k);
        for (i, a) in pool.iter().enumerate() {
            let i = i as u64;
            t.insert_range(i * 7..=i * 7 + 3, a.clone()).unwrap();
        }
        t.reserve_range(5000..=5100).unwrap(); // not an entry: not yielded
        let got: Vec<_> = t.into_iter().collect();
        assert_eq!(got.len(), 300);
        for (i, (r, e)) in got.iter().enumerate() {
            let i = i as u64;
            assert_eq!(r, &(i * 7..=i * 7 + 3));
            assert_eq!(**e, i);
        }
        for a in &pool {
            assert_eq!(Arc::strong_count(a), 2, "moved out, not cloned");
        }
        drop(got);
        for a in &pool {
            assert_eq!(Arc::strong_count(a), 1);
        }
        // Partly consumed, then dropped: the rest is released exactly once.
        let mut t: MapleTree<Arc<u64>> = MapleTree::with_kind(k);
        for (i, a) in pool.iter().enumerate() {
            t.store(i as u64 * 3, a.clone()).unwrap();
        }
        let mut it = t.into_iter();
        let first: Vec<_> = it.by_ref().take(100).collect();
        assert_eq!(first.len(), 100);
        drop(it);
        for (i, a) in pool.iter().enumerate() {
            assert_eq!(Arc::strong_count(a), if i < 100 { 2 } else { 1 });
        }
        drop(first);
        // Borrowing iteration through IntoIterator for &MapleTree.
        let mut t: MapleTree<Value> = MapleTree::with_kind(k);
        t.extend((0..50u64).map(|i| (i * 2..=i * 2, v(i))));
        let mut n = 0;
        for (r, e) in &t {
            assert_eq!(*r.start(), e.get() * 2);
            n += 1;
        }
        assert_eq!(n, 50);
    }
}

#[test]
fn extend_stores_in_order() {
    for k in KINDS {
        let items = vec![
            (10..=20, v(1)),
            (15..=30, v(2)),
            (0..=5, v(3)),
            (18..=18, v(4)),
            (3..=12, v(5)),
        ];
        let mut a: MapleTree<Value> = MapleTree::with_kind(k);
        a.store(100, v(9)).unwrap();
        a.extend(items.clone());
        let mut b: MapleTree<Value> = MapleTree::with_kind(k);
        b.store(100, v(9)).unwrap();
        for (r, e) in items {
            b.store_range(r, e).unwrap();
        }
        a.validate().unwrap();
        assert_eq!(ranges(&a), ranges(&b));
        assert_eq!(
            entries(&a),
            vec![
                (0, 2, 3),
                (3, 12, 5),
                (13, 14, 1),
                (15, 17, 2),
                (18, 18, 4),
                (19, 30, 2),
                (100, 100, 9)
            ]
        );
    }
}

// ---------------------------------------------------------------------------------------
// Cursors
// ---------------------------------------------------------------------------------------

fn sample_tree(k: TreeKind) -> MapleTree<Value> {
    let mut t = MapleTree::with_kind(k);
    for i in 0..400u64 {
        t.store_range(i * 10..=i * 10 + (i % 3), v(i)).unwrap();
    }
    t.reserve_range(1005..=1007).unwrap();
    t
}

#[test]
fn cursor_pause_resume_reads() {
    for k in KINDS {
        let t = sample_tree(k);
        let all = entries(&t);
        // Forward with a pause before every step: same sequence as iter().
        let mut c: Cursor<'_, Value> = t.cursor(0);
        let mut got = Vec::new();
        while let Some((r, e)) = c.find(MAX) {
            got.push((*r.start(), *r.end(), e.get()));
            c.pause();
        }
        assert_eq!(got, all);
        // Backward likewise.
        let mut c = t.cursor(MAX);
        let mut got = Vec::new();
        while let Some((r, e)) = c.find_rev(0) {
            got.push((*r.start(), *r.end(), e.get()));
            c.pause();
        }
        got.reverse();
        assert_eq!(got, all);
        // Pause in the middle, then next/prev resume after/before the current range.
        let mut c = t.cursor(1500);
        let (r, _) = c.find(MAX).unwrap();
        assert_eq!(r, 1500..=1500);
        c.pause();
        assert_eq!(
            c.next(MAX).map(|(r, e)| (r, e.get())),
            Some((1510..=1511, 151))
        );
        c.pause();
        assert_eq!(
            c.prev(0).map(|(r, e)| (r, e.get())),
            Some((1500..=1500, 150))
        );
        c.pause();
        assert_eq!(
            c.find_rev(0).map(|(r, e)| (r, e.get())),
            Some((1490..=1492, 149))
        );
        // Limits: find stops at entries starting above max; find_rev at entries ending below min.
        let mut c = t.cursor(2001);
        assert_eq!(
            c.find(2009).map(|(r, _)| r),
            Some(2000..=2002),
            "the range holding the index"
        );
        let mut c = t.cursor(2005);
        assert_eq!(c.find(2009), None);
        let mut c = t.cursor(2005);
        assert_eq!(c.find(2010).map(|(r, _)| r), Some(2010..=2010));
        let mut c = t.cursor(2009);
        assert_eq!(c.find_rev(2003), None, "[2000,2002] ends below min");
        let mut c = t.cursor(2009);
        assert_eq!(c.find_rev(2002).map(|(r, _)| r), Some(2000..=2002));
    }
}

/// The kernel pattern: iterate with a cursor, modify at the position, pause, go on.
#[test]
fn cursor_mut_modify_while_iterating() {
    for k in KINDS {
        let mut t = sample_tree(k);
        let all = entries(&t);
        let mut visited = Vec::new();
        {
            let mut c: CursorMut<'_, Value> = t.cursor_mut(0);
            while let Some((r, e)) = c.find(MAX) {
                let (s, l, x) = (*r.start(), *r.end(), e.get());
                visited.push((s, l, x));
                if x % 2 == 0 {
                    assert_eq!(c.erase(), Ok(Some(v(x))));
                    let here = c.range();
                    assert!(
                        here.contains(&s) && here.contains(&l),
                        "cursor stands on the emptied range"
                    );
                } else if x % 3 == 0 {
                    assert_eq!(c.replace(v(x + 1000)), Ok(v(x)));
                } else {
                    assert_eq!(c.store(v(x + 2000)).unwrap(), Some(v(x)));
                }
                c.pause();
            }
        }
        assert_eq!(visited, all, "every entry visited once, in order");
        t.validate().unwrap();
        let expect: Vec<_> = all
            .iter()
            .filter(|e| e.2 % 2 == 1)
            .map(|&(s, l, x)| (s, l, if x % 3 == 0 { x + 1000 } else { x + 2000 }))
            .collect();
        assert_eq!(entries(&t), expect);
        assert!(t.is_reserved(1006), "reserved range untouched");
    }
}

#[test]
fn cursor_mut_writes() {
    for k in KINDS {
        let pool: Vec<Arc<u64>> = (0..6).map(Arc::new).collect();
        let mut t: MapleTree<Arc<u64>> = MapleTree::with_kind(k);
        t.store_range(10..=19, pool[0].clone()).unwrap();
        t.store_range(30..=39, pool[1].clone()).unwrap();
        {
            let mut c = t.cursor_mut(15);
            assert_eq!(c.walk(15).map(|a| *a), Some(0));
            assert_eq!(c.range(), 10..=19);
            assert_eq!(c.index(), 10);
            // replace: exact fit, old entry back, range unchanged.
            let old = c.replace(pool[2].clone()).unwrap();
            assert!(Arc::ptr_eq(&old, &pool[0]));
            drop(old);
            assert_eq!(c.range(), 10..=19);
            // store over the current (walked) range.
            assert_eq!(c.store(pool[3].clone()).unwrap().map(|a| *a), Some(2));
            // walk to an empty range and store over all of it.
            assert_eq!(c.walk(25), None);
            assert_eq!(c.range(), 20..=29);
            assert_eq!(c.store(pool[4].clone()).unwrap(), None);
            // set_range chooses what the next store covers.
            c.set_range(35..=45);
            assert_eq!(c.store(pool[5].clone()).unwrap().map(|a| *a), Some(1));
            // store_range
            assert_eq!(c.store_range(0..=4, pool[5].clone()).unwrap(), None);
            // erase the range the cursor is on
            assert_eq!(c.walk(20).map(|a| *a), Some(4));
            assert_eq!(c.erase().unwrap().map(|a| *a), Some(4));
            assert_eq!(c.walk(20), None);
            // replace on an empty range changes nothing and gives the entry back.
            let back = c.replace(pool[0].clone()).unwrap_err();
            assert!(Arc::ptr_eq(&back, &pool[0]));
        }
        t.validate().unwrap();
        let got: Vec<_> = t.iter().map(|(r, e)| (r, *e)).collect();
        assert_eq!(
            got,
            vec![(0..=4, 5), (10..=19, 3), (30..=34, 1), (35..=45, 5)]
        );
        assert_eq!(t.load_range(20), (20..=29, None));
        assert_eq!(
            Arc::strong_count(&pool[0]),
            1,
            "a rejected replace drops or returns its entry"
        );
        drop(t);
        for a in &pool {
            assert_eq!(Arc::strong_count(a), 1);
        }
    }
}

/// Kernel `mas_next_range`/`mas_prev_range` on a fresh state walk to the index, then step:
/// they return the range after / before the one holding the index.
#[test]
fn fresh_cursor_next_range_steps_past_the_start() {
    let mut t: MapleTree<Value> = MapleTree::new();
    t.store_range(10..=19, v(1)).unwrap();
    let mut c = t.cursor(15);
    assert_eq!(c.next_range(), Some((20..=MAX, None)));
    let mut c = t.cursor(15);
    assert_eq!(c.prev_range(), Some((0..=9, None)));
    let mut c = t.cursor(5);
    assert_eq!(c.next_range(), Some((10..=19, Some(v(1)))));
    // Stepping through every range with next_range from a walked cursor.
    let mut c = t.cursor(0);
    c.walk(0);
    assert_eq!(c.next_range(), Some((10..=19, Some(v(1)))));
    assert_eq!(c.next_range(), Some((20..=MAX, None)));
    assert_eq!(c.next_range(), None);
}

/// Kernel `mas_find` on a fresh state returns nothing when the index is above `max`
/// (and `mas_find_rev` when it is below `min`), even if the range holding it starts below.
#[test]
fn fresh_cursor_find_respects_limits() {
    let mut t: MapleTree<Value> = MapleTree::new();
    t.store_range(10..=19, v(1)).unwrap();
    assert_eq!(t.cursor(15).find(12), None);
    assert_eq!(t.cursor(15).find_rev(17), None);
    assert_eq!(t.cursor(15).find(15).map(|(r, _)| r), Some(10..=19));
    assert_eq!(t.cursor(15).find_rev(15).map(|(r, _)| r), Some(10..=19));
}

// ---------------------------------------------------------------------------------------
// Shape: height, node_count, visit_nodes
// ---------------------------------------------------------------------------------------

#[test]
fn height_grows_and_shrinks() {
    for k in KINDS {
        let mut t: MapleTree<Value> = MapleTree::with_kind(k);
        assert_eq!(t.height(), 0);
        t.store(1, v(0)).unwrap();
        assert_eq!(t.height(), 1);
        let mut last = 1;
        for i in 1..10_000u64 {
            t.store_range(i * 3..=i * 3 + 2, v(i)).unwrap();
            let h = t.height();
            assert!(h >= last, "height went down while appending: {last} -> {h}");
            last = h;
        }
        t.validate().unwrap();
        // ~10^4 ranges: leaves hold at most 16 slots and internal nodes at most 16 (10 in
        // allocation trees) children; minimum occupancy bounds it from above.
        assert!(
            (4..=7).contains(&last),
            "{k:?}: height {last} for 10^4 entries"
        );
        for i in 1..10_000u64 {
            t.erase(i * 3).unwrap();
        }
        t.validate().unwrap();
        assert_eq!(t.height(), 1, "{k:?}: one entry left");
    }
}

fn check_shape(t: &MapleTree<Value>, what: &str) {
    let n = t.node_count();
    let mut visited = 0usize;
    let mut leaves: Vec<(u64, u64, usize, Vec<SlotKind>)> = Vec::new();
    let mut first = None;
    t.visit_nodes(|info| {
        visited += 1;
        if first.is_none() {
            first = Some((info.depth, info.min, info.max, info.is_leaf));
        }
        assert_eq!(
            info.slot_last.last().copied(),
            Some(info.max),
            "{what}: last slot ends at the node max"
        );
        assert!(
            info.slot_last.windows(2).all(|w| w[0] < w[1]),
            "{what}: slot ends increase"
        );
        if info.is_leaf {
            assert_eq!(info.slots.len(), info.slot_last.len(), "{what}");
            assert!(!info.is_alloc_internal);
            leaves.push((info.min, info.max, info.depth, info.slots.clone()));
        } else {
            assert_eq!(
                info.is_alloc_internal,
                t.kind() == TreeKind::Alloc,
                "{what}"
            );
            if info.is_alloc_internal {
                assert_eq!(info.gaps.len(), info.slot_last.len(), "{what}");
            }
        }
    });
    assert_eq!(visited, n, "{what}: visit_nodes visits node_count nodes");
    if n == 0 {
        return;
    }
    assert_eq!(
        first,
        Some((0, 0, MAX, t.height() == 1)),
        "{what}: pre-order starts at the root"
    );
    assert!(
        leaves.iter().all(|l| l.2 + 1 == t.height()),
        "{what}: all leaves at depth height-1"
    );
    assert_eq!(leaves.first().unwrap().0, 0);
    assert_eq!(leaves.last().unwrap().1, MAX);
    assert!(
        leaves.windows(2).all(|w| w[0].1 + 1 == w[1].0),
        "{what}: leaves in key order, contiguous"
    );
    let slots: Vec<SlotKind> = leaves.iter().flat_map(|l| l.3.iter().copied()).collect();
    let rs = ranges(t);
    assert_eq!(slots.len(), rs.len(), "{what}: one leaf slot per range");
    for (s, r) in slots.iter().zip(&rs) {
        let expect = match (r.2, r.3) {
            (Some(_), _) => SlotKind::Entry,
            (None, true) => SlotKind::Zero,
            (None, false) => SlotKind::Empty,
        };
        assert_eq!(*s, expect, "{what}: slot kind of {r:?}");
    }
}

#[test]
fn node_count_and_visit_nodes() {
    for k in KINDS {
        for (n, gap, shuffle) in [
            (0u64, 0u64, false),
            (1, 0, false),
            (15, 1, false),
            (3000, 0, false),
            (3000, 5, true),
            (20_000, 1, true),
        ] {
            let what = format!("{k:?} n={n} gap={gap} shuffled={shuffle}");
            let mut t: MapleTree<Value> = MapleTree::with_kind(k);
            let mut order: Vec<u64> = (0..n).collect();
            if shuffle {
                fastrand::Rng::with_seed(0x9E37_79B9_7F4A_7C15).shuffle(&mut order);
            }
            for i in order {
                t.store_range(i * (3 + gap)..=i * (3 + gap) + 2, v(i))
                    .unwrap();
            }
            t.reserve_range(1..=1).unwrap();
            t.validate().unwrap();
            check_shape(&t, &what);
            if n >= 1000 {
                let per_entry = t.node_count() * 256 / t.len();
                // A leaf holds at most 16 ranges and (minimum occupancy) at least 7, and an
                // entry needs at most two ranges (itself and the gap after it).
                assert!(
                    t.node_count() * 16 >= t.len(),
                    "{what}: fewer nodes than possible"
                );
                let limit = if gap == 0 { 64 } else { 128 };
                assert!(
                    per_entry <= limit,
                    "{what}: {per_entry} bytes of nodes per entry"
                );
            }
        }
    }
}
