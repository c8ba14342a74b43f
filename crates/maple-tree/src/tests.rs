//! In-crate randomized checks against a simple model (the broader suites live in `tests/`).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::{MapleTree, TreeKind, Value};

/// Seeded, so a failure reproduces from its seed.
fn seeded(seed: u64) -> fastrand::Rng {
    fastrand::Rng::with_seed(seed)
}

/// Model: every index in 0..SPACE maps to an optional value; ranges are implied by runs
/// of identical "store ids" (each store gets a fresh id, so adjacent stores never merge).
struct Model {
    cells: Vec<Option<(u64, u64)>>, // (store id, value)
}

impl Model {
    fn ranges(&self) -> Vec<(u64, u64, u64)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.cells.len() {
            if let Some((id, v)) = self.cells[i] {
                let s = i;
                while i + 1 < self.cells.len() && self.cells[i + 1].map(|c| c.0) == Some(id) {
                    i += 1;
                }
                out.push((s as u64, i as u64, v));
            }
            i += 1;
        }
        out
    }
}

fn check(tree: &MapleTree<Value>, model: &Model, step: usize) {
    if let Err(e) = tree.validate() {
        panic!("step {step}: invalid tree: {e}\n{}", tree.dump());
    }
    let got: Vec<(u64, u64, u64)> = tree
        .iter()
        .map(|(r, v)| (*r.start(), *r.end(), v.get()))
        .collect();
    let want = model.ranges();
    assert_eq!(got, want, "step {step}\n{}", tree.dump());
    assert_eq!(tree.len(), want.len());
    let back: Vec<(u64, u64, u64)> = tree
        .iter()
        .rev()
        .map(|(r, v)| (*r.start(), *r.end(), v.get()))
        .collect();
    assert!(back.iter().rev().eq(want.iter()));
}

fn run(kind: TreeKind, seed: u64, space: u64, steps: usize) {
    let mut rng = seeded(seed);
    let mut tree = MapleTree::with_kind(kind);
    let mut model = Model {
        cells: alloc::vec![None; space as usize],
    };
    for step in 0..steps {
        let op = rng.u64(..10);
        let a = rng.u64(..space);
        let len = if rng.u64(..4) == 0 {
            rng.u64(..space / 4 + 1)
        } else {
            rng.u64(..8)
        };
        let b = (a + len).min(space - 1);
        let id = step as u64 + 1;
        match op {
            0..=4 => {
                tree.store_range(a..=b, Value::new(id)).unwrap();
                for c in &mut model.cells[a as usize..=b as usize] {
                    *c = Some((id, id));
                }
            }
            5..=6 => {
                tree.erase_range(a..=b).unwrap();
                for c in &mut model.cells[a as usize..=b as usize] {
                    *c = None;
                }
            }
            7 => {
                let free = model.cells[a as usize..=b as usize]
                    .iter()
                    .all(|c| c.is_none());
                let r = tree.insert_range(a..=b, Value::new(id));
                assert_eq!(r.is_ok(), free, "step {step}: insert {a}..={b}");
                if free {
                    for c in &mut model.cells[a as usize..=b as usize] {
                        *c = Some((id, id));
                    }
                }
            }
            _ => {
                let got = tree
                    .erase(a)
                    .unwrap()
                    .map(|(r, v)| (*r.start(), *r.end(), v.get()));
                let want = model
                    .ranges()
                    .into_iter()
                    .find(|&(s, e, _)| s <= a && a <= e);
                assert_eq!(got, want, "step {step}: erase {a}");
                if let Some((s, e, _)) = want {
                    for c in &mut model.cells[s as usize..=e as usize] {
                        *c = None;
                    }
                }
            }
        }
        check(&tree, &model, step);
    }
}

#[test]
fn random_small_space_plain() {
    for seed in 0..40 {
        run(TreeKind::Plain, seed, 300, 400);
    }
}

#[test]
fn random_small_space_alloc() {
    for seed in 0..40 {
        run(TreeKind::Alloc, seed, 300, 400);
    }
}

#[test]
fn random_larger_space() {
    for seed in 100..104 {
        run(TreeKind::Alloc, seed, 5000, 3000);
        run(TreeKind::Plain, seed, 5000, 3000);
    }
}

#[test]
fn sequential_appends_pack_nodes() {
    let mut tree = MapleTree::new();
    let n = 100_000u64;
    for i in 0..n {
        tree.store_range(10 * i..=10 * i + 5, Value::new(i))
            .unwrap();
    }
    tree.validate().unwrap();
    let bytes = tree.node_count() * crate::NODE_SIZE;
    assert!(
        bytes as f64 / (n as f64) < 40.0,
        "{} bytes per entry",
        bytes as f64 / n as f64
    );
    let model: BTreeMap<u64, u64> = (0..n).map(|i| (10 * i, i)).collect();
    for (r, v) in tree.iter() {
        assert_eq!(model.get(r.start()), Some(&v.get()));
    }
}

#[cfg(feature = "std")]
#[test]
fn shared_mode_writes_keep_the_structure() {
    use alloc::sync::Arc;
    for kind in [TreeKind::Plain, TreeKind::Alloc] {
        for seed in 0..30 {
            let tree = crate::RcuMapleTree::new(kind);
            let mut w = tree.write();
            let mut rng = seeded(seed);
            for i in 0..300u64 {
                w.store_range(1_000_000 + i * 10..=1_000_000 + i * 10 + 4, Arc::new(i))
                    .unwrap();
            }
            for step in 0..600 {
                let a = rng.u64(..5000);
                let span = if rng.u64(..8) == 0 { 3000 } else { 20 };
                let b = a + rng.u64(..span);
                if rng.u64(..3) == 0 {
                    w.erase_range(a..=b).unwrap();
                } else {
                    w.store_range(a..=b, Arc::new(a)).unwrap();
                }
                if let Err(e) = w.validate() {
                    panic!("seed {seed} step {step}: {e}");
                }
            }
            w.erase_range(0..=999_999).unwrap();
            w.validate().unwrap();
            assert_eq!(w.len(), 300);
        }
    }
}

/// A shared tree's writer builds new nodes from frames whose grace period has ended, instead
/// of asking the allocator each time, and stays correct doing so.
#[cfg(feature = "std")]
#[test]
fn shared_writer_reuses_reclaimed_nodes() {
    let tree = crate::RcuMapleTree::new(TreeKind::Alloc);
    let mut model = BTreeMap::new();
    let mut rng = seeded(11);
    for step in 0..20_000u64 {
        let f = rng.u64(..4_000) * 8;
        let mut w = tree.write();
        if rng.u64(..2) == 0 {
            w.store_range(f..=f + 3, Value::new(step)).unwrap();
            model.insert(f, step);
        } else {
            w.erase_range(f..=f + 3).unwrap();
            model.remove(&f);
        }
    }
    let w = tree.write();
    w.validate().unwrap();
    for (&f, &v) in &model {
        assert_eq!(w.load(f + 2), Some(Value::new(v)));
    }
    assert_eq!(w.len(), model.len());
    let reused = w.mode.writer.borrow().reused;
    assert!(reused > 1_000, "only {reused} nodes reused");
}

/// Readers on other threads keep getting right answers while the writer builds new nodes out
/// of reclaimed ones, in a few leaves the readers also look into. A stress check on real
/// threads: the race it guards against is narrow, and in three runs with frames reused at
/// once (no grace period) it still passed. The loom `reuse` models are what catch that bug
/// (tests/loom_tree.rs).
#[cfg(feature = "std")]
#[test]
fn readers_never_see_reused_frames() {
    use alloc::sync::Arc;
    use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    const STABLE: u64 = 2_000;
    const HOT: u64 = 1 << 40;
    const HOT_KEYS: u64 = 48;
    let tree = Arc::new(crate::RcuMapleTree::new(TreeKind::Plain));
    {
        let mut w = tree.write();
        for i in 0..STABLE {
            w.store_range(i * 10..=i * 10 + 4, Arc::new(i)).unwrap();
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let hot_hits = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2u64)
        .map(|r| {
            let (tree, stop, hot_hits) = (tree.clone(), stop.clone(), hot_hits.clone());
            std::thread::spawn(move || {
                let mut rng = seeded(100 + r);
                while !stop.load(Ordering::Relaxed) {
                    let g = tree.read();
                    let i = rng.u64(..STABLE);
                    assert_eq!(g.load(i * 10 + rng.u64(..5)).map(|v| *v), Some(i));
                    // A hot range [f, f + 2] always holds f.
                    let x = HOT + rng.u64(..HOT_KEYS * 4);
                    if let Some(v) = g.load(x) {
                        assert!(*v <= x && x <= *v + 2, "{x} read as {}", *v);
                        hot_hits.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let mut rng = seeded(9);
    let mut writes = 0u64;
    // Until frames have been reused many times while the readers ran. A reader preempted while
    // pinned holds every grace period up, and the writer keeps at most 64 frames per period,
    // so on a busy machine this takes more writes (bounded: the assertion below then fails).
    while writes < 1_000_000
        && (writes < 40_000 || tree.write().mode.writer.borrow().reused < 2_000)
    {
        let f = HOT + rng.u64(..HOT_KEYS) * 4;
        let mut w = tree.write();
        if rng.u64(..2) == 0 {
            w.store_range(f..=f + 2, Arc::new(f)).unwrap();
        } else {
            w.erase_range(f..=f + 2).unwrap();
        }
        writes += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("a reader got a wrong answer");
    }
    let w = tree.write();
    w.validate().unwrap();
    let reused = w.mode.writer.borrow().reused;
    assert!(
        reused >= 2_000,
        "only {reused} frames reused in {writes} writes"
    );
    assert!(hot_hits.load(Ordering::Relaxed) > 0);
}

/// An owned tree keeps the frames its writes unlink and builds later nodes from them; the
/// result is checked against a model, and the frames are freed with the tree (Miri's leak
/// check runs this path in `miri_write_paths_and_dup`).
#[test]
fn owned_writes_reuse_unlinked_nodes() {
    let mut t: MapleTree<Value> = MapleTree::new();
    let mut model = BTreeMap::new();
    for i in 0..2_000u64 {
        t.store_range(i * 10..=i * 10 + 5, Value::new(i)).unwrap();
        model.insert(i * 10, i);
    }
    // Erasing two of every three entries thins the leaves: rebalances free and allocate.
    for i in (0..2_000u64).filter(|i| i % 3 != 0) {
        t.erase(i * 10 + 1).unwrap();
        model.remove(&(i * 10));
        assert!(t.raw().spares() <= crate::node::SPARE_NODES);
    }
    let kept = t.raw().spares();
    assert!(kept > 0, "no unlinked node was kept");
    // Storing them again splits leaves, which take kept frames before the allocator's.
    let mut fewest = kept;
    for i in (0..2_000u64).filter(|i| i % 3 != 0) {
        t.store_range(i * 10..=i * 10 + 5, Value::new(i)).unwrap();
        model.insert(i * 10, i);
        fewest = fewest.min(t.raw().spares());
    }
    assert!(fewest < kept, "no split took a kept frame");
    t.validate().unwrap();
    for (&f, &v) in &model {
        assert_eq!(t.load(f + 5), Some(Value::new(v)));
    }
    assert_eq!(t.len(), model.len());
}

/// Small enough for Miri (run by `scripts/memcheck.sh`): every write path, dup, drop.
#[test]
fn miri_write_paths_and_dup() {
    use alloc::boxed::Box;
    for kind in [TreeKind::Plain, TreeKind::Alloc] {
        let mut t: MapleTree<Box<u64>> = MapleTree::with_kind(kind);
        for i in 0..60u64 {
            t.store_range(i * 10..=i * 10 + 5, Box::new(i)).unwrap();
        }
        t.store_range(95..=305, Box::new(1000)).unwrap(); // spanning store
        t.store_range(402..=403, Box::new(1001)).unwrap(); // split inside a range
        t.erase_range(0..=250).unwrap(); // rebalance
        assert_eq!(
            t.erase(402).unwrap().map(|(r, v)| (r, *v)),
            Some((402..=403, 1001))
        );
        t.reserve_range(700..=710).unwrap();
        t.validate().unwrap();
        let copy = t.dup();
        copy.validate().unwrap();
        assert!(copy
            .iter()
            .map(|(r, v)| (r, *v))
            .eq(t.iter().map(|(r, v)| (r, *v))));
        let mapped: MapleTree<Box<u64>> = t.dup_map(|_, v| (*v % 2 == 0).then(|| Box::new(*v * 2)));
        mapped.validate().unwrap();
        let owned: Vec<u64> = t.into_iter().map(|(_, v)| *v).collect();
        assert!(!owned.is_empty());
        drop(copy);
        drop(mapped);
    }
}

/// The aliasing cases an outside Miri run (Stacked Borrows) flagged with `Box` entries, when
/// copies of the tree made bitwise copies of its entries: a borrowed entry must stay valid
/// across `dup`, `clone` and splitting stores, and reads inside a `dup_map` closure are fine.
#[test]
fn miri_box_entries_stay_borrowable_across_copies() {
    use alloc::boxed::Box;
    let mut t: MapleTree<Box<u64>> = MapleTree::new();
    for i in 0..40u64 {
        t.store_range(i * 10..=i * 10 + 5, Box::new(i)).unwrap();
    }
    // Hold a borrow of an entry, duplicate, then read through the borrow.
    let r: &u64 = t.load(5).unwrap();
    let copy = t.dup();
    assert_eq!(*r, 0);
    // Iterate while cloning the tree.
    let mut clones = Vec::new();
    for (range, v) in t.iter() {
        let x: &u64 = v;
        if *x % 10 == 0 {
            clones.push(t.clone());
        }
        assert_eq!(*range.start(), *x * 10);
    }
    // Read the tree inside a dup_map closure, the entry being mapped included, and use the
    // closure's view after that read.
    let mapped: MapleTree<Box<u64>> = t.dup_map(|r, v| {
        let same = *t.load(*r.start()).unwrap();
        Some(Box::new(*v + same + *t.load(5).unwrap()))
    });
    assert_eq!(mapped.load(15).copied(), Some(2));
    // A borrow held across a cursor walk and a read of the copies.
    let mut c = t.cursor(0);
    let first = c.find(u64::MAX).unwrap().1;
    let next = c.next(u64::MAX).unwrap().1;
    assert_eq!((*first, *next, *r), (0, 1, 0));
    assert!(copy.iter().eq(t.iter()));
    assert!(clones.iter().all(|c| c.len() == t.len()));
    // A store that splits an entry clones it through a borrow, while readers of the copies
    // keep theirs.
    let kept: &u64 = copy.load(105).unwrap();
    t.store_range(102..=103, Box::new(99)).unwrap();
    assert_eq!(
        (*kept, t.load(101).copied(), t.load(104).copied()),
        (10, Some(10), Some(10))
    );
    // Mutable access through the owner.
    **t.get_mut(0).unwrap() += 100;
    for (_, v) in t.iter_mut() {
        **v += 1;
    }
    assert_eq!(t.load(0).copied(), Some(101));
    // The rest of the owned read and collection paths, with a borrow from a copy held
    // throughout.
    let held: &u64 = copy.load(205).unwrap();
    assert_eq!(t.load_range(203).1.copied(), Some(21));
    assert_eq!(
        t.overlapping(195..=215).rev().map(|(_, v)| *v).next(),
        Some(22)
    );
    assert_eq!(t.gaps(0..=30).count(), 3);
    let removed = t.remove_range(203..=212).unwrap();
    assert_eq!(removed.len(), 2);
    let mut high = t.split_off(300);
    t.append(&mut high).unwrap();
    t.retain(|_, v| **v % 2 == 1);
    assert!(t.pop_first().is_some() && t.pop_last().is_some());
    let sum: u64 = t.into_iter().map(|(_, v)| *v).sum();
    assert!(sum > 0);
    assert_eq!(*held, 20);
}

/// Box entries in a shared tree: a lock-free reader holds `&T` views while the writer
/// overwrites, splits and erases them (run under Tree Borrows, see `scripts/memcheck.sh`).
#[cfg(feature = "std")]
#[test]
fn miri_shared_box_entries() {
    use alloc::boxed::Box;
    use alloc::sync::Arc;
    let tree = Arc::new(crate::RcuMapleTree::<Box<u64>>::new(TreeKind::Alloc));
    for i in 0..30u64 {
        tree.write()
            .store_range(i * 10..=i * 10 + 5, Box::new(i))
            .unwrap();
    }
    let reader = {
        let tree = Arc::clone(&tree);
        std::thread::spawn(move || {
            for _ in 0..10 {
                let g = tree.read();
                let kept: &u64 = g.load(255).unwrap();
                let seen = g.iter().filter(|(r, v)| **v * 10 == *r.start()).count();
                assert!(seen > 0);
                assert_eq!(*kept, 25);
            }
        })
    };
    for i in 0..20u64 {
        let mut w = tree.write();
        w.store_range(i * 10 + 2..=i * 10 + 3, Box::new(1000 + i))
            .unwrap(); // splits
        w.erase(i * 10).unwrap();
    }
    reader.join().unwrap();
    assert_eq!(tree.read().load(255).copied(), Some(25));
}

#[cfg(feature = "std")]
#[test]
fn miri_shared_reader_and_writer() {
    use alloc::sync::Arc;
    let tree = Arc::new(crate::RcuMapleTree::new(TreeKind::Plain));
    for i in 0..20u64 {
        tree.write()
            .store_range(1000 + i * 4..=1000 + i * 4 + 1, Arc::new(i))
            .unwrap();
    }
    let reader = {
        let tree = Arc::clone(&tree);
        std::thread::spawn(move || {
            for _ in 0..20 {
                let g = tree.read();
                for i in 0..20u64 {
                    assert_eq!(g.load(1000 + i * 4).map(|v| *v), Some(i));
                }
            }
        })
    };
    for i in 0..40u64 {
        let mut w = tree.write();
        w.store_range(i * 3..=i * 3 + 1, Arc::new(i)).unwrap();
        if i % 5 == 0 {
            w.erase_range(0..=i).unwrap();
        }
    }
    reader.join().unwrap();
    // A few grace periods later the writer builds nodes from reclaimed frames: check that
    // path under Miri too.
    let mut w = tree.write();
    let mut writes = 0u64;
    while w.mode.writer.borrow().reused == 0 && writes < 5_000 {
        w.store_range(500..=501, Arc::new(writes)).unwrap();
        w.erase_range(500..=501).unwrap();
        writes += 1;
    }
    assert!(
        w.mode.writer.borrow().reused > 0,
        "no reuse after {writes} writes"
    );
    w.validate().unwrap();
    assert_eq!(w.load(1000 + 19 * 4).map(|v| *v), Some(19));
}

#[test]
fn cursor_stores_into_the_hole_it_found() {
    let mut t: MapleTree<Value> = MapleTree::new_alloc();
    t.store_range(0..=99, Value::new(0)).unwrap();
    t.store_range(200..=299, Value::new(1)).unwrap();
    let mut c = t.cursor_mut(0);
    assert_eq!(c.empty_area_rev(0..=1000, 50), Ok(951..=1000));
    assert_eq!(c.empty_area(0..=1000, 50), Ok(100..=149));
    assert_eq!(c.store(Value::new(7)), Ok(None));
    assert_eq!(c.range(), 100..=149);
    assert_eq!(t.load(120), Some(Value::new(7)));
    assert_eq!(t.load(150), None);
    t.validate().unwrap();
}
