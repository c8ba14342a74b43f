//! The per-VMA lock protocol, single-threaded (the loom model covers interleavings).

use maple_mm::lock::*;

#[test]
fn protocol_states() {
    let seq = MmSeq::new();
    let l = VmaLock::new();
    assert_eq!((l.refcnt(), l.lock_seq()), (0, LOCK_SEQ_INIT));
    assert!(!l.is_attached());
    assert_eq!(l.start_read(&seq), Err(ReadLockError::Detached));
    seq.write_begin();
    assert!(seq.is_write_locked());
    l.start_write(&seq);
    assert!(l.is_write_locked(&seq));
    l.mark_attached();
    assert_eq!(
        l.start_read(&seq),
        Err(ReadLockError::Locked),
        "write-locked"
    );
    seq.write_end();
    assert!(!seq.is_write_locked());
    assert!(!l.is_write_locked(&seq));
    l.start_read(&seq).unwrap();
    l.start_read(&seq).unwrap();
    assert_eq!(l.refcnt(), 3);
    assert!(l.start_read_locked());
    l.end_read();
    l.end_read();
    l.end_read();
    assert_eq!(l.refcnt(), 1);
    seq.write_begin();
    l.start_write(&seq);
    l.start_write(&seq); // idempotent within one write period
    l.mark_detached();
    assert_eq!(l.refcnt(), 0);
    seq.write_end();
    assert_eq!(l.start_read(&seq), Err(ReadLockError::Detached));
    assert!(!l.start_read_locked());
    assert_eq!(REFCNT_LIMIT, EXCLUDE_READERS - 1);
}
