//! Loom model of the per-VMA lock protocol (`maple_mm::lock`).
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" cargo test -p maple-mm --test loom_lock --release`
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use maple_mm::lock::{MmSeq, ReadLockError, VmaLock};

/// A VMA's "fields": written only by a writer holding the VMA write lock, read only by a
/// reader holding the VMA read lock. Loom reports any unsynchronised access.
struct Shared {
    seq: MmSeq,
    lock: VmaLock,
    data: UnsafeCell<(u64, u64)>,
}

// SAFETY: `data` is only accessed under the protocol being checked; loom's UnsafeCell
// tracks every access and fails the model on a data race.
unsafe impl Sync for Shared {}
// SAFETY: as above; all fields are Send.
unsafe impl Send for Shared {}

fn attached() -> Arc<Shared> {
    let s = Shared {
        seq: MmSeq::new(),
        lock: VmaLock::new(),
        data: UnsafeCell::new((0, 0)),
    };
    // A VMA is attached by a writer before it becomes visible.
    s.seq.write_begin();
    s.lock.start_write(&s.seq);
    s.lock.mark_attached();
    s.seq.write_end();
    Arc::new(s)
}

#[test]
fn reader_never_sees_a_half_written_vma() {
    loom::model(|| {
        let s = attached();
        let r = s.clone();
        let reader = thread::spawn(move || match r.lock.start_read(&r.seq) {
            Ok(()) => {
                let (a, b) = r.data.with(|p| {
                    // SAFETY: read-locked: no writer can be modifying the data.
                    unsafe { *p }
                });
                assert_eq!(a, b, "torn read");
                r.lock.end_read();
                true
            }
            Err(ReadLockError::Locked) => false,
            Err(ReadLockError::Detached) => panic!("VMA is attached"),
        });
        // Writer: mmap_write_lock, vma_start_write, modify, mmap_write_unlock.
        s.seq.write_begin();
        s.lock.start_write(&s.seq);
        s.data.with_mut(|p| {
            // SAFETY: write-locked: readers are excluded.
            unsafe { *p = (1, 1) }
        });
        s.seq.write_end();
        reader.join().unwrap();
        // After the write period the VMA is readable again.
        assert!(s.lock.start_read(&s.seq).is_ok());
        s.lock.end_read();
        assert_eq!(s.lock.refcnt(), 1);
    });
}

#[test]
fn write_lock_excludes_readers_until_mmap_unlock() {
    loom::model(|| {
        let s = attached();
        s.seq.write_begin();
        s.lock.start_write(&s.seq);
        let r = s.clone();
        let reader = thread::spawn(move || {
            let ok = r.lock.start_read(&r.seq).is_ok();
            if ok {
                r.data.with(|p| {
                    // SAFETY: read-locked.
                    unsafe { *p }
                });
                r.lock.end_read();
            }
            ok
        });
        s.data.with_mut(|p| {
            // SAFETY: write-locked.
            unsafe { *p = (2, 2) }
        });
        s.seq.write_end();
        let _ = reader.join().unwrap();
    });
}

#[test]
fn detach_waits_for_readers_then_fails_new_ones() {
    loom::model(|| {
        let s = attached();
        let r = s.clone();
        let reader = thread::spawn(move || match r.lock.start_read(&r.seq) {
            Ok(()) => {
                r.data.with(|p| {
                    // SAFETY: read-locked: the VMA cannot be freed under us.
                    unsafe { *p }
                });
                r.lock.end_read();
            }
            Err(_) => {}
        });
        // munmap: write-lock, detach, then "free" (overwrite) the VMA.
        s.seq.write_begin();
        s.lock.start_write(&s.seq);
        s.lock.mark_detached();
        s.data.with_mut(|p| {
            // SAFETY: detached with no readers left.
            unsafe { *p = (u64::MAX, u64::MAX) }
        });
        s.seq.write_end();
        reader.join().unwrap();
        assert_eq!(s.lock.refcnt(), 0);
        assert_eq!(s.lock.start_read(&s.seq), Err(ReadLockError::Detached));
    });
}

#[test]
fn two_readers_share_the_lock() {
    loom::model(|| {
        let s = attached();
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let r = s.clone();
                thread::spawn(move || {
                    r.lock.start_read(&r.seq).unwrap();
                    r.lock.end_read();
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(s.lock.refcnt(), 1);
    });
}
