//! The VMA cache: an exited mm's VMA objects are reused by the next fork instead of going
//! back to the allocator, and objects someone still holds are never reused. (Its own test
//! binary: the cache is process-wide.)

use maple_mm::*;
use std::collections::HashSet;

// One test function: the cache is shared by the whole binary, and its exact length is
// asserted below.
#[test]
fn vma_cache() {
    exit_fills_the_cache_and_fork_reuses_it();
    held_vmas_are_detached_at_exit_not_cached();
}

fn exit_fills_the_cache_and_fork_reuses_it() {
    let parent = spawn::build_layout(200);
    let n = parent.map_count();
    for s in ForkStrategy::ALL {
        let first = parent.fork(s).unwrap();
        let ids: HashSet<u64> = first.vmas().iter().map(|v| v.id()).collect();
        let before = vma_cache_len();
        first.exit();
        assert_eq!(
            vma_cache_len(),
            before + n,
            "{}: every copy cached",
            s.name()
        );
        let second = parent.fork(s).unwrap();
        assert_eq!(
            vma_cache_len(),
            before,
            "{}: the fork took them back",
            s.name()
        );
        let reused = second
            .vmas()
            .iter()
            .filter(|v| ids.contains(&v.id()))
            .count();
        assert_eq!(reused, n, "{}: same objects, same addresses", s.name());
        second.validate().unwrap();
        assert!(second
            .vmas()
            .iter()
            .all(|v| v.is_attached() && v.mm_id() == second.id()));
        second.exit();
    }
}

fn held_vmas_are_detached_at_exit_not_cached() {
    let parent = spawn::build_layout(10);
    let child = parent.fork(ForkStrategy::DupMap).unwrap();
    let held = child.vmas();
    child.exit();
    assert!(
        held.iter().all(|v| !v.is_attached()),
        "held copies see the exit"
    );
    let again = parent.fork(ForkStrategy::DupMap).unwrap();
    let ids: HashSet<u64> = held.iter().map(|v| v.id()).collect();
    assert!(
        again.vmas().iter().all(|v| !ids.contains(&v.id())),
        "held objects not reused"
    );
    again.exit();
}
